//! The master is re-checked right before deployctl restarts it: with an admin endpoint, the
//! generation it serves must still be the one seen before backup and upload. Someone else
//! restarted it meanwhile (SIGUSR1 during a slowed upload): deployctl does not restart it
//! again, the host fails, and the fleet ends on the old build, no lease left.

use std::path::Path;
use std::process::Command;
use std::time::Duration;
use testkit::*;

fn uploading(dir: &Path) -> bool {
    let up = dir.join(".deployctl-upload");
    ls(&up).iter().any(|f| {
        f.starts_with("hotel-api.")
            && std::fs::metadata(up.join(f)).is_ok_and(|m| m.len() > 1 << 20)
    })
}

#[test]
fn a_master_restarted_by_someone_else_since_it_was_checked_is_not_restarted_again() {
    let f = Fleet::on_v1(1, &Inv::default());
    let (bed, builds, inv, state) = (&f.bed, &f.builds, &f.inv, &f.state);
    let before = bed.admin_status(0);
    let master = before["master_pid"].as_u64().unwrap();
    let gen = before["current"]["generation"].as_u64().unwrap();
    bed.limit_ssh(0, 2);
    let v2 = builds.v2.to_str().unwrap();
    let child = spawn(inv, state, &["rollout", "--env", "bed", "--artifact", v2]);
    let dir = bed.srv(0).join("hotel");
    wait_for("the upload is under way", Duration::from_secs(90), || {
        uploading(&dir)
    });
    // Another operator restarts the master by hand: same pid, same binary, next generation.
    let st = Command::new("kill")
        .args(["-USR1", &master.to_string()])
        .status()
        .unwrap();
    assert!(st.success());
    wait_for("the outside restart", Duration::from_secs(30), || {
        let s = bed.admin_status(0);
        s["current"]["generation"].as_u64() == Some(gen + 1) && s["restart_in_progress"] == false
    });
    assert!(uploading(&dir), "deployctl is still uploading");
    bed.nft(0, &["delete", "table", "inet", "dctl_rate"]);
    let r = finish(child, Duration::from_secs(180));
    assert_ne!(r.code, 0, "{} {}", r.stderr, r.json);
    let h = &r.json["hosts"][0];
    let err = h["error"].as_str().unwrap_or_default();
    assert!(
        err.contains("master changed since it was checked, not restarted")
            && err.contains(&format!("generation {}, not {gen}", gen + 1)),
        "{h}"
    );
    let audit = r.audit();
    assert!(
        !audit.contains("restart via AdminVerb"),
        "never asked to restart: {audit}"
    );
    // Final state: the old build installed and served by the same master; no lease left.
    assert_eq!(sha256_file(&dir.join("hotel-api")), sha256_file(&builds.v1));
    assert_eq!(
        served_build(&bed.hosts[0].address),
        Some(build_id(&builds.v1))
    );
    assert_eq!(bed.admin_status(0)["master_pid"].as_u64(), Some(master));
    assert!(!dir.join(".deploy/lease").exists(), "lease released");
}
