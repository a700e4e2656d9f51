//! Ctrl-C, SIGTERM and SIGHUP, all alike. The first one asks the run to stop: the step in
//! flight (the batch) finishes, the hosts already changed are restored, INTERRUPTED is
//! recorded and the lock and leases are released; during the windows of `gray --analyze` the
//! gray pool is taken out of every LB first ([`first`] resolves). A second one forces: the
//! run is dropped (leases released on the way out) and deployctl says which hosts were
//! changed and not restored.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::Notify;

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
             changed; Ctrl-C again to force"
        );
        true
    } else {
        FORCED.notify_one();
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

/// Resolves on the second interrupt.
pub async fn forced() {
    FORCED.notified().await
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
