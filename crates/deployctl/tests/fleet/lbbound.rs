//! Every LB step is bounded: an nginx reload that hangs (here: `nginx -s reload` stalls 30 s)
//! fails the step at `[remote] step_timeout_s`; the LB is re-read and the run ends with the
//! step named, instead of waiting as long as the LB host likes. (The stalled reload still
//! runs on the LB host and loads the file it swapped in: a step whose result is unknown is
//! reported, not undone.)

use std::time::{Duration, Instant};
use testkit::*;

/// `[lb] nginx` on bed host 0 (`/srv/fault/nginx`): nginx itself, except that once
/// `/srv/nginx-arm` exists the next `-s reload` stalls 30 s first (the arming file removed).
const NGINX_STALLS: &str = r#"#!/bin/sh
case " $* " in
*" -s "*) if [ -e /srv/nginx-arm ]; then rm -f /srv/nginx-arm; sleep 30; fi ;;
esac
exec /usr/sbin/nginx "$@"
"#;

#[test]
fn a_hanging_nginx_reload_fails_its_step_within_the_step_timeout() {
    let knobs = Inv {
        gray: vec![2],
        step_timeout_s: 10,
        ..Inv::behind_lb("nginx", &["nginx = \"/srv/fault/nginx\""])
    };
    let f = Fleet::new(3, &knobs);
    crate::lbload::fault_program(&f.bed, 0, "nginx", NGINX_STALLS);
    let first = f.run(&["rollout", "--env", "bed"]);
    assert_eq!(first.code, 0, "{} {}", first.stderr, first.json);
    std::fs::write(f.bed.srv(0).join("nginx-arm"), "").unwrap();
    let t0 = Instant::now();
    let r = f.run(&["gray", "--env", "bed", "--percent", "50"]);
    let took = t0.elapsed();
    assert!(!f.bed.srv(0).join("nginx-arm").exists(), "the stall fired");
    assert_ne!(r.code, 0, "{} {}", r.stderr, r.json);
    let said = format!("{} {}", r.json["reason"], r.stderr);
    assert!(said.contains("no answer within 10s"), "{said}");
    // Bounded by the step timeout plus the re-read, not by the stall (behaviour, not speed:
    // the unbounded step waited for the stall and then went on).
    assert!(took < Duration::from_secs(30 + 10), "{took:?}");
    // The routing did not reach the LB in time: PARTIAL_SUCCESS (no host was to change), and
    // every app host still serves and holds v1.
    assert_eq!(r.code, 3, "{said}");
    for k in 1..3 {
        let v1 = build_id(&f.builds.v1);
        assert_eq!(served_build(&f.bed.hosts[k].address), Some(v1), "host {k}");
        let installed = sha256_file(&f.bed.srv(k).join("hotel/hotel-api"));
        assert_eq!(installed, sha256_file(&f.builds.v1), "host {k}");
    }
}
