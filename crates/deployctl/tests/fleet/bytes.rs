//! Verification proves the bytes: after a restart and after a restore deployctl compares the
//! running worker's image sha256 (admin `/status`) with the installed binary's and records
//! it; a config-only change is deployed and verified, not skipped because the build matches.

use serde_json::Value;
use testkit::*;

/// sha256 of the `running image` records of a run's audit log.
fn running_images(r: &Run) -> Vec<String> {
    r.audit_events()
        .into_iter()
        .filter(|e| e["step"] == "running image" && e["result"] == "ok")
        .map(|e| e["sha256"].as_str().unwrap().to_string())
        .collect()
}

fn run(f: &Fleet, args: &[&str]) -> Run {
    let r = f.run(args);
    assert_eq!(r.code, 0, "{args:?}: {} {}", r.stderr, r.json);
    r
}

#[test]
fn running_image_is_proven_after_restart_and_restore_and_config_only_changes_deploy() {
    let mut f = Fleet::new(1, &Inv::default());
    let conf = f.work.path().join("app.toml");
    std::fs::write(&conf, "c1\n").unwrap();
    f.set_inv(&Inv {
        config: vec![ConfigFile::new(&conf, "app.toml", None)],
        ..Inv::default()
    });
    let (bed, builds) = (&f.bed, &f.builds);
    let (sha1, sha2) = (sha256_file(&builds.v1), sha256_file(&builds.v2));
    let r = run(&f, &["rollout", "--env", "bed"]);
    assert_eq!(running_images(&r), vec![sha1.clone()], "first start");
    let v2 = builds.v2.to_str().unwrap();
    let r = run(&f, &["rollout", "--env", "bed", "--artifact", v2]);
    assert_eq!(running_images(&r), vec![sha2.clone()], "after the restart");
    f.assert_on(&[0], &builds.v2, true, None);
    let r = run(&f, &["rollback", "--env", "bed"]);
    assert_eq!(running_images(&r), vec![sha1.clone()], "after the restore");
    f.assert_on(&[0], &builds.v1, true, None);
    // Same build, new config: `promote` (which skips hosts already on the build) deploys it.
    std::fs::write(&conf, "c2\n").unwrap();
    let r = run(&f, &["promote", "--env", "bed"]);
    assert_eq!(r.json["hosts"][0]["state"], "verified", "{}", r.json);
    assert_eq!(
        running_images(&r),
        vec![sha1.clone()],
        "config-only change verified"
    );
    let installed = std::fs::read_to_string(bed.srv(0).join("hotel/app.toml")).unwrap();
    assert_eq!(installed, "c2\n");
    f.assert_on(&[0], &builds.v1, true, None);
    // Nothing changed since: promote now skips the host (no backup, no restart).
    let r = run(&f, &["promote", "--env", "bed"]);
    assert_eq!(r.json["hosts"][0]["backup"], Value::Null, "{}", r.json);
    assert!(running_images(&r).is_empty());
}
