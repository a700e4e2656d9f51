//! The supervisor: one task that owns every worker handle and turns signals, admin commands
//! and worker events into lifecycle decisions. Invariants kept here:
//! - a graceful restart retires the old worker only after the new one is confirmed ready;
//!   a failed restart never touches the old worker;
//! - at most one restart runs; requests during it coalesce into one follow-up;
//! - every started child is owned by a [`Worker`] whose task reaps it.
//!
//! Split by responsibility: this file holds the state, the event loop and worker start-up;
//! `restart` the graceful restart and shutdown paths; `recovery` crash repair and liveness.

mod groups;
mod recovery;
mod restart;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::{mpsc, oneshot, watch};

use protocol::env as var;

use super::child::Worker;
use super::config::MasterConfig;
use super::status::{Published, RestartAnswer, RestartReason, Status, WorkerStatus};
use super::{Command, Shutdown};
use crate::listener::{BoundListener, PRIVATE_NAME};
use crate::master::backoff::Backoff;
use crate::master::exit_reason::ExitReason;
use crate::master::metrics::{Metrics, RestartAction};
use crate::master::readiness::{self, NotifySocket};
use crate::master::spawn::{self, Launch, SpawnError};

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
    /// The grace period of a group whose leader exited is over: SIGKILL what is left of it.
    GroupKill {
        pgid: i32,
    },
}

/// The master's signal handlers, installed before the pid file is written (a signal sent as
/// soon as the pid file exists must not hit a default action: SIGHUP would kill the master).
pub(crate) struct Signals {
    usr1: tokio::signal::unix::Signal,
    hup: tokio::signal::unix::Signal,
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
    chld: tokio::signal::unix::Signal,
}

impl Signals {
    pub(crate) fn install() -> Result<Self, super::MasterError> {
        use tokio::signal::unix::{signal, SignalKind};
        let sig = |k| signal(k).map_err(super::MasterError::Signals);
        Ok(Signals {
            usr1: sig(SignalKind::user_defined1())?,
            hup: sig(SignalKind::hangup())?,
            term: sig(SignalKind::terminate())?,
            int: sig(SignalKind::interrupt())?,
            chld: sig(SignalKind::child())?,
        })
    }
}

/// The graceful restart under way.
struct InFlight {
    /// When it started (its `duration_ms`).
    started: Instant,
    /// Callers (admin `POST /restart`) waiting for its answer; each gets the same answer.
    waiters: Vec<oneshot::Sender<RestartAnswer>>,
}

/// The master's whole state. Only the supervisor's own task touches it (one event at a
/// time: a signal, an admin command, or an [`Event`] from a worker's task), and after every
/// event it publishes [`Published`] (what `/status` serves).
///
/// Invariants, between two events:
/// - a worker is in at most one of `current`, `candidate`, `retiring`, and each has a
///   distinct generation, below `next_generation`;
/// - `candidate.is_some()` implies `restart.is_some()` (a candidate exists only during a
///   graceful restart); `aborting` names a generation that is no longer `candidate` but not
///   yet reaped;
/// - once `stopping` is set nothing new is started, and the run ends when `current`,
///   `candidate` and `retiring` are all empty.
pub(crate) struct Supervisor {
    /// The master's configuration. Never changes.
    cfg: MasterConfig,
    /// The public listeners, bound once at start; every worker inherits duplicates of these
    /// sockets (empty in compatibility mode). Never changes.
    listeners: Vec<BoundListener>,
    /// This master's private runtime directory (per-worker notify sockets). Never changes.
    runtime_dir: std::path::PathBuf,
    /// Read end of the guard pipe, inherited by every worker (the master holds the only write
    /// end). Never changes.
    guard: std::os::fd::OwnedFd,
    /// Sender of the supervisor's own event queue, cloned into every task it starts (worker
    /// waiters, readiness and liveness checks, timers).
    events: mpsc::UnboundedSender<Event>,
    /// Prometheus metrics, shared with the admin endpoint. Updated as events happen.
    metrics: Arc<Metrics>,
    /// Where the state is published after every event ([`Supervisor::publish`]).
    status: watch::Sender<Published>,
    /// Crash-recovery delay: grows with consecutive crashes, reset by a worker that stayed up
    /// `stable_after`. Changed when a replacement is scheduled.
    backoff: Backoff,
    /// Generation the next spawned worker gets (starts at 1, +1 per spawn, never reused).
    next_generation: u64,
    /// The worker that serves (owns the public sockets' accept side). `None` only between a
    /// crash and its replacement, or at the end of shutdown. Replaced on promotion, crash
    /// recovery, or liveness failure.
    current: Option<Worker>,
    /// The new worker of a graceful restart, not ready yet. Set by `start_restart`, taken on
    /// promotion (ready), or on abort (not ready in time, exited, shutdown).
    candidate: Option<Worker>,
    /// Workers told to stop (SIGTERM, SIGKILL after the grace period), by generation, until
    /// their exit is reaped.
    retiring: HashMap<u64, Worker>,
    /// The last worker that stopped serving or was abandoned (`/status` `previous`). Set when
    /// a current worker is retired or exits, or a candidate is abandoned at shutdown.
    previous: Option<WorkerStatus>,
    /// The graceful restart under way, if any (at most one: see `follow_up`).
    restart: Option<InFlight>,
    /// A candidate that was killed: the restart is reported aborted (with this reason) only
    /// once it has been reaped, so "aborted" means it no longer accepts.
    aborting: Option<(u64, RestartReason)>,
    /// A liveness failure reported while a restart ran (generation, detail); acted on when the
    /// restart finishes (if that worker is still current then).
    deferred_liveness: Option<(u64, String)>,
    /// Restart requests that arrived during a restart: one follow-up restart, started when the
    /// current one finishes, answers them all. `Some` only while `restart` is.
    follow_up: Option<Vec<oneshot::Sender<RestartAnswer>>>,
    /// The answer of the last finished graceful restart (`/status` `last_restart`).
    last_restart: Option<RestartAnswer>,
    /// A `Respawn` event is pending (a replacement after a crash, after the backoff delay, or
    /// a port-reconciliation re-check); prevents scheduling a second one.
    respawn_scheduled: bool,
    /// Compatibility mode: since when the replacement has waited for the dead worker's port
    /// to be released (bounded by the bind timeout); cleared when the replacement starts.
    reconcile_since: Option<Instant>,
    /// Why the replacement being started exists (crash or liveness recovery); counted in the
    /// metrics once that replacement is ready, then cleared.
    recovering: Option<RestartAction>,
    /// A stop signal arrived: no restart or replacement is started any more.
    stopping: bool,
    /// A second stop signal arrived: workers and orphans get SIGKILL without a grace period;
    /// the run ends as [`Shutdown::Forced`].
    forced: bool,
    /// `READY=1` was sent to our own service manager (once, when the first worker is ready).
    announced_ready: bool,
}

impl Supervisor {
    pub(crate) fn new(
        cfg: MasterConfig,
        listeners: Vec<BoundListener>,
        runtime_dir: std::path::PathBuf,
        guard: std::os::fd::OwnedFd,
        events: mpsc::UnboundedSender<Event>,
        metrics: Arc<Metrics>,
        status: watch::Sender<Published>,
    ) -> Self {
        let backoff = Backoff::new(cfg.backoff);
        Supervisor {
            cfg,
            listeners,
            runtime_dir,
            guard,
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
            aborting: None,
            deferred_liveness: None,
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
        mut sig: Signals,
    ) -> Result<Shutdown, super::MasterError> {
        let first = self.spawn_worker().map_err(super::MasterError::Spawn)?;
        self.current = Some(first);
        let mut health = tokio::time::interval(self.cfg.health_interval);
        health.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut commands_open = true;
        self.publish();
        while !self.finished() {
            tokio::select! {
                _ = sig.usr1.recv() => self.request_restart(None, "SIGUSR1"),
                _ = sig.hup.recv() => self.request_restart(None, "SIGHUP"),
                _ = sig.term.recv() => self.stop("SIGTERM"),
                _ = sig.int.recv() => self.stop("SIGINT"),
                Some(ev) = events.recv() => self.on_event(ev),
                cmd = commands.recv(), if commands_open => match cmd {
                    Some(Command::Restart(reply)) => self.request_restart(Some(reply), "admin"),
                    None => commands_open = false,
                },
                _ = sig.chld.recv() => self.reap_orphans(),
                _ = health.tick() => {
                    self.reap_orphans();
                    self.check_health();
                }
            }
            self.publish();
        }
        self.stop_orphans(&mut sig.chld).await;
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
            var::ZDRUN_MASTER_PID.into(),
            std::process::id().to_string().into(),
        ));
        env.push((var::ZDRUN_GENERATION.into(), generation.to_string().into()));
        env.push((
            var::ZDRUN_GRACE_MS.into(),
            self.cfg.grace.as_millis().to_string().into(),
        ));
        env.push((
            var::NOTIFY_SOCKET.into(),
            notify.path().as_os_str().to_owned(),
        ));
        if self.cfg.compat_reuseport {
            env.push((var::ZDRUN_REUSEPORT.into(), "1".into()));
        }
        let (child, program) = spawn::spawn(Launch {
            program: &self.cfg.program,
            args: &self.cfg.args,
            fds,
            guard_fd: Some(self.guard.as_raw_fd()),
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
            Event::GroupKill { pgid } => self.on_group_kill(pgid),
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
        // The uptime gauge is derived at scrape time from `current_started` (admin.rs).
        self.status.send_replace(Published {
            status: Status {
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
            },
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
        sha256: None,
        version: None,
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
