//! What an operator sees: Prometheus metrics (scraped and parsed), JSON status, JSON logs.
mod support;

use std::collections::BTreeMap;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use support::*;

/// Parses Prometheus text exposition into `name{labels}` -> value, checking every line's shape.
fn parse_exposition(text: &str) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    for line in text.lines() {
        if line.is_empty() || line.starts_with('#') {
            assert!(
                line.is_empty()
                    || line.starts_with("# HELP ")
                    || line.starts_with("# TYPE ")
                    || line == "# EOF",
                "bad comment line {line:?}"
            );
            continue;
        }
        let (series, value) = line
            .rsplit_once(' ')
            .unwrap_or_else(|| panic!("no value in {line:?}"));
        let value: f64 = value
            .parse()
            .unwrap_or_else(|_| panic!("bad value in {line:?}"));
        assert!(
            series
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic()),
            "bad name in {line:?}"
        );
        out.insert(series.to_string(), value);
    }
    out
}

#[test]
fn metrics_have_exactly_the_documented_names_and_count_events() {
    let svc = start("", &[]);
    assert_eq!(svc.restart()["outcome"], "ok");
    let (pid, _) = svc.current();
    kill(Pid::from_raw(pid), Signal::SIGKILL).unwrap();
    wait_until("crash recovered", || {
        parse_exposition(&svc.metrics())
            .get("hotel_be_worker_restart_total{action=\"crash_recovered\"}")
            == Some(&1.0)
    });
    let m = parse_exposition(&svc.metrics());
    let expected = [
        ("hotel_be_worker_exit_total{reason=\"graceful\"}", Some(1.0)),
        (
            "hotel_be_worker_exit_total{reason=\"exit_code\"}",
            Some(0.0),
        ),
        ("hotel_be_worker_exit_total{reason=\"signal\"}", Some(1.0)),
        (
            "hotel_be_worker_exit_total{reason=\"wait_error\"}",
            Some(0.0),
        ),
        (
            "hotel_be_worker_restart_total{action=\"graceful_ok\"}",
            Some(1.0),
        ),
        (
            "hotel_be_worker_restart_total{action=\"graceful_aborted\"}",
            Some(0.0),
        ),
        (
            "hotel_be_worker_restart_total{action=\"crash_recovered\"}",
            Some(1.0),
        ),
        (
            "hotel_be_worker_restart_total{action=\"health_recovered\"}",
            Some(0.0),
        ),
        ("hotel_be_worker_generation", Some(3.0)),
        ("hotel_be_worker_ready", Some(1.0)),
        ("hotel_be_restart_in_progress", Some(0.0)),
        ("hotel_be_worker_pid", None),
        ("hotel_be_worker_uptime_seconds", None),
        ("hotel_be_orphans_reaped_total", Some(0.0)),
    ];
    for (series, value) in expected {
        let got = m
            .get(series)
            .unwrap_or_else(|| panic!("{series} missing from {m:?}"));
        if let Some(v) = value {
            assert_eq!(*got, v, "{series}");
        }
    }
    assert_eq!(m.len(), expected.len(), "unexpected series in {m:?}");
    assert_eq!(m["hotel_be_worker_pid"], svc.current().0 as f64);
}

#[test]
fn status_reports_workers_binary_and_last_restart() {
    let svc = start("", &[]);
    let v2 = svc.install_build("status-v2");
    assert_eq!(svc.restart()["outcome"], "ok");
    let s = svc.status();
    assert_eq!(s["master_pid"], svc.pid());
    assert_eq!(s["listeners"][0], format!("http={}", svc.addr()));
    assert_eq!(s["current"]["generation"], 2);
    assert_eq!(s["current"]["version"]["build_id"], v2.as_str());
    assert_eq!(s["current"]["sha256"].as_str().map(str::len), Some(64));
    assert_eq!(s["previous"]["generation"], 1);
    assert_eq!(s["last_restart"]["outcome"], "ok");
    assert!(s["last_restart"]["duration_ms"].as_u64().is_some());
}

#[test]
fn every_log_line_is_json_with_an_event() {
    let mut svc = start("", &[]);
    assert_eq!(svc.restart()["outcome"], "ok");
    svc.signal(Signal::SIGTERM as i32);
    assert_eq!(svc.wait_exit().code(), Some(0));
    let text = std::fs::read_to_string(&svc.log).unwrap();
    let mut events = Vec::new();
    for line in text.lines() {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        assert!(
            v["timestamp"].is_string() && v["level"].is_string(),
            "{line}"
        );
        events.push(
            v["fields"]["event"]
                .as_str()
                .unwrap_or_else(|| panic!("no event in {line}"))
                .to_string(),
        );
    }
    for e in [
        "master_started",
        "worker_started",
        "readiness_confirmed",
        "restart_begin",
        "restart_outcome",
        "worker_retiring",
        "worker_exited",
        "shutdown_begin",
        "master_exit",
    ] {
        assert!(events.iter().any(|x| x == e), "no {e} event in {events:?}");
    }
}
