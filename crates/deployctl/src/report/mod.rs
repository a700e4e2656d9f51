//! `deployctl report RUN_ID [--out FILE]`: one self-contained HTML file (no external script,
//! font or style; inline SVG charts) a reviewer can open offline. [`gather`] reads the run's
//! audit log and that of the action it led to (promote or abort after `--analyze`);
//! [`master_logs`] fetches each app host's master lifecycle lines for the run's span over the
//! transport; [`html::render`] is pure.

pub mod html;
mod svg;

use crate::audit::{Event, Step};
use crate::inventory::Environment;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;

/// The tail of a master's log (filtered by [`master_lines`]).
pub const MASTER_LOG_TAIL: crate::scripts::Script = crate::scripts::script!("master_log_tail");

/// Everything the report shows.
#[derive(Debug, Clone, Default)]
pub struct RunData {
    pub run_id: String,
    pub env: String,
    /// Events of the run and of its action run, by time.
    pub events: Vec<Event>,
    /// Verdicts of the analysis windows (their JSON).
    pub windows: Vec<Value>,
    /// Per app host: master lifecycle log lines in the run's span (or why there are none).
    pub master_logs: BTreeMap<String, Result<Vec<String>, String>>,
}

/// Why there is no report.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("no audit log of run {0} in {1}")]
    NoRun(String, String),
}

fn read(state_dir: &Path, run_id: &str) -> Option<Vec<Event>> {
    let p = state_dir.join("audit").join(format!("{run_id}.jsonl"));
    let text = std::fs::read_to_string(p).ok()?;
    Some(
        text.lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect(),
    )
}

/// The run id of the promote/abort run an analysis led to (its `analysis outcome` record).
fn action_run(events: &[Event]) -> Option<String> {
    let e = events
        .iter()
        .rev()
        .find(|e| e.step == Step::AnalysisOutcome)?;
    let id = e.detail.as_deref()?.rsplit("action run ").next()?.trim();
    (id != "-" && !id.is_empty()).then(|| id.to_string())
}

/// The run's and its action run's events and the analysis windows.
pub fn gather(state_dir: &Path, run_id: &str) -> Result<RunData, ReportError> {
    let mut events = read(state_dir, run_id).ok_or_else(|| {
        ReportError::NoRun(run_id.into(), state_dir.join("audit").display().to_string())
    })?;
    if let Some(action) = action_run(&events) {
        events.extend(read(state_dir, &action).unwrap_or_default());
    }
    events.sort_by(|a, b| a.ts.cmp(&b.ts));
    let windows = events
        .iter()
        .filter(|e| e.step == Step::AnalysisWindow)
        .filter_map(|e| serde_json::from_str(e.detail.as_deref()?).ok())
        .collect();
    Ok(RunData {
        run_id: run_id.into(),
        env: events.first().map(|e| e.env.clone()).unwrap_or_default(),
        events,
        windows,
        master_logs: BTreeMap::new(),
    })
}

/// The master's lines of a tracing-JSON log within `[from, to]` (RFC 3339, compared as
/// instants).
pub fn master_lines(log: &str, from: &str, to: &str) -> Vec<String> {
    let at = |s: &str| chrono::DateTime::parse_from_rfc3339(s).ok();
    let (Some(from), Some(to)) = (at(from), at(to)) else {
        return vec![];
    };
    log.lines()
        .filter(|l| {
            let Ok(v) = serde_json::from_str::<Value>(l) else {
                return false;
            };
            let master = v["span"]["component"] == "master";
            let t = v["timestamp"].as_str().and_then(at);
            master && t.is_some_and(|t| t >= from && t <= to)
        })
        .map(str::to_string)
        .collect()
}

/// Fetch every app host's master log lines for the run's span (1 s margin each side).
pub async fn master_logs(env: &Environment, data: &mut RunData) {
    let (Some(first), Some(last)) = (data.events.first(), data.events.last()) else {
        return;
    };
    let shift = |ts: &str, s: i64| {
        chrono::DateTime::parse_from_rfc3339(ts)
            .map(|t| (t + chrono::Duration::seconds(s)).to_rfc3339())
            .unwrap_or_else(|_| ts.to_string())
    };
    let (from, to) = (shift(&first.ts, -1), shift(&last.ts, 1));
    let hosts: Vec<&str> = {
        let mut h: Vec<&str> = data
            .events
            .iter()
            .filter(|e| e.step == Step::Serving)
            .filter_map(|e| e.host.as_deref())
            .collect();
        h.sort();
        h.dedup();
        h
    };
    let layout = crate::remote::Layout::of(env);
    let log = format!("{}/{}.log", layout.install_dir, layout.binary_name);
    for r in crate::fleet::connect_all(env).await {
        let r = match r {
            Ok(r) if hosts.contains(&r.host.name.as_str()) => r,
            _ => continue,
        };
        let got = r
            .script("read master log", &MASTER_LOG_TAIL, &[&log])
            .await
            .map(|text| master_lines(&text, &from, &to))
            .map_err(|e| e.to_string());
        data.master_logs.insert(r.host.name.clone(), got);
    }
    for h in hosts {
        data.master_logs
            .entry(h.to_string())
            .or_insert_with(|| Err("host unreachable".into()));
    }
}

/// `deployctl report`: gather, fetch the logs, render, write `out`.
pub async fn write(
    env_of: impl Fn(&str) -> Option<Environment>,
    state_dir: &Path,
    run_id: &str,
    out: &Path,
) -> anyhow::Result<()> {
    let mut data = gather(state_dir, run_id)?;
    if let Some(env) = env_of(&data.env) {
        master_logs(&env, &mut data).await;
    }
    std::fs::write(out, html::render(&data))?;
    Ok(())
}

/// Every run's report command (for `history`).
pub fn command_for(run_id: &str) -> String {
    format!("deployctl report {run_id} --out {run_id}.html")
}

#[cfg(test)]
mod tests;
