//! What stops a run before its end, one mechanism for every run (rollout, gray, promote,
//! the windows of `gray --analyze`): a signal or a lost lease, seen through a [`Watch`].
//!
//! Ctrl-C, SIGTERM and SIGHUP, all alike. The first one asks the run to stop: the step in
//! flight (the batch) finishes, the hosts already changed are restored, INTERRUPTED is
//! recorded (naming the signal) and the lock and leases are released; during the windows of
//! `gray --analyze` the gray pool is taken out of every LB first ([`first`] resolves). A
//! second one forces ([`forced`]): the waits are cut (the batch in flight, the restores), the
//! routing snapshotted before the run is applied and the outcome recorded, each within
//! [`FORCED_BOUND`]; the hosts changed and not restored are named ([`left_behind`]).
//!
//! A lease lost (taken over, removed by force, or its renewal failed) stops a run at once
//! ([`Watch::cut`] resolves): no further host is changed.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::{watch, Notify};

/// After a second signal: the bound of each step still taken (the routing restored, the
/// outcome written to the hosts' audit logs).
pub const FORCED_BOUND: Duration = Duration::from_secs(20);

static COUNT: AtomicUsize = AtomicUsize::new(0);
static FORCED: Notify = Notify::const_new();
static FIRST: Notify = Notify::const_new();
/// The name of the first signal received (`SIGINT`, `SIGTERM`, `SIGHUP`).
static NAME: Mutex<Option<&'static str>> = Mutex::new(None);
/// Host -> still changed (true) or restored (false) by this run.
static CHANGED: Mutex<BTreeMap<String, bool>> = Mutex::new(BTreeMap::new());

/// Listen for SIGINT, SIGTERM and SIGHUP for the rest of the process (once per run
/// command). A signal whose handler cannot be installed is left to its default action.
pub fn listen() {
    for (kind, name) in [
        (SignalKind::interrupt(), "SIGINT"),
        (SignalKind::terminate(), "SIGTERM"),
        (SignalKind::hangup(), "SIGHUP"),
    ] {
        let Ok(mut s) = signal(kind) else { continue };
        tokio::spawn(async move {
            while s.recv().await.is_some() {
                if !received(name) {
                    return;
                }
            }
        });
    }
}

/// One signal: the first asks to stop, the next forces. `false`: stop listening.
fn received(name: &'static str) -> bool {
    if COUNT.fetch_add(1, Ordering::SeqCst) == 0 {
        *NAME.lock().expect("signal name") = Some(name);
        FIRST.notify_waiters();
        eprintln!(
            "deployctl: {name}: finishing the step in flight, then restoring the hosts already \
             changed; a second signal cuts the waits"
        );
        true
    } else {
        FORCED.notify_waiters();
        eprintln!(
            "deployctl: {name} again: the waits are cut; restoring the routing and recording \
             the outcome (each within {FORCED_BOUND:?})"
        );
        false
    }
}

/// The first signal received, if any (`SIGINT`, `SIGTERM`, `SIGHUP`).
pub fn signal_name() -> Option<&'static str> {
    *NAME.lock().expect("signal name")
}

/// Resolves once a first interrupt has arrived (at once if it already has).
pub async fn first() {
    loop {
        // Registered before the check: a signal between the two still wakes it.
        let wake = FIRST.notified();
        if requested() {
            return;
        }
        wake.await;
    }
}

/// A first interrupt arrived: start no new step.
pub fn requested() -> bool {
    COUNT.load(Ordering::SeqCst) > 0
}

/// A second interrupt arrived: cut the waits.
pub fn is_forced() -> bool {
    COUNT.load(Ordering::SeqCst) > 1
}

/// Resolves on the second interrupt (at once if it already came).
pub async fn forced() {
    loop {
        let wake = FORCED.notified();
        if is_forced() {
            return;
        }
        wake.await;
    }
}

/// `host` was changed by this run (a forced stop names it until it is restored).
pub fn changed(host: &str) {
    note(host, true);
}

/// `host` was restored by this run.
pub fn restored(host: &str) {
    note(host, false);
}

fn note(host: &str, changed: bool) {
    CHANGED
        .lock()
        .expect("changed hosts")
        .insert(host.to_string(), changed);
}

/// What a forced stop leaves: the hosts changed and not restored.
pub fn left_behind() -> String {
    let hosts: Vec<String> = CHANGED
        .lock()
        .expect("changed hosts")
        .iter()
        .filter(|(_, c)| **c)
        .map(|(h, _)| h.clone())
        .collect();
    if hosts.is_empty() {
        "no host was left changed by this run".into()
    } else {
        format!(
            "changed and NOT restored: {} (they may serve the new build or be mid-restart: check \
             `deployctl status`, then `deployctl rollback`)",
            hosts.join(", ")
        )
    }
}

/// Why a run stops before its end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stop {
    /// SIGINT, SIGTERM or SIGHUP (the first received).
    Signal(&'static str),
    /// The lease of these hosts was lost: taken over, removed, or its renewal failed.
    LeaseLost(Vec<String>),
}

impl std::fmt::Display for Stop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Stop::Signal(s) => write!(f, "{s}"),
            Stop::LeaseLost(h) => write!(
                f,
                "lease lost on {} (taken over, removed or not renewed)",
                h.join(", ")
            ),
        }
    }
}

/// What a [`Watch`] has seen.
#[derive(Debug, Clone, Default)]
struct Seen {
    /// The first reason to stop.
    first: Option<Stop>,
    /// The hosts whose lease was lost, once it was.
    lost: Option<Vec<String>>,
}

/// One run's view of what stops it: the process's signals and, when the run holds leases,
/// their loss (the future [`crate::lease::RunGuard::lost_any`] gives).
pub struct Watch {
    rx: watch::Receiver<Seen>,
    task: tokio::task::JoinHandle<()>,
}

impl Watch {
    /// Watch the signals, and `lost` when given (resolves with the hosts whose lease was lost).
    pub fn new<F>(lost: Option<F>) -> Watch
    where
        F: Future<Output = Vec<String>> + Send + 'static,
    {
        let (tx, rx) = watch::channel(Seen::default());
        let task = tokio::spawn(async move {
            let lost = async move {
                match lost {
                    Some(f) => f.await,
                    None => std::future::pending().await,
                }
            };
            tokio::pin!(lost);
            let mut signalled = false;
            loop {
                tokio::select! {
                    () = first(), if !signalled => {
                        signalled = true;
                        let name = signal_name().unwrap_or("signal");
                        tx.send_modify(|s| {
                            s.first.get_or_insert(Stop::Signal(name));
                        });
                    }
                    hosts = &mut lost => {
                        tx.send_modify(|s| {
                            s.first.get_or_insert(Stop::LeaseLost(hosts.clone()));
                            s.lost = Some(hosts);
                        });
                        return;
                    }
                }
            }
        });
        Watch { rx, task }
    }

    /// Signals only (a run under an operation that watches the leases itself).
    pub fn signals() -> Watch {
        Watch::new(None::<std::future::Pending<Vec<String>>>)
    }

    /// The first reason to stop, if any came.
    pub fn first(&self) -> Option<Stop> {
        self.rx.borrow().first.clone()
    }

    /// The hosts whose lease was lost, once one was.
    pub fn lease_lost(&self) -> Option<Vec<String>> {
        self.rx.borrow().lost.clone()
    }

    /// Resolves with the first reason to stop (at once if there is one).
    pub async fn stopped(&self) -> Stop {
        let mut rx = self.rx.clone();
        let first = match rx.wait_for(|s| s.first.is_some()).await {
            Ok(s) => s.first.clone(),
            Err(_) => None,
        };
        match first {
            Some(stop) => stop,
            None => std::future::pending().await,
        }
    }

    /// The run must stop at once: a lease was lost or a second signal came.
    pub fn must_cut(&self) -> bool {
        is_forced() || self.lease_lost().is_some()
    }

    /// Resolves once the run must stop at once (see [`Watch::must_cut`]).
    pub async fn cut(&self) {
        let mut rx = self.rx.clone();
        tokio::select! {
            () = forced() => {}
            Ok(_) = rx.wait_for(|s| s.lost.is_some()) => {}
        }
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_lost_lease_is_the_first_reason_and_cuts_the_run() {
        let (tx, rx) = tokio::sync::oneshot::channel::<Vec<String>>();
        let w = Watch::new(Some(async move { rx.await.unwrap_or_default() }));
        assert_eq!(
            (w.first(), w.lease_lost(), w.must_cut()),
            (None, None, false)
        );
        tx.send(vec!["h1".into()]).unwrap();
        tokio::time::timeout(Duration::from_secs(5), w.cut())
            .await
            .expect("cut once the lease is lost");
        let lost = Stop::LeaseLost(vec!["h1".into()]);
        assert_eq!(w.first(), Some(lost.clone()));
        assert_eq!(w.stopped().await, lost);
        assert!(w.must_cut());
        assert!(lost.to_string().starts_with("lease lost on h1"));
    }
}
