//! What is left of a worker's process group after its leader exits, and the master's own
//! orphans at shutdown (see `master::orphans`).

use std::time::Duration;

use nix::sys::signal::Signal;

use super::super::orphans;
use super::{Event, Supervisor};

impl Supervisor {
    /// Pids of the workers the supervisor owns (reaped by their own tasks, never here).
    pub(super) fn worker_pids(&self) -> Vec<u32> {
        self.current
            .iter()
            .chain(self.candidate.iter())
            .chain(self.retiring.values())
            .map(|w| w.pid)
            .collect()
    }

    /// Reaps and counts descendants of workers that were re-parented to the master.
    pub(super) fn reap_orphans(&mut self) {
        for (o, status) in orphans::reap(&self.worker_pids()) {
            self.metrics.orphans_reaped.inc();
            tracing::info!(event = "orphan_reaped", pid = o.pid, pgid = o.pgid, status = ?status, "reaped a descendant of a worker that outlived its parent");
        }
    }

    /// The leader of group `pgid` has exited: whatever is left of its group gets SIGTERM now
    /// and SIGKILL after the grace period, so no process of that generation stays behind.
    pub(super) fn stop_group_leftovers(&mut self, pgid: i32, generation: u64) {
        if orphans::signal_group(pgid, Signal::SIGTERM, &self.worker_pids()) {
            tracing::warn!(
                event = "group_leftovers",
                generation,
                pgid,
                "worker exited but processes of its group remain; SIGTERM to the group"
            );
            let (events, grace) = (self.events.clone(), self.cfg.grace);
            tokio::spawn(async move {
                tokio::time::sleep(grace).await;
                let _ = events.send(Event::GroupKill { pgid });
            });
        }
    }

    pub(super) fn on_group_kill(&mut self, pgid: i32) {
        if orphans::signal_group(pgid, Signal::SIGKILL, &self.worker_pids()) {
            tracing::warn!(
                event = "force_kill",
                pgid,
                "processes of an exited worker's group still running after the grace period; SIGKILL"
            );
        }
    }

    /// At exit: no descendant of any generation may outlive the master. SIGTERM to every orphan
    /// left, SIGKILL after the grace period (at once after a forced shutdown), all reaped.
    pub(super) async fn stop_orphans(&mut self, chld: &mut tokio::signal::unix::Signal) {
        self.reap_orphans();
        let first = if self.forced {
            Signal::SIGKILL
        } else {
            Signal::SIGTERM
        };
        let n = orphans::signal_all(first, &[]);
        if n == 0 {
            return;
        }
        tracing::warn!(event = "orphans_at_exit", count = n, signal = %first, "descendants of workers still running at exit");
        let grace = if self.forced {
            Duration::ZERO
        } else {
            self.cfg.grace
        };
        if !self.wait_orphans(chld, grace).await {
            orphans::signal_all(Signal::SIGKILL, &[]);
            self.wait_orphans(chld, Duration::from_secs(5)).await;
        }
    }

    /// Reaps orphans until none is left or `limit` has passed; true when none is left.
    async fn wait_orphans(
        &mut self,
        chld: &mut tokio::signal::unix::Signal,
        limit: Duration,
    ) -> bool {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            self.reap_orphans();
            if orphans::children(&[]).is_empty() {
                return true;
            }
            tokio::select! {
                _ = chld.recv() => {}
                _ = tokio::time::sleep(Duration::from_millis(100)) => {}
                _ = tokio::time::sleep_until(deadline) => return false,
            }
        }
    }
}
