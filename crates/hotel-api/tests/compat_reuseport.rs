//! Compatibility mode: workers bind the port themselves with SO_REUSEPORT.
mod support;

use std::time::Duration;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use support::*;

#[test]
fn workers_bind_themselves_and_restart_works() {
    let svc = start("linger_ms = 200\n", &["--compat-reuseport"]);
    let (old, _) = svc.current();
    // The master holds no public socket: only workers listen on the port.
    let port = svc.addr().port();
    assert!(listening_on(port, svc.pid()).is_empty());
    assert_eq!(
        listening_on(port, old).len(),
        1,
        "the check sees a worker's listener"
    );
    let v2 = svc.install_build("compat-v2");
    assert_eq!(svc.restart()["outcome"], "ok");
    wait_until("old worker gone", || !alive(old));
    let r = svc.get("/version");
    assert!(r.body.contains(&v2), "{}", r.body);
}

#[test]
fn crash_waits_for_the_port_to_be_released_then_recovers() {
    let svc = start("linger_ms = 200\n", &["--compat-reuseport"]);
    let (pid, _) = svc.current();
    kill(Pid::from_raw(pid), Signal::SIGKILL).unwrap();
    let ev = svc.wait_event("port_reconcile", |_| true);
    assert!(ev["waited_ms"].as_u64().is_some(), "{ev}");
    wait_until("replacement serving", || {
        let s = svc.status();
        s["current"]["generation"] == 2 && s["current"]["ready"] == true
    });
    assert_eq!(svc.get("/ping").status, 200);
}

#[test]
fn a_candidate_joins_the_port_only_once_ready() {
    let svc = start("linger_ms = 200\n", &["--compat-reuseport"]);
    let port = svc.addr().port();
    // Generation 2 warms up for 4 s: the kernel must not queue connections to it meanwhile.
    svc.set_config("linger_ms = 200\nwarmup_ms = 4000\n");
    svc.signal(Signal::SIGUSR1 as i32);
    let started = svc.wait_event("worker_started", |e| e["generation"] == 2);
    let candidate = started["pid"].as_i64().unwrap() as i32;
    // Sample during the first 1.5 s of its warm-up (a wide margin before it can be ready). Its
    // process has bound the port by then (the worker binds before warming up).
    let t0 = std::time::Instant::now();
    let mut sampled = 0;
    while t0.elapsed() < Duration::from_millis(1500) {
        assert!(
            listening_on(port, candidate).is_empty(),
            "a warming-up candidate listens on the public port"
        );
        assert_eq!(svc.status()["current"]["generation"], 1);
        sampled += 1;
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(sampled > 0, "never observed the warm-up");
    svc.wait_event("restart_outcome", |e| e["action"] == "graceful_ok");
    assert_eq!(listening_on(port, candidate).len(), 1, "listens once ready");
}

#[test]
fn compat_mode_without_a_private_listener_starts_with_listen_fds_zero() {
    let svc = start(
        "linger_ms = 200\n",
        &["--compat-reuseport", "--no-private-listener"],
    );
    assert_eq!(svc.get("/ping").status, 200);
    assert_eq!(svc.restart()["outcome"], "ok");
}
