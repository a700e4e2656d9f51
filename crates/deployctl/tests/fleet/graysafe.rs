//! Gray never routes to nothing: a gray run whose gray host fails (it is the canary: the run
//! stops, ROLLBACK), under load through haproxy, ends with stable-only routing and no client
//! error; `gray --percent P` without `--artifact` changes only the share (nothing deployed).

use crate::gray::{build_via, builds_for_keys, rt, share};
use crate::lbload::*;
use testkit::*;

fn gray(inv: &std::path::Path, state: &std::path::Path, pct: &str, art: Option<&str>) -> Run {
    let mut args = vec!["gray", "--env", "bed", "--percent", pct];
    if let Some(a) = art {
        args.extend(["--artifact", a]);
    }
    deployctl(inv, state, &args)
}

fn headed_builds(lb: &str) -> Vec<String> {
    rt().block_on(async {
        let mut v = vec![];
        for k in 0..20 {
            let h = [("X-Gray", "1".to_string()), ("X-Client", format!("c{k}"))];
            v.push(build_via(lb, &h).await);
        }
        v
    })
}

#[test]
fn a_failed_gray_host_ends_stable_only_and_a_share_change_deploys_nothing() {
    let f = Fleet::on_v1(
        4,
        &Inv {
            gray: vec![3],
            tolerance: 1,
            timeout_s: 8,
            batch_size: 2,
            ..Inv::behind_lb("haproxy", &["split_key = \"$http_x_client\""])
        },
    );
    let (bed, builds, inv, state) = (&f.bed, &f.builds, &f.inv, &f.state);
    wait_lb_up(inv, state, "haproxy");
    let lb = bed.hosts[0].address.clone();
    let (v1, v2) = (build_id(&builds.v1), build_id(&builds.v2));
    let mix = Mix::start(&lb);
    let broken = builds.broken_on(&[&bed.hosts[3].name]);
    let r = gray(inv, state, "50", Some(broken.to_str().unwrap()));
    assert_eq!(r.code, 4, "{} {}", r.stderr, r.json);
    assert_eq!(r.json["hosts"][3]["state"], "rolled_back", "{}", r.json);
    let m = mix.stop();
    assert_clean(&m, 50, "gray host failing under load");
    // Stable-only: no share, every client and the header on the stable build.
    let st = assert_lb_in_sync(inv, state, "after the failed gray run");
    assert!(st["gray_percent"].is_null(), "{st}");
    assert!(builds_for_keys(&lb, 0..200).iter().all(|b| *b == v1));
    assert!(headed_builds(&lb).iter().all(|b| *b == v1));
    // Restored and verified on v1, the gray host is back in the (one) pool.
    assert_fleet_on(bed, inv, state, &[1, 2, 3], &builds.v1, true, Some(true));
    // Gray host on v2 at 20%, then the share alone: nothing is deployed, only routing moves.
    let r = gray(inv, state, "20", Some(builds.v2.to_str().unwrap()));
    assert_eq!(r.code, 0, "{} {}", r.stderr, r.json);
    wait_lb_up(inv, state, "haproxy");
    let backups = ls(&bed.srv(3).join("hotel/backups"));
    let running = running_sha(bed, 3);
    let r = gray(inv, state, "60", None);
    assert_eq!(r.code, 0, "{} {}", r.stderr, r.json);
    assert!(r.json["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .all(|h| h["state"] == "unchanged"));
    assert_eq!(
        ls(&bed.srv(3).join("hotel/backups")),
        backups,
        "no backup: nothing deployed"
    );
    assert_eq!(running_sha(bed, 3), running, "not restarted");
    assert_eq!(
        assert_lb_in_sync(inv, state, "share 60")["gray_percent"],
        60.0
    );
    let got = share(&builds_for_keys(&lb, 0..2000), &v2);
    assert!((got - 60.0).abs() <= 3.5, "measured {got:.1}%");
    assert_fleet_on(bed, inv, state, &[1, 2], &builds.v1, true, Some(true));
    assert_fleet_on(bed, inv, state, &[3], &builds.v2, true, Some(true));
}
