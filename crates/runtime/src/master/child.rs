//! Ownership of one worker process. A task owns the `Child`: it is the only place that waits
//! on it (so every child is reaped exactly once) and the only place that signals it, and it
//! signals only while the child is not yet reaped, so a reused pid can never be hit.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use crate::master::exit_reason::ExitReason;

/// What the supervisor can ask of a worker.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Ctl {
    /// SIGTERM: drain and exit.
    Term,
    /// SIGKILL.
    Kill,
}

/// The supervisor's handle on a running worker.
#[derive(Debug)]
pub(crate) struct Worker {
    pub generation: u64,
    pub pid: u32,
    pub program: PathBuf,
    pub started: Instant,
    pub started_at: String,
    pub private: Option<SocketAddr>,
    pub ready: bool,
    pub watchers: Vec<tokio::task::JoinHandle<()>>,
    /// The pending SIGKILL of a worker told to stop (the grace period's timer), if any. It
    /// is aborted when the handle is dropped, so a worker that exited in time leaves no timer
    /// task behind (a burst of restarts would otherwise hold one per restart for `--grace`).
    pub force_kill: Option<tokio::task::AbortHandle>,
    ctl: mpsc::UnboundedSender<Ctl>,
}

impl Drop for Worker {
    fn drop(&mut self) {
        if let Some(h) = self.force_kill.take() {
            h.abort();
        }
        self.cancel_watchers();
    }
}

impl Worker {
    /// Takes ownership of `child`; its exit is delivered through `on_exit`.
    pub fn adopt(
        generation: u64,
        mut child: tokio::process::Child,
        program: PathBuf,
        private: Option<SocketAddr>,
        on_exit: impl FnOnce(u64, ExitReason) + Send + 'static,
    ) -> Self {
        let pid = child.id().unwrap_or(0);
        let (tx, mut rx) = mpsc::unbounded_channel::<Ctl>();
        tokio::spawn(async move {
            let mut open = true;
            let status = loop {
                tokio::select! {
                    status = child.wait() => break status,
                    ctl = rx.recv(), if open => match ctl {
                        None => open = false,
                        Some(ctl) => signal_group(&child, ctl, generation),
                    },
                }
            };
            on_exit(generation, ExitReason::from_wait(&status));
        });
        Worker {
            generation,
            pid,
            program,
            started: Instant::now(),
            started_at: now_rfc3339(),
            private,
            ready: false,
            watchers: Vec::new(),
            force_kill: None,
            ctl: tx,
        }
    }

    /// Asks the owning task to send a signal (ignored once the child is reaped).
    pub fn send(&self, ctl: Ctl) {
        let _ = self.ctl.send(ctl);
    }

    /// Time since start.
    pub fn uptime(&self) -> Duration {
        self.started.elapsed()
    }

    /// Stops the readiness and liveness watchers of this worker.
    pub fn cancel_watchers(&mut self) {
        for h in self.watchers.drain(..) {
            h.abort();
        }
    }
}

/// Signals the worker's whole process group (every worker leads its own group, see `spawn`),
/// so a wrapper that does not `exec` cannot leave its server behind. `id()` is None once the
/// leader has been reaped: then its pid (and group id) may be reused and nothing is sent here;
/// what is left of the group has been re-parented to the master (a child subreaper) and is
/// handled by `orphans`.
fn signal_group(child: &tokio::process::Child, ctl: Ctl, generation: u64) {
    let Some(pid) = child.id() else {
        return;
    };
    use nix::sys::signal::{kill, Signal};
    use nix::unistd::Pid;
    let sig = match ctl {
        Ctl::Term => Signal::SIGTERM,
        Ctl::Kill => Signal::SIGKILL,
    };
    if let Err(e) = kill(Pid::from_raw(-(pid as i32)), sig) {
        // Not a group leader (cannot happen for our workers): fall back to the process.
        tracing::warn!(event = "signal_failed", generation, pid, signal = %sig, error = %e, "cannot signal the process group; signalling the process");
        let _ = kill(Pid::from_raw(pid as i32), sig);
    }
}

/// Current UTC time as RFC 3339.
pub(crate) fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}
