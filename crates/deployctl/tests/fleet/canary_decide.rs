//! `gray --analyze` decisions on the bed (real OpenSSH hosts, real nginx and haproxy): the
//! lock and the leases are held through the windows, a promote ships only the build judged,
//! and an abort is routing first. Each test acts during the windows (after the gray deploy's
//! outcome record, inside a first window of 60 s that no verdict can cut short, or after the
//! first `analysis window` record) and asserts the final fleet: the build every app host has
//! installed, runs and serves, the LB's routing (gray share off, every host in the pool), the
//! outcome in the JSON report and the `analysis outcome` record. None depends on the judge's
//! thresholds except two: the promote needs a healthy gray judged PASS (the load and settings
//! of `canary::healthy_gray_is_promoted_by_auto`), and the held-down FAIL needs a gray
//! answering 50% 500s judged FAIL.

use crate::canary::{Canary, HEALTHY_ANALYZE};
use crate::lbload::{LbHost, Mix};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::Duration;
use testkit::*;

/// Every record of every audit log under `state` (the gray run's and its action run's).
fn events(state: &Path) -> Vec<Value> {
    let dir = state.join("audit");
    let mut out = vec![];
    for f in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let text = std::fs::read_to_string(f.path()).unwrap_or_default();
        out.extend(text.lines().filter_map(|l| serde_json::from_str(l).ok()));
    }
    out
}

/// Wait (bounded) until some audit record has step `step`.
fn wait_step(state: &Path, step: &str, limit: Duration) {
    wait_for(step, limit, || {
        events(state).iter().any(|e| e["step"] == step)
    });
}

/// Wait (bounded) until the gray run recorded its own outcome (the gray deploy is over and
/// the windows begin).
fn wait_gray_deployed(state: &Path, limit: Duration) {
    wait_for("gray deploy outcome", limit, || {
        events(state)
            .iter()
            .any(|e| e["command"] == "gray" && e["step"] == "outcome" && e["host"].is_null())
    });
}

/// Wait until the gray deploy is over: the analysis is then in its first window, which no
/// verdict can end before its 60 s (no test here waits for it).
fn in_first_window(state: &Path) {
    wait_gray_deployed(state, Duration::from_secs(180));
}

/// `gray --percent 50 --artifact ART --analyze D --window W --auto`, not waited.
fn start_gray(c: &Canary, artifact: &Path, analyze: &str, window: &str) -> Child {
    let art = artifact.to_str().unwrap();
    let args = [
        "gray",
        "--env",
        "bed",
        "--percent",
        "50",
        "--artifact",
        art,
        "--analyze",
        analyze,
        "--window",
        window,
        "--auto",
    ];
    spawn(&c.gray_inv, &c.state, &args)
}

/// Host k drops every inbound packet (nftables table `dctl_down`) while this lives. Lifted
/// on drop, also when the test fails: a namespace whose sockets can never finish closing
/// outlives its bed.
struct HeldDown<'a> {
    bed: &'a Bed,
    k: usize,
}

impl<'a> HeldDown<'a> {
    fn new(bed: &'a Bed, k: usize) -> HeldDown<'a> {
        bed.nft(k, &["add", "table", "inet", "dctl_down"]);
        let chain = "{ type filter hook input priority -10 ; policy drop ; }";
        bed.nft(k, &["add", "chain", "inet", "dctl_down", "input", chain]);
        HeldDown { bed, k }
    }
}

impl Drop for HeldDown<'_> {
    fn drop(&mut self) {
        self.bed
            .nft(self.k, &["delete", "table", "inet", "dctl_down"]);
    }
}

/// Send `sig` to the deployctl child (by its pid).
fn signal(child: &Child, sig: libc::c_int) {
    assert!(
        testkit::procs::signal(child.id() as i32, sig),
        "signal {sig}"
    );
}

/// The `analysis outcome` records of the gray run `r` reported.
fn outcome_records(r: &Run) -> Vec<String> {
    let log = r.json["gray"]["audit_log"].as_str().unwrap();
    std::fs::read_to_string(log)
        .unwrap()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|e| e["step"] == "analysis outcome")
        .map(|e| e["detail"].as_str().unwrap_or_default().to_string())
        .collect()
}

/// The gray run ended `outcome`, routed to stable (verified), restored the gray host and
/// recorded the outcome (once, before the restore); the whole fleet is back on v1, every
/// host in the pool, gray share off, no lease left.
fn assert_aborted_to_v1(c: &Canary, r: &Run, outcome: &str, code: i32) {
    assert_eq!(r.code, code, "{} {}", r.stderr, r.json);
    assert_eq!(r.json["outcome"], outcome, "{}", r.json);
    assert_eq!(r.json["stable_only_verified"], true, "{}", r.json);
    let action = &r.json["action"];
    assert_eq!(action["restored"][0]["state"], "rolled_back", "{action}");
    let recs = outcome_records(r);
    assert!(
        recs.len() == 1 && recs[0].starts_with(outcome),
        "one analysis outcome record: {recs:?}"
    );
    let abort = r.json["action_run_id"].as_str().unwrap();
    assert!(
        recs[0].ends_with(&format!("action run {abort}")),
        "{recs:?}"
    );
    assert!(!c.lb_gray_on(), "stable-only routing");
    assert_fleet_on(
        &c.bed,
        &c.gray_inv,
        &c.state,
        &[1, 2, 3],
        &c.builds.v1,
        true,
        Some(true),
    );
    for k in 0..4 {
        let lease = c.bed.srv(k).join("hotel/.deploy/lease");
        assert!(!lease.exists(), "lease of host {k} released");
    }
}

#[test]
fn sigterm_during_the_windows_routes_to_stable_and_records_the_outcome() {
    let c = Canary::up("nginx", "");
    let child = start_gray(&c, &c.builds.v2, "180s", "60s");
    in_first_window(&c.state);
    assert!(c.lb_gray_on(), "gray routing during the windows");
    signal(&child, libc::SIGTERM);
    let r = finish(child, Duration::from_secs(180));
    assert_aborted_to_v1(&c, &r, "INTERRUPTED", 130);
    assert!(r.json["reason"].as_str().unwrap().contains("SIGTERM"));
}

#[test]
fn a_held_down_stable_host_does_not_stop_the_routing_only_abort() {
    let c = Canary::up("haproxy", "");
    let child = start_gray(&c, &c.builds.v2, "180s", "60s");
    in_first_window(&c.state);
    // Stable host h2 (index 1) drops every packet: no new connection, no answer.
    let down = HeldDown::new(&c.bed, 1);
    signal(&child, libc::SIGHUP);
    // The routing change and the outcome record come while h2 is still unreachable.
    wait_step(&c.state, "analysis outcome", Duration::from_secs(120));
    assert!(!c.lb_gray_on(), "gray out of the LB while h2 is down");
    let owned = LbHost::new(&c.bed, 0, c.kind).owned();
    let marked = owned
        .lines()
        .find_map(|l| l.strip_prefix("# deployctl-down:"))
        .unwrap_or_default();
    assert!(
        !marked.contains(&c.bed.hosts[1].name),
        "h2 stays in: {owned}"
    );
    drop(down);
    let r = finish(child, Duration::from_secs(300));
    assert_aborted_to_v1(&c, &r, "INTERRUPTED", 130);
    assert!(r.json["reason"].as_str().unwrap().contains("SIGHUP"));
}

#[test]
fn a_second_controller_is_refused_during_the_windows() {
    let c = Canary::up("nginx", "");
    let mut child = start_gray(&c, &c.builds.v2, "180s", "60s");
    in_first_window(&c.state);
    // Another controller: its own state dir (its own local lock), same hosts.
    let other = c.state.with_file_name("other-controller");
    let v1 = c.builds.v1.to_str().unwrap();
    let args = ["rollout", "--env", "bed", "--artifact", v1];
    let second = deployctl(&c.gray_inv, &other, &args);
    assert_eq!(second.code, 5, "{} {}", second.stderr, second.json);
    assert!(second.stderr.contains("leased"), "{}", second.stderr);
    assert!(
        child.try_wait().unwrap().is_none(),
        "refused while analysing"
    );
    assert!(
        !events(&c.state)
            .iter()
            .any(|e| e["step"] == "analysis outcome"),
        "the analysis had not ended"
    );
    let v2 = build_id(&c.builds.v2);
    assert_eq!(served_build(&c.bed.hosts[3].address), Some(v2), "gray kept");
    assert!(c.lb_gray_on(), "the second controller changed nothing");
    signal(&child, libc::SIGINT);
    let r = finish(child, Duration::from_secs(180));
    assert_aborted_to_v1(&c, &r, "INTERRUPTED", 130);
}

#[test]
fn a_lease_lost_during_the_windows_stops_the_run_and_routes_to_stable() {
    let c = Canary::up("nginx", "");
    let child = start_gray(&c, &c.builds.v2, "180s", "60s");
    in_first_window(&c.state);
    // Someone removes the run's leases by force; its next renewal (every lease_ttl_s / 4)
    // finds them gone.
    let other = c.state.with_file_name("operator");
    let u = deployctl(&c.gray_inv, &other, &["unlock", "--env", "bed", "--force"]);
    assert_eq!(u.code, 0, "{} {}", u.stderr, u.json);
    let r = finish(child, Duration::from_secs(180));
    assert_aborted_to_v1(&c, &r, "STOPPED", 8);
    assert!(
        r.json["reason"]
            .as_str()
            .is_some_and(|w| w.contains("lease lost")),
        "{}",
        r.json
    );
}

#[test]
fn an_artifact_overwritten_during_the_analysis_is_refused_at_promote() {
    let c = Canary::healthy("nginx");
    // The artifact path CI would overwrite: v2 now, another build during the windows.
    let art: PathBuf = c.state.with_file_name("hotel-api-candidate");
    std::fs::copy(&c.builds.v2, &art).unwrap();
    let v3 = testkit::builds::stamp(
        &testkit::bins::hotel_api(),
        "v3",
        &c.state.with_file_name("hotel-api-v3"),
    );
    let load = Mix::through(&c.lb, "/search?city=Rome", 3, Duration::from_secs(300));
    let child = start_gray(&c, &art, HEALTHY_ANALYZE, "3s");
    wait_step(&c.state, "analysis window", Duration::from_secs(180));
    std::fs::copy(&v3, &art).unwrap();
    let r = finish(child, Duration::from_secs(300));
    drop(load.stop());
    // v3 reached no host.
    let v3_sha = sha256_file(&v3);
    for k in 1..=3 {
        assert_ne!(running_sha(&c.bed, k), Some(v3_sha.clone()), "host {k}");
    }
    assert_eq!(
        r.json["judged_sha256"],
        sha256_file(&c.builds.v2),
        "{}",
        r.json
    );
    assert!(
        r.json["reason"]
            .as_str()
            .is_some_and(|w| w.contains("changed since it was judged")),
        "{}",
        r.json
    );
    assert_eq!(r.json["analysis"]["decision"], "promote", "{}", r.json);
    assert_aborted_to_v1(&c, &r, "PROMOTE_REFUSED", 9);
}

#[test]
fn a_failing_gray_is_routed_out_while_a_stable_host_is_held_down() {
    // Half the gray answers are 500s: a FAIL for any judge once traffic flows.
    let c = Canary::up("haproxy", "fail_share = 0.5\n");
    // Long windows: requests routed to the held-down host stall until haproxy's checks take
    // it out (fall 3 x inter 3 s); the next window has traffic enough for any judge.
    let child = start_gray(&c, &c.builds.v2, "90s", "10s");
    wait_gray_deployed(&c.state, Duration::from_secs(180));
    let down = HeldDown::new(&c.bed, 1);
    let load = Mix::through(&c.lb, "/search?city=Rome", 6, Duration::from_secs(300));
    wait_step(&c.state, "analysis outcome", Duration::from_secs(120));
    let said: Vec<Value> = events(&c.state)
        .into_iter()
        .filter(|e| e["command"] != "rollout")
        .collect();
    assert!(
        !c.lb_gray_on(),
        "gray out of the LB while h2 is down: {said:#?}"
    );
    drop(load.stop());
    drop(down);
    let r = finish(child, Duration::from_secs(300));
    assert_aborted_to_v1(&c, &r, "ABORTED_BY_ANALYSIS", 8);
    let verdicts: Vec<&Value> = r.json["analysis"]["windows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| &w["verdict"])
        .collect();
    assert_eq!(verdicts.last(), Some(&&Value::from("FAIL")), "{verdicts:?}");
}
