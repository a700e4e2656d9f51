//! The LB's access log is kept bounded: over `[lb] access_log_max_mb` it becomes
//! `access.json.1` at the next LB change, and the writer (nginx itself; haproxy's socat
//! receiver) goes on in a new file.

use crate::lbload::wait_lb_up;
use crate::lbstate::lb_get;
use std::io::Write;
use std::time::Duration;
use testkit::*;

/// The file's size; `None` when there is no file (not a size of 0).
fn size(p: &std::path::Path) -> Option<u64> {
    std::fs::metadata(p).ok().map(|m| m.len())
}

fn the_access_log_is_rotated_over_its_limit(kind: &'static str) {
    let knobs = Inv {
        gray: vec![2],
        ..Inv::behind_lb(kind, &["access_log_max_mb = 1"])
    };
    let f = Fleet::on_v1(3, &knobs);
    wait_lb_up(&f.inv, &f.state, kind);
    let log = f.bed.srv(0).join(format!("{kind}/access.json"));
    // 2 MiB of earlier requests.
    let line = format!("{{\"old\":\"{}\"}}\n", "x".repeat(1000));
    let mut w = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
    for _ in 0..(2 << 20) / line.len() + 1 {
        w.write_all(line.as_bytes()).unwrap();
    }
    drop(w);
    assert!(size(&log).is_some_and(|n| n > 2 << 20));
    let r = f.run(&["gray", "--env", "bed", "--percent", "50"]);
    assert_eq!(r.code, 0, "{} {}", r.stderr, r.json);
    let old = log.with_extension("json.1");
    let kept = size(&old);
    assert!(
        kept.is_some_and(|n| n > 2 << 20),
        "{}: the earlier lines",
        old.display()
    );
    // The writer may create the new file only with its first line.
    assert!(size(&log).is_none_or(|n| n < 1 << 20), "a new log");
    // The writer reopened: a request through the LB lands in the new file.
    let before = size(&log);
    lb_get(&f.bed.hosts[0].address, "/ping");
    wait_for("a line in the new log", Duration::from_secs(10), || {
        size(&log).is_some_and(|n| before.is_none_or(|b| n > b))
    });
}

#[test]
fn the_nginx_access_log_is_rotated_over_its_limit() {
    the_access_log_is_rotated_over_its_limit("nginx");
}

#[test]
fn the_haproxy_access_log_is_rotated_over_its_limit() {
    the_access_log_is_rotated_over_its_limit("haproxy");
}
