//! Signals and leases during a rollout behind a real LB (host 0; app hosts 1..3 one per
//! batch, each marked down around its restart so the LB changes during the run): SIGTERM
//! and SIGHUP mid-batch stop it like SIGINT (the batch finishes, the changed hosts are
//! restored, the routing snapshotted before the run is back, INTERRUPTED naming the signal,
//! leases released); a second SIGINT cuts the waits but still restores the routing and
//! records the outcome; a lease removed by force (`unlock --force` from another state dir)
//! stops the run at once with LEASE_LOST: no host is changed after the loss, the changed
//! hosts are restored and the LB routes as before the run.

use crate::interrupt::new_events;
use serde_json::Value;
use std::path::Path;
use std::process::Child;
use std::time::Duration;
use testkit::*;

/// Wait (bounded) until the new run recorded `step` `result` for `host` (any host: None).
fn wait_event(state: &Path, before: &[String], host: Option<&str>, step: &str, result: &str) {
    wait_for(step, Duration::from_secs(120), || {
        new_events(state, before).iter().any(|e| {
            host.is_none_or(|h| e["host"] == h) && e["step"] == step && e["result"] == result
        })
    });
}

/// The state of each app host (1..=3) in the run's report.
fn app_states<'r>(f: &Fleet, r: &'r Run) -> Vec<&'r str> {
    (1..4)
        .map(|k| r.host(&f.bed.hosts[k].name)["state"].as_str().unwrap())
        .collect()
}

fn signal(child: &Child, sig: libc::c_int) {
    assert!(procs::signal(child.id() as i32, sig), "signal {sig}");
}

/// 4 hosts on v1 behind `kind` (host 0), one app host per batch, each marked down around
/// its restart; tolerance 1 so a failed host alone does not end the run.
fn fleet(kind: &'static str, knobs: Inv) -> Fleet {
    let f = Fleet::on_v1(
        4,
        &Inv {
            tolerance: 1,
            ..Inv {
                lb_hosts: vec![0],
                batch_size: 1,
                lb: vec![
                    format!("kind = \"{kind}\""),
                    "down_during_restart = true".into(),
                ],
                ..knobs
            }
        },
    );
    crate::lbload::wait_lb_up(&f.inv, &f.state, kind);
    f
}

/// `rollout` of a build that never becomes ready on host 2 (the second batch), started;
/// returns once host 2's upload is recorded (its batch in flight: host 2 marked down).
fn start_mid_batch(f: &Fleet, before: &[String]) -> Child {
    let broken = f.builds.broken_on(&[&f.bed.hosts[2].name]);
    let args = [
        "rollout",
        "--env",
        "bed",
        "--artifact",
        broken.to_str().unwrap(),
    ];
    let child = spawn(&f.inv, &f.state, &args);
    let h2 = f.bed.hosts[2].name.as_str();
    wait_event(&f.state, before, Some(h2), "upload", "ok");
    child
}

fn assert_leases_released(f: &Fleet) {
    for k in 0..4 {
        let lease = f.bed.srv(k).join("hotel/.deploy/lease");
        assert!(!lease.exists(), "lease of host {k} released");
    }
}

/// The last record is the run's INTERRUPTED outcome.
fn assert_last_outcome(events: &[Value], outcome: &str) {
    let last = events.last().unwrap();
    assert_eq!(
        (&last["step"], &last["outcome"], &last["host"]),
        (&"outcome".into(), &outcome.into(), &Value::Null),
        "{events:#?}"
    );
}

/// The first signal `sig` mid-batch: the batch finishes, hosts 1 and 2 are restored, host
/// 3 is untouched, every host serves v1 from the LB pool again, INTERRUPTED names `sig`.
fn signal_mid_batch_is_like_sigint(kind: &'static str, sig: libc::c_int, name: &str) {
    let f = fleet(
        kind,
        Inv {
            timeout_s: 8,
            ..Inv::default()
        },
    );
    let before = ls(&f.state.join("audit"));
    let child = start_mid_batch(&f, &before);
    signal(&child, sig);
    let r = finish(child, Duration::from_secs(150));
    assert_eq!(r.code, 130, "{} {}", r.stderr, r.json);
    assert_eq!(r.json["outcome"], "INTERRUPTED", "{}", r.json);
    let reason = r.json["reason"].as_str().unwrap();
    assert!(
        reason.contains(&format!("interrupted by {name}")),
        "{reason}"
    );
    assert_eq!(
        app_states(&f, &r),
        ["rolled_back", "rolled_back", "skipped"],
        "{}",
        r.json
    );
    let events = new_events(&f.state, &before);
    assert!(
        events
            .iter()
            .any(|e| e["step"] == "signal"
                && e["detail"].as_str().is_some_and(|d| d.starts_with(name))),
        "the signal is recorded: {events:#?}"
    );
    assert_last_outcome(&events, "INTERRUPTED");
    let run = r.json["run_id"].as_str().unwrap().to_string();
    assert!(
        !ls(&f.bed.srv(3).join("hotel/backups")).contains(&run),
        "h3 untouched"
    );
    assert_leases_released(&f);
    f.assert_on(&[1, 2, 3], &f.builds.v1, true, Some(true));
}

#[test]
fn sigterm_mid_batch_behind_nginx_stops_like_sigint() {
    signal_mid_batch_is_like_sigint("nginx", libc::SIGTERM, "SIGTERM");
}

#[test]
fn sighup_mid_batch_behind_haproxy_stops_like_sigint() {
    signal_mid_batch_is_like_sigint("haproxy", libc::SIGHUP, "SIGHUP");
}

/// A second SIGINT while the batch is in flight: the batch is cut and the restores skipped,
/// but the routing is restored (the snapshot, the hosts left changed out of it) and
/// INTERRUPTED is recorded, naming them; the leases are released.
#[test]
fn a_second_sigint_cuts_the_waits_but_restores_the_routing_and_records() {
    let f = fleet(
        "nginx",
        Inv {
            timeout_s: 30,
            ..Inv::default()
        },
    );
    let before = ls(&f.state.join("audit"));
    let child = start_mid_batch(&f, &before);
    signal(&child, libc::SIGINT);
    // The first is seen (recorded) before the second is sent: two at once would be one.
    wait_event(&f.state, &before, None, "signal", "warn");
    signal(&child, libc::SIGINT);
    let r = finish(child, Duration::from_secs(120));
    assert_eq!(r.code, 130, "{} {}", r.stderr, r.json);
    assert_eq!(r.json["outcome"], "INTERRUPTED", "{}", r.json);
    let reason = r.json["reason"].as_str().unwrap();
    let (h1, h2) = (&f.bed.hosts[1].name, &f.bed.hosts[2].name);
    assert!(reason.contains("forced by a second signal"), "{reason}");
    assert!(
        reason.contains(&format!("changed and NOT restored: {h1}, {h2}")),
        "{reason}"
    );
    let events = new_events(&f.state, &before);
    assert_last_outcome(&events, "INTERRUPTED");
    assert!(
        !events.iter().any(|e| e["step"] == "restore"),
        "the restores were cut: {events:#?}"
    );
    assert_leases_released(&f);
    // h3 untouched, in the pool; h1 (serving v2) and h2 (still v1, its restart aborted),
    // both with the new artifact installed and not restored, out of it.
    f.assert_on(&[3], &f.builds.v1, true, Some(true));
    let state = fleet_state(&f.bed, &f.inv, &f.state, &[1, 2]);
    let shipped = sha256_file(&f.builds.broken_on(&[h2]));
    assert_eq!(state[0].installed, Some(shipped.clone()), "{state:?}");
    assert_eq!(state[1].installed, Some(shipped), "{state:?}");
    assert_eq!(state[0].served, Some(build_id(&f.builds.v2)), "{state:?}");
    assert_eq!(state[1].served, Some(build_id(&f.builds.v1)), "{state:?}");
    assert_eq!(
        (state[0].in_lb, state[1].in_lb),
        (Some(false), Some(false)),
        "{state:?}"
    );
}

/// The steps that change a host with the new build.
const DEPLOY_STEPS: [&str; 5] = ["backup", "upload", "checksum", "restart", "serving"];

/// The leases removed by force while host 2 waits for its build to serve: the run stops at
/// once (host 2's wait cut, host 3 never reached), restores hosts 1 and 2, routes as before
/// the run and ends LEASE_LOST (exit 10).
#[test]
fn a_lease_removed_during_a_rollout_stops_it_at_once_with_lease_lost() {
    let f = fleet(
        "nginx",
        Inv {
            // SIGUSR1 restarts: host 2's never-ready build keeps it in verify for 60 s.
            admin: false,
            timeout_s: 60,
            // Renewed every second: the loss is seen within about a second.
            lease_ttl_s: 4,
            ..Inv::default()
        },
    );
    let before = ls(&f.state.join("audit"));
    let child = start_mid_batch(&f, &before);
    let h2 = f.bed.hosts[2].name.as_str();
    wait_event(&f.state, &before, Some(h2), "restart", "ok");
    let other = f.state.with_file_name("operator");
    let u = deployctl(&f.inv, &other, &["unlock", "--env", "bed", "--force"]);
    assert_eq!(u.code, 0, "{} {}", u.stderr, u.json);
    let r = finish(child, Duration::from_secs(120));
    assert_eq!(r.code, 10, "{} {}", r.stderr, r.json);
    assert_eq!(r.json["outcome"], "LEASE_LOST", "{}", r.json);
    assert!(
        r.json["reason"].as_str().unwrap().contains("lease lost on"),
        "{}",
        r.json
    );
    let events = new_events(&f.state, &before);
    let lost = events
        .iter()
        .position(|e| e["step"] == "lease" && e["result"] == "fail")
        .unwrap_or_else(|| panic!("a lease record: {events:#?}"));
    let changed: Vec<&Value> = events[lost..]
        .iter()
        .filter(|e| DEPLOY_STEPS.contains(&e["step"].as_str().unwrap_or_default()))
        .collect();
    assert!(
        changed.is_empty(),
        "no host changed after the loss: {changed:#?}"
    );
    let h3 = f.bed.hosts[3].name.as_str();
    assert!(
        !events
            .iter()
            .any(|e| e["host"] == h3 && e["step"] == "backup"),
        "h3 never reached"
    );
    assert_last_outcome(&events, "LEASE_LOST");
    assert_eq!(
        app_states(&f, &r),
        ["rolled_back", "rolled_back", "skipped"],
        "{}",
        r.json
    );
    assert_leases_released(&f);
    f.assert_on(&[1, 2, 3], &f.builds.v1, false, Some(true));
}
