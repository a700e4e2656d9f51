//! The hosts' release history decides the default rollback target, whichever controller
//! deployed: a laptop and CI deploy in turn (their own state dirs, so neither sees the
//! other's audit log), and a default rollback from either ends on the build the fleet served
//! before the one it serves now; a no-op rollout (SUCCESS, no backups) does not break it.

use serde_json::Value;
use std::path::Path;
use testkit::runner::rollout;
use testkit::*;

/// Each app host's history records, in the order the host appended them.
fn history(bed: &Bed, k: usize) -> Vec<Value> {
    let p = bed.srv(k).join("hotel/.deploy/history.jsonl");
    std::fs::read_to_string(&p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn run_id(r: &Run) -> String {
    r.json["run_id"].as_str().unwrap().to_string()
}

fn rollback(inv: &Path, state: &Path) -> Run {
    let r = deployctl(inv, state, &["rollback", "--env", "bed"]);
    assert_eq!(r.code, 0, "{} {}", r.stderr, r.json);
    r
}

#[test]
fn two_controllers_deploy_in_turn_and_a_default_rollback_ends_on_the_previous_build() {
    let f = Fleet::on_v1(3, &Inv::default());
    let (bed, builds, inv) = (&f.bed, &f.builds, &f.inv);
    let (laptop, ci) = (&f.state, &f.work.path().join("ci-state"));
    let v3 = builds::stamp(
        &bins::hotel_api(),
        "v3",
        &f.work.path().join("hotel-api-v3"),
    );
    let r2 = rollout(inv, laptop, &builds.v2);
    assert_eq!(r2.code, 0, "{} {}", r2.stderr, r2.json);
    let r3 = rollout(inv, ci, &v3);
    assert_eq!(r3.code, 0, "{} {}", r3.stderr, r3.json);
    f.assert_on(&[0, 1, 2], &v3, true, None);
    // The laptop's own log knows v1 -> v2 only; the hosts know CI's v3 came after.
    let back = rollback(inv, laptop);
    assert_eq!(
        back.json["target"]["build_id"],
        build_id(&builds.v2).as_str()
    );
    f.assert_on(&[0, 1, 2], &builds.v2, true, None);
    // CI deploys v2 again: SUCCESS with nothing changed and no backup taken.
    let noop = rollout(inv, ci, &builds.v2);
    assert_eq!(noop.code, 0, "{} {}", noop.stderr, noop.json);
    // A second default rollback goes one build further back.
    let again = rollback(inv, ci);
    assert_eq!(
        again.json["target"]["build_id"],
        build_id(&builds.v1).as_str()
    );
    f.assert_on(&[0, 1, 2], &builds.v1, true, None);
    let runs = [&r2, &r3, &back, &noop, &again].map(run_id);
    let served = [&builds.v2, &v3, &builds.v2, &builds.v2, &builds.v1].map(|b| build_id(b));
    for k in 0..3 {
        let h = history(bed, k);
        let tail: Vec<(&str, &str, &str)> = h[h.len() - 5..]
            .iter()
            .map(|r| {
                let s = |k: &str| r[k].as_str().unwrap_or("");
                (s("run_id"), s("build_id"), s("outcome"))
            })
            .collect();
        let want: Vec<(&str, &str, &str)> = runs
            .iter()
            .zip(&served)
            .map(|(r, b)| (r.as_str(), b.as_str(), "SUCCESS"))
            .collect();
        assert_eq!(tail, want, "host {k}: {h:#?}");
        let ms: Vec<u64> = h.iter().map(|r| r["host_ms"].as_u64().unwrap()).collect();
        assert!(
            ms.windows(2).all(|w| w[0] <= w[1]),
            "host clock order {ms:?}"
        );
    }
    // A third controller with no audit log of its own reads the same history from the hosts.
    let third = f.work.path().join("third-state");
    let h = deployctl(inv, &third, &["history", "--env", "bed", "--hosts"]);
    assert_eq!(h.code, 0, "{} {}", h.stderr, h.json);
    let seen: Vec<(String, usize)> = h.json["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let n = r["hosts"].as_array().unwrap().len();
            (r["run_id"].as_str().unwrap().to_string(), n)
        })
        .collect();
    let want: Vec<(String, usize)> = runs.iter().map(|r| (r.clone(), 3)).collect();
    assert_eq!(seen[seen.len() - 5..], want[..], "{}", h.json);
}
