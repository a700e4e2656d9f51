//! `history`: past runs from the local audit logs, with the build each host served before
//! and after.

use crate::audit::{self, Command, Step};
use crate::outcome::Outcome;
use serde::Serialize;

/// One past run.
#[derive(Debug, Clone, Serialize)]
pub struct RunSummary {
    pub run_id: String,
    pub env: String,
    pub command: Command,
    pub started: String,
    pub outcome: Option<Outcome>,
    pub hosts: Vec<String>,
    pub build_id: Option<String>,
    pub detail: Option<String>,
    /// Per host: the build it served before the run and after it.
    pub builds: Vec<HostBuilds>,
}

/// The build one host served before and after a run (None: not recorded or no answer).
#[derive(Debug, Clone, Serialize)]
pub struct HostBuilds {
    pub host: String,
    pub before: Option<String>,
    pub after: Option<String>,
}

fn host_builds(events: &[audit::Event], hosts: &[String]) -> Vec<HostBuilds> {
    let step = |h: &str, step: Step| {
        events
            .iter()
            .rev()
            .find(|e| e.host.as_deref() == Some(h) && e.step == step)
            .and_then(|e| e.build_id.clone())
    };
    hosts
        .iter()
        .map(|h| HostBuilds {
            host: h.clone(),
            before: step(h, Step::Before),
            after: step(h, Step::Outcome),
        })
        .collect()
}

/// Past runs from `STATE/audit/*.jsonl`, oldest first (optionally one env only).
pub fn history(state_dir: &std::path::Path, env: Option<&str>) -> Vec<RunSummary> {
    audit::read_all(state_dir)
        .into_iter()
        .filter_map(|events| {
            let first = events.first()?;
            if env.is_some_and(|e| e != first.env) {
                return None;
            }
            let last_outcome = events
                .iter()
                .rev()
                .find(|e| e.step == Step::Outcome && e.host.is_none());
            let mut hosts: Vec<String> = events.iter().filter_map(|e| e.host.clone()).collect();
            hosts.sort();
            hosts.dedup();
            Some(RunSummary {
                run_id: first.run_id.clone(),
                env: first.env.clone(),
                command: first.command,
                started: first.ts.clone(),
                outcome: last_outcome.and_then(|e| e.outcome),
                detail: last_outcome.and_then(|e| e.detail.clone()),
                build_id: events
                    .iter()
                    .find(|e| e.step == Step::Start)
                    .and_then(|e| e.build_id.clone()),
                builds: host_builds(&events, &hosts),
                hosts,
            })
        })
        .collect()
}
