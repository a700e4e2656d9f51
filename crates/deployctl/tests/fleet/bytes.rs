//! Verification proves the bytes: after a restart and after a restore deployctl compares the
//! running worker's image sha256 (admin `/status`) with the installed binary's and records
//! it; a config-only change is deployed and verified, not skipped because the build matches.

use crate::bed::*;
use crate::state::*;
use serde_json::Value;
use std::path::Path;

/// sha256 of the `running image` records of a run's audit log.
fn running_images(r: &Run) -> Vec<String> {
    let audit = std::fs::read_to_string(r.json["audit_log"].as_str().unwrap()).unwrap();
    audit
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|e| e["step"] == "running image" && e["result"] == "ok")
        .map(|e| e["sha256"].as_str().unwrap().to_string())
        .collect()
}

fn run(inv: &Path, state: &Path, args: &[&str]) -> Run {
    let r = deployctl(inv, state, args);
    assert_eq!(r.code, 0, "{args:?}: {} {}", r.stderr, r.json);
    r
}

#[test]
fn running_image_is_proven_after_restart_and_restore_and_config_only_changes_deploy() {
    let bed = Bed::up(1);
    let builds = Builds::new();
    let work = tempfile::tempdir().unwrap();
    let state = work.path().join("state");
    let conf = work.path().join("app.toml");
    std::fs::write(&conf, "c1\n").unwrap();
    let config = format!("[{{ src = \"{}\", dest = \"app.toml\" }}]", conf.display());
    let inv = bed.inventory(
        work.path(),
        &builds.v1,
        &Inv {
            config,
            ..Inv::default()
        },
    );
    let (sha1, sha2) = (sha256_file(&builds.v1), sha256_file(&builds.v2));
    let r = run(&inv, &state, &["rollout", "--env", "bed"]);
    assert_eq!(running_images(&r), vec![sha1.clone()], "first start");
    let v2 = builds.v2.to_str().unwrap();
    let r = run(&inv, &state, &["rollout", "--env", "bed", "--artifact", v2]);
    assert_eq!(running_images(&r), vec![sha2.clone()], "after the restart");
    assert_fleet_on(&bed, &inv, &state, &[0], &builds.v2, true, None);
    let r = run(&inv, &state, &["rollback", "--env", "bed"]);
    assert_eq!(running_images(&r), vec![sha1.clone()], "after the restore");
    assert_fleet_on(&bed, &inv, &state, &[0], &builds.v1, true, None);
    // Same build, new config: `promote` (which skips hosts already on the build) deploys it.
    std::fs::write(&conf, "c2\n").unwrap();
    let r = run(&inv, &state, &["promote", "--env", "bed"]);
    assert_eq!(r.json["hosts"][0]["state"], "verified", "{}", r.json);
    assert_eq!(
        running_images(&r),
        vec![sha1.clone()],
        "config-only change verified"
    );
    let installed = std::fs::read_to_string(bed.srv(0).join("hotel/app.toml")).unwrap();
    assert_eq!(installed, "c2\n");
    assert_fleet_on(&bed, &inv, &state, &[0], &builds.v1, true, None);
    // Nothing changed since: promote now skips the host (no backup, no restart).
    let r = run(&inv, &state, &["promote", "--env", "bed"]);
    assert_eq!(r.json["hosts"][0]["backup"], Value::Null, "{}", r.json);
    assert!(running_images(&r).is_empty());
}
