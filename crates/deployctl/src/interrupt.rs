//! Ctrl-C. The first SIGINT asks the run to stop: the step in flight (the batch) finishes,
//! the hosts already changed are restored, INTERRUPTED is recorded and the lock and leases
//! are released. A second SIGINT forces: the run is dropped (leases released on the way
//! out) and deployctl says which hosts were changed and not restored.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use tokio::sync::Notify;

static COUNT: AtomicUsize = AtomicUsize::new(0);
static FORCED: Notify = Notify::const_new();
/// Host -> still changed (true) or restored (false) by this run.
static CHANGED: Mutex<BTreeMap<String, bool>> = Mutex::new(BTreeMap::new());

/// Listen for SIGINT for the rest of the process (once per run command).
pub fn listen() {
    tokio::spawn(async {
        while tokio::signal::ctrl_c().await.is_ok() {
            if COUNT.fetch_add(1, Ordering::SeqCst) == 0 {
                eprintln!(
                    "deployctl: interrupt: finishing the step in flight, then restoring the hosts \
                     already changed; Ctrl-C again to force"
                );
            } else {
                FORCED.notify_one();
                return;
            }
        }
    });
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
