//! `gray --analyze` on the bed, real nginx and haproxy, load THROUGH the LB (GET /search and
//! POST /bookings, keep-alive and new connections; split per client port so both pools get
//! traffic): a healthy gray is promoted by `--auto`; 5% failed bookings are aborted (gray
//! restored, stable-only routing) with no client error caused by the abort; +50 ms is a
//! latency FAIL; too little traffic is INCONCLUSIVE and `--auto` neither promotes nor claims
//! success. The final state of the fleet is asserted in each.

use crate::lbload::{table, wait_lb_up, LbHost, Mix, EXPOSURE};
use crate::reportview::check_report;
use loadgen::{FailureKind, Report};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::Duration;
use testkit::*;

const ANALYSIS: &str = "[gray.analysis]\nmin_requests = 30\nmin_windows = 2\ntolerable_increase = 0.05\nlatency_tolerance_ms = 20.0\n";

/// For a healthy gray that must be promoted: a false abort costs 10x more evidence than by
/// default (alpha 0.001), so a test sharing 2 cores with others does not abort by chance.
pub const HEALTHY: &str = "alpha = 0.001\n";

/// Bound of the analysis of a healthy gray: `--auto` promotes at the first PASS after
/// `min_windows`, usually in 3 to 4 windows of 3 s; a loaded machine needs more.
pub const HEALTHY_ANALYZE: &str = "150s";

pub struct Canary {
    pub bed: Bed,
    pub builds: Builds,
    /// Holds the inventories and the state dir (removed on drop).
    pub _work: tempfile::TempDir,
    pub state: PathBuf,
    pub gray_inv: PathBuf,
    pub kind: &'static str,
    pub lb: String,
}

fn inventory(bed: &Bed, dir: &Path, artifact: &Path, kind: &str, toml: [&str; 2]) -> PathBuf {
    let [hotel_toml, analysis] = toml;
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("hotel.toml"), hotel_toml).unwrap();
    let inv = Inv {
        lb_hosts: vec![0],
        gray: vec![3],
        batch_size: 1,
        lb: vec![
            format!("kind = \"{kind}\""),
            "split_key = \"$remote_port\"".into(),
        ],
        config: vec![ConfigFile::new(&dir.join("hotel.toml"), "hotel.toml", None)],
        ..Inv::default()
    };
    let mut doc = bed.inventory_doc(artifact, &inv);
    let config = ["--config", "{install_dir}/hotel.toml"];
    doc.service.args.extend(config.map(String::from));
    let p = doc.write(dir);
    let text = std::fs::read_to_string(&p).unwrap();
    std::fs::write(&p, format!("{text}{ANALYSIS}{analysis}")).unwrap();
    p
}

impl Canary {
    /// v1 everywhere behind an LB of `kind`; the gray inventory ships `gray_faults`.
    pub fn up(kind: &'static str, gray_faults: &str) -> Canary {
        Canary::with(kind, gray_faults, "")
    }

    /// A healthy gray (no fault) judged with [`HEALTHY`]'s settings.
    pub fn healthy(kind: &'static str) -> Canary {
        Canary::with(kind, "", HEALTHY)
    }

    /// As [`Canary::up`], with `analysis` lines appended to `[gray.analysis]`.
    pub fn with(kind: &'static str, gray_faults: &str, analysis: &str) -> Canary {
        let bed = Bed::up(4);
        let builds = Builds::new();
        let work = tempfile::tempdir().unwrap();
        let state = work.path().join("state");
        let base = "search_latency_ms = 2\n";
        let stable_inv = inventory(
            &bed,
            &work.path().join("stable"),
            &builds.v1,
            kind,
            [base, analysis],
        );
        let gray_inv = inventory(
            &bed,
            &work.path().join("gray"),
            &builds.v2,
            kind,
            [&format!("{base}{gray_faults}"), analysis],
        );
        let r = deployctl(&stable_inv, &state, &["rollout", "--env", "bed"]);
        assert_eq!(r.code, 0, "rollout v1: {} {}", r.stderr, r.json);
        wait_lb_up(&stable_inv, &state, kind);
        let lb = bed.hosts[0].address.clone();
        Canary {
            bed,
            builds,
            _work: work,
            state,
            gray_inv,
            kind,
            lb,
        }
    }

    /// `gray --percent 50 --artifact v2 --analyze D --window W [--auto]` (gray inventory).
    pub fn gray(&self, analyze: &str, window: &str, auto: bool) -> Run {
        let v2 = self.builds.v2.to_str().unwrap();
        let mut args = vec!["gray", "--env", "bed", "--percent", "50", "--artifact", v2];
        args.extend(["--analyze", analyze, "--window", window]);
        if auto {
            args.push("--auto");
        }
        finish(
            spawn(&self.gray_inv, &self.state, &args),
            Duration::from_secs(300),
        )
    }

    /// Build served by each app host (1..=3).
    pub fn served(&self) -> Vec<String> {
        (1..=3)
            .map(|k| served_build(&self.bed.hosts[k].address).unwrap_or_default())
            .collect()
    }

    /// The LB's owned file routes gray (a gray share is recorded in it).
    pub fn lb_gray_on(&self) -> bool {
        let owned = LbHost::new(&self.bed, 0, self.kind).owned();
        !owned.contains("# deployctl-gray-percent: off")
    }
}

/// Client load through the LB in four kinds (GET /search, POST /bookings; both modes), until
/// stopped (bounded by 300 s).
fn load(lb: &str, clients: usize) -> Mix {
    Mix::through(lb, "/search?city=Rome", clients, Duration::from_secs(300))
}

/// Failures other than a non-2xx answer (connect, write, read, timeout, truncated).
fn transport_errors(r: &Report) -> u64 {
    r.samples
        .iter()
        .filter(|s| s.failure.is_some_and(|k| k != FailureKind::Non2xx))
        .count() as u64
}

fn windows(r: &Run) -> Vec<Value> {
    r.json["analysis"]["windows"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn verdicts(r: &Run) -> Vec<String> {
    windows(r)
        .iter()
        .map(|w| w["verdict"].as_str().unwrap().to_string())
        .collect()
}

/// Names of the checks that failed in any group of any window (`GROUP/CHECK`), or in the
/// fleet's pooled checks (`fleet/CHECK`: every group together can show harm first).
fn failed_checks(r: &Run) -> Vec<String> {
    let mut v = vec![];
    let failed = |c: &Value| c["passed"] == false;
    for w in windows(r) {
        for c in w["fleet"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|c| failed(c))
        {
            v.push(format!("fleet/{}", c["name"].as_str().unwrap()));
        }
        for g in w["groups"].as_array().unwrap() {
            for c in g["checks"].as_array().unwrap().iter().filter(|c| failed(c)) {
                v.push(format!(
                    "{}/{}",
                    g["group"].as_str().unwrap(),
                    c["name"].as_str().unwrap()
                ));
            }
        }
    }
    v
}

/// With DEPLOYCTL_TEST_KEEP=DIR: the run's JSON is kept there (evidence for a closing note).
fn keep(r: &Run, name: &str) {
    if let Some(dir) = std::env::var_os("DEPLOYCTL_TEST_KEEP") {
        let p = Path::new(&dir).join(format!("canary-{name}.json"));
        let _ = std::fs::write(p, serde_json::to_string_pretty(&r.json).unwrap());
    }
}

impl Canary {
    /// The run's report renders in headless Chromium with its timeline and verdicts.
    fn report(&self, r: &Run, verdict: &str, name: &str) {
        let id = r.json["gray"]["run_id"].as_str().unwrap();
        check_report(&self.gray_inv, &self.state, id, verdict, name);
    }
}

#[test]
fn healthy_gray_is_promoted_by_auto_through_nginx() {
    let c = Canary::healthy("nginx");
    let load = load(&c.lb, 3);
    let r = c.gray(HEALTHY_ANALYZE, "3s", true);
    let m = load.stop();
    keep(&r, "promoted");
    let v = verdicts(&r);
    let why = format!("{v:?} failed checks {:?}\n{}", failed_checks(&r), r.stderr);
    assert_eq!(r.json["outcome"], "PROMOTED", "{why}");
    assert_eq!(r.code, 0, "{why}");
    assert_eq!(v.last().map(String::as_str), Some("PASS"), "{why}");
    assert!(!v.contains(&"FAIL".to_string()), "{why}");
    c.report(&r, "PASS", "promoted");
    let v2 = build_id(&c.builds.v2);
    assert_eq!(c.served(), vec![v2.clone(); 3], "every app host on v2");
    assert!(!c.lb_gray_on(), "one pool after promote");
    for (l, rep) in &m {
        assert!(rep.requests() >= 50, "{l} ran\n{}", table(&m));
        // nginx reloads twice (gray start, promote): a keep-alive client may lose one request
        // to each (the cost measured in issue 9); a new-connection client loses none.
        let bound = if l.contains("KeepAlive") { 2 * 3 } else { 0 };
        assert_eq!(
            rep.failed(),
            transport_errors(rep),
            "{l}: only reload races\n{}",
            table(&m)
        );
        assert!(rep.failed() <= bound, "{l}\n{}", table(&m));
    }
}

#[test]
fn failing_bookings_are_aborted_by_auto_through_haproxy_without_client_errors() {
    let c = Canary::up("haproxy", "fail_share = 0.05\nfail_scope = \"bookings\"\n");
    let load = load(&c.lb, 3);
    let r = c.gray("40s", "3s", true);
    // After the abort only stable serves; the load keeps running on it for a while.
    load.run_more(EXPOSURE, "requests after the abort");
    let m = load.stop();
    keep(&r, "aborted");
    c.report(&r, "FAIL", "aborted");
    assert_eq!(r.code, 8, "{} {}", r.stderr, r.json);
    assert_eq!(r.json["outcome"], "ABORTED_BY_ANALYSIS", "{}", r.json);
    assert_eq!(r.json["stable_only_verified"], true);
    assert_eq!(verdicts(&r).last().map(String::as_str), Some("FAIL"));
    let failed = failed_checks(&r);
    // The bookings group, or every group pooled (whichever had the evidence first).
    assert!(
        failed
            .iter()
            .any(|f| f.starts_with("bookings/") || f == "fleet/failures"),
        "{failed:?}"
    );
    let v1 = build_id(&c.builds.v1);
    assert_eq!(c.served(), vec![v1.clone(); 3], "gray host restored to v1");
    assert!(!c.lb_gray_on(), "stable-only routing");
    for (l, rep) in &m {
        assert!(rep.requests() >= 50, "{l} ran\n{}", table(&m));
        assert_eq!(
            transport_errors(rep),
            0,
            "{l}: errors beyond the build's 500s\n{}",
            table(&m)
        );
        if l.starts_with("GET") {
            assert_eq!(rep.failed(), 0, "{l}\n{}", table(&m));
        }
    }
}

#[test]
fn fifty_ms_more_latency_is_a_latency_fail_through_nginx() {
    let c = Canary::up("nginx", "added_latency_ms = 50\n");
    let load = load(&c.lb, 3);
    let r = c.gray("60s", "3s", true);
    let m = load.stop();
    keep(&r, "latency");
    c.report(&r, "FAIL", "latency");
    assert_eq!(r.code, 8, "{} {}", r.stderr, r.json);
    assert_eq!(r.json["outcome"], "ABORTED_BY_ANALYSIS", "{}", r.json);
    let failed = failed_checks(&r);
    assert!(
        failed.iter().any(|f| f.contains("/latency_p")),
        "{failed:?}"
    );
    assert!(!failed.iter().any(|f| f.contains("failures")), "{failed:?}");
    assert_eq!(c.served(), vec![build_id(&c.builds.v1); 3]);
    assert!(!c.lb_gray_on());
    assert!(
        m.iter().all(|(_, rep)| rep.requests() >= 20),
        "{}",
        table(&m)
    );
}

#[test]
fn too_little_traffic_is_inconclusive_and_auto_leaves_it_to_a_person() {
    let c = Canary::up("haproxy", "");
    // No load at all: every window is below the minimum sample.
    let r = c.gray("9s", "3s", true);
    keep(&r, "inconclusive");
    c.report(&r, "INCONCLUSIVE", "inconclusive");
    assert_eq!(r.code, 7, "{} {}", r.stderr, r.json);
    assert_eq!(r.json["outcome"], "NEEDS_DECISION", "{}", r.json);
    assert_eq!(verdicts(&r), vec!["INCONCLUSIVE"; 3]);
    assert!(r.json["action_run_id"].is_null(), "no promote, no abort");
    let (v1, v2) = (build_id(&c.builds.v1), build_id(&c.builds.v2));
    assert_eq!(c.served(), vec![v1.clone(), v1, v2], "gray left as it is");
    assert!(c.lb_gray_on());
}
