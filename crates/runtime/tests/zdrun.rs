//! `zdrun` supervising a worker written in Python: socket activation, readiness, graceful
//! restart, sd_notify towards our own parent, and faults injected into the worker for real.

mod support;

use std::os::unix::net::UnixDatagram;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::*;

#[test]
fn python_worker_is_served_and_swapped() {
    let mut z = Zdrun::start("normal", &[], None);
    let first = z.wait_serving();
    assert!(first.starts_with("gen 1 "), "{first}\n{}", z.log());
    let outcome = z.restart();
    assert_eq!(outcome["outcome"], "ok", "{outcome}");
    // The old worker drains (Python's accept loop notices SIGTERM within 0.5 s); once it is
    // reaped only the new generation can answer.
    let old = pid_in(&first);
    wait_until("generation 1 reaped", || !exists(old));
    let second = get(z.addr(), "/").unwrap().body;
    assert!(second.starts_with("gen 2 "), "{second}\n{}", z.log());
    assert_eq!(z.term_and_wait().code(), Some(0));
}

#[test]
fn master_reports_to_its_own_service_manager_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notify.sock");
    let sock = UnixDatagram::bind(&path).unwrap();
    sock.set_read_timeout(Some(WAIT)).unwrap();
    let mut z = Zdrun::start("normal", &[], Some(&path));
    let mut messages = Vec::new();
    let recv = |messages: &mut Vec<String>| {
        let mut buf = [0u8; 4096];
        let n = sock.recv(&mut buf).expect("notification from zdrun");
        messages.push(String::from_utf8_lossy(&buf[..n]).into_owned());
    };
    recv(&mut messages);
    assert!(
        messages[0].contains("READY=1") && messages[0].contains(&format!("MAINPID={}", z.pid())),
        "{messages:?}"
    );
    assert_eq!(z.restart()["outcome"], "ok");
    recv(&mut messages);
    recv(&mut messages);
    assert!(
        messages[1].contains("RELOADING=1") && messages[1].contains("MONOTONIC_USEC="),
        "{messages:?}"
    );
    assert!(messages[2].contains("READY=1"), "{messages:?}");
    z.term_and_wait();
    recv(&mut messages);
    assert!(messages[3].contains("STOPPING=1"), "{messages:?}");
}

#[test]
fn worker_that_never_notifies_is_confirmed_by_polling() {
    let z = Zdrun::start("no-notify", &[], None);
    assert!(z.wait_serving().starts_with("gen 1 "));
    assert_eq!(z.restart()["outcome"], "ok");
}

#[test]
fn hanging_readiness_endpoint_times_out_and_master_stays_responsive() {
    // The timeout also bounds the first worker's start (a Python start-up on a loaded machine).
    let z = Zdrun::start("normal", &["--ready-timeout", "4s"], None);
    z.wait_serving();
    let serving = z.wait_confirmed();
    std::fs::write(&z.mode_file, "hang-ready").unwrap();
    let t0 = Instant::now();
    let outcome = z.restart();
    assert_eq!(outcome["outcome"], "aborted", "{outcome}");
    // Final: the candidate is already reaped when "aborted" is answered (zombies counted).
    assert_eq!(
        children_of(z.pid()).len(),
        1,
        "only the old worker may be left"
    );
    assert!(
        t0.elapsed() < Duration::from_secs(15),
        "bounded by the readiness timeout"
    );
    let body = get(z.addr(), "/").unwrap().body;
    assert!(
        body.starts_with(&format!("gen {serving} ")),
        "{body}\n{}",
        std::fs::read_to_string(z.dir.path().join("zdrun.log")).unwrap()
    );
    assert!(get(z.admin(), "/metrics")
        .unwrap()
        .body
        .contains("graceful_aborted\"} 1"));
}

#[test]
fn worker_exiting_zero_on_its_own_is_counted_graceful_and_replaced() {
    let z = Zdrun::start("exit0", &[], None);
    wait_until("graceful exit counted and worker replaced", || {
        get(z.admin(), "/metrics").is_some_and(|m| {
            m.body
                .contains("hotel_be_worker_exit_total{reason=\"graceful\"} 1")
                && m.body
                    .contains("hotel_be_worker_restart_total{action=\"crash_recovered\"} 1")
        })
    });
}

#[test]
fn worker_closing_its_listener_loses_no_queued_connection() {
    // Generation 2 closes its copy of the public socket: the master's copy keeps the queue, so
    // the new connections made meanwhile wait and are served by the next good worker.
    let z = Zdrun::start("normal", &[], None);
    z.wait_serving();
    std::fs::write(&z.mode_file, "close-listener").unwrap();
    assert_eq!(z.restart()["outcome"], "ok");
    // Generation 1 may still accept while it winds down; only generation 2 must be left.
    let status: serde_json::Value =
        serde_json::from_str(&get(z.admin(), "/status").unwrap().body).unwrap();
    let old = status["previous"]["pid"].as_u64().unwrap();
    wait_until("generation 1 gone", || {
        !std::path::Path::new(&format!("/proc/{old}")).exists()
    });
    let addr = z.addr();
    let pending =
        std::thread::spawn(move || block_on(probe::get(addr, "/", Duration::from_secs(20))));
    // Nobody accepts now: the connection waits in the master's accept queue.
    wait_until("pending connection in the accept queue", || {
        tcp_sockets(addr.port())
            .iter()
            .any(|(state, queued, _)| state == "0A" && *queued >= 1)
    });
    std::fs::write(&z.mode_file, "normal").unwrap();
    assert_eq!(z.restart()["outcome"], "ok");
    let r = pending.join().unwrap().unwrap_or_else(|e| {
        panic!(
            "queued connection must be served, not refused: {e:?}\n{}",
            z.log()
        )
    });
    // Served by a worker started after the listener-closing one (normally generation 3).
    let generation: u64 = r
        .body
        .split_whitespace()
        .nth(1)
        .and_then(|g| g.parse().ok())
        .unwrap_or(0);
    assert!(
        generation >= 3 && r.body.contains("mode normal"),
        "{}",
        r.body
    );
}

#[test]
fn admin_flood_leaves_master_responsive_without_fd_leak() {
    let z = Zdrun::start("normal", &[], None);
    z.wait_serving();
    wait_until("first worker confirmed by the master", || {
        get(z.admin(), "/metrics").is_some_and(|m| m.body.contains("hotel_be_worker_ready 1"))
    });
    let fds = || {
        std::fs::read_dir(format!("/proc/{}/fd", z.pid()))
            .unwrap()
            .count()
    };
    // Our own admin connections close asynchronously: the baseline is the least count seen.
    let before = (0..10)
        .map(|_| {
            std::thread::sleep(Duration::from_millis(20));
            fds()
        })
        .min()
        .unwrap();
    let admin = z.admin();
    block_on(async move {
        let mut set = tokio::task::JoinSet::new();
        for i in 0..400 {
            let path = if i % 2 == 0 { "/metrics" } else { "/status" };
            set.spawn(probe::get(admin, path, Duration::from_secs(20)));
        }
        while let Some(r) = set.join_next().await {
            assert_eq!(r.unwrap().unwrap().status, 200);
        }
    });
    assert_eq!(
        z.restart()["outcome"],
        "ok",
        "master must still act after the flood"
    );
    wait_until("descriptors back to the baseline", || fds() <= before);
}

#[test]
fn missing_command_is_a_clear_error() {
    let out = Command::new(testkit::bins::zdrun())
        .args(["--listen", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no COMMAND"));
}

#[test]
fn ctl_drives_an_admin_endpoint_on_a_unix_socket() {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("admin.sock");
    let admin = format!("unix:{}", sock.display());
    let worker = WORKER;
    let mut master = Command::new(testkit::bins::zdrun())
        .args([
            "--listen",
            "http=127.0.0.1:0",
            "--admin",
            &admin,
            "--ready-interval",
            "100ms",
            "--",
            "python3",
            worker,
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.path().join("zdrun.log")).unwrap())
        .spawn()
        .unwrap();
    let ctl = |verb: &str| {
        Command::new(testkit::bins::zdrun())
            .args(["ctl", verb, "--admin", &admin])
            .output()
            .unwrap()
    };
    wait_until("worker ready via ctl status", || {
        let out = ctl("status");
        out.status.success()
            && serde_json::from_slice::<serde_json::Value>(&out.stdout)
                .is_ok_and(|s| s["current"]["ready"] == true)
    });
    let out = ctl("restart");
    assert!(
        out.status.success(),
        "{out:?}\n{}",
        std::fs::read_to_string(dir.path().join("zdrun.log")).unwrap()
    );
    let outcome: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(outcome["generation"], 2, "{outcome}");
    let metrics = String::from_utf8(ctl("metrics").stdout).unwrap();
    assert!(
        metrics.contains("hotel_be_worker_restart_total{action=\"graceful_ok\"} 1"),
        "{metrics}"
    );
    let _ = master.kill();
    let _ = master.wait();
}
