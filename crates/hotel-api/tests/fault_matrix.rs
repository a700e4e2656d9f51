//! Rows of the fault matrix (ARCHITECTURE.md) not covered elsewhere: each injects the fault
//! for real into a running master/worker pair.
mod support;

use std::time::Duration;

use nix::sys::signal::Signal;
use support::*;

#[test]
fn sigusr1_during_shutdown_is_ignored() {
    let mut svc = start("linger_ms = 200\n", &[]);
    // The worker's pid first: /status hashes the binary, which can outlast the slow request.
    let (worker, _) = svc.current();
    let addr = svc.addr();
    let slow = std::thread::spawn(move || {
        block_on(runtime::master::probe::get(
            addr,
            "/search?city=Rome&latency_ms=1500&deadline_ms=5000",
            Duration::from_secs(20),
        ))
    });
    // The slow request keeps the worker draining long enough to signal in the middle: wait
    // until the worker has accepted its connection.
    wait_until("slow request accepted by the worker", || {
        accepted_by(worker, svc.addr().port()) >= 1
    });
    svc.signal(Signal::SIGTERM as i32);
    svc.wait_event("shutdown_begin", |_| true);
    svc.signal(Signal::SIGUSR1 as i32);
    assert_eq!(slow.join().unwrap().unwrap().status, 200);
    assert_eq!(svc.wait_exit().code(), Some(0));
    assert_eq!(svc.events("restart_ignored").len(), 1);
    assert_eq!(
        svc.events("worker_started").len(),
        1,
        "no worker may start during shutdown"
    );
}

#[test]
fn sigterm_during_a_restart_stops_both_workers_cleanly() {
    let mut svc = start("linger_ms = 200\n", &[]);
    let (old, _) = svc.current();
    svc.set_config("linger_ms = 200\nwarmup_ms = 5000\n");
    svc.signal(Signal::SIGUSR1 as i32);
    let started = svc.wait_event("worker_started", |e| e["generation"] == 2);
    let new = started["pid"].as_i64().unwrap() as i32;
    svc.signal(Signal::SIGTERM as i32);
    assert_eq!(svc.wait_exit().code(), Some(0));
    wait_until("both workers gone", || !alive(old) && !alive(new));
    let outcome = svc.wait_event("restart_outcome", |_| true);
    assert_eq!(outcome["action"], "graceful_aborted", "{outcome}");
}

#[test]
fn binary_not_executable_at_restart_keeps_old_serving() {
    use std::os::unix::fs::PermissionsExt;
    let svc = start("", &[]);
    let (old, _) = svc.current();
    std::fs::set_permissions(svc.bin(), std::fs::Permissions::from_mode(0o644)).unwrap();
    let outcome = svc.restart();
    assert_eq!(outcome["outcome"], "aborted", "{outcome}");
    assert!(
        outcome["reason"]
            .as_str()
            .unwrap()
            .contains("not an executable"),
        "{outcome}"
    );
    assert_eq!(svc.current(), (old, 1));
    assert_eq!(svc.get("/ping").status, 200);
    svc.wait_event("spawn_failed", |_| true);
}

#[test]
fn deadlocked_worker_is_replaced_by_the_liveness_probe() {
    let svc = start(
        "",
        &["--liveness-path", "/ping", "--liveness-interval", "200ms"],
    );
    let (old, _) = svc.current();
    // Generation 2 hangs on every request once ready (a deadlock); generation 3 is healthy.
    svc.set_config("fault = \"hang\"\n");
    svc.signal(Signal::SIGUSR1 as i32);
    svc.wait_event("restart_outcome", |e| e["action"] == "graceful_ok");
    wait_until("old worker gone", || !alive(old));
    svc.set_config("");
    svc.wait_event("worker_unresponsive", |e| e["generation"] == 2);
    svc.wait_event("restart_outcome", |e| e["action"] == "health_recovered");
    assert_eq!(svc.get("/ping").status, 200);
    assert!(svc
        .metrics()
        .contains("hotel_be_worker_restart_total{action=\"health_recovered\"} 1"));
}

#[test]
fn liveness_failure_during_a_restart_is_acted_on_after_it() {
    let svc = start(
        "",
        &[
            "--liveness-path",
            "/ping",
            "--liveness-interval",
            "200ms",
            "--ready-timeout",
            "12s",
        ],
    );
    // Generation 2 deadlocks once ready; its liveness probe fails after 3 x 2 s timeouts.
    svc.set_config("fault = \"hang\"\n");
    svc.signal(Signal::SIGUSR1 as i32);
    svc.wait_event("restart_outcome", |e| e["action"] == "graceful_ok");
    // Generation 3 never becomes ready: the restart is still running when the probe fails.
    svc.set_config("fault = \"never-ready\"\n");
    svc.signal(Signal::SIGUSR1 as i32);
    svc.wait_event("worker_unresponsive_deferred", |e| e["generation"] == 2);
    svc.set_config("");
    svc.wait_event("restart_outcome", |e| e["action"] == "graceful_aborted");
    svc.wait_event("worker_unresponsive", |e| e["generation"] == 2);
    svc.wait_event("restart_outcome", |e| e["action"] == "health_recovered");
    assert_eq!(svc.get("/ping").status, 200);
}
