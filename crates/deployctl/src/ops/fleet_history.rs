//! `history --env E --hosts`: the fleet's history as the hosts recorded it
//! ([`crate::releases`]), whichever controller ran each run: per run, what every host says it
//! served at its end.

use crate::fleet::{self, close_all};
use crate::inventory::Environment;
use crate::releases::{self, Record};
use crate::remote::Layout;
use serde::Serialize;

/// One host's answer.
#[derive(Debug, Clone, Serialize)]
pub struct HostHistory {
    pub host: String,
    /// Its records, in the order it appended them (empty: none yet, e.g. an LB host).
    pub records: Vec<Record>,
    /// Lines that are not records (a torn last line, a newer format).
    pub unreadable: usize,
    /// The host could not be reached or read.
    pub error: Option<String>,
}

/// One run as the hosts recorded it.
#[derive(Debug, Clone, Serialize)]
pub struct FleetRun {
    pub run_id: String,
    pub command: crate::audit::Command,
    pub controller: String,
    pub started: String,
    pub outcome: crate::outcome::Outcome,
    /// Per host that recorded it: (host, its record).
    pub hosts: Vec<(String, Record)>,
}

/// `history --hosts`: every host's history, and the runs they recorded, oldest first.
#[derive(Debug, Clone, Serialize)]
pub struct FleetHistory {
    pub env: String,
    pub hosts: Vec<HostHistory>,
    pub runs: Vec<FleetRun>,
}

impl FleetHistory {
    /// A host could not be reached or read: the history is incomplete.
    pub fn incomplete(&self) -> bool {
        self.hosts.iter().any(|h| h.error.is_some())
    }
}

/// Read every host's release history.
pub async fn fleet_history(env: &Environment) -> FleetHistory {
    let conns = fleet::connect_all(env).await;
    let l = Layout::of(env);
    let file = &l.history_file;
    let futs = env.hosts.iter().zip(conns.iter()).map(|(h, c)| async move {
        let read = match c {
            Ok(r) => releases::read(r, file).await.map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        let (records, unreadable, error) = match read {
            Ok(x) => (x.records, x.unreadable, None),
            Err(e) => (vec![], 0, Some(e)),
        };
        HostHistory {
            host: h.name.clone(),
            records,
            unreadable,
            error,
        }
    });
    let hosts = fleet::futures_join_all(futs).await;
    let connected: Vec<_> = conns.into_iter().filter_map(Result::ok).collect();
    close_all(&connected).await;
    FleetHistory {
        env: env.name.clone(),
        runs: runs(&hosts),
        hosts,
    }
}

/// The runs of every host, merged by run id, ordered by the earliest host time recorded.
fn runs(hosts: &[HostHistory]) -> Vec<FleetRun> {
    let mut runs: Vec<(u64, FleetRun)> = vec![];
    for h in hosts {
        for rec in &h.records {
            let at = rec.host_ms.unwrap_or(u64::MAX);
            let entry = (h.host.clone(), rec.clone());
            match runs.iter_mut().find(|(_, r)| r.run_id == rec.run_id) {
                Some((first, r)) => {
                    *first = (*first).min(at);
                    r.hosts.push(entry);
                }
                None => runs.push((
                    at,
                    FleetRun {
                        run_id: rec.run_id.clone(),
                        command: rec.command,
                        controller: rec.controller.clone(),
                        started: rec.started.clone(),
                        outcome: rec.outcome,
                        hosts: vec![entry],
                    },
                )),
            }
        }
    }
    runs.sort_by_key(|(at, r)| (*at, r.run_id.clone()));
    runs.into_iter().map(|(_, r)| r).collect()
}
