//! Crash repair (classification, backoff, port reconciliation) and liveness.

use std::time::{Duration, Instant};

use super::super::child::Ctl;
use super::super::status::RestartReason;
use super::{process_state, worker_status, Event, Supervisor};
use crate::master::exit_reason::ExitReason;
use crate::master::metrics::RestartAction;

impl Supervisor {
    pub(super) fn on_exit(&mut self, generation: u64, reason: ExitReason) {
        self.metrics.exit(&reason);
        let leader = self
            .current
            .iter()
            .chain(self.candidate.iter())
            .chain(self.retiring.values())
            .find(|w| w.generation == generation)
            .map(|w| w.pid as i32);
        if let Some(pgid) = leader {
            self.stop_group_leftovers(pgid, generation);
        }
        self.on_leader_exit(generation, reason);
    }

    fn on_leader_exit(&mut self, generation: u64, reason: ExitReason) {
        if self
            .candidate
            .as_ref()
            .is_some_and(|w| w.generation == generation)
        {
            if let Some(mut w) = self.candidate.take() {
                w.cancel_watchers();
                tracing::warn!(event = "worker_exited", generation, pid = w.pid, role = "candidate", reason = reason.label(), detail = %reason, "new worker exited during start-up");
            }
            self.finish_restart(Err(RestartReason::ExitedDuringStartUp(reason.to_string())));
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
            drop(w);
            return_freed_memory();
        }
        if self
            .aborting
            .as_ref()
            .is_some_and(|(g, _)| *g == generation)
        {
            if let Some((_, why)) = self.aborting.take() {
                self.finish_restart(Err(why));
            }
        }
    }

    pub(super) fn schedule_respawn(&mut self, uptime: Duration, action: RestartAction) {
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

    pub(super) fn on_respawn(&mut self) {
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
    pub(super) fn ports_released(&mut self) -> bool {
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

    pub(super) fn start_liveness(&mut self) {
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
                match crate::master::probe::get(addr, &live.path, live.timeout).await {
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

    pub(super) fn on_unresponsive(&mut self, generation: u64, detail: String) {
        if self.stopping {
            return;
        }
        if self.restart.is_some() {
            // Acted on once the restart is over (finish_restart): if it is aborted, this worker
            // stays current and must still be replaced.
            tracing::warn!(event = "worker_unresponsive_deferred", generation, detail = %detail, "liveness probe failed during a restart; acting on it after the restart");
            self.deferred_liveness = Some((generation, detail));
            return;
        }
        if let Some(w) = self.current.as_ref().filter(|w| w.generation == generation) {
            tracing::error!(event = "worker_unresponsive", generation, pid = w.pid, detail = %detail, "liveness probe failed; replacing the worker");
            self.recovering = Some(RestartAction::HealthRecovered);
            w.send(Ctl::Kill);
        }
    }

    pub(super) fn check_health(&mut self) {
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
}

/// Gives the heap's free memory back to the kernel once a retired worker's state is dropped.
/// The master lives through thousands of restarts, and glibc keeps freed chunks in its heap:
/// without this, its private memory grew from 480 to 628 KiB over 400 restarts.
fn return_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only hands free pages of the allocator back to the kernel.
    unsafe {
        libc::malloc_trim(0);
    }
}
