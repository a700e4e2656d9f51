//! Graceful restart (request, coalescing, readiness, promotion, retirement) and shutdown.

use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use super::super::child::{Ctl, Worker};
use super::super::status::{RestartAnswer, RestartOutcome, RestartReason};
use super::{notify_parent, worker_status, Event, InFlight, Supervisor};
use crate::master::metrics::RestartAction;

impl Supervisor {
    pub(super) fn on_readiness(&mut self, generation: u64, result: Result<(), String>) {
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
                        // The outcome is final only once the candidate is reaped (on_exit).
                        self.aborting =
                            Some((w.generation, RestartReason::NotReady(e.to_string())));
                        self.kill_and_reap(w);
                    }
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
                // It may already be serving requests on the shared socket: SIGTERM and the
                // grace period, like any retiring worker; its exit schedules the replacement.
                tracing::error!(event = "readiness_failed", generation, pid = w.pid, error = %e, "worker never became ready; stopping it (SIGTERM, then SIGKILL after the grace period)");
                w.send(Ctl::Term);
                let (events, grace) = (&self.events, self.cfg.grace);
                w.force_kill
                    .get_or_insert_with(|| force_kill_after(events, grace, generation));
            }
        }
    }

    pub(super) fn promote(&mut self) {
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

    pub(super) fn retire(&mut self, mut w: Worker) {
        w.cancel_watchers();
        w.send(Ctl::Term);
        tracing::info!(
            event = "worker_retiring",
            generation = w.generation,
            pid = w.pid,
            grace_ms = self.cfg.grace.as_millis() as u64,
            "SIGTERM sent, draining"
        );
        // A worker already told to stop keeps its first deadline.
        let (events, grace, generation) = (&self.events, self.cfg.grace, w.generation);
        w.force_kill
            .get_or_insert_with(|| force_kill_after(events, grace, generation));
        self.retiring.insert(w.generation, w);
    }

    pub(super) fn kill_and_reap(&mut self, mut w: Worker) {
        w.cancel_watchers();
        w.send(Ctl::Kill);
        self.retiring.insert(w.generation, w);
    }

    pub(super) fn on_force_kill(&mut self, generation: u64) {
        let current = self.current.as_ref().filter(|w| w.generation == generation);
        if let Some(w) = self.retiring.get(&generation).or(current) {
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

    pub(super) fn request_restart(
        &mut self,
        reply: Option<oneshot::Sender<RestartAnswer>>,
        source: &str,
    ) {
        if self.stopping {
            tracing::warn!(
                event = "restart_ignored",
                source,
                "restart requested during shutdown; ignored"
            );
            if let Some(r) = reply {
                let _ = r.send(self.outcome(Err(RestartReason::ShuttingDown), Duration::ZERO));
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

    pub(super) fn start_restart(&mut self, waiters: Vec<oneshot::Sender<RestartAnswer>>) {
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
                self.finish_restart(Err(RestartReason::CannotStart(e.to_string())));
            }
        }
    }

    pub(super) fn outcome(
        &self,
        result: Result<(), RestartReason>,
        duration: Duration,
    ) -> RestartAnswer {
        RestartAnswer {
            outcome: match result {
                Ok(()) => RestartOutcome::Ok,
                Err(_) => RestartOutcome::Aborted,
            },
            reason: result.err(),
            generation: self.current.as_ref().map(|w| w.generation),
            duration_ms: Some(duration.as_millis() as u64),
        }
    }

    pub(super) fn finish_restart(&mut self, result: Result<(), RestartReason>) {
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
                reason = outcome.reason.as_ref().map(ToString::to_string),
                "graceful restart aborted; old worker kept serving"
            );
        }
        for w in inflight.waiters {
            let _ = w.send(outcome.clone());
        }
        self.last_restart = Some(outcome);
        if !self.stopping {
            // READY=1 after STOPPING=1 would tell the service manager we are back.
            notify_parent(&[sd_notify::NotifyState::Ready]);
        }
        if let Some((generation, detail)) = self.deferred_liveness.take() {
            // Replaced only if still current (a successful restart already retired it).
            self.on_unresponsive(generation, detail);
        }
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

    pub(super) fn stop(&mut self, signal: &str) {
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
            let _ = r.send(self.outcome(Err(RestartReason::ShuttingDown), Duration::ZERO));
        }
        if let Some(c) = self.candidate.take() {
            // Reported once the candidate is reaped (on_exit), like every aborted restart.
            self.aborting = Some((c.generation, RestartReason::ShuttingDown));
            self.retire(c);
        }
        if let Some(c) = self.current.take() {
            self.previous = Some(worker_status(&c));
            self.retire(c);
        }
    }
}

/// Sends `ForceKill` for `generation` once `grace` has passed, unless aborted first (the
/// worker's handle aborts it when the worker is gone).
fn force_kill_after(
    events: &tokio::sync::mpsc::UnboundedSender<Event>,
    grace: Duration,
    generation: u64,
) -> tokio::task::AbortHandle {
    let events = events.clone();
    tokio::spawn(async move {
        tokio::time::sleep(grace).await;
        let _ = events.send(Event::ForceKill { generation });
    })
    .abort_handle()
}
