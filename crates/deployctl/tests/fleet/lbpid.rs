//! A load balancer's pid file can outlive it and name someone else's process once the pid is
//! reused: deployctl never signals a process that is not the LB. The LB died, its pid file
//! now names a `sleep`; a gray change starts the LB again instead of sending the `sleep` the
//! reload signal (haproxy: USR2, nginx: HUP; either kills it), and the new routing is live.

use crate::lbload::{assert_lb_in_sync, LbHost};
use std::time::Duration;
use testkit::*;

#[test]
fn a_stale_haproxy_pid_file_naming_another_process_is_never_signalled() {
    stale_pid_file("haproxy");
}

#[test]
fn a_stale_nginx_pid_file_naming_another_process_is_never_signalled() {
    stale_pid_file("nginx");
}

fn stale_pid_file(kind: &'static str) {
    let knobs = Inv {
        gray: vec![2],
        ..Inv::behind_lb(kind, &[])
    };
    let f = Fleet::on_v1(3, &knobs);
    let lbh = LbHost::new(&f.bed, 0, kind);
    let (master, _) = lbh.processes();
    // The LB dies (its master, then its workers with it).
    assert!(procs::signal(master as i32, libc::SIGTERM));
    wait_for("the LB gone", Duration::from_secs(20), || {
        !procs::alive(master as i32)
    });
    let other = procs::Bystander::spawn(120);
    let pid_file = lbh.srv.join(format!("{kind}.pid"));
    std::fs::write(&pid_file, other.pid().to_string()).unwrap();
    let v2 = f.builds.v2.to_str().unwrap();
    let r = f.run(&["gray", "--env", "bed", "--percent", "50", "--artifact", v2]);
    let sleep_alive = procs::running(other.pid() as i32);
    assert!(sleep_alive, "the process the pid file named was signalled");
    assert_eq!(r.code, 0, "{} {}", r.stderr, r.json);
    let (now, _) = lbh.processes();
    assert_ne!(now, other.pid(), "the pid file names the LB again");
    let exe = std::fs::read_link(format!("/proc/{now}/exe")).unwrap();
    assert!(exe.ends_with(kind), "{}", exe.display());
    let lb = assert_lb_in_sync(&f.inv, &f.state, "after the restart");
    assert_eq!(
        lb["gray_percent"].as_f64(),
        Some(50.0),
        "gray share live: {lb}"
    );
    assert_eq!(lb["served_serial"], lb["serial"], "{lb}");
}
