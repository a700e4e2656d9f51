//! Hosts whose new build never becomes ready: PARTIAL_SUCCESS within the tolerance, ROLLBACK
//! beyond it (old build verifiably served again everywhere), DR hosts not counted.

use testkit::*;

#[test]
fn one_never_ready_host_within_tolerance_is_partial_success_and_restored() {
    let f = Fleet::on_v1(
        3,
        &Inv {
            tolerance: 1,
            ..Inv::default()
        },
    );
    let (bed, builds) = (&f.bed, &f.builds);
    let r = f.rollout(&builds.broken_on(&[&bed.hosts[2].name]));
    assert_eq!(r.code, 3, "{} {}", r.stderr, r.json);
    assert_eq!(r.json["outcome"], "PARTIAL_SUCCESS");
    let (v1, v2) = (build_id(&builds.v1), build_id(&builds.v2));
    assert_eq!(served_build(&bed.hosts[0].address), Some(v2.clone()));
    assert_eq!(served_build(&bed.hosts[1].address), Some(v2));
    // The failed host is named and left on its backup (v1 serving again, verified).
    let failed = r.host(&bed.hosts[2].name);
    assert_eq!(failed["state"], "rolled_back", "{failed}");
    assert!(
        failed["error"].as_str().unwrap().contains("aborted"),
        "{failed}"
    );
    assert!(r.json["reason"]
        .as_str()
        .unwrap()
        .contains(&bed.hosts[2].name));
    assert_eq!(served_build(&bed.hosts[2].address), Some(v1));
}

#[test]
fn failures_beyond_tolerance_roll_every_touched_host_back_to_the_old_build() {
    let f = Fleet::on_v1(
        3,
        &Inv {
            tolerance: 0,
            admin: false,
            timeout_s: 8,
            ..Inv::default()
        },
    );
    let (bed, builds) = (&f.bed, &f.builds);
    let r = f.rollout(&builds.broken_on(&[&bed.hosts[1].name]));
    assert_eq!(r.code, 4, "{} {}", r.stderr, r.json);
    assert_eq!(r.json["outcome"], "ROLLBACK");
    let v1 = build_id(&builds.v1);
    for h in &bed.hosts {
        assert_eq!(r.host(&h.name)["state"], "rolled_back", "{}", r.json);
        assert_eq!(
            served_build(&h.address).as_deref(),
            Some(v1.as_str()),
            "{} serves v1 again",
            h.name
        );
    }
    let sha1 = sha256_file(&builds.v1);
    for k in 0..3 {
        assert_eq!(
            sha256_file(&bed.srv(k).join("hotel/hotel-api")),
            sha1,
            "v1 binary restored on host {k}"
        );
    }
}

#[test]
fn a_failing_dr_host_does_not_count_toward_the_tolerance() {
    let f = Fleet::on_v1(
        3,
        &Inv {
            tolerance: 0,
            dr: vec![2],
            ..Inv::default()
        },
    );
    let (bed, builds) = (&f.bed, &f.builds);
    let r = f.rollout(&builds.broken_on(&[&bed.hosts[2].name]));
    assert_eq!(r.code, 3, "{} {}", r.stderr, r.json);
    assert_eq!(
        r.json["outcome"], "PARTIAL_SUCCESS",
        "a DR failure alone never triggers ROLLBACK"
    );
    let v2 = build_id(&builds.v2);
    assert_eq!(served_build(&bed.hosts[0].address), Some(v2.clone()));
    assert_eq!(served_build(&bed.hosts[1].address), Some(v2));
    assert_eq!(
        served_build(&bed.hosts[2].address),
        Some(build_id(&builds.v1))
    );
}
