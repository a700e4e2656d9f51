//! The other commands: `rollback` (to the latest or a named backup), `status`, `detect`,
//! `netcheck` and `history` (past runs from the local audit logs).

use crate::audit::{self, Audit};
use crate::backup::{self, Backup};
use crate::balancer::{Balancers, Pools};
use crate::fleet::{self, HostNet};
use crate::hostrun::{self, HostResult, HostState, Job};
use crate::inventory::{Environment, Role};
use crate::outcome::Outcome;
use crate::remote::{HostError, Layout};
use crate::rollout::{close_all, summary, RunError, RunOptions};
use crate::service;
use crate::ui::Ui;
use crate::verify;
use serde::Serialize;
use std::sync::Arc;

/// Result of `rollback`.
#[derive(Debug, Clone, Serialize)]
pub struct RollbackReport {
    pub run_id: String,
    pub env: String,
    pub outcome: Outcome,
    pub reason: String,
    pub hosts: Vec<HostResult>,
}

/// Restore every app host to backup `to` (default: its newest) and verify it serves.
pub async fn rollback(
    env: &Environment,
    opts: &RunOptions,
    to: Option<&str>,
    only_gray: bool,
    ui: &Ui,
) -> Result<RollbackReport, RunError> {
    let run_id = audit::new_run_id();
    let audit = Audit::open(&opts.state_dir, &run_id, &env.name, "rollback")?;
    let mut report = RollbackReport {
        run_id: run_id.clone(),
        env: env.name.clone(),
        outcome: Outcome::Aborted,
        reason: String::new(),
        hosts: vec![],
    };
    let mut hosts = vec![];
    for c in fleet::connect_all(env).await {
        match c {
            Ok(r) => hosts.push(r),
            Err(e) => {
                report.reason = format!("nothing touched: {e}");
                return Ok(report);
            }
        }
    }
    let guard = match crate::lease::guard(env, &hosts, &opts.state_dir, &audit, ui).await {
        Ok(g) => g,
        Err(e) => {
            close_all(&hosts).await;
            return Err(e.into());
        }
    };
    let job = Job {
        env,
        layout: Layout::of(env),
        payloads: vec![],
        expected_build: String::new(),
        audit: &audit,
        ui,
        skip_current: false,
    };
    let roles = fleet::detect_all(env, &hosts).await;
    let mut results: Vec<HostResult> = hosts
        .iter()
        .zip(roles)
        .map(|(r, roles)| HostResult::new(r, roles.map(|x| x.0).unwrap_or_default()))
        .collect();
    let sem = Arc::new(tokio::sync::Semaphore::new(env.rollout.parallelism));
    let futs = results
        .iter_mut()
        .zip(&hosts)
        .filter(|(res, r)| res.roles.contains(&Role::App) && (!only_gray || r.host.gray))
        .map(|(res, r)| {
            let (sem, job) = (sem.clone(), &job);
            async move {
                let _p = sem.acquire().await.expect("semaphore");
                let all = match backup::list(r, &job.layout).await {
                    Ok(all) => all,
                    Err(e) => {
                        res.state = HostState::RollbackFailed;
                        res.error = Some(e.to_string());
                        return;
                    }
                };
                let pick: Option<Backup> = match to {
                    Some(id) => all.into_iter().find(|b| b.id == id),
                    None => all.into_iter().next_back(),
                };
                res.touched = true;
                res.backup = pick;
                hostrun::restore(job, r, res).await;
            }
        });
    fleet::futures_join_all(futs).await;
    let failed = results
        .iter()
        .filter(|r| r.state == HostState::RollbackFailed)
        .count();
    report.outcome = if failed == 0 {
        Outcome::Success
    } else {
        Outcome::PartialSuccess
    };
    report.reason = summary(&results);
    let mut e = audit.event(None, "outcome", if failed == 0 { "ok" } else { "fail" });
    e.outcome = Some(report.outcome.as_str().into());
    e.detail = Some(report.reason.clone());
    // Everything back in one pool, hosts whose restore failed kept out.
    let roles: Vec<Vec<Role>> = results.iter().map(|r| r.roles.clone()).collect();
    let mut lbs = Balancers::new(env, &hosts, &roles, &run_id);
    // Hosts restored and verified return; hosts this rollback did not touch keep their state.
    let (_, mut down) = lbs.current().await;
    for r in &results {
        match r.state {
            HostState::RolledBack => down.remove(&r.host),
            HostState::RollbackFailed => down.insert(r.host.clone()),
            _ => false,
        };
    }
    if let Err(lb) = lbs.apply(Pools::One, &down, &audit).await {
        report.outcome = Outcome::PartialSuccess;
        report.reason = format!("{}; load balancer: {lb}", report.reason);
    }
    audit.record(e);
    for r in &hosts {
        hostrun::append_host_audit(&job, r).await;
    }
    guard.release(&audit).await;
    close_all(&hosts).await;
    report.hosts = results;
    Ok(report)
}

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
                hosts,
            })
        })
        .collect()
}
