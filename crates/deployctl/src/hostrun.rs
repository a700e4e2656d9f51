//! One host's part of a rollout: backup -> upload (temp name, sha256 on host, atomic rename)
//! -> graceful restart (or first start) -> verify the new build -> rotate backups; and the
//! reverse, restore from a backup and verify the old build serves again.

use crate::audit::{Audit, Step, Verdict};
use crate::backup::{self, Backup};
use crate::image;

use crate::inventory::{Environment, Role};
use crate::remote::{HostError, Layout, RemoteHost};
use crate::scripts::files;
use crate::service;
use crate::ui::Ui;
use crate::upload;
use crate::verify;
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::Instant;

/// A file to ship: bytes, checksum, destination, mode.
#[derive(Debug)]
pub struct Payload {
    pub data: Vec<u8>,
    pub sha256: String,
    pub dest: String,
    pub mode: u32,
    /// Installed through `sudo -n`, owned by this owner (empty: root's default).
    pub privileged: Option<String>,
}

/// Where a host ended up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HostState {
    Pending,
    Verified,
    Failed,
    RolledBack,
    RollbackFailed,
    Skipped,
    /// Not part of this run's deployment (load balancer, stable host during a gray run).
    Unchanged,
}

/// Everything known about one host in a run.
#[derive(Debug, Clone, Serialize)]
pub struct HostResult {
    pub host: String,
    pub address: String,
    pub dr: bool,
    pub roles: Vec<Role>,
    pub state: HostState,
    pub error: Option<String>,
    /// A backup exists or the host was changed: a rollback must restore it.
    pub touched: bool,
    pub backup: Option<Backup>,
    pub previous_build: Option<String>,
    pub served_build: Option<String>,
    /// sha256 of the image the worker runs, proven after the last restart (None: not proven).
    pub running_sha256: Option<String>,
    pub generation: Option<u64>,
    pub upload_attempts: u32,
    pub phases_ms: BTreeMap<String, u128>,
}

impl HostResult {
    pub fn new(r: &RemoteHost, roles: Vec<Role>) -> Self {
        HostResult {
            host: r.host.name.clone(),
            address: r.host.address.clone(),
            dr: r.host.dr,
            roles,
            state: HostState::Pending,
            error: None,
            touched: false,
            backup: None,
            previous_build: None,
            served_build: None,
            running_sha256: None,
            generation: None,
            upload_attempts: 0,
            phases_ms: BTreeMap::new(),
        }
    }
}

/// What every host step of a run shares: the environment, its remote layout, the run's
/// audit log and the progress UI (deploy and restore alike).
pub struct HostCtx<'a> {
    pub env: &'a Environment,
    pub layout: Layout,
    pub audit: &'a Audit,
    pub ui: &'a Ui,
}

/// A host that already serves the expected build with the shipped files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IfCurrent {
    /// Deploy anyway (`rollout`).
    Redeploy,
    /// Leave it alone (`gray`, `promote`).
    Skip,
}

/// A deployment: the shared context plus what is shipped and the build it must serve.
pub struct Job<'a> {
    pub ctx: HostCtx<'a>,
    pub payloads: Vec<Payload>,
    pub expected_build: String,
    pub if_current: IfCurrent,
}

impl HostCtx<'_> {
    async fn timed<T>(
        &self,
        res: &mut HostResult,
        step: Step,
        fut: impl std::future::Future<Output = Result<T, HostError>>,
    ) -> Result<T, HostError> {
        self.ui.step(&res.host, step.as_str());
        let t0 = Instant::now();
        let out = fut.await;
        let ms = t0.elapsed().as_millis();
        *res.phases_ms.entry(step.as_str().to_string()).or_default() += ms;
        let mut e = self
            .audit
            .event(Some(&res.host), step, Verdict::of(out.is_ok()));
        e.duration_ms = Some(ms);
        if let Err(err) = &out {
            e.detail = Some(err.to_string());
        }
        self.audit.record(e);
        self.ui.advance(&res.host);
        out
    }
}

/// Deploy the job to one host; fills `res` (state, error, backup, phases).
pub async fn deploy(job: &Job<'_>, r: &RemoteHost, res: &mut HostResult) {
    let deadline = std::time::Duration::from_secs(job.ctx.env.rollout.host_deadline_s);
    let out = tokio::time::timeout(deadline, deploy_inner(job, r, res))
        .await
        .unwrap_or_else(|_| {
            Err(HostError::Check(format!(
                "host pipeline past its deadline ({}s, rollout.host_deadline_s)",
                deadline.as_secs()
            )))
        });
    match out {
        Ok(()) => {
            res.state = HostState::Verified;
            job.ctx
                .ui
                .done(&res.host, true, &format!("serving {}", job.expected_build));
        }
        Err(e) => {
            res.state = HostState::Failed;
            res.error = Some(e.to_string());
            job.ctx.ui.done(&res.host, false, &e.to_string());
        }
    }
}

async fn deploy_inner(
    job: &Job<'_>,
    r: &RemoteHost,
    res: &mut HostResult,
) -> Result<(), HostError> {
    let ctx = &job.ctx;
    let master = before(ctx, r, res).await?;
    if job.if_current == IfCurrent::Skip
        && res.previous_build.as_deref() == Some(job.expected_build.as_str())
        && installed_current(job, r).await?
    {
        let mut e = ctx.audit.event(Some(&res.host), Step::Skip, Verdict::Ok);
        e.detail = Some("already serving this build with these files".into());
        ctx.audit.record(e);
        res.served_build = res.previous_build.clone();
        return Ok(());
    }
    ship(job, r, res).await?;
    let method = ctx
        .timed(res, Step::Restart, restart(ctx, r, master.as_ref()))
        .await?;
    let v = ctx
        .timed(
            res,
            Step::Verify,
            verify::verify(r, ctx.env, &job.expected_build),
        )
        .await?;
    let mut e = ctx.audit.event(Some(&res.host), Step::Serving, Verdict::Ok);
    e.build_id = Some(v.build.build_id.clone());
    e.detail = Some(format!(
        "restart via {method:?}; verified after {} attempts",
        v.attempts
    ));
    ctx.audit.record(e);
    res.served_build = Some(v.build.build_id);
    res.generation = v.build.generation;
    prove_image(ctx, r, res).await?;
    ctx.timed(
        res,
        Step::RotateBackups,
        backup::rotate(r, &ctx.layout, &ctx.audit.run_id),
    )
    .await?;
    Ok(())
}

/// The master running before the run, and the build it serves (recorded).
async fn before(
    ctx: &HostCtx<'_>,
    r: &RemoteHost,
    res: &mut HostResult,
) -> Result<Option<service::Master>, HostError> {
    let master = ctx
        .timed(
            res,
            Step::CheckMaster,
            service::observe(r, &ctx.env.service, &ctx.layout),
        )
        .await?;
    let mut e = ctx
        .audit
        .event(Some(&res.host), Step::Before, Verdict::Info);
    if master.is_some() {
        let (build, source) = crate::releases::serving_build(r, ctx.env, &ctx.layout).await?;
        if source == crate::releases::Source::History {
            e.detail = Some("build from the host's history: the service did not name it".into());
        }
        res.previous_build = Some(build);
    }
    e.build_id = res.previous_build.clone();
    ctx.audit.record(e);
    Ok(master)
}

/// Back up what is installed, then upload every payload (sha256 checked on the host).
async fn ship(job: &Job<'_>, r: &RemoteHost, res: &mut HostResult) -> Result<(), HostError> {
    let ctx = &job.ctx;
    let l = &ctx.layout;
    let prev = res.previous_build.clone().unwrap_or_default();
    let b = ctx
        .timed(
            res,
            Step::Backup,
            backup::create(r, l, &ctx.audit.run_id, &prev),
        )
        .await?;
    res.backup = b;
    res.touched = true;
    crate::interrupt::changed(&res.host);
    for p in &job.payloads {
        let rep = ctx
            .timed(
                res,
                Step::Upload,
                upload::upload_as(
                    r,
                    &p.data,
                    &p.sha256,
                    &p.dest,
                    p.mode,
                    p.privileged.as_deref(),
                    &ctx.audit.run_id,
                    &l.install_dir,
                ),
            )
            .await?;
        res.upload_attempts += rep.attempts;
        let mut e = ctx
            .audit
            .event(Some(&res.host), Step::Checksum, Verdict::Ok);
        e.sha256 = Some(rep.sha256.clone());
        e.detail = Some(format!(
            "{} bytes to {} verified on host; attempts {}, resumed at {:?}",
            rep.bytes, rep.dest, rep.attempts, rep.resumed_at
        ));
        ctx.audit.record(e);
    }
    Ok(())
}

/// Restart the running master (or start the first one and wait for it). Never asked twice:
/// after a lost connection, reconnect and let verify read what the host serves.
async fn restart(
    ctx: &HostCtx<'_>,
    r: &RemoteHost,
    master: Option<&service::Master>,
) -> Result<service::RestartMethod, HostError> {
    let (svc, l) = (&ctx.env.service, &ctx.layout);
    let asked = match master {
        Some(m) => service::restart(r, svc, l, m).await,
        None => service::start(r, svc, l)
            .await
            .map(|()| service::RestartMethod::Started),
    };
    let method = match asked {
        Err(HostError::Transport(e)) if e.is_transient() => {
            r.t.reconnect().await?;
            service::RestartMethod::Unconfirmed
        }
        other => other?,
    };
    if master.is_none() {
        service::wait_master(r, svc, l, std::time::Duration::from_secs(30)).await?;
    }
    Ok(method)
}

/// Restore `res`'s backup on its host, restart, and verify the backed-up build serves again.
pub async fn restore(ctx: &HostCtx<'_>, r: &RemoteHost, res: &mut HostResult) {
    let out = async {
        let b = res.backup.clone().ok_or_else(|| {
            HostError::Check("no backup (first install on this host): nothing to restore".into())
        })?;
        let env = ctx.env;
        let l = &ctx.layout;
        ctx.timed(
            res,
            Step::Restore,
            backup::restore(r, l, &b, &ctx.audit.run_id),
        )
        .await?;
        ctx.timed(res, Step::RestartOld, async {
            match service::master(r, &env.service, l).await? {
                Some(m) => service::restart(r, &env.service, l, &m).await.map(|_| ()),
                None => service::start(r, &env.service, l).await,
            }
        })
        .await?;
        let expected = if b.build_id().is_empty() {
            res.previous_build.clone().unwrap_or_default()
        } else {
            b.build_id().to_string()
        };
        let v = ctx
            .timed(res, Step::VerifyOld, verify::verify(r, env, &expected))
            .await?;
        prove_image(ctx, r, res).await?;
        Ok::<_, HostError>(v.build.build_id)
    }
    .await;
    match out {
        Ok(build) => {
            crate::interrupt::restored(&res.host);
            res.state = HostState::RolledBack;
            res.served_build = Some(build.clone());
            ctx.ui
                .done(&res.host, true, &format!("rolled back, serving {build}"));
        }
        Err(e) => {
            res.state = HostState::RollbackFailed;
            res.error = Some(format!(
                "{}; rollback: {e}",
                res.error.clone().unwrap_or_default()
            ));
            ctx.ui
                .done(&res.host, false, &format!("rollback failed: {e}"));
        }
    }
}

/// Every shipped file is already installed with its sha256 (else a config-only change would
/// be skipped).
async fn installed_current(job: &Job<'_>, r: &RemoteHost) -> Result<bool, HostError> {
    for p in &job.payloads {
        let sha = upload::sha_on_host_any(r, &p.dest, p.privileged.is_some()).await?;
        if !sha.is(&p.sha256) {
            return Ok(false);
        }
    }
    Ok(true)
}

/// The running worker image is the installed binary (audited with its sha256).
async fn prove_image(
    ctx: &HostCtx<'_>,
    r: &RemoteHost,
    res: &mut HostResult,
) -> Result<(), HostError> {
    let img = ctx
        .timed(res, Step::Image, image::check(r, ctx.env, &ctx.layout))
        .await?;
    let mut e = ctx
        .audit
        .event(Some(&res.host), Step::RunningImage, Verdict::Ok);
    match img {
        image::Image::Proven(sha) => {
            res.running_sha256 = Some(sha.clone());
            e.sha256 = Some(sha);
        }
        image::Image::Script => {
            e.result = Verdict::Warn;
            e.detail = Some("installed file is a script: running image not comparable".into());
        }
    }
    ctx.audit.record(e);
    Ok(())
}

/// [`append_host_audit`] on every host at once (at most [`crate::fleet::CONNECT_AT_ONCE`]).
pub async fn append_host_audits<'r>(
    ctx: &HostCtx<'_>,
    remotes: impl IntoIterator<Item = &'r RemoteHost>,
) {
    crate::fleet::bounded(crate::fleet::CONNECT_AT_ONCE, remotes, |r| {
        append_host_audit(ctx, r)
    })
    .await;
}

/// Append this run's audit records for the host to its own audit log.
async fn append_host_audit(ctx: &HostCtx<'_>, r: &RemoteHost) {
    let lines = ctx.audit.host_lines(&r.host.name);
    if lines.is_empty() {
        return;
    }
    // Best effort: the local audit log is the record; the host's copy is for its operators.
    let sent = r
        .script_stdin(
            "host audit",
            &files::AUDIT_APPEND,
            &[&ctx.layout.audit_file],
            lines.as_bytes(),
        )
        .await;
    if let Ok(out) = sent {
        let _ = files::parse_audit_append(&String::from_utf8_lossy(&out.stdout));
    }
}
