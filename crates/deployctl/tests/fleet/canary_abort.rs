//! Issue 19's abort target, through real nginx and real haproxy with load through the LB
//! (GET /search and POST /bookings, keep-alive and new connections): a gray build answering
//! 10% 500s is aborted by `gray --analyze --auto`, stable-only routing is verified on the LB,
//! and no client request that started after the routing change fails, of any kind.

use crate::canary::Canary;
use crate::lbload::{table, Mix, EXPOSURE};
use std::time::{Duration, Instant};
use testkit::*;

fn ten_percent_500s_are_aborted(kind: &'static str) {
    let c = Canary::up(kind, "fail_share = 0.1\n");
    let t0 = Instant::now();
    let load = Mix::through(&c.lb, "/search?city=Rome", 3, Duration::from_secs(300));
    let r = c.gray("90s", "3s", true);
    // The run returns after the routing change (and the gray hosts' restore): every request
    // that started after this moment met stable-only routing.
    let routed = t0.elapsed();
    load.run_more(EXPOSURE, "requests after the abort");
    let m = load.stop();
    assert_eq!(r.code, 8, "{} {}", r.stderr, r.json);
    assert_eq!(r.json["outcome"], "ABORTED_BY_ANALYSIS", "{}", r.json);
    assert_eq!(r.json["stable_only_verified"], true, "{}", r.json);
    assert_eq!(
        c.served(),
        vec![build_id(&c.builds.v1); 3],
        "gray restored to v1"
    );
    assert!(!c.lb_gray_on(), "stable-only routing on disk");
    let mut before_failed = 0;
    for (l, rep) in &m {
        let after: Vec<_> = rep.samples.iter().filter(|s| s.at >= routed).collect();
        assert!(
            after.len() >= 50,
            "{l}: {} requests after the abort",
            after.len()
        );
        let failed: Vec<_> = after.iter().filter(|s| s.failure.is_some()).collect();
        assert!(
            failed.is_empty(),
            "{l} after the routing change: {failed:?}\n{}",
            table(&m)
        );
        before_failed += rep.failed();
    }
    // The build's 500s reached clients before the abort: the analysis judged real failures.
    assert!(before_failed > 0, "{}", table(&m));
}

#[test]
fn a_gray_answering_ten_percent_500s_is_aborted_through_nginx_with_no_error_after_the_switch() {
    ten_percent_500s_are_aborted("nginx");
}

#[test]
fn a_gray_answering_ten_percent_500s_is_aborted_through_haproxy_with_no_error_after_the_switch() {
    ten_percent_500s_are_aborted("haproxy");
}
