//! Ctrl-C in the middle of a batch: the batch in flight finishes, no new batch starts, the
//! hosts already changed are restored, INTERRUPTED (exit 130) is the last audit record and
//! every host's lease is released.

use serde_json::Value;
use std::path::Path;
use std::time::Duration;
use testkit::*;

/// Events of the one audit log in `state/audit` that `before` did not hold.
pub fn new_events(state: &Path, before: &[String]) -> Vec<Value> {
    let dir = state.join("audit");
    let Some(f) = ls(&dir).into_iter().find(|f| !before.contains(f)) else {
        return vec![];
    };
    std::fs::read_to_string(dir.join(f))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

#[test]
fn sigint_mid_batch_finishes_the_batch_restores_changed_hosts_and_records_interrupted() {
    let f = Fleet::on_v1(
        3,
        &Inv {
            batch_size: 1,
            tolerance: 1,
            timeout_s: 8,
            ..Inv::default()
        },
    );
    let (bed, builds, inv, state) = (&f.bed, &f.builds, &f.inv, &f.state);
    let before = ls(&state.join("audit"));
    // h1 (second batch) gets a build whose new worker never becomes ready: its restart takes
    // the master's ready timeout, so the batch is in flight when the interrupt lands.
    let broken = builds.broken_on(&[&bed.hosts[1].name]);
    let child = spawn(
        inv,
        state,
        &[
            "rollout",
            "--env",
            "bed",
            "--artifact",
            broken.to_str().unwrap(),
        ],
    );
    let h1 = bed.hosts[1].name.as_str();
    wait_for("h1 upload", Duration::from_secs(90), || {
        new_events(state, &before)
            .iter()
            .any(|e| e["host"] == h1 && e["step"] == "upload" && e["result"] == "ok")
    });
    let st = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(st.success());
    let r = finish(child, Duration::from_secs(120));
    assert_eq!(r.code, 130, "{} {}", r.stderr, r.json);
    assert_eq!(r.json["outcome"], "INTERRUPTED");
    let states: Vec<&str> = (0..3)
        .map(|k| r.json["hosts"][k]["state"].as_str().unwrap())
        .collect();
    assert_eq!(
        states,
        ["rolled_back", "rolled_back", "skipped"],
        "{}",
        r.json
    );
    let events = new_events(state, &before);
    let last = events.last().unwrap();
    assert_eq!(
        (&last["step"], &last["outcome"]),
        (&"outcome".into(), &"INTERRUPTED".into())
    );
    let run = r.json["run_id"].as_str().unwrap();
    assert!(
        !ls(&bed.srv(2).join("hotel/backups")).contains(&run.to_string()),
        "h2 untouched"
    );
    for k in 0..3 {
        assert!(
            !bed.srv(k).join("hotel/.deploy/lease").exists(),
            "lease of host {k} released"
        );
    }
    f.assert_on(&[0, 1, 2], &builds.v1, true, None);
}
