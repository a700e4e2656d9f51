//! The blocking E2E gate: every suite against every app host of an environment, and the suites
//! that need no admin endpoint once through each load balancer's external URL
//! ([`crate::targets`]): an LB or database host is never probed as an app host.
//!
//! Per app host the suites get `base_url` and, when the environment has `service.admin`,
//! `admin_url` (a local forwarder through the deployctl transport, see [`crate::admin_tunnel`])
//! and the secret `admin_token` read from `service.admin_token_file` on the host. Through a
//! load balancer only `base_url`: a suite using `{{admin_url}}` acts on one host, not there.
//! Suites run one after another on the calling thread (hurl is blocking); the forwarders run
//! on a small tokio runtime beside them.

use std::collections::BTreeMap;

use deployctl::access::HostLink;
use deployctl::inventory::Environment;

use crate::admin_tunnel::{self, Forwarder};
use crate::report::{E2eReport, HostRun};
use crate::suite::{self, Limits, Suite, SuiteRun, Verdict};
use crate::targets::{self, Kind};

/// Extra settings of an E2E run.
#[derive(Debug, Clone, Default)]
pub struct E2eOptions {
    /// Variables for every suite (`--var k=v`); `base_url`/`admin_url` are set per host.
    pub variables: BTreeMap<String, String>,
    pub limits: Limits,
    /// Stop a host's remaining suites after its first non-passing one (they are reported as
    /// errors "not run"), so a dead host costs one timeout, not one per suite.
    pub skip_after_host_error: bool,
}

/// Runs `suites` against `env` and returns the report (the caller writes it).
pub fn run(env: &Environment, suites: &[Suite], opts: &E2eOptions) -> std::io::Result<E2eReport> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    let admin_port = env.service.admin.map(|a| a.port());
    if env.service.admin.is_none() {
        println!(
            "note: env {} has no service.admin in the inventory: suites using {{{{admin_url}}}} will error",
            env.name
        );
    }
    let lb_suites: Vec<Suite> = suites
        .iter()
        .filter(|s| !s.content.contains("{{admin_url}}"))
        .cloned()
        .collect();
    let mut hosts = Vec::new();
    for t in targets::of(env) {
        let host = t.host;
        let mut vars = opts.variables.clone();
        vars.insert(
            "base_url".into(),
            t.base_url.trim_end_matches('/').to_string(),
        );
        let (mine, runs) = match t.kind {
            Kind::Lb => (
                &lb_suites[..],
                run_host(&host.name, &lb_suites, &vars, opts, &[]),
            ),
            Kind::App => {
                // The forwarder (if any) lives until this host's suites are done.
                let mut notes = Vec::new();
                let admin: Option<(Forwarder, Option<String>)> = admin_port.and_then(|port| {
                    runtime
                        .block_on(open_admin(env, host, port))
                        .map_err(|e| notes.push(e))
                        .ok()
                });
                if let Some((f, token)) = &admin {
                    vars.insert("admin_url".into(), f.url());
                    if let Some(t) = token {
                        vars.insert(suite::ADMIN_TOKEN_VAR.into(), t.clone());
                    }
                }
                (suites, run_host(&host.name, suites, &vars, opts, &notes))
            }
        };
        hosts.push(HostRun {
            host: host.name.clone(),
            base_url: t.base_url,
            target: t.kind,
            suites: mine.len(),
            runs,
        });
    }
    drop(runtime);
    Ok(E2eReport::new(&env.name, suites.len(), hosts))
}

/// A forwarder to the host's admin port, and the master's admin token when the inventory
/// names its file (`service.admin_token_file`, read on the host over the same transport).
async fn open_admin(
    env: &Environment,
    host: &deployctl::inventory::Host,
    port: u16,
) -> Result<(Forwarder, Option<String>), String> {
    let link = HostLink::connect(env, host)
        .await
        .map_err(|e| format!("admin tunnel: {e}"))?;
    let token = match &env.service.admin_token_file {
        Some(file) => Some(
            link.read_secret(file)
                .await
                .map_err(|e| format!("admin token {file}: {e}"))?,
        ),
        None => None,
    };
    let f = admin_tunnel::start(link, port)
        .await
        .map_err(|e| format!("admin tunnel listener: {e}"))?;
    Ok((f, token))
}

fn run_host(
    host: &str,
    suites: &[Suite],
    vars: &BTreeMap<String, String>,
    opts: &E2eOptions,
    notes: &[String],
) -> Vec<SuiteRun> {
    let mut runs: Vec<SuiteRun> = Vec::new();
    for s in suites {
        let host_dead = runs
            .iter()
            .any(|r| r.verdict == Verdict::Error && is_connection_error(r));
        if opts.skip_after_host_error && host_dead {
            runs.push(SuiteRun {
                suite: s.name.clone(),
                verdict: Verdict::Error,
                duration_ms: 0,
                requests: 0,
                failures: vec![],
                errors: vec![format!(
                    "not run: {host} did not accept connections in an earlier suite"
                )],
            });
            continue;
        }
        println!("e2e: {} on {} ({})", s.name, host, vars["base_url"]);
        let mut run = suite::run(s, vars, opts.limits);
        if run.verdict == Verdict::Error && s.content.contains("{{admin_url}}") {
            run.errors.extend(notes.iter().cloned());
        }
        runs.push(run);
    }
    runs
}

fn is_connection_error(run: &SuiteRun) -> bool {
    run.errors.iter().any(|e| {
        let e = e.to_ascii_lowercase();
        e.contains("couldn't connect")
            || e.contains("connection refused")
            || e.contains("failed to connect")
    })
}
