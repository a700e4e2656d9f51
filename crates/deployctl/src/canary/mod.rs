//! `gray --analyze`: after the gray deploy, every window read the new access-log lines of every
//! LB ([`crate::accesslog::fetch`]), add them to the sequential judge
//! ([`crate::analysis::Judge`]), record the verdict in the gray run's audit log, and decide
//! ([`crate::analysis::policy`]). [`run`] holds the lock and leases throughout and acts on the
//! decision: promote exactly the judged build, or abort routing first (gray out of every LB,
//! stable-only verified, outcome recorded, then the gray hosts restored), or stop for a person.
//! [`replay`] judges access-log files the same way, touching no host; [`show`] prints a
//! window's verdict for people.
//!
//! Windows are cut by the controller's clock; each LB's clock offset is measured when its log
//! is opened, and its records are placed on the controller's clock with it. A record logged
//! after a window's end waits for the next window; every earlier record not yet judged goes
//! into the window (late lines are never dropped, never counted twice). A failed read is
//! retried within the window; its lines come with the next read. An LB whose log could not
//! be read for [`MAX_FAILED_WINDOWS`] windows in a row stops the analysis with an abort.

pub mod replay;
pub mod run;
pub mod show;

use crate::accesslog::{self, fetch::Cursor, Record};
use crate::analysis::policy::{self, Decision};
use crate::analysis::{AnalysisSettings, Judge, WindowVerdict};
use crate::audit::{self, Audit, Step};
use crate::lb::LbSettings;
use crate::remote::{HostError, RemoteHost};
use std::time::Duration;

/// Windows in a row an LB's log may be unreadable before the analysis stops (abort).
pub const MAX_FAILED_WINDOWS: u32 = 3;
/// Attempts of one read within a window (0.5 s, then 1 s apart).
const READ_ATTEMPTS: u32 = 3;

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
    #[error("gray.analysis: {0}")]
    Settings(String),
}

/// One LB's reading state.
#[derive(Debug, Clone, serde::Serialize)]
pub struct LbClock {
    pub host: String,
    /// LB clock minus controller clock when its log was opened (ms).
    pub offset_ms: i64,
    /// Reads of its log, and windows in a row it could not be read.
    pub reads: usize,
    pub failed_windows: u32,
    #[serde(skip)]
    cursor: Cursor,
}

/// What the windows showed.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Analysis {
    pub windows: Vec<WindowVerdict>,
    pub decision: Decision,
    /// Why the analysis stopped before a verdict decided (e.g. an unreadable log).
    pub stopped: Option<String>,
    pub lbs: Vec<LbClock>,
    /// Log files read again from their start (rotated or truncated), per LB host.
    pub resets: Vec<String>,
    /// Read errors that a retry or a later window made good, per LB host.
    pub read_errors: Vec<String>,
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

/// One LB's new lines on the controller's clock, retried within the window.
async fn fetch_one(
    r: &RemoteHost,
    s: &LbSettings,
    lb: &mut LbClock,
    out: &mut Analysis,
) -> Result<Vec<Record>, HostError> {
    let mut last = None;
    for attempt in 0..READ_ATTEMPTS {
        if attempt > 0 {
            tokio::time::sleep(Duration::from_millis(500 << (attempt - 1))).await;
        }
        match accesslog::fetch::fetch(r, s, &mut lb.cursor).await {
            Ok(f) => {
                lb.reads += f.reads;
                if let Some(reset) = f.reset {
                    out.resets.push(format!("{}: {reset}", r.host.name));
                }
                out.skipped_lines += f.skipped;
                let off = lb.offset_ms;
                let mut records = f.records;
                records.iter_mut().for_each(|x| x.at_ms -= off);
                return Ok(records);
            }
            Err(e) => last = Some(e),
        }
    }
    Err(last.expect("at least one attempt"))
}

/// Every LB's new lines; an LB that could not be read adds to its count of failed windows
/// (the analysis stops at [`MAX_FAILED_WINDOWS`]).
async fn fetch_all(
    lbs: &[&RemoteHost],
    s: &LbSettings,
    out: &mut Analysis,
) -> Result<Vec<Record>, String> {
    let mut records = vec![];
    for (i, r) in lbs.iter().enumerate() {
        let mut lb = out.lbs[i].clone();
        match fetch_one(r, s, &mut lb, out).await {
            Ok(v) => {
                lb.failed_windows = 0;
                records.extend(v);
            }
            Err(e) => {
                lb.failed_windows += 1;
                out.read_errors.push(format!("{}: {e}", r.host.name));
                if lb.failed_windows >= MAX_FAILED_WINDOWS {
                    return Err(format!(
                        "the access log of LB {} could not be read for {} windows in a row: {e}",
                        r.host.name, lb.failed_windows
                    ));
                }
            }
        }
        out.lbs[i] = lb;
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

/// Open every LB's log (cursor at its end) and measure its clock.
async fn open_all(lbs: &[&RemoteHost], s: &LbSettings) -> Result<Vec<LbClock>, CanaryError> {
    let mut clocks = vec![];
    for r in lbs {
        let (cursor, offset_ms) =
            accesslog::fetch::open(r, s)
                .await
                .map_err(|source| CanaryError::Lb {
                    host: r.host.name.clone(),
                    source,
                })?;
        clocks.push(LbClock {
            host: r.host.name.clone(),
            offset_ms,
            reads: 0,
            failed_windows: 0,
            cursor,
        });
    }
    Ok(clocks)
}

/// The records of `pending` before `end` (taken out), and those after (left).
fn take_before(pending: &mut Vec<Record>, end: i64) -> Vec<Record> {
    let (now, later): (Vec<Record>, Vec<Record>) = std::mem::take(pending)
        .into_iter()
        .partition(|r| r.at_ms < end);
    *pending = later;
    now
}

/// Run the windows on the LB hosts `lbs`; every verdict goes to `audit` as it is made. Once
/// `stop` sees a reason (operator signal, lost lease) no new window starts: the windows so far.
pub async fn analyze(
    lbs: &[&RemoteHost],
    s: &LbSettings,
    t: &AnalysisSettings,
    o: &AnalyzeOptions,
    audit: &Audit,
    on_window: &dyn Fn(&WindowVerdict),
    stop: &crate::interrupt::Watch,
) -> Result<Analysis, CanaryError> {
    if lbs.is_empty() {
        return Err(CanaryError::NoLb);
    }
    let mut judge = Judge::new(t).map_err(CanaryError::Settings)?;
    let mut out = Analysis {
        windows: vec![],
        decision: Decision::Continue,
        stopped: None,
        lbs: open_all(lbs, s).await?,
        resets: vec![],
        read_errors: vec![],
        skipped_lines: 0,
    };
    let n = window_count(o);
    let mut pending: Vec<Record> = vec![];
    let mut start = now_ms();
    for i in 0..n {
        tokio::select! {
            () = tokio::time::sleep(o.window) => {}
            _ = stop.stopped() => break,
        }
        let end = now_ms();
        match fetch_all(lbs, s, &mut out).await {
            Ok(v) => pending.extend(v),
            Err(why) => {
                out.stopped = Some(why);
                out.decision = Decision::Abort;
                break;
            }
        }
        let w = judge.window(i, (start, end), &take_before(&mut pending, end));
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
