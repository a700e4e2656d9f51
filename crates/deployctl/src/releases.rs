//! The release history each app host keeps of itself: one JSON line per run that ended on
//! the host (`{install_dir}/.deploy/history.jsonl`), appended and fsynced by the host with
//! the host's clock ([`Record`]). Whichever controller ran a deployment, its record is on the
//! hosts, so `rollback` chooses its default target from the fleet ([`default_target`]), not
//! from one controller's local audit log.

use crate::audit::{Command, Step, Verdict};
use crate::hostrun::{HostCtx, HostResult, HostState};
use crate::outcome::Outcome;
use crate::remote::{HostError, RemoteHost};
use crate::scripts::files;
use serde::{Deserialize, Serialize};

/// Record format written by this version.
pub const FORMAT: u32 = 1;

/// What one run left on one host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// The host's clock when the record was appended (ms since the epoch), set by the host
    /// (None before it is appended).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_ms: Option<u64>,
    pub format: u32,
    pub run_id: String,
    pub env: String,
    pub command: Command,
    /// `user@host` of the controller that ran it.
    pub controller: String,
    /// When the run started, by the controller's clock (RFC 3339).
    pub started: String,
    /// The run's outcome.
    pub outcome: Outcome,
    /// Where this host ended up.
    pub state: HostState,
    /// The build the host serves at the end of the run (None: no answer).
    pub build_id: Option<String>,
    /// sha256 of the running image, proven after the run's restart (None: not restarted).
    pub sha256: Option<String>,
}

impl Record {
    /// The record of `res` at the end of the run of `ctx` that ended `outcome`.
    pub fn of(ctx: &HostCtx<'_>, res: &HostResult, outcome: Outcome) -> Record {
        let me = crate::lease::Owner::me(&ctx.audit.run_id);
        Record {
            host_ms: None,
            format: FORMAT,
            run_id: ctx.audit.run_id.clone(),
            env: ctx.env.name.clone(),
            command: ctx.audit.command,
            controller: format!("{}@{}", me.user, me.controller),
            started: ctx.audit.started.clone(),
            outcome,
            state: res.state,
            build_id: res
                .served_build
                .clone()
                .or_else(|| res.previous_build.clone()),
            sha256: res.running_sha256.clone(),
        }
    }

    /// A run after which the host served this build as part of a fleet-wide deployment.
    fn deployed(&self) -> Option<&str> {
        let fleet_wide = matches!(
            self.command,
            Command::Rollout | Command::Promote | Command::Rollback
        );
        let build = self.build_id.as_deref().filter(|b| !b.is_empty())?;
        (fleet_wide && self.outcome == Outcome::Success).then_some(build)
    }
}

/// Append `rec` to the host's history (fsynced there); the host's clock when written.
pub async fn append(r: &RemoteHost, file: &str, rec: &Record) -> Result<u64, HostError> {
    let line = serde_json::to_string(rec).expect("history record json") + "\n";
    let out = r
        .script_stdin("history", &files::HISTORY_APPEND, &[file], line.as_bytes())
        .await?;
    Ok(files::parse_history_append(&String::from_utf8_lossy(
        &out.stdout,
    ))?)
}

/// Append each app host's record of this run to its history (the hosts at once, bounded);
/// audited per host. A host that could not record it is named (a warning): its history then
/// lacks this run, so a default rollback never takes the run for one the fleet served together.
pub async fn record_all<'r>(
    ctx: &HostCtx<'_>,
    hosts: impl IntoIterator<Item = (&'r RemoteHost, &'r HostResult)>,
    outcome: Outcome,
) {
    let app = hosts
        .into_iter()
        .filter(|(_, res)| res.roles.contains(&crate::inventory::Role::App));
    let file = &ctx.layout.history_file;
    crate::fleet::bounded(crate::fleet::CONNECT_AT_ONCE, app, |(r, res)| async move {
        let rec = Record::of(ctx, res, outcome);
        let (verdict, detail) = match append(r, file, &rec).await {
            Ok(ms) => (Verdict::Ok, format!("recorded at host_ms {ms}")),
            Err(e) => {
                ctx.ui
                    .info(&format!("{}: release history not written: {e}", res.host));
                (Verdict::Warn, format!("not recorded: {e}"))
            }
        };
        let mut e = ctx.audit.event(Some(&res.host), Step::History, verdict);
        e.build_id = rec.build_id;
        e.detail = Some(detail);
        ctx.audit.record(e);
    })
    .await;
}

/// What a host's history holds: its records in the order the host appended them, and the
/// number of lines that are not records (a torn last line, a newer format).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct History {
    pub records: Vec<Record>,
    pub unreadable: usize,
}

/// Parse a history file's text.
pub fn parse(text: &str) -> History {
    let mut h = History::default();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        match serde_json::from_str::<Record>(line) {
            Ok(r) if r.format == FORMAT => h.records.push(r),
            _ => h.unreadable += 1,
        }
    }
    h
}

/// The host's history (empty when it has none yet).
pub async fn read(r: &RemoteHost, file: &str) -> Result<History, HostError> {
    let out = r.script("read history", &files::READ, &[file]).await?;
    Ok(files::parse_read(&out)?.map(parse).unwrap_or_default())
}

/// How [`serving_build`] learnt a build.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The service's own version endpoint.
    Service,
    /// The host's history: the newest record whose running sha256 is the installed binary's.
    History,
}

/// Attempts at the version endpoint before the history is asked.
const VERSION_ATTEMPTS: u32 = 3;

/// The build the running service on `r` serves, never empty: its version endpoint (up to
/// [`VERSION_ATTEMPTS`] times), else the host's history record of the installed binary.
/// An error when neither knows: a backup must never record an unknown build.
pub async fn serving_build(
    r: &RemoteHost,
    env: &crate::inventory::Environment,
    l: &crate::remote::Layout,
) -> Result<(String, Source), HostError> {
    for attempt in 1..=VERSION_ATTEMPTS {
        let b = crate::verify::served(Some(r), &r.host, env).await;
        if let Some(b) = b.map(|b| b.build_id).filter(|b| !b.is_empty()) {
            return Ok((b, Source::Service));
        }
        if attempt < VERSION_ATTEMPTS {
            tokio::time::sleep(std::time::Duration::from_millis(250 << attempt)).await;
        }
    }
    let sha = crate::upload::sha_on_host_any(r, &l.binary, false).await?;
    let history = read(r, &l.history_file).await?;
    let known = history.records.iter().rev().find_map(|rec| {
        let same = matches!(&sha, files::FileSha::Present(s) if rec.sha256.as_ref() == Some(s));
        rec.build_id.clone().filter(|b| same && !b.is_empty())
    });
    known.map(|b| (b, Source::History)).ok_or_else(|| {
        HostError::Check(format!(
            "the running service did not name its build ({} {VERSION_ATTEMPTS} times) and the \
             host's history has no record of the installed binary ({sha}): a backup of it could \
             not be rolled back to",
            env.health.version
        ))
    })
}

/// The build a default `rollback` restores, from every restored host's history and the build
/// each serves now (both in the same host order).
///
/// The fleet-wide runs that ended SUCCESS with the same build on every host, in the first
/// host's order, form a stack: a rollout or promote pushes its build (a no-op pushes
/// nothing), a rollback to a build on the stack pops back to it. When the fleet serves the
/// top, the target is the build below it (a second rollback goes one further back);
/// otherwise the top: the newest build every host served together after a SUCCESS.
pub fn default_target(
    histories: &[(String, History)],
    serving: &[Option<String>],
) -> Result<String, String> {
    let stack = stack(histories);
    let now = serving.first().cloned().flatten();
    let one = now.is_some() && serving.iter().all(|s| *s == now);
    match (stack.last(), one) {
        (None, _) => Err(
            "no fleet-wide run that ended SUCCESS is recorded on every app host: name a run \
             with --to"
                .into(),
        ),
        (Some(top), true) if Some(top) == now.as_ref() => {
            stack.iter().rev().nth(1).cloned().ok_or_else(|| {
                format!(
                    "the fleet serves {top}, the only build its history records after a \
                     SUCCESS: nothing older to roll back to (name a run with --to)"
                )
            })
        }
        (Some(top), _) => Ok(top.clone()),
    }
}

/// The builds of the fleet-wide SUCCESS runs recorded alike on every host, as a stack.
fn stack(histories: &[(String, History)]) -> Vec<String> {
    let Some((_, first)) = histories.first() else {
        return vec![];
    };
    let alike = |rec: &Record, build: &str| {
        histories.iter().all(|(_, h)| {
            h.records
                .iter()
                .any(|o| o.run_id == rec.run_id && o.deployed() == Some(build))
        })
    };
    let mut stack: Vec<String> = vec![];
    let mut seen: Vec<&str> = vec![];
    for rec in &first.records {
        let Some(build) = rec.deployed() else {
            continue;
        };
        if seen.contains(&rec.run_id.as_str()) || !alike(rec, build) {
            continue;
        }
        seen.push(&rec.run_id);
        let back_to = stack.iter().rposition(|b| b == build);
        match (rec.command, back_to) {
            (Command::Rollback, Some(i)) => stack.truncate(i + 1),
            _ if stack.last().map(String::as_str) == Some(build) => {}
            _ => stack.push(build.to_string()),
        }
    }
    stack
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(run: &str, command: Command, outcome: Outcome, build: &str) -> Record {
        Record {
            host_ms: Some(1),
            format: FORMAT,
            run_id: run.into(),
            env: "bed".into(),
            command,
            controller: "u@c".into(),
            started: "2026-12-07T00:00:00.000Z".into(),
            outcome,
            state: HostState::Verified,
            build_id: Some(build.into()),
            sha256: None,
        }
    }

    fn fleet(records: &[Record], hosts: usize) -> Vec<(String, History)> {
        (0..hosts)
            .map(|k| {
                let h = History {
                    records: records.to_vec(),
                    unreadable: 0,
                };
                (format!("h{k}"), h)
            })
            .collect()
    }

    fn target(records: &[Record], now: &str) -> Result<String, String> {
        default_target(&fleet(records, 2), &[Some(now.into()), Some(now.into())])
    }

    use Command::{Gray, Promote, Rollback, Rollout};
    use Outcome::{PartialSuccess, Success};

    #[test]
    fn the_build_before_the_one_served_whoever_deployed_it() {
        let runs = [
            rec("r1", Rollout, Success, "v1"),
            rec("r2", Rollout, Success, "v2"),
            rec("r3", Rollout, Success, "v3"),
        ];
        assert_eq!(target(&runs, "v3").unwrap(), "v2");
        // A no-op promote of the served build pushes nothing.
        let mut more = runs.to_vec();
        more.push(rec("r4", Promote, Success, "v3"));
        assert_eq!(target(&more, "v3").unwrap(), "v2");
        // After a rollback to v2, the next one goes to v1.
        more.push(rec("r5", Rollback, Success, "v2"));
        assert_eq!(target(&more, "v2").unwrap(), "v1");
        // Failed, partial and gray runs are not fleet-wide deployments.
        let mut noisy = runs.to_vec();
        noisy.push(rec("r6", Rollout, PartialSuccess, "v4"));
        noisy.push(rec("r7", Gray, Success, "v5"));
        assert_eq!(target(&noisy, "v3").unwrap(), "v2");
        // A fleet not on the newest SUCCESS build goes back to it.
        assert_eq!(target(&noisy, "v4").unwrap(), "v3");
        let mixed = [Some("v4".to_string()), Some("v3".to_string())];
        assert_eq!(default_target(&fleet(&noisy, 2), &mixed).unwrap(), "v3");
    }

    #[test]
    fn a_run_missing_on_one_host_does_not_count_and_empty_history_is_an_error() {
        let runs = [
            rec("r1", Rollout, Success, "v1"),
            rec("r2", Rollout, Success, "v2"),
        ];
        let mut f = fleet(&runs, 2);
        f[1].1.records.remove(0);
        let now = [Some("v2".to_string()), Some("v2".to_string())];
        let err = default_target(&f, &now).unwrap_err();
        assert!(err.contains("nothing older"), "{err}");
        assert!(target(&[], "v1").unwrap_err().contains("--to"));
        // A record of the same run with another build on one host does not count either.
        let mut f = fleet(&runs, 2);
        f[1].1.records[0].build_id = Some("v0".into());
        assert!(default_target(&f, &now).is_err());
    }

    #[test]
    fn records_read_back_and_bad_lines_are_counted() {
        let r = rec("r1", Rollout, Success, "v1");
        let text = format!(
            "{}\n{{\"host_ms\":5,torn\n\n",
            serde_json::to_string(&r).unwrap()
        );
        let h = parse(&text);
        assert_eq!(h.records, vec![r]);
        assert_eq!(h.unreadable, 1);
    }
}
