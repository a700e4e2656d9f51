//! Crash recovery, master death and shutdown with real processes and signals.
mod support;

use std::sync::Arc;
use std::time::Duration;

use loadgen::{ClientMode, LoadConfig};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use support::*;

const CONFIG: &str = "linger_ms = 300\n";

#[test]
fn sigkilled_worker_is_replaced_and_gap_connections_are_served() {
    let svc = start(CONFIG, &[]);
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut cfg = LoadConfig::new(svc.addr(), "/ping", ClientMode::NewConnection);
    cfg.concurrency = 2;
    cfg.max_duration = Duration::from_secs(60);
    let live = Arc::new(loadgen::Live::default());
    let counted = live.clone();
    let load = std::thread::spawn(move || block_on(loadgen::run(cfg, stop_rx, counted)));
    let done = || live.requests.load(std::sync::atomic::Ordering::Relaxed);
    wait_until("load running before the kill", || done() >= 100);
    let (pid, _) = svc.current();
    kill(Pid::from_raw(pid), Signal::SIGKILL).unwrap();
    wait_until("replacement serving", || {
        let s = svc.status();
        s["current"]["generation"] == 2 && s["current"]["ready"] == true
    });
    let after = done();
    wait_until("load served by the replacement", || done() >= after + 100);
    stop_tx.send(true).unwrap();
    let r = load.join().unwrap();
    let by_kind = r.failed_by_kind();
    assert_eq!(
        by_kind["connect"], 0,
        "connections during the gap must wait in the backlog, not be refused: {:?}",
        r.first_errors
    );
    // Only requests that were inside the killed process can fail, never more than the clients.
    assert!(r.failed() <= 2, "failures {by_kind:?} {:?}", r.first_errors);
    assert!(svc
        .metrics()
        .contains("hotel_be_worker_exit_total{reason=\"signal\"} 1"));
    svc.wait_event("restart_outcome", |e| e["action"] == "crash_recovered");
}

#[test]
fn crash_loop_backs_off_and_is_capped() {
    let svc = spawn(
        &format!("{CONFIG}fault = \"crash-on-start\"\n"),
        &["--backoff-max", "400ms"],
    );
    wait_until("several crashes", || {
        svc.events("respawn_scheduled").len() >= 6
    });
    let delays: Vec<u64> = svc
        .events("respawn_scheduled")
        .iter()
        .map(|e| e["delay_ms"].as_u64().unwrap())
        .collect();
    assert_eq!(
        &delays[..6],
        &[0, 100, 200, 400, 400, 400],
        "backoff must grow then cap: {delays:?}"
    );
    // Repair: once the fault is gone the next replacement serves.
    svc.set_config(CONFIG);
    svc.wait_serving();
}

#[test]
fn master_sigkilled_takes_its_workers_down() {
    let mut svc = start(CONFIG, &[]);
    let (worker, _) = svc.current();
    svc.signal(Signal::SIGKILL as i32);
    svc.wait_exit();
    wait_until("worker exit after master death", || !running(worker));
}

#[test]
fn master_sigkilled_takes_down_a_worker_that_cleared_pdeathsig() {
    // As after exec of a setuid or file-capability binary: no PDEATHSIG, only the guard pipe.
    let mut svc = start(&format!("{CONFIG}fault = \"clear-pdeathsig\"\n"), &[]);
    let (worker, _) = svc.current();
    svc.wait_event("fault_injected", |e| e["fault"] == "clear-pdeathsig");
    svc.signal(Signal::SIGKILL as i32);
    svc.wait_exit();
    wait_until("worker exit after master death", || !running(worker));
    svc.wait_event("master_gone", |_| true);
}

#[test]
fn sigterm_lets_a_slow_request_finish_then_exits_zero() {
    let mut svc = start(CONFIG, &[]);
    // The worker's pid first: /status hashes the binary, which can outlast the slow request.
    let (worker, _) = svc.current();
    let addr = svc.addr();
    let slow = std::thread::spawn(move || {
        block_on(runtime::master::probe::get(
            addr,
            "/search?city=Oslo&latency_ms=1500&deadline_ms=5000",
            Duration::from_secs(20),
        ))
    });
    // Wait until the worker has accepted the request's connection.
    wait_until("slow request accepted by the worker", || {
        accepted_by(worker, svc.addr().port()) >= 1
    });
    svc.signal(Signal::SIGTERM as i32);
    let resp = slow
        .join()
        .unwrap()
        .expect("in-flight request must complete");
    assert_eq!(resp.status, 200);
    let body: serde_json::Value = serde_json::from_str(&resp.body).unwrap();
    assert_eq!(body["suppliers"]["answered"], 3, "{body}");
    let st = svc.wait_exit();
    assert_eq!(st.code(), Some(0), "clean exit expected: {st:?}");
    assert!(
        !svc.dir.path().join("master.pid").exists(),
        "pid file must be removed"
    );
}

#[test]
fn busy_address_fails_with_a_clear_message() {
    let holder = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = holder.local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(testkit::bins::hotel_api())
        .args([
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--bind-timeout",
            "600ms",
            "--data-dir",
        ])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("127.0.0.1:{port}")) && err.contains("in use"),
        "{err}"
    );
}

#[test]
fn invalid_config_exits_2_naming_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("bad.toml");
    std::fs::write(&cfg, "warmup_ms = \"soon\"\n").unwrap();
    let out = std::process::Command::new(testkit::bins::hotel_api())
        .arg("--config")
        .arg(&cfg)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("bad.toml") && err.contains("warmup_ms"),
        "{err}"
    );
}
