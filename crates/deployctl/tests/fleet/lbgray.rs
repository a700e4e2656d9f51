//! Gray deployments under load through both LB kinds: gray 20% -> 50% -> promote, and gray ->
//! abort, with GET /ping and POST /bookings clients (keep-alive and new connections) running
//! throughout. haproxy: zero client errors and no reload at all. nginx: one reload per change
//! of routing (gray start, share change, promote, abort), its errors measured and bounded.
//! Both: measured share within 3 points of the target over 2000 keys, sticky per key, the
//! gray header always reaches gray, disk and live state agree after every step.

use crate::gray::{build_via, builds_for_keys, rt, share};
use crate::lbload::*;
use crate::lbstate::assert_lb_agrees;
use testkit::*;

/// LB changes a run made (audit `lb config` records in `STATE/audit/RUN_ID.jsonl`).
fn lb_changes(state: &std::path::Path, r: &Run) -> usize {
    let run = r.json["run_id"].as_str().unwrap();
    let audit = std::fs::read_to_string(state.join(format!("audit/{run}.jsonl"))).unwrap();
    audit
        .lines()
        .filter(|l| l.contains("\"step\":\"lb config\""))
        .count()
}

/// Share, stickiness and header routing at `pct` with gray on build `gray`, else `stable`.
fn check_split(lb: &str, pct: f64, gray: &str, stable: &str, what: &str) {
    let seen = builds_for_keys(lb, 0..2000);
    assert!(seen.iter().all(|b| b == gray || b == stable), "{what}");
    let got = share(&seen, gray);
    eprintln!("{what}: target {pct}%, measured {got:.2}% over 2000 keys");
    assert!((got - pct).abs() <= 3.0, "{what}: measured {got:.2}%");
    assert_eq!(
        builds_for_keys(lb, 0..300),
        seen[..300].to_vec(),
        "{what}: sticky"
    );
    let headed = rt().block_on(async {
        let mut v = vec![];
        for k in 0..40 {
            let h = [("X-Gray", "1".to_string()), ("X-Client", format!("c{k}"))];
            v.push(build_via(lb, &h).await);
        }
        v
    });
    assert!(headed.iter().all(|b| b == gray), "{what}: header to gray");
}

fn gray_cycle(kind: &'static str) {
    let f = Fleet::on_v1(
        4,
        &Inv {
            gray: vec![3],
            ..Inv::behind_lb(kind, &["split_key = \"$http_x_client\""])
        },
    );
    let (bed, builds, inv, state) = (&f.bed, &f.builds, &f.inv, &f.state);
    wait_lb_up(inv, state, kind);
    let lb = bed.hosts[0].address.clone();
    let lbh = LbHost::new(bed, 0, kind);
    let procs = lbh.processes();
    let (v1, v2) = (build_id(&builds.v1), build_id(&builds.v2));
    let (p1, p2) = (builds.v1.to_str().unwrap(), builds.v2.to_str().unwrap());
    let mix = Mix::start(&lb);
    let mut changes = vec![];
    for (pct, art) in [(20.0, p2), (50.0, p2)] {
        let r = deployctl(
            inv,
            state,
            &[
                "gray",
                "--env",
                "bed",
                "--percent",
                &pct.to_string(),
                "--artifact",
                art,
            ],
        );
        assert_eq!(r.code, 0, "gray {pct}: {} {}", r.stderr, r.json);
        changes.push(lb_changes(state, &r));
        assert_lb_in_sync(inv, state, kind);
        assert_lb_agrees(bed, 0, kind, &format!("gray {pct}%"));
        wait_lb_up(inv, state, kind);
        check_split(&lb, pct, &v2, &v1, &format!("{kind} gray {pct}%"));
    }
    let r = deployctl(inv, state, &["promote", "--env", "bed", "--artifact", p2]);
    assert_eq!(r.code, 0, "promote: {} {}", r.stderr, r.json);
    changes.push(lb_changes(state, &r));
    assert_lb_in_sync(inv, state, kind);
    assert_lb_agrees(bed, 0, kind, "promote");
    assert!(
        builds_for_keys(&lb, 0..200).iter().all(|b| *b == v2),
        "promote"
    );
    // Gray again (v1 is now the other build), then abort: everyone back on v2.
    let r = deployctl(
        inv,
        state,
        &["gray", "--env", "bed", "--percent", "20", "--artifact", p1],
    );
    assert_eq!(r.code, 0, "gray again: {} {}", r.stderr, r.json);
    changes.push(lb_changes(state, &r));
    assert_lb_agrees(bed, 0, kind, "gray again");
    wait_lb_up(inv, state, kind);
    check_split(
        &lb,
        20.0,
        &v1,
        &v2,
        &format!("{kind} gray 20% (before abort)"),
    );
    let r = deployctl(inv, state, &["gray", "--env", "bed", "--abort"]);
    assert_eq!(r.code, 0, "abort: {} {}", r.stderr, r.json);
    changes.push(lb_changes(state, &r));
    assert_lb_in_sync(inv, state, kind);
    let live = assert_lb_agrees(bed, 0, kind, "abort");
    assert!(live.down.is_empty(), "after abort: {live:?}");
    assert!(
        builds_for_keys(&lb, 0..200).iter().all(|b| *b == v2),
        "abort"
    );
    let m = mix.stop();
    eprintln!(
        "{kind} gray cycle: LB changes per step {changes:?}\n{}",
        table(&m)
    );
    assert_eq!(
        changes,
        vec![1, 1, 1, 1, 1],
        "one LB change per routing change"
    );
    if kind == "haproxy" {
        assert_clean(&m, 50, "haproxy gray cycle");
        assert_eq!(lbh.processes(), procs, "haproxy: not one reload");
    } else {
        assert_reload_cost_only(&m, 50, 5, "nginx gray cycle");
    }
}

#[test]
fn gray_share_promote_and_abort_through_haproxy_without_client_errors() {
    gray_cycle("haproxy");
}

#[test]
fn gray_share_promote_and_abort_through_nginx_with_one_reload_per_change() {
    gray_cycle("nginx");
}
