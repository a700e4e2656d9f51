//! Graceful restarts with real processes, real signals and real load.
mod support;

use std::sync::Arc;
use std::time::Duration;

use loadgen::{ClientMode, LoadConfig, Report};
use nix::sys::signal::Signal;
use support::*;

const CONFIG: &str = "warmup_ms = 100\nlinger_ms = 1000\n";

fn start_load_counted(
    svc: &Master,
    mode: ClientMode,
    live: Arc<loadgen::Live>,
) -> (
    tokio::sync::watch::Sender<bool>,
    std::thread::JoinHandle<Report>,
) {
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut cfg = LoadConfig::new(svc.addr(), "/search?city=Lisbon&latency_ms=2", mode);
    cfg.concurrency = 2;
    cfg.max_duration = Duration::from_secs(60);
    let handle = std::thread::spawn(move || block_on(loadgen::run(cfg, stop_rx, live)));
    (stop_tx, handle)
}

#[test]
fn restarts_under_load_lose_nothing_in_both_client_modes() {
    let svc = start(CONFIG, &[]);
    let v1 = build_id(&svc.bin());
    let live = Arc::new(loadgen::Live::default());
    let (stop_ka, ka) = start_load_counted(&svc, ClientMode::KeepAlive, live.clone());
    let (stop_nc, nc) = start_load_counted(&svc, ClientMode::NewConnection, live.clone());
    let done = || live.requests.load(std::sync::atomic::Ordering::Relaxed);
    let mut expected = vec![v1];
    for (i, label) in ["v2", "v3", "v4"].iter().enumerate() {
        expected.push(svc.install_build(label));
        let outcome = svc.restart();
        assert_eq!(outcome["outcome"], "ok", "restart {i}: {outcome}");
        assert_eq!(outcome["generation"], i as u64 + 2);
        let after = done();
        wait_until("load running on the new worker", || done() >= after + 100);
    }
    stop_ka.send(true).unwrap();
    stop_nc.send(true).unwrap();
    let (ka, nc) = (ka.join().unwrap(), nc.join().unwrap());
    for (name, r) in [("keep-alive", &ka), ("new-connection", &nc)] {
        assert!(
            r.requests() > 100,
            "{name}: too little load to mean anything: {}",
            r.requests()
        );
        assert_eq!(
            r.failed(),
            0,
            "{name}: failed requests {:?}, first errors {:?}",
            r.failed_by_kind(),
            r.first_errors
        );
    }
    let mut all = ka;
    all.merge(nc);
    for id in &expected {
        assert!(
            all.header_values.contains_key(id),
            "build {id} never served; seen {:?}",
            all.header_values
        );
    }
    assert_eq!(svc.current().1, 4);
    wait_until("old workers drained: exactly one worker left", || {
        svc.children().len() == 1
    });
}

#[test]
fn sigusr1_burst_is_coalesced_without_leaks() {
    let svc = start(CONFIG, &[]);
    // Baseline once the master has confirmed the first worker (its readiness socket is closed).
    wait_until("first worker confirmed", || {
        svc.status()["current"]["ready"] == true
    });
    let fds = || {
        std::fs::read_dir(format!("/proc/{}/fd", svc.pid()))
            .unwrap()
            .count()
    };
    // Admin connections of this test close asynchronously: the baseline is the least count seen.
    let fds_before = (0..10)
        .map(|_| {
            std::thread::sleep(Duration::from_millis(20));
            fds()
        })
        .min()
        .unwrap();
    for _ in 0..10 {
        svc.signal(Signal::SIGUSR1 as i32);
    }
    // The burst yields one restart plus at most one follow-up: generation 2 or 3, then quiet.
    wait_until("restarts to settle", || {
        let s = svc.status();
        !s["restart_in_progress"].as_bool().unwrap_or(true)
            && s["current"]["generation"].as_u64().unwrap_or(0) >= 2
            && s["current"]["ready"] == true
            && svc.children().len() == 1
    });
    let gen = svc.current().1;
    assert!(
        (2..=3).contains(&gen),
        "10 signals must coalesce into at most 2 restarts, got generation {gen}"
    );
    let ok = svc
        .events("restart_outcome")
        .iter()
        .filter(|e| e["action"] == "graceful_ok")
        .count();
    assert_eq!(ok as u64, gen - 1);
    wait_until("master descriptors back to the baseline (no leak)", || {
        fds() <= fds_before
    });
    assert_eq!(svc.get("/ping").status, 200);
}

#[test]
fn new_worker_never_ready_is_killed_and_old_keeps_serving() {
    let svc = start(CONFIG, &["--ready-timeout", "1500ms"]);
    let (old_pid, _) = svc.current();
    svc.set_config(&format!("{CONFIG}fault = \"never-ready\"\n"));
    let outcome = svc.restart();
    assert_eq!(outcome["outcome"], "aborted", "{outcome}");
    assert!(
        outcome["reason"].as_str().unwrap().contains("not ready"),
        "{outcome}"
    );
    assert_eq!(svc.current(), (old_pid, 1));
    assert_eq!(svc.get("/ping").status, 200);
    svc.wait_event("restart_outcome", |e| e["action"] == "graceful_aborted");
    wait_until("aborted worker reaped", || svc.children() == vec![old_pid]);
    assert!(svc
        .metrics()
        .contains("hotel_be_worker_restart_total{action=\"graceful_aborted\"} 1"));
}

#[test]
fn new_worker_crashing_at_start_keeps_old_serving() {
    let svc = start(CONFIG, &[]);
    let (old_pid, _) = svc.current();
    svc.set_config(&format!("{CONFIG}fault = \"crash-on-start\"\n"));
    let outcome = svc.restart();
    assert_eq!(outcome["outcome"], "aborted", "{outcome}");
    assert!(
        outcome["reason"]
            .as_str()
            .unwrap()
            .contains("exited during start-up"),
        "{outcome}"
    );
    assert_eq!(svc.current(), (old_pid, 1));
    assert_eq!(svc.get("/ping").status, 200);
    assert!(svc
        .metrics()
        .contains("hotel_be_worker_exit_total{reason=\"exit_code\"} 1"));
}

#[test]
fn old_worker_ignoring_sigterm_is_killed_after_grace() {
    let svc = start(
        &format!("{CONFIG}fault = \"ignore-sigterm\"\n"),
        &["--grace", "2s"],
    );
    let (old_pid, _) = svc.current();
    svc.set_config(CONFIG);
    assert_eq!(svc.restart()["outcome"], "ok");
    let kill = svc.wait_event("force_kill", |e| e["pid"] == old_pid);
    assert_eq!(kill["generation"], 1);
    wait_until("old worker gone", || !alive(old_pid));
    svc.wait_event("worker_exited", |e| {
        e["pid"] == old_pid && e["reason"] == "signal"
    });
    assert_eq!(svc.get("/ping").status, 200);
}

#[test]
fn binary_missing_at_restart_keeps_old_serving() {
    let svc = start(CONFIG, &[]);
    let (old_pid, _) = svc.current();
    std::fs::remove_file(svc.bin()).unwrap();
    let outcome = svc.restart();
    assert_eq!(outcome["outcome"], "aborted", "{outcome}");
    assert!(
        outcome["reason"].as_str().unwrap().contains("not found"),
        "{outcome}"
    );
    assert_eq!(svc.current(), (old_pid, 1));
    assert_eq!(svc.get("/ping").status, 200);
}

#[test]
fn concurrent_admin_restarts_share_one_follow_up() {
    let svc = start("warmup_ms = 300\nlinger_ms = 200\n", &[]);
    let admin = svc.admin();
    let outcomes: Vec<serde_json::Value> = block_on(async move {
        let mut set = tokio::task::JoinSet::new();
        for _ in 0..5 {
            set.spawn(runtime::master::probe::request_with_token(
                admin,
                "POST",
                "/restart",
                Duration::from_secs(60),
                Some(ADMIN_TOKEN),
            ));
        }
        let mut out = Vec::new();
        while let Some(r) = set.join_next().await {
            out.push(serde_json::from_str(&r.unwrap().unwrap().body).unwrap());
        }
        out
    });
    let mut generations: Vec<u64> = outcomes
        .iter()
        .map(|o| {
            assert_eq!(o["outcome"], "ok", "{o}");
            o["generation"].as_u64().unwrap()
        })
        .collect();
    generations.sort_unstable();
    generations.dedup();
    // The first call starts a restart; every call that arrives while it runs shares the one
    // follow-up (which starts after it, so it sees any binary installed meanwhile).
    assert!(
        generations.len() <= 2,
        "5 concurrent calls ran {} restarts: {generations:?}",
        generations.len()
    );
    assert_eq!(svc.current().1, *generations.last().unwrap());
}

#[test]
fn sighup_is_a_graceful_restart_and_loses_nothing_under_load() {
    let mut svc = start(CONFIG, &[]);
    let live = Arc::new(loadgen::Live::default());
    let (stop_ka, ka) = start_load_counted(&svc, ClientMode::KeepAlive, live.clone());
    let (stop_nc, nc) = start_load_counted(&svc, ClientMode::NewConnection, live.clone());
    let done = || live.requests.load(std::sync::atomic::Ordering::Relaxed);
    for generation in [2u64, 3] {
        let before = done();
        wait_until("load running on the current worker", || {
            done() >= before + 200
        });
        svc.signal(Signal::SIGHUP as i32);
        svc.wait_event("restart_outcome", |e| {
            e["action"] == "graceful_ok" && e["generation"] == generation
        });
    }
    let before = done();
    wait_until("load running on the last worker", || done() >= before + 200);
    stop_ka.send(true).unwrap();
    stop_nc.send(true).unwrap();
    for (name, r) in [
        ("keep-alive", ka.join().unwrap()),
        ("new-connection", nc.join().unwrap()),
    ] {
        assert!(
            r.requests() > 50,
            "{name}: too little load: {}",
            r.requests()
        );
        assert_eq!(
            r.failed(),
            0,
            "{name}: failed requests {:?}, first errors {:?}",
            r.failed_by_kind(),
            r.first_errors
        );
    }
    assert!(svc.try_wait().is_none(), "master must run on");
    assert_eq!(svc.current().1, 3);
}

#[test]
fn sighup_as_soon_as_the_pid_file_exists_does_not_kill_the_master() {
    // Handlers are installed before the pid file is written: an operator's `kill -HUP
    // $(cat pidfile)` can never hit SIGHUP's default action (terminate).
    let mut svc = spawn(CONFIG, &[]);
    let pid_file = svc.dir.path().join("master.pid");
    wait_until("pid file written", || pid_file.exists());
    svc.signal(Signal::SIGHUP as i32);
    svc.wait_serving();
    assert!(svc.try_wait().is_none(), "master must run on");
    svc.signal(Signal::SIGTERM as i32);
    assert_eq!(svc.wait_exit().code(), Some(0));
}
