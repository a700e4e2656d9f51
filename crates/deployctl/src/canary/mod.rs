//! `gray --analyze`: after the gray deploy, every window read the new access-log lines of every
//! LB ([`crate::accesslog::fetch`]), judge gray against stable ([`crate::analysis::judge`]),
//! record the verdict in the gray run's audit log, and decide ([`crate::analysis::policy`]).
//! [`run`] acts on the decision with `--auto`: promote, or abort (gray hosts restored,
//! stable-only routing verified on every LB), or stop for a person.
//!
//! Windows are cut by the controller's clock and the records placed by the LB's log time (LB
//! hosts are expected to be NTP-synchronised); records logged after a window's end wait for
//! the next window, none is dropped or counted twice.

pub mod run;

use crate::accesslog::{self, fetch::Cursor, Record};
use crate::analysis::policy::{self, Decision};
use crate::analysis::{judge, AnalysisSettings, WindowVerdict};
use crate::audit::{self, Audit, Step};
use crate::lb::LbSettings;
use crate::remote::{HostError, RemoteHost};
use std::time::Duration;

/// How long and how finely to analyse.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AnalyzeOptions {
    pub duration: Duration,
    pub window: Duration,
    pub auto: bool,
}

/// Why the analysis could not run.
#[derive(Debug, thiserror::Error)]
pub enum CanaryError {
    #[error("LB {host}: {source}")]
    Lb { host: String, source: HostError },
    #[error("no load balancer in the environment: nothing to compare")]
    NoLb,
}

/// What the windows showed.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Analysis {
    pub windows: Vec<WindowVerdict>,
    pub decision: Decision,
    /// Log files read again from their start (rotated or truncated), per LB host.
    pub resets: Vec<String>,
    /// Lines not counted (not routed to a pool, or malformed).
    pub skipped_lines: usize,
}

/// Number of windows in `o.duration` (at least one).
pub fn window_count(o: &AnalyzeOptions) -> u32 {
    let w = o.window.as_millis().max(1);
    o.duration.as_millis().div_ceil(w).max(1) as u32
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

async fn fetch_all(
    lbs: &[&RemoteHost],
    s: &LbSettings,
    cursors: &mut [Cursor],
    out: &mut Analysis,
) -> Result<Vec<Record>, CanaryError> {
    let mut records = vec![];
    for (r, c) in lbs.iter().zip(cursors.iter_mut()) {
        let f = accesslog::fetch::fetch(r, s, c)
            .await
            .map_err(|source| CanaryError::Lb {
                host: r.host.name.clone(),
                source,
            })?;
        if let Some(reset) = f.reset {
            out.resets.push(format!("{}: {reset}", r.host.name));
        }
        out.skipped_lines += f.skipped;
        records.extend(f.records);
    }
    Ok(records)
}

fn record_window(audit: &Audit, w: &WindowVerdict) {
    let result = match w.verdict {
        crate::analysis::Verdict::Pass => audit::Verdict::Ok,
        crate::analysis::Verdict::Fail => audit::Verdict::Fail,
        crate::analysis::Verdict::Inconclusive => audit::Verdict::Warn,
    };
    let mut e = audit.event(None, Step::AnalysisWindow, result);
    e.detail = Some(serde_json::to_string(w).expect("verdict json"));
    audit.record(e);
}

/// Run the windows on the LB hosts `lbs`; every verdict goes to `audit` as it is made. Once
/// `stop` turns true (operator signal, lost lease) no new window starts: the windows so far.
pub async fn analyze(
    lbs: &[&RemoteHost],
    s: &LbSettings,
    t: &AnalysisSettings,
    o: &AnalyzeOptions,
    audit: &Audit,
    on_window: &dyn Fn(&WindowVerdict),
    stop: &tokio::sync::watch::Receiver<bool>,
) -> Result<Analysis, CanaryError> {
    if lbs.is_empty() {
        return Err(CanaryError::NoLb);
    }
    let mut cursors = vec![];
    for r in lbs {
        let c = accesslog::fetch::open(r, s)
            .await
            .map_err(|source| CanaryError::Lb {
                host: r.host.name.clone(),
                source,
            })?;
        cursors.push(c);
    }
    let mut out = Analysis {
        windows: vec![],
        decision: Decision::Continue,
        resets: vec![],
        skipped_lines: 0,
    };
    let n = window_count(o);
    let mut pending: Vec<Record> = vec![];
    let mut start = now_ms();
    for i in 0..n {
        let mut stop = stop.clone();
        tokio::select! {
            () = tokio::time::sleep(o.window) => {}
            Ok(_) = stop.wait_for(|s| *s) => break,
        }
        let end = now_ms();
        pending.extend(fetch_all(lbs, s, &mut cursors, &mut out).await?);
        let w = judge(i, start, end, &pending, t);
        pending.retain(|r| r.at_ms >= end);
        record_window(audit, &w);
        on_window(&w);
        out.windows.push(w);
        start = end;
        let verdicts: Vec<_> = out.windows.iter().map(|w| w.verdict).collect();
        out.decision = policy::decide(&verdicts, t, i + 1 < n);
        if out.decision != Decision::Continue {
            break;
        }
    }
    Ok(out)
}

/// A duration such as `500ms`, `30s`, `5m`, `1h` (a bare number is seconds).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("bad duration {s:?} (e.g. 30s, 5m)"))?;
    let d = match unit {
        "ms" => Duration::from_millis(n),
        "" | "s" => Duration::from_secs(n),
        "m" => Duration::from_secs(n * 60),
        "h" => Duration::from_secs(n * 3600),
        _ => return Err(format!("bad duration {s:?} (units: ms, s, m, h)")),
    };
    if d.is_zero() {
        return Err(format!("duration {s:?} must be > 0"));
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_window_counts() {
        assert_eq!(parse_duration("30s").unwrap(), Duration::from_secs(30));
        assert_eq!(parse_duration("5m").unwrap(), Duration::from_secs(300));
        assert_eq!(
            parse_duration("1500ms").unwrap(),
            Duration::from_millis(1500)
        );
        assert_eq!(parse_duration("7").unwrap(), Duration::from_secs(7));
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("3 days").is_err());
        assert!(parse_duration("s").is_err());
        let o = |d: u64, w: u64| AnalyzeOptions {
            duration: Duration::from_secs(d),
            window: Duration::from_secs(w),
            auto: true,
        };
        assert_eq!(window_count(&o(60, 20)), 3);
        assert_eq!(window_count(&o(61, 20)), 4);
        assert_eq!(window_count(&o(5, 20)), 1);
    }
}
