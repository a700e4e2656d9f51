//! The supervisor: one task that owns every worker handle and turns signals, admin commands
//! and worker events into lifecycle decisions. Invariants kept here:
//! - a graceful restart retires the old worker only after the new one is confirmed ready;
//!   a failed restart never touches the old worker;
//! - at most one restart runs; requests during it coalesce into one follow-up;
//! - every started child is owned by a [`Worker`] whose task reaps it.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot, watch};

use super::child::{Ctl, Worker};
use super::config::MasterConfig;
use super::status::{RestartOutcome, Status, WorkerStatus};
use super::{Command, Shutdown};
use crate::backoff::Backoff;
use crate::exit_reason::ExitReason;
use crate::listener::{BoundListener, PRIVATE_NAME};
use crate::metrics::{Metrics, RestartAction};
use crate::readiness::{self, NotifySocket};
use crate::spawn::{self, Launch, SpawnError};

/// Things that happen to workers, reported by their tasks.
#[derive(Debug)]
pub(crate) enum Event {
    Exited {
        generation: u64,
        reason: ExitReason,
    },
    Readiness {
        generation: u64,
        result: Result<(), String>,
    },
    Respawn,
    ForceKill {
        generation: u64,
    },
    Unresponsive {
        generation: u64,
        detail: String,
    },
}

struct InFlight {
    started: Instant,
    waiters: Vec<oneshot::Sender<RestartOutcome>>,
}

pub(crate) struct Supervisor {
    cfg: MasterConfig,
    listeners: Vec<BoundListener>,
    runtime_dir: std::path::PathBuf,
    events: mpsc::UnboundedSender<Event>,
    metrics: Arc<Metrics>,
    status: watch::Sender<Status>,
    backoff: Backoff,
    next_generation: u64,
    current: Option<Worker>,
    candidate: Option<Worker>,
    retiring: HashMap<u64, Worker>,
    previous: Option<WorkerStatus>,
    restart: Option<InFlight>,
    follow_up: Option<Vec<oneshot::Sender<RestartOutcome>>>,
    last_restart: Option<RestartOutcome>,
    respawn_scheduled: bool,
    reconcile_since: Option<Instant>,
    recovering: Option<RestartAction>,
    stopping: bool,
    forced: bool,
    announced_ready: bool,
}

impl Supervisor {
    pub(crate) fn new(
        cfg: MasterConfig,
        listeners: Vec<BoundListener>,
        runtime_dir: std::path::PathBuf,
        events: mpsc::UnboundedSender<Event>,
        metrics: Arc<Metrics>,
        status: watch::Sender<Status>,
    ) -> Self {
        let backoff = Backoff::new(cfg.backoff);
        Supervisor {
            cfg,
            listeners,
            runtime_dir,
            events,
            metrics,
            status,
            backoff,
            next_generation: 1,
            current: None,
            candidate: None,
            retiring: HashMap::new(),
            previous: None,
            restart: None,
            follow_up: None,
            last_restart: None,
            respawn_scheduled: false,
            reconcile_since: None,
            recovering: None,
            stopping: false,
            forced: false,
            announced_ready: false,
        }
    }

    /// Runs until every worker is gone after a stop signal.
    pub(crate) async fn run(
        mut self,
        mut events: mpsc::UnboundedReceiver<Event>,
        mut commands: mpsc::Receiver<Command>,
    ) -> Result<Shutdown, super::MasterError> {
        use tokio::signal::unix::{signal, SignalKind};
        let sig = |k| signal(k).map_err(super::MasterError::Signals);
        let mut usr1 = sig(SignalKind::user_defined1())?;
        let mut term = sig(SignalKind::terminate())?;
        let mut int = sig(SignalKind::interrupt())?;
        let first = self.spawn_worker().map_err(super::MasterError::Spawn)?;
        self.current = Some(first);
        let mut health = tokio::time::interval(self.cfg.health_interval);
        health.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut commands_open = true;
        self.publish();
        while !self.finished() {
            tokio::select! {
                _ = usr1.recv() => self.request_restart(None, "SIGUSR1"),
                _ = term.recv() => self.stop("SIGTERM"),
                _ = int.recv() => self.stop("SIGINT"),
                Some(ev) = events.recv() => self.on_event(ev),
                cmd = commands.recv(), if commands_open => match cmd {
                    Some(Command::Restart(reply)) => self.request_restart(Some(reply), "admin"),
                    None => commands_open = false,
                },
                _ = health.tick() => self.check_health(),
            }
            self.publish();
        }
        notify_parent(&[sd_notify::NotifyState::Status("stopped")]);
        Ok(if self.forced {
            Shutdown::Forced
        } else {
            Shutdown::Graceful
        })
    }

    fn finished(&self) -> bool {
        self.stopping
            && self.current.is_none()
            && self.candidate.is_none()
            && self.retiring.is_empty()
    }

    fn spawn_worker(&mut self) -> Result<Worker, SpawnError> {
        let generation = self.next_generation;
        let io = |source| SpawnError::Io {
            program: self.cfg.program.clone().into(),
            source,
        };
        let notify =
            NotifySocket::bind(&self.runtime_dir.join(format!("notify-{generation}.sock")))
                .map_err(io)?;
        let private = if self.cfg.private_listener {
            Some(std::net::TcpListener::bind("127.0.0.1:0").map_err(io)?)
        } else {
            None
        };
        let private_addr: Option<SocketAddr> = private.as_ref().and_then(|l| l.local_addr().ok());
        use std::os::fd::AsRawFd;
        let mut fds: Vec<(String, i32)> = self
            .listeners
            .iter()
            .map(|l| (l.spec.name.clone(), l.socket.as_raw_fd()))
            .collect();
        if let Some(p) = &private {
            fds.push((PRIVATE_NAME.to_string(), p.as_raw_fd()));
        }
        let mut env = self.cfg.env.clone();
        env.push((
            "ZDRUN_MASTER_PID".into(),
            std::process::id().to_string().into(),
        ));
        env.push(("ZDRUN_GENERATION".into(), generation.to_string().into()));
        env.push(("ZDRUN_MODE".into(), "worker".into()));
        env.push((
            "ZDRUN_GRACE_MS".into(),
            self.cfg.grace.as_millis().to_string().into(),
        ));
        env.push(("NOTIFY_SOCKET".into(), notify.path().as_os_str().to_owned()));
        if self.cfg.compat_reuseport {
            env.push(("ZDRUN_REUSEPORT".into(), "1".into()));
        }
        let (child, program) = spawn::spawn(Launch {
            program: &self.cfg.program,
            args: &self.cfg.args,
            fds,
            env,
            master_pid: std::process::id(),
        })?;
        // The child has its own copy of the private listener; ours must not keep the port.
        drop(private);
        self.next_generation += 1;
        let events = self.events.clone();
        let mut worker = Worker::adopt(
            generation,
            child,
            program,
            private_addr,
            move |generation, reason| {
                let _ = events.send(Event::Exited { generation, reason });
            },
        );
        tracing::info!(event = "worker_started", generation, pid = worker.pid, program = %worker.program.display(), private_addr = ?private_addr, "worker started");
        let events = self.events.clone();
        let rcfg = self.cfg.readiness.clone();
        worker.watchers.push(tokio::spawn(async move {
            let result = readiness::wait_ready(generation, Some(notify), private_addr, &rcfg)
                .await
                .map(|_| ())
                .map_err(|e| e.to_string());
            let _ = events.send(Event::Readiness { generation, result });
        }));
        Ok(worker)
    }

    fn on_event(&mut self, ev: Event) {
        match ev {
            Event::Exited { generation, reason } => self.on_exit(generation, reason),
            Event::Readiness { generation, result } => self.on_readiness(generation, result),
            Event::Respawn => self.on_respawn(),
            Event::ForceKill { generation } => self.on_force_kill(generation),
            Event::Unresponsive { generation, detail } => self.on_unresponsive(generation, detail),
        }
    }

    fn on_exit(&mut self, generation: u64, reason: ExitReason) {
        self.metrics.exit(&reason);
        if self
            .candidate
            .as_ref()
            .is_some_and(|w| w.generation == generation)
        {
            if let Some(mut w) = self.candidate.take() {
                w.cancel_watchers();
                tracing::warn!(event = "worker_exited", generation, pid = w.pid, role = "candidate", reason = reason.label(), detail = %reason, "new worker exited during start-up");
            }
            self.finish_restart(Err(format!("new worker exited during start-up: {reason}")));
            if self.current.is_none() {
                self.schedule_respawn(Duration::ZERO, RestartAction::CrashRecovered);
            }
            return;
        }
        if self
            .current
            .as_ref()
            .is_some_and(|w| w.generation == generation)
        {
            let Some(mut w) = self.current.take() else {
                return;
            };
            w.cancel_watchers();
            self.previous = Some(worker_status(&w));
            if self.stopping {
                tracing::info!(event = "worker_exited", generation, pid = w.pid, role = "current", reason = reason.label(), detail = %reason, "worker exited");
                return;
            }
            tracing::warn!(event = "worker_exited", generation, pid = w.pid, role = "current", reason = reason.label(), detail = %reason, uptime_ms = w.uptime().as_millis() as u64, "worker exited unexpectedly");
            if self.candidate.is_some() {
                tracing::info!(
                    event = "crash_during_restart",
                    generation,
                    "the starting worker will take over"
                );
                return;
            }
            let action = self
                .recovering
                .take()
                .unwrap_or(RestartAction::CrashRecovered);
            self.schedule_respawn(w.uptime(), action);
            return;
        }
        if let Some(w) = self.retiring.remove(&generation) {
            tracing::info!(event = "worker_exited", generation, pid = w.pid, role = "retired", reason = reason.label(), detail = %reason, "old worker exited");
        }
    }

    fn schedule_respawn(&mut self, uptime: Duration, action: RestartAction) {
        if self.stopping || self.respawn_scheduled {
            return;
        }
        let delay = self.backoff.on_crash(uptime);
        self.respawn_scheduled = true;
        self.recovering = Some(action);
        tracing::info!(
            event = "respawn_scheduled",
            delay_ms = delay.as_millis() as u64,
            consecutive_crashes = self.backoff.consecutive(),
            action = action.label(),
            "replacement scheduled"
        );
        let events = self.events.clone();
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            let _ = events.send(Event::Respawn);
        });
    }

    fn on_respawn(&mut self) {
        self.respawn_scheduled = false;
        if self.stopping || self.current.is_some() || self.candidate.is_some() {
            return;
        }
        if self.cfg.compat_reuseport && !self.ports_released() {
            return;
        }
        self.reconcile_since = None;
        match self.spawn_worker() {
            Ok(w) => self.current = Some(w),
            Err(e) => {
                tracing::error!(event = "respawn_failed", error = %e, "cannot start a replacement worker");
                let action = self
                    .recovering
                    .take()
                    .unwrap_or(RestartAction::CrashRecovered);
                self.schedule_respawn(Duration::ZERO, action);
            }
        }
    }

    /// Port reconciliation (compatibility mode): the dead worker's own socket may still be held
    /// (by a child it forked, say). Probe until the port is free, at most the bind timeout,
    /// re-checking every 100 ms; returns false while the replacement must wait.
    fn ports_released(&mut self) -> bool {
        let busy: Vec<String> = self
            .cfg
            .listeners
            .iter()
            .filter(|l| !crate::listener::is_free(l))
            .map(|l| l.addr.to_string())
            .collect();
        let since = *self.reconcile_since.get_or_insert_with(Instant::now);
        if busy.is_empty() {
            tracing::info!(
                event = "port_reconcile",
                waited_ms = since.elapsed().as_millis() as u64,
                "ports released; starting the replacement"
            );
            return true;
        }
        if since.elapsed() >= self.cfg.bind.busy_timeout {
            tracing::error!(event = "port_reconcile", busy = ?busy, "ports still held after the bind timeout; starting the replacement anyway");
            return true;
        }
        tracing::info!(event = "port_reconcile_wait", busy = ?busy, "waiting for the port to be released");
        self.respawn_scheduled = true;
        let events = self.events.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(100)).await;
            let _ = events.send(Event::Respawn);
        });
        false
    }

    fn on_readiness(&mut self, generation: u64, result: Result<(), String>) {
        if self
            .candidate
            .as_ref()
            .is_some_and(|w| w.generation == generation)
        {
            match result {
                Ok(()) => self.promote(),
                Err(e) => {
                    if let Some(w) = self.candidate.take() {
                        tracing::warn!(event = "readiness_failed", generation, pid = w.pid, error = %e, "new worker not ready; killing it, the old worker keeps serving");
                        self.kill_and_reap(w);
                    }
                    self.finish_restart(Err(format!("new worker not ready: {e}")));
                    if self.current.is_none() {
                        self.schedule_respawn(Duration::ZERO, RestartAction::CrashRecovered);
                    }
                }
            }
            return;
        }
        let Some(w) = self.current.as_mut().filter(|w| w.generation == generation) else {
            return;
        };
        match result {
            Ok(()) => {
                w.ready = true;
                if let Some(action) = self.recovering.take() {
                    self.metrics.restart(action);
                    tracing::info!(
                        event = "restart_outcome",
                        action = action.label(),
                        generation,
                        "replacement worker is serving"
                    );
                }
                self.start_liveness();
                if !self.announced_ready {
                    self.announced_ready = true;
                    notify_parent(&[
                        sd_notify::NotifyState::Ready,
                        sd_notify::NotifyState::MainPid(std::process::id()),
                        sd_notify::NotifyState::Status(&format!(
                            "serving, generation {generation}"
                        )),
                    ]);
                    tracing::info!(event = "master_ready", generation, "first worker is ready");
                }
            }
            Err(e) => {
                tracing::error!(event = "readiness_failed", generation, pid = w.pid, error = %e, "worker never became ready; replacing it");
                w.send(Ctl::Kill);
            }
        }
    }

    fn promote(&mut self) {
        let Some(mut new) = self.candidate.take() else {
            return;
        };
        new.ready = true;
        if let Some(old) = self.current.take() {
            self.previous = Some(worker_status(&old));
            self.retire(old);
        }
        self.current = Some(new);
        self.start_liveness();
        self.finish_restart(Ok(()));
    }

    fn retire(&mut self, mut w: Worker) {
        w.cancel_watchers();
        w.send(Ctl::Term);
        tracing::info!(
            event = "worker_retiring",
            generation = w.generation,
            pid = w.pid,
            grace_ms = self.cfg.grace.as_millis() as u64,
            "SIGTERM sent, draining"
        );
        let events = self.events.clone();
        let (generation, grace) = (w.generation, self.cfg.grace);
        tokio::spawn(async move {
            tokio::time::sleep(grace).await;
            let _ = events.send(Event::ForceKill { generation });
        });
        self.retiring.insert(w.generation, w);
    }

    fn kill_and_reap(&mut self, mut w: Worker) {
        w.cancel_watchers();
        w.send(Ctl::Kill);
        self.retiring.insert(w.generation, w);
    }

    fn on_force_kill(&mut self, generation: u64) {
        if let Some(w) = self.retiring.get(&generation) {
            tracing::warn!(
                event = "force_kill",
                generation,
                pid = w.pid,
                grace_ms = self.cfg.grace.as_millis() as u64,
                "worker still running after the grace period; SIGKILL"
            );
            w.send(Ctl::Kill);
        }
    }

    fn request_restart(&mut self, reply: Option<oneshot::Sender<RestartOutcome>>, source: &str) {
        if self.stopping {
            tracing::warn!(
                event = "restart_ignored",
                source,
                "restart requested during shutdown; ignored"
            );
            if let Some(r) = reply {
                let _ = r.send(self.outcome(Err("master is shutting down".into()), Duration::ZERO));
            }
            return;
        }
        if self.restart.is_some() {
            let queue = self.follow_up.get_or_insert_with(Vec::new);
            queue.extend(reply);
            tracing::info!(
                event = "restart_coalesced",
                source,
                "restart already in progress; one follow-up restart is queued"
            );
            return;
        }
        tracing::info!(
            event = "restart_begin",
            source,
            "graceful restart requested"
        );
        self.start_restart(reply.into_iter().collect());
    }

    fn start_restart(&mut self, waiters: Vec<oneshot::Sender<RestartOutcome>>) {
        self.restart = Some(InFlight {
            started: Instant::now(),
            waiters,
        });
        self.metrics.restart_in_progress.set(1);
        let mut states = vec![sd_notify::NotifyState::Reloading];
        if let Ok(m) = sd_notify::NotifyState::monotonic_usec_now() {
            states.push(m);
        }
        notify_parent(&states);
        match self.spawn_worker() {
            Ok(w) => self.candidate = Some(w),
            Err(e) => {
                tracing::error!(event = "spawn_failed", error = %e, "cannot start the new worker; the old worker keeps serving");
                self.finish_restart(Err(format!("cannot start new worker: {e}")));
            }
        }
    }

    fn outcome(&self, result: Result<(), String>, duration: Duration) -> RestartOutcome {
        RestartOutcome {
            outcome: if result.is_ok() { "ok" } else { "aborted" },
            reason: result.err(),
            generation: self.current.as_ref().map(|w| w.generation).unwrap_or(0),
            duration_ms: duration.as_millis() as u64,
        }
    }

    fn finish_restart(&mut self, result: Result<(), String>) {
        let Some(inflight) = self.restart.take() else {
            return;
        };
        let ok = result.is_ok();
        let outcome = self.outcome(result, inflight.started.elapsed());
        self.metrics.restart_in_progress.set(0);
        if ok {
            self.metrics.restart(RestartAction::GracefulOk);
            tracing::info!(
                event = "restart_outcome",
                action = "graceful_ok",
                generation = outcome.generation,
                duration_ms = outcome.duration_ms,
                "graceful restart complete"
            );
        } else {
            self.metrics.restart(RestartAction::GracefulAborted);
            tracing::warn!(
                event = "restart_outcome",
                action = "graceful_aborted",
                generation = outcome.generation,
                duration_ms = outcome.duration_ms,
                reason = outcome.reason.as_deref().unwrap_or(""),
                "graceful restart aborted; old worker kept serving"
            );
        }
        for w in inflight.waiters {
            let _ = w.send(outcome.clone());
        }
        self.last_restart = Some(outcome);
        notify_parent(&[sd_notify::NotifyState::Ready]);
        if let Some(waiters) = self.follow_up.take() {
            if !self.stopping {
                tracing::info!(
                    event = "restart_begin",
                    source = "coalesced",
                    "starting the queued follow-up restart"
                );
                self.start_restart(waiters);
            }
        }
    }

    fn stop(&mut self, signal: &str) {
        if self.stopping {
            tracing::warn!(
                event = "shutdown_forced",
                signal,
                "second stop signal: killing every worker"
            );
            self.forced = true;
            for w in self.retiring.values() {
                w.send(Ctl::Kill);
            }
            return;
        }
        self.stopping = true;
        tracing::info!(
            event = "shutdown_begin",
            signal,
            grace_ms = self.cfg.grace.as_millis() as u64,
            "draining workers, then exiting"
        );
        notify_parent(&[sd_notify::NotifyState::Stopping]);
        for r in self.follow_up.take().unwrap_or_default() {
            let _ = r.send(self.outcome(Err("master is shutting down".into()), Duration::ZERO));
        }
        if let Some(c) = self.candidate.take() {
            self.retire(c);
            self.finish_restart(Err("master is shutting down".into()));
        }
        if let Some(c) = self.current.take() {
            self.previous = Some(worker_status(&c));
            self.retire(c);
        }
    }

    fn start_liveness(&mut self) {
        let Some(live) = self.cfg.liveness.clone() else {
            return;
        };
        let Some(w) = self.current.as_mut() else {
            return;
        };
        let Some(addr) = w.private else { return };
        let (generation, events) = (w.generation, self.events.clone());
        w.watchers.push(tokio::spawn(async move {
            let mut failures = 0u32;
            let mut tick = tokio::time::interval(live.interval);
            tick.tick().await;
            loop {
                tick.tick().await;
                match crate::probe::get(addr, &live.path, live.timeout).await {
                    Ok(r) if r.status < 500 => failures = 0,
                    Ok(_) | Err(_) => failures += 1,
                }
                if failures >= live.failures {
                    let detail = format!("{failures} consecutive failed probes of {}", live.path);
                    let _ = events.send(Event::Unresponsive { generation, detail });
                    return;
                }
            }
        }));
    }

    fn on_unresponsive(&mut self, generation: u64, detail: String) {
        if self.stopping || self.restart.is_some() {
            return;
        }
        if let Some(w) = self.current.as_ref().filter(|w| w.generation == generation) {
            tracing::error!(event = "worker_unresponsive", generation, pid = w.pid, detail = %detail, "liveness probe failed; replacing the worker");
            self.recovering = Some(RestartAction::HealthRecovered);
            w.send(Ctl::Kill);
        }
    }

    fn check_health(&mut self) {
        let Some(w) = self.current.as_ref() else {
            return;
        };
        match process_state(w.pid) {
            Some('Z') | None => tracing::warn!(
                event = "health_check",
                generation = w.generation,
                pid = w.pid,
                "worker is not alive (zombie or gone); waiting for its exit status"
            ),
            Some(_) => tracing::debug!(
                event = "health_check",
                generation = w.generation,
                pid = w.pid,
                "worker alive"
            ),
        }
    }

    fn publish(&self) {
        let cur = self.current.as_ref();
        self.metrics
            .worker_ready
            .set(i64::from(cur.is_some_and(|w| w.ready)));
        self.metrics
            .generation
            .set(cur.map(|w| w.generation as i64).unwrap_or(0));
        self.metrics
            .worker_pid
            .set(cur.map(|w| i64::from(w.pid)).unwrap_or(0));
        self.metrics
            .uptime
            .set(cur.map(|w| w.uptime().as_secs_f64()).unwrap_or(0.0));
        self.status.send_replace(Status {
            master_pid: std::process::id(),
            listeners: self
                .listeners
                .iter()
                .map(|l| format!("{}={}", l.spec.name, l.local))
                .collect(),
            current: cur.map(worker_status),
            previous: self.previous.clone(),
            restart_in_progress: self.restart.is_some(),
            last_restart: self.last_restart.clone(),
            stopping: self.stopping,
            current_started: cur.map(|w| w.started),
        });
    }
}

fn worker_status(w: &Worker) -> WorkerStatus {
    WorkerStatus {
        pid: w.pid,
        generation: w.generation,
        program: w.program.display().to_string(),
        started_at: w.started_at.clone(),
        ready: w.ready,
        private_addr: w.private.map(|a| a.to_string()),
    }
}

/// The state letter of `/proc/PID/stat` (R, S, D, Z, ...), or None if the process is gone.
fn process_state(pid: u32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = stat.rsplit_once(')')?.1;
    after.trim_start().chars().next()
}

/// Tells our own service manager (if `NOTIFY_SOCKET` is set) about a state change.
pub(crate) fn notify_parent(states: &[sd_notify::NotifyState<'_>]) {
    if let Err(e) = sd_notify::notify(states) {
        tracing::debug!(event = "sd_notify_failed", error = %e, "cannot notify the service manager");
    }
}
