//! The routing snapshot a run starts from is read from every LB, never defaulted: an LB whose
//! routing cannot be read stops the run before any host or LB changes (it used to read as
//! "one pool, nothing down", which puts down hosts back in the pool or ends gray).

use crate::lbload::LbHost;
use testkit::*;

#[test]
fn an_lb_whose_routing_cannot_be_read_stops_the_run_before_any_change() {
    let kind = "nginx";
    let f = Fleet::on_v1(3, &Inv::behind_lb(kind, &[]));
    let lbh = LbHost::new(&f.bed, 0, kind);
    let owned = lbh.srv.join("deployctl-upstreams.conf");
    let saved = lbh.srv.join("upstreams.saved");
    let before = lbh.owned();
    // The owned file cannot be read (a directory stands where it was).
    std::fs::rename(&owned, &saved).unwrap();
    std::fs::create_dir(&owned).unwrap();
    let r = f.rollout(&f.builds.v2);
    std::fs::remove_dir(&owned).unwrap();
    std::fs::rename(&saved, &owned).unwrap();
    assert_eq!(r.code, 5, "{} {}", r.stderr, r.json);
    assert_eq!(r.json["outcome"], "ABORTED", "{}", r.json);
    let reason = r.json["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("routing unreadable"), "{reason}");
    // No host changed, the LB's file is as it was, no lease left.
    f.assert_on(&[1, 2], &f.builds.v1, true, Some(true));
    assert_eq!(lbh.owned(), before);
    for k in 0..3 {
        let lease = f.bed.srv(k).join("hotel/.deploy/lease");
        assert!(!lease.exists(), "lease of host {k} released");
    }
}
