//! Compatibility mode: workers bind the port themselves with SO_REUSEPORT.
mod support;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use support::*;

#[test]
fn workers_bind_themselves_and_restart_works() {
    let svc = Service::start("linger_ms = 200\n", &["--compat-reuseport"]);
    let (old, _) = svc.current();
    // The master holds no public socket: only workers listen on the port.
    let master_fds = std::fs::read_dir(format!("/proc/{}/fd", svc.master_pid()))
        .unwrap()
        .count();
    assert!(master_fds > 0);
    let v2 = svc.install_build("compat-v2");
    assert_eq!(svc.restart()["outcome"], "ok");
    wait_until("old worker gone", || !alive(old));
    let r = svc.get("/version");
    assert!(r.body.contains(&v2), "{}", r.body);
}

#[test]
fn crash_waits_for_the_port_to_be_released_then_recovers() {
    let svc = Service::start("linger_ms = 200\n", &["--compat-reuseport"]);
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
