//! `deployctl canary replay`: judge access-log files as the LBs write them (nginx and haproxy
//! lines, one or several LBs), window by window as a live analysis would, touching no host.
//! Windows start at the first record and follow each other every `window`; the decision is
//! the one `--auto` would have taken (the time ends with the last record).

use crate::accesslog::{self, Record};
use crate::analysis::policy::{self, Decision};
use crate::analysis::{AnalysisSettings, Judge, WindowVerdict};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Why a replay could not run.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error("{path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("no request routed to a pool in {0} (is it a deployctl access log?)")]
    NoRecords(String),
    #[error("gray.analysis: {0}")]
    Settings(String),
}

/// What one file held.
#[derive(Debug, Clone, Serialize)]
pub struct FileSummary {
    pub path: PathBuf,
    pub records: usize,
    /// Lines not counted (not routed to a pool, or malformed), and the first malformed one.
    pub skipped: usize,
    pub first_error: Option<String>,
}

/// The `--json` document of a replay.
#[derive(Debug, Clone, Serialize)]
pub struct ReplayReport {
    pub files: Vec<FileSummary>,
    pub window_ms: u64,
    pub windows: Vec<WindowVerdict>,
    pub decision: Decision,
}

fn read_file(path: &Path) -> Result<(Vec<Record>, FileSummary), ReplayError> {
    let text = std::fs::read(path).map_err(|source| ReplayError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let lines = accesslog::parse_lines(&text);
    let summary = FileSummary {
        path: path.to_path_buf(),
        records: lines.records.len(),
        skipped: lines.skipped,
        first_error: lines.first_error,
    };
    Ok((lines.records, summary))
}

/// Judge `files` with `t`, in windows of `window`; `on_window` sees each verdict.
pub fn replay(
    files: &[PathBuf],
    t: &AnalysisSettings,
    window: Duration,
    on_window: &dyn Fn(&WindowVerdict),
) -> Result<ReplayReport, ReplayError> {
    let mut judge = Judge::new(t).map_err(ReplayError::Settings)?;
    let mut records = vec![];
    let mut summaries = vec![];
    for f in files {
        let (r, s) = read_file(f)?;
        records.extend(r);
        summaries.push(s);
    }
    records.sort_by_key(|r| r.at_ms);
    let (Some(first), Some(last)) = (records.first(), records.last()) else {
        let names: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
        return Err(ReplayError::NoRecords(names.join(", ")));
    };
    let w = window.as_millis().max(1) as i64;
    let (t0, n) = (first.at_ms, ((last.at_ms - first.at_ms) / w + 1) as u32);
    let mut report = ReplayReport {
        files: summaries,
        window_ms: w as u64,
        windows: vec![],
        decision: Decision::Continue,
    };
    let mut rest = records.as_slice();
    for i in 0..n {
        let (start, end) = (t0 + i64::from(i) * w, t0 + i64::from(i + 1) * w);
        let k = rest.partition_point(|r| r.at_ms < end);
        let v = judge.window(i, (start, end), &rest[..k]);
        rest = &rest[k..];
        on_window(&v);
        report.windows.push(v);
        let verdicts: Vec<_> = report.windows.iter().map(|w| w.verdict).collect();
        report.decision = policy::decide(&verdicts, t, i + 1 < n);
        if report.decision != Decision::Continue {
            break;
        }
    }
    Ok(report)
}

#[cfg(test)]
#[path = "replay_tests.rs"]
mod tests;
