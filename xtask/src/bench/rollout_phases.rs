//! Where a rollout's time goes, from outside: the spawn and exit of deployctl measured by the
//! benchmark, the timestamps of its audit log (netcheck, detect and the per-host steps with
//! their durations), and its JSON report (batches, per-host phase times). A batch takes as
//! long as its slowest host, so each phase is reported as the sum over batches of the
//! batch's slowest host in that phase.

use std::collections::BTreeMap;

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use serde_json::Value;

/// Seconds spent in each part of one rollout.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Breakdown {
    /// Process start to the run's `start` event (artifact checksum, inventory).
    pub startup_s: f64,
    /// The slowest host's network check (its `netcheck` event's duration).
    pub netcheck_s: f64,
    /// Opening every host's connection (the `connect` event's duration); runs at the same
    /// time as the network check.
    pub connect_s: f64,
    /// `start` to the last `detect` event: network check and connect together, then roles.
    pub gate_s: f64,
    /// Last `detect` to the first host step (lock, load balancer preparation).
    pub lock_s: f64,
    /// First host step begins to last host step ends.
    pub batches_s: f64,
    /// Last host step to the process exit (outcome, LB, audit upload, disconnect).
    pub finish_s: f64,
    /// Per phase, the sum over batches of the slowest host of the batch.
    pub slowest_s: BTreeMap<String, f64>,
}

fn ts(e: &Value) -> Result<DateTime<Utc>> {
    let s = e["ts"].as_str().context("audit event without ts")?;
    Ok(DateTime::parse_from_rfc3339(s)
        .with_context(|| format!("audit ts {s:?}"))?
        .with_timezone(&Utc))
}

fn secs(from: DateTime<Utc>, to: DateTime<Utc>) -> f64 {
    (to - from).num_milliseconds() as f64 / 1000.0
}

/// The last event of `step`.
fn last(events: &[Value], step: &str) -> Result<DateTime<Utc>> {
    let mut out = None;
    for e in events.iter().filter(|e| e["step"] == step) {
        let t = ts(e)?;
        out = Some(out.map_or(t, |o: DateTime<Utc>| o.max(t)));
    }
    out.with_context(|| format!("the audit log has no {step} event"))
}

/// The longest `duration_ms` among the events of `step`, in seconds.
fn longest(events: &[Value], step: &str) -> Result<f64> {
    let mut out = None;
    for e in events.iter().filter(|e| e["step"] == step) {
        let ms = e["duration_ms"]
            .as_f64()
            .with_context(|| format!("a {step} event without duration_ms"))?;
        out = Some(out.map_or(ms, |o: f64| o.max(ms)));
    }
    out.map(|ms| ms / 1000.0)
        .with_context(|| format!("the audit log has no {step} event"))
}

/// Attributes one rollout's wall time. `events` are the audit log's lines; `report` is
/// deployctl's `--json` report.
pub fn breakdown(
    spawned: DateTime<Utc>,
    exited: DateTime<Utc>,
    events: &[Value],
    report: &Value,
) -> Result<Breakdown> {
    let start = last(events, "start")?;
    let detect = last(events, "detect")?;
    let (mut first, mut end) = (None::<DateTime<Utc>>, None::<DateTime<Utc>>);
    let host_step = |e: &&Value| e["host"].is_string() && e["step"] != "netcheck";
    for e in events.iter().filter(host_step) {
        let Some(ms) = e["duration_ms"].as_i64() else {
            continue;
        };
        let done = ts(e)?;
        let begin = done - chrono::Duration::milliseconds(ms);
        first = Some(first.map_or(begin, |f| f.min(begin)));
        end = Some(end.map_or(done, |x| x.max(done)));
    }
    let first = first.context("the audit log has no timed host step")?;
    let end = end.context("the audit log has no timed host step")?;
    Ok(Breakdown {
        startup_s: secs(spawned, start),
        netcheck_s: longest(events, "netcheck")?,
        connect_s: longest(events, "connect")?,
        gate_s: secs(start, detect),
        lock_s: secs(detect, first).max(0.0),
        batches_s: secs(first, end),
        finish_s: secs(end, exited),
        slowest_s: slowest(report)?,
    })
}

/// Per phase, the sum over batches of the batch's slowest host.
pub fn slowest(report: &Value) -> Result<BTreeMap<String, f64>> {
    let hosts = report["hosts"].as_array().context("report without hosts")?;
    let phases_of = |name: &str| -> Result<&serde_json::Map<String, Value>> {
        hosts
            .iter()
            .find(|h| h["host"] == name)
            .and_then(|h| h["phases_ms"].as_object())
            .with_context(|| format!("no phase times for host {name}"))
    };
    let batches = report["batches"]
        .as_array()
        .filter(|b| !b.is_empty())
        .context("report without batches")?;
    let mut out = BTreeMap::new();
    for batch in batches {
        let mut worst: BTreeMap<String, f64> = BTreeMap::new();
        for name in batch.as_array().context("batch is not a list")? {
            let name = name.as_str().context("host name")?;
            for (phase, ms) in phases_of(name)? {
                let s = ms.as_f64().context("phase time")? / 1000.0;
                let w = worst.entry(phase.clone()).or_default();
                *w = w.max(s);
            }
        }
        for (phase, s) in worst {
            *out.entry(phase).or_default() += s;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn at(ms: i64) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(1_800_000_000_000 + ms).unwrap()
    }

    fn ev(ms: i64, step: &str, host: Option<&str>, dur: Option<i64>) -> Value {
        let ts = at(ms).to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        json!({"ts": ts, "step": step, "host": host, "duration_ms": dur})
    }

    #[test]
    fn wall_time_is_split_and_batches_count_their_slowest_host() {
        let events = [
            ev(100, "start", None, None),
            ev(600, "netcheck", Some("a"), Some(480)),
            ev(650, "netcheck", Some("b"), Some(530)),
            ev(650, "connect", None, Some(540)),
            ev(900, "detect", Some("a"), None),
            ev(1400, "upload", Some("a"), Some(400)),
            ev(1600, "upload", Some("b"), Some(500)),
            ev(2000, "restart", Some("b"), Some(300)),
        ];
        let report = json!({
            "batches": [["a"], ["b", "c"]],
            "hosts": [
                {"host": "a", "phases_ms": {"upload": 400, "restart": 100}},
                {"host": "b", "phases_ms": {"upload": 500, "restart": 300}},
                {"host": "c", "phases_ms": {"upload": 700, "restart": 200}},
            ],
        });
        let b = breakdown(at(0), at(2300), &events, &report).unwrap();
        assert_eq!(
            (b.startup_s, b.netcheck_s, b.connect_s, b.gate_s, b.lock_s),
            (0.1, 0.53, 0.54, 0.8, 0.1)
        );
        assert_eq!((b.batches_s, b.finish_s), (1.0, 0.3));
        assert_eq!(b.slowest_s["upload"], 0.4 + 0.7);
        assert_eq!(b.slowest_s["restart"], 0.1 + 0.3);
    }

    #[test]
    fn missing_events_or_phases_are_errors() {
        let report = json!({"batches": [["a"]], "hosts": []});
        assert!(slowest(&report).is_err());
        let events = [ev(100, "start", None, None)];
        assert!(breakdown(at(0), at(1), &events, &report).is_err());
    }
}
