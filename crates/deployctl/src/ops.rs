//! The other commands: `status`, `detect`, `netcheck` and `history` (past runs from the
//! local audit logs, with the build each host served before and after). `rollback` lives in
//! [`crate::rollback`].

use crate::audit;
use crate::backup;
use crate::fleet::{self, HostNet};
use crate::inventory::{Environment, Role};
use crate::remote::{HostError, Layout};
use crate::rollout::close_all;
use crate::service;
use crate::verify;
use serde::Serialize;

/// One host in `status`.
#[derive(Debug, Clone, Serialize)]
pub struct HostStatus {
    pub host: String,
    pub address: String,
    pub reachable: bool,
    pub error: Option<String>,
    pub roles: Vec<Role>,
    pub master_pid: Option<u32>,
    pub build_id: Option<String>,
    pub label: Option<String>,
    pub generation: Option<u64>,
    pub backups: Vec<String>,
    /// On load balancers: the routing in force.
    pub lb: Option<LbStatus>,
}

pub use crate::lbview::LbStatus;

/// Per host: roles, build served, master pid and generation, backups.
pub async fn status(env: &Environment) -> Vec<HostStatus> {
    let conns = fleet::connect_all(env).await;
    let l = Layout::of(env);
    let futs = env.hosts.iter().zip(conns.iter()).map(|(h, c)| {
        let l = &l;
        async move {
            let mut st = HostStatus {
                host: h.name.clone(),
                address: h.address.clone(),
                reachable: false,
                error: None,
                roles: vec![],
                master_pid: None,
                build_id: None,
                label: None,
                generation: None,
                backups: vec![],
                lb: None,
            };
            let r = match c {
                Ok(r) => r,
                Err(e) => {
                    st.error = Some(e.to_string());
                    return st;
                }
            };
            st.reachable = true;
            let inner = async {
                st.roles = crate::detect::roles(r, env).await?.0;
                st.master_pid = service::master(r, &env.service, l).await?.map(|m| m.pid);
                if st.roles.contains(&Role::Lb) {
                    st.lb = Some(crate::lbview::status(r, &env.lb).await?);
                }
                st.backups = backup::list(r, l)
                    .await?
                    .into_iter()
                    .map(|b| b.id)
                    .collect();
                Ok::<_, HostError>(())
            };
            if let Err(e) = inner.await {
                st.error = Some(e.to_string());
            }
            if let Some(b) = verify::served(Some(r), h, env).await {
                st.build_id = Some(b.build_id);
                st.label = Some(b.label);
                st.generation = b.generation;
            }
            st
        }
    });
    let out = fleet::futures_join_all(futs).await;
    let hosts: Vec<_> = conns.into_iter().filter_map(Result::ok).collect();
    close_all(&hosts).await;
    out
}

/// One host in `detect`.
#[derive(Debug, Clone, Serialize)]
pub struct Detected {
    pub host: String,
    pub roles: Vec<Role>,
    pub detected: bool,
    pub error: Option<String>,
}

pub async fn detect(env: &Environment) -> Vec<Detected> {
    let conns = fleet::connect_all(env).await;
    let futs = env.hosts.iter().zip(conns.iter()).map(|(h, c)| async move {
        match c {
            Err(e) => Detected {
                host: h.name.clone(),
                roles: vec![],
                detected: false,
                error: Some(e.to_string()),
            },
            Ok(r) => match crate::detect::roles(r, env).await {
                Ok((roles, detected)) => Detected {
                    host: h.name.clone(),
                    roles,
                    detected,
                    error: None,
                },
                Err(e) => Detected {
                    host: h.name.clone(),
                    roles: vec![],
                    detected: false,
                    error: Some(e.to_string()),
                },
            },
        }
    });
    let out = fleet::futures_join_all(futs).await;
    let hosts: Vec<_> = conns.into_iter().filter_map(Result::ok).collect();
    close_all(&hosts).await;
    out
}

pub async fn netcheck(env: &Environment) -> Vec<HostNet> {
    fleet::netcheck_all(env).await
}

/// One past run.
#[derive(Debug, Clone, Serialize)]
pub struct RunSummary {
    pub run_id: String,
    pub env: String,
    pub command: String,
    pub started: String,
    pub outcome: Option<String>,
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
    let step = |h: &str, step: &str| {
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
            before: step(h, "before"),
            after: step(h, "outcome"),
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
                .find(|e| e.step == "outcome" && e.host.is_none());
            let mut hosts: Vec<String> = events.iter().filter_map(|e| e.host.clone()).collect();
            hosts.sort();
            hosts.dedup();
            Some(RunSummary {
                run_id: first.run_id.clone(),
                env: first.env.clone(),
                command: first.command.clone(),
                started: first.ts.clone(),
                outcome: last_outcome.and_then(|e| e.outcome.clone()),
                detail: last_outcome.and_then(|e| e.detail.clone()),
                build_id: events
                    .iter()
                    .find(|e| e.step == "start")
                    .and_then(|e| e.build_id.clone()),
                builds: host_builds(&events, &hosts),
                hosts,
            })
        })
        .collect()
}
