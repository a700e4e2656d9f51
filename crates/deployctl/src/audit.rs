//! Evidence of every run: one JSON object per line (JSONL) per step and host, with timestamp,
//! duration, checksums, result and the final outcome. Written locally to
//! `STATE/audit/RUN_ID.jsonl` as it happens and appended to each host's
//! `INSTALL_DIR/.deploy/audit.jsonl` when that host's part of the run ends.

use crate::outcome::Outcome;
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// An enum written and read as the exact strings of its table (one table: the serde names
/// and [`as_str`](Step::as_str) come from the same line).
macro_rules! named {
    ($(#[$m:meta])* pub enum $name:ident { $($(#[$vm:meta])* $v:ident = $s:literal,)* }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum $name {
            $($(#[$vm])* #[serde(rename = $s)] $v,)*
        }
        impl $name {
            /// The name written in the audit log.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$v => $s,)*
                }
            }
        }
        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.pad(self.as_str())
            }
        }
    };
}

named! {
    /// The command that wrote an audit log.
    pub enum Command {
        Rollout = "rollout",
        RolloutDryRun = "rollout-dry-run",
        Gray = "gray",
        Promote = "promote",
        Rollback = "rollback",
        GrayAbort = "gray-abort",
        Unlock = "unlock",
        UnlockForce = "unlock-force",
    }
}

named! {
    /// What an audit record is about.
    pub enum Step {
        /// The run started (artifact, build).
        Start = "start",
        Netcheck = "netcheck",
        /// Every host's connection opened (run-level, with the time it took).
        Connect = "connect",
        Detect = "detect",
        Lease = "lease",
        /// SIGINT, SIGTERM or SIGHUP received (the run stops after the step in flight).
        Signal = "signal",
        /// `rollback`: the build and run it restores.
        Target = "target",
        /// The build a host served before the run touched it.
        Before = "before",
        /// The host already serves the build with these files.
        Skip = "skip",
        CheckMaster = "check master",
        Backup = "backup",
        Upload = "upload",
        Checksum = "checksum",
        Restart = "restart",
        Verify = "verify",
        /// The build a host serves after its restart.
        Serving = "serving",
        Image = "image",
        RunningImage = "running image",
        RotateBackups = "rotate backups",
        Restore = "restore",
        RestartOld = "restart old",
        VerifyOld = "verify old",
        LbSnapshot = "lb snapshot",
        LbRouting = "lb routing",
        LbConfig = "lb config",
        Unlock = "unlock",
        /// `gray --analyze`: who ran it from where.
        Operator = "operator",
        /// `gray --analyze`: one window's verdict (its JSON in `detail`).
        AnalysisWindow = "analysis window",
        /// `gray --analyze`: the decision and what was done (`detail`).
        AnalysisOutcome = "analysis outcome",
        /// The host's release history got this run's record (its clock in `detail`).
        History = "history",
        /// The outcome: per host, then the run's (the last record of a run).
        Outcome = "outcome",
    }
}

named! {
    /// How a step ended.
    pub enum Verdict {
        Ok = "ok",
        Fail = "fail",
        Warn = "warn",
        Skip = "skip",
        Info = "info",
    }
}

impl Verdict {
    /// `Ok` when `ok`, else `Fail`.
    pub fn of(ok: bool) -> Verdict {
        if ok {
            Verdict::Ok
        } else {
            Verdict::Fail
        }
    }
}

/// One audit record: written and read back through this type.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Event {
    pub ts: String,
    pub run_id: String,
    pub env: String,
    pub command: Command,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    pub step: Step,
    pub result: Verdict,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u128>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<Outcome>,
}

/// The audit log of one run.
#[derive(Debug)]
pub struct Audit {
    pub run_id: String,
    pub env: String,
    pub command: Command,
    /// When the run started, by this controller's clock (RFC 3339, milliseconds).
    pub started: String,
    pub path: PathBuf,
    file: Mutex<Option<std::fs::File>>,
    events: Mutex<Vec<Event>>,
    /// The first write that failed: the run fails with it.
    write_error: Mutex<Option<String>>,
}

/// A new run id: UTC time plus this process id (sortable, unique per machine).
pub fn new_run_id() -> String {
    format!(
        "{}-{}",
        chrono::Utc::now().format("%Y%m%dT%H%M%S%3fZ"),
        std::process::id()
    )
}

impl Audit {
    /// Open `STATE/audit/RUN_ID.jsonl`.
    pub fn open(
        state_dir: &Path,
        run_id: &str,
        env: &str,
        command: Command,
    ) -> std::io::Result<Audit> {
        let dir = state_dir.join("audit");
        std::fs::create_dir_all(&dir)?;
        let path = dir.join(format!("{run_id}.jsonl"));
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)?;
        // The new file's directory entry is durable too.
        std::fs::File::open(&dir)?.sync_all()?;
        Ok(Audit {
            run_id: run_id.into(),
            env: env.into(),
            command,
            started: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            path,
            file: Mutex::new(Some(file)),
            events: Mutex::new(Vec::new()),
            write_error: Mutex::new(None),
        })
    }

    /// A blank event of this run for `host` and `step`.
    pub fn event(&self, host: Option<&str>, step: Step, result: Verdict) -> Event {
        Event {
            ts: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            run_id: self.run_id.clone(),
            env: self.env.clone(),
            command: self.command,
            host: host.map(str::to_string),
            step,
            result,
            duration_ms: None,
            sha256: None,
            build_id: None,
            detail: None,
            outcome: None,
        }
    }

    /// Append `e` to the local log; a failed write is kept for [`Audit::write_error`].
    pub fn record(&self, e: Event) {
        let line = serde_json::to_string(&e).expect("event json");
        if let Some(f) = self.file.lock().expect("audit file").as_mut() {
            // Durable per event: a record the run reports is on disk (fdatasync).
            let written = writeln!(f, "{line}").and_then(|()| f.flush());
            if let Err(err) = written.and_then(|()| f.sync_data()) {
                let mut w = self.write_error.lock().expect("audit error");
                w.get_or_insert_with(|| format!("{}: {err}", self.path.display()));
            }
        }
        self.events.lock().expect("audit events").push(e);
    }

    /// The first write to the local log that failed, if any (the run must fail with it).
    pub fn write_error(&self) -> Option<String> {
        self.write_error.lock().expect("audit error").clone()
    }

    /// JSONL of every event recorded so far for `host`.
    pub fn host_lines(&self, host: &str) -> String {
        self.events
            .lock()
            .expect("audit events")
            .iter()
            .filter(|e| e.host.as_deref() == Some(host))
            .map(|e| serde_json::to_string(e).expect("event json") + "\n")
            .collect()
    }
}

/// Read every event of every run under `STATE/audit`, oldest run first.
pub fn read_all(state_dir: &Path) -> Vec<Vec<Event>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(state_dir.join("audit"))
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    files.retain(|p| p.extension().is_some_and(|x| x == "jsonl"));
    files.sort();
    files
        .iter()
        .map(|p| {
            std::fs::read_to_string(p)
                .unwrap_or_default()
                .lines()
                .filter_map(|l| serde_json::from_str(l).ok())
                .collect()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_are_jsonl_and_read_back() {
        let d = tempfile::tempdir().unwrap();
        let a = Audit::open(d.path(), "r1", "uat", Command::Rollout).unwrap();
        let mut e = a.event(Some("h1"), Step::Upload, Verdict::Ok);
        e.sha256 = Some("ab".into());
        a.record(e);
        let mut o = a.event(None, Step::Outcome, Verdict::Ok);
        o.outcome = Some(Outcome::Success);
        a.record(o);
        let text = std::fs::read_to_string(&a.path).unwrap();
        assert_eq!(text.lines().count(), 2);
        assert!(a.host_lines("h1").contains("\"sha256\":\"ab\""));
        let runs = read_all(d.path());
        assert_eq!(runs.len(), 1);
        assert_eq!(runs[0][0].step, Step::Upload);
        assert_eq!(runs[0][1].outcome, Some(Outcome::Success));
        // The exact strings of the log format.
        let first = text.lines().next().unwrap();
        assert!(first.contains("\"command\":\"rollout\""), "{first}");
        assert!(
            first.contains("\"step\":\"upload\",\"result\":\"ok\""),
            "{first}"
        );
        assert!(text.contains("\"outcome\":\"SUCCESS\""), "{text}");
    }

    #[test]
    fn every_name_reads_back_as_itself() {
        for s in [
            "check master",
            "running image",
            "lb config",
            "outcome",
            "verify old",
        ] {
            let step: Step = serde_json::from_str(&format!("\"{s}\"")).unwrap();
            assert_eq!(step.as_str(), s);
        }
        for c in ["rollout-dry-run", "gray-abort", "unlock-force"] {
            let cmd: Command = serde_json::from_str(&format!("\"{c}\"")).unwrap();
            assert_eq!(format!("{cmd}"), c);
        }
        assert!(serde_json::from_str::<Verdict>("\"OK\"").is_err());
    }
}
