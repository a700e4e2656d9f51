//! Never route to nothing: 2 app hosts behind a real LB (nginx, haproxy), `canary = false`,
//! `failure_tolerance = 2`, a build that never becomes ready on either. Both failures are
//! within the tolerance, but marking the second host down would leave the pool without a live
//! member: the run ends ROLLBACK (exit 4), both hosts restored to v1 and in the pool, and
//! clients through the LB are answered during and after the run.

use crate::lbload::*;
use crate::lbstate::assert_lb_agrees;
use testkit::*;

fn every_host_failing_keeps_the_pool_live(kind: &'static str) {
    let f = Fleet::on_v1(
        3,
        &Inv {
            tolerance: 2,
            canary: false,
            ..Inv::behind_lb(kind, &[])
        },
    );
    let (bed, builds, inv, state) = (&f.bed, &f.builds, &f.inv, &f.state);
    wait_lb_up(inv, state, kind);
    let lbh = LbHost::new(bed, 0, kind);
    let broken = builds.broken_on(&[&bed.hosts[1].name, &bed.hosts[2].name]);
    let mix = Mix::start(&bed.hosts[0].address);
    mix.run_more(EXPOSURE, "requests before the run");
    let r = f.rollout(&broken);
    let during = mix.stop();
    eprintln!("{kind}, every host never ready:\n{}", table(&during));
    assert_eq!(r.code, 4, "ROLLBACK: {} {}", r.stderr, r.json);
    assert_eq!(r.json["outcome"], "ROLLBACK", "{}", r.json);
    let reason = r.json["reason"].as_str().unwrap();
    assert!(reason.contains("without a live member"), "{reason}");
    for k in [1, 2] {
        let h = r.host(&bed.hosts[k].name);
        assert_eq!(h["state"], "rolled_back", "{h}");
    }
    // No request met an empty pool: haproxy changes live (nothing to notice); nginx reloads
    // twice (host 1 out, then back), whose only cost is a keep-alive request racing a close.
    if kind == "haproxy" {
        assert_clean(&during, 20, "haproxy, every host never ready");
    } else {
        assert_reload_cost_only(&during, 20, 2, "nginx, every host never ready");
    }
    // Per host: v1 installed, running and served, in every pool.
    wait_lb_up(inv, state, kind);
    f.assert_on(&[1, 2], &builds.v1, true, Some(true));
    // Per LB: live routing is the file on disk; both app hosts in the pool, none down.
    let live = assert_lb_agrees(bed, 0, kind, "after the rollback");
    assert!(live.down.is_empty(), "{live:?}");
    let lb = assert_lb_in_sync(inv, state, kind);
    assert_eq!(lb["down"], serde_json::json!([]), "{lb}");
    let conf = lbh.owned();
    for k in [1, 2] {
        let addr = format!("{}:8080", bed.hosts[k].address);
        assert!(conf.contains(&addr), "host {k} in the pool:\n{conf}");
    }
    if kind == "haproxy" {
        for s in lb["servers"].as_array().unwrap() {
            assert_eq!(s["status"], "UP", "{lb}");
        }
    }
    // Clients get answers after the run, from v1.
    let after = Mix::start(&bed.hosts[0].address);
    after.run_more(EXPOSURE, "requests after the run");
    let after = after.stop();
    assert_clean(&after, 20, &format!("{kind}, after the run"));
    assert_eq!(builds_seen(&after), [build_id(&builds.v1)], "{after:?}");
}

#[test]
fn every_host_failing_behind_nginx_ends_rollback_with_the_pool_live() {
    every_host_failing_keeps_the_pool_live("nginx");
}

#[test]
fn every_host_failing_behind_haproxy_ends_rollback_with_the_pool_live() {
    every_host_failing_keeps_the_pool_live("haproxy");
}

/// `rollback` never routes to nothing either: every restore fails (both backups corrupted),
/// the hosts still serve v2, and they stay in the pool (they were all marked down, so every
/// request got 502). ROLLBACK_FAILED, exit 6; clients through the LB are answered by v2.
#[test]
fn a_rollback_whose_every_restore_fails_keeps_the_pool_live() {
    let kind = "nginx";
    let f = Fleet::on_v1(3, &Inv::behind_lb(kind, &[]));
    let (bed, builds) = (&f.bed, &f.builds);
    let r = f.rollout(&builds.v2);
    assert_eq!(r.code, 0, "{} {}", r.stderr, r.json);
    let run = r.json["run_id"].as_str().unwrap().to_string();
    for k in [1, 2] {
        let bin = bed.srv(k).join("hotel/backups").join(&run);
        let bin = bin.join("files/srv/hotel/hotel-api");
        let len = std::fs::metadata(&bin).unwrap().len();
        let file = std::fs::OpenOptions::new().write(true).open(&bin).unwrap();
        file.set_len(len / 2).unwrap();
    }
    let back = f.run(&["rollback", "--env", "bed", "--to", &run]);
    assert_eq!(back.code, 6, "{} {}", back.stderr, back.json);
    for k in [1, 2] {
        let h = back.host(&bed.hosts[k].name);
        assert_eq!(h["state"], "rollback_failed", "{h}");
    }
    f.assert_on(&[1, 2], &builds.v2, true, Some(true));
    let live = assert_lb_agrees(bed, 0, kind, "after the failed rollback");
    assert!(live.down.is_empty(), "{live:?}");
    let after = Mix::start(&bed.hosts[0].address);
    after.run_more(EXPOSURE, "requests after the rollback");
    let after = after.stop();
    assert_clean(&after, 20, "after the failed rollback");
    assert_eq!(builds_seen(&after), [build_id(&builds.v2)], "{after:?}");
}
