//! Rollback you can trust: backups named by run id on every host, `rollback --to RUN_ID`
//! across the fleet, `rollback` after a ROLLBACK ending on one build, a failed canary that
//! stops the rollout whatever the tolerance, a corrupted backup and a failing copy refused
//! before anything is swapped, and an audit directory that cannot be written.

use std::process::Command;
use testkit::*;

fn states(r: &Run) -> Vec<(String, String)> {
    r.json["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            (
                h["host"].as_str().unwrap().into(),
                h["state"].as_str().unwrap().into(),
            )
        })
        .collect()
}

fn history_run<'a>(hist: &'a serde_json::Value, run: &str) -> &'a serde_json::Value {
    hist.as_array()
        .unwrap()
        .iter()
        .find(|r| r["run_id"] == run)
        .unwrap_or_else(|| panic!("run {run} in history: {hist}"))
}

#[test]
fn rollback_to_a_run_restores_it_on_every_host_and_history_names_the_builds() {
    let f = Fleet::on_v1(3, &Inv::default());
    let (bed, builds, inv, state) = (&f.bed, &f.builds, &f.inv, &f.state);
    let r = f.rollout(&builds.v2);
    assert_eq!(r.code, 0, "{} {}", r.stderr, r.json);
    let run_b = r.json["run_id"].as_str().unwrap().to_string();
    assert_fleet_on(bed, inv, state, &[0, 1, 2], &builds.v2, true, None);
    for k in 0..3 {
        // One complete backup per host, named by the run that took it.
        assert_eq!(ls(&bed.srv(k).join("hotel/backups")), vec![run_b.clone()]);
    }
    let r = deployctl(inv, state, &["rollback", "--env", "bed", "--to", &run_b]);
    assert_eq!(r.code, 0, "{} {}", r.stderr, r.json);
    assert_eq!(r.json["outcome"], "SUCCESS");
    assert!(
        states(&r).iter().all(|(_, s)| s == "rolled_back"),
        "{}",
        r.json
    );
    assert_fleet_on(bed, inv, state, &[0, 1, 2], &builds.v1, true, None);
    let (v1, v2) = (build_id(&builds.v1), build_id(&builds.v2));
    let hist = deployctl(inv, state, &["history"]).json;
    let run_r = r.json["run_id"].as_str().unwrap().to_string();
    for (run, before, after) in [(&run_b, &v1, &v2), (&run_r, &v2, &v1)] {
        let builds = history_run(&hist, run)["builds"]
            .as_array()
            .unwrap()
            .clone();
        assert_eq!(builds.len(), 3, "{hist}");
        for b in builds {
            assert_eq!(b["before"].as_str(), Some(before.as_str()), "{run}: {b}");
            assert_eq!(b["after"].as_str(), Some(after.as_str()), "{run}: {b}");
        }
    }
}

#[test]
fn a_failed_canary_stops_whatever_the_tolerance_and_rollback_ends_on_one_build() {
    let knobs = Inv {
        tolerance: 1,
        dr: vec![0],
        timeout_s: 8,
        ..Inv::default()
    };
    let f = Fleet::on_v1(3, &knobs);
    let (bed, builds, inv, state) = (&f.bed, &f.builds, &f.inv, &f.state);
    assert_eq!(f.rollout(&builds.v2).code, 0);
    // The DR host (h0) is never the canary: h1 is, and never becomes ready.
    let broken = builds.broken_on(&[&bed.hosts[1].name]);
    let r = f.rollout(&broken);
    assert_eq!(r.code, 4, "{} {}", r.stderr, r.json);
    assert_eq!(r.json["outcome"], "ROLLBACK");
    assert_eq!(r.json["batches"][0], serde_json::json!([bed.hosts[1].name]));
    let st = states(&r);
    assert_eq!(st[1].1, "rolled_back", "{}", r.json);
    assert_eq!(
        (st[0].1.as_str(), st[2].1.as_str()),
        ("skipped", "skipped"),
        "{}",
        r.json
    );
    assert_fleet_on(bed, inv, state, &[0, 1, 2], &builds.v2, true, None);
    // h1's newest backup (this ROLLBACK run) holds v2, the others' hold v1: `rollback`
    // targets the last successful rollout on every host, so the fleet ends on one build.
    let r = deployctl(inv, state, &["rollback", "--env", "bed"]);
    assert_eq!(r.code, 0, "{} {}", r.stderr, r.json);
    assert_eq!(r.json["target"]["build_id"], build_id(&builds.v1).as_str());
    assert_fleet_on(bed, inv, state, &[0, 1, 2], &builds.v1, true, None);
}

/// A fleet of one host with two config files named alike in different directories, on v1
/// then v2 (configs "a1"/"b1" then "a2"/"b2"); returns it and the v2 run id.
fn two_configs() -> (Fleet, String) {
    let mut f = Fleet::new(1, &Inv::default());
    let (a, b) = (f.work.path().join("a.toml"), f.work.path().join("b.toml"));
    f.set_inv(&Inv {
        config: vec![
            ConfigFile::new(&a, "conf/a/app.toml", Some("0640")),
            ConfigFile::new(&b, "conf/b/app.toml", Some("0600")),
        ],
        ..Inv::default()
    });
    let mut run = String::new();
    for (art, tag) in [(&f.builds.v1, "1"), (&f.builds.v2, "2")] {
        std::fs::write(&a, format!("a{tag}\n")).unwrap();
        std::fs::write(&b, format!("b{tag}\n")).unwrap();
        let r = f.rollout(art);
        assert_eq!(r.code, 0, "{} {}", r.stderr, r.json);
        run = r.json["run_id"].as_str().unwrap().to_string();
    }
    (f, run)
}

fn conf(bed: &Bed, which: &str) -> String {
    std::fs::read_to_string(bed.srv(0).join(format!("hotel/conf/{which}/app.toml"))).unwrap()
}

/// No staged `.NAME.restore-*` file left anywhere under /srv/hotel.
fn no_staged_files(bed: &Bed) {
    let out = Command::new("find")
        .arg(bed.srv(0).join("hotel"))
        .args(["-name", "*.restore-*"])
        .output()
        .unwrap();
    assert!(
        out.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn same_named_configs_are_kept_apart_and_a_failing_copy_changes_nothing() {
    let (f, run_b) = two_configs();
    let (bed, builds, inv, state) = (&f.bed, &f.builds, &f.inv, &f.state);
    let files = bed
        .srv(0)
        .join("hotel/backups")
        .join(&run_b)
        .join("files/srv/hotel/conf");
    assert_eq!(
        std::fs::read_to_string(files.join("a/app.toml")).unwrap(),
        "a1\n"
    );
    assert_eq!(
        std::fs::read_to_string(files.join("b/app.toml")).unwrap(),
        "b1\n"
    );
    // conf/a read-only inside the host: the copy of the second of three files fails.
    bed.in_host(0, "mount --bind /srv/hotel/conf/a /srv/hotel/conf/a && mount -o remount,bind,ro /srv/hotel/conf/a");
    let r = deployctl(inv, state, &["rollback", "--env", "bed"]);
    bed.in_host(0, "umount /srv/hotel/conf/a");
    assert_eq!(r.code, 6, "{} {}", r.stderr, r.json);
    assert_eq!(r.json["outcome"], "ROLLBACK_FAILED");
    let err = r.json["hosts"][0]["error"].as_str().unwrap();
    assert_eq!(r.json["hosts"][0]["state"], "rollback_failed");
    assert!(
        err.contains("conf/a/app.toml") && err.contains("nothing was changed"),
        "{err}"
    );
    assert_fleet_on(bed, inv, state, &[0], &builds.v2, true, None);
    assert_eq!(
        (conf(bed, "a"), conf(bed, "b")),
        ("a2\n".into(), "b2\n".into())
    );
    no_staged_files(bed);
    // Once the directory is writable again the same rollback restores both files apart.
    let r = deployctl(inv, state, &["rollback", "--env", "bed"]);
    assert_eq!(r.code, 0, "{} {}", r.stderr, r.json);
    assert_fleet_on(bed, inv, state, &[0], &builds.v1, true, None);
    assert_eq!(
        (conf(bed, "a"), conf(bed, "b")),
        ("a1\n".into(), "b1\n".into())
    );
}

#[test]
fn a_corrupted_backup_is_refused_with_its_reason_and_the_host_left_as_it_was() {
    let (f, run_b) = two_configs();
    let (bed, builds, inv, state) = (&f.bed, &f.builds, &f.inv, &f.state);
    let bin = bed
        .srv(0)
        .join("hotel/backups")
        .join(&run_b)
        .join("files/srv/hotel/hotel-api");
    let len = std::fs::metadata(&bin).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&bin)
        .unwrap()
        .set_len(len / 2)
        .unwrap();
    let r = deployctl(inv, state, &["rollback", "--env", "bed", "--to", &run_b]);
    assert_eq!(r.code, 6, "{} {}", r.stderr, r.json);
    assert_eq!(r.json["outcome"], "ROLLBACK_FAILED");
    let err = r.json["hosts"][0]["error"].as_str().unwrap();
    assert!(
        err.contains("corrupt") && err.contains("/srv/hotel/hotel-api"),
        "{err}"
    );
    assert_fleet_on(bed, inv, state, &[0], &builds.v2, true, None);
    assert_eq!(
        (conf(bed, "a"), conf(bed, "b")),
        ("a2\n".into(), "b2\n".into())
    );
    no_staged_files(bed);
    let last = r.audit_events().pop().unwrap();
    assert_eq!(
        (&last["step"], &last["outcome"]),
        (&"outcome".into(), &"ROLLBACK_FAILED".into())
    );
}

#[test]
fn an_audit_dir_that_cannot_be_written_stops_the_run_before_any_host() {
    let f = Fleet::on_v1(1, &Inv::default());
    let (bed, builds, inv, state) = (&f.bed, &f.builds, &f.inv, &f.state);
    let audit = state.join("audit");
    let before = ls(&audit);
    // The audit dir read-only in a mount namespace of deployctl's own (nothing to undo).
    let script = r#"mount --bind "$1" "$1" && mount -o remount,bind,ro "$1""#;
    let out = testkit::runner::unshared(script, &audit, inv, state)
        .args(["rollout", "--env", "bed", "--artifact"])
        .arg(&builds.v2)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(5), "{stderr}");
    assert!(
        stderr.contains("audit log") && stderr.contains("nothing touched"),
        "{stderr}"
    );
    assert_eq!(ls(&audit), before, "no new audit file");
    assert_fleet_on(bed, inv, state, &[0], &builds.v1, true, None);
}
