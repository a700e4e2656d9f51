//! The operations behind the commands: each takes an environment and an options value,
//! does its work on the hosts and returns a typed report; none of them prints (progress goes
//! through [`crate::ui::Ui`], which is silent with `--json`).
//!
//! - [`rollout`]: `rollout`, `gray --percent`, `promote` (a pipeline of named steps).
//! - [`rollback`]: `rollback`, `gray --abort` (restore one build, verify it serves).
//! - [`status`], [`detect`]: read-only surveys of the hosts.
//! - [`unlock`]: remove the leases a dead run left.
//! - [`history`]: past runs from the local audit logs; [`fleet_history`]: past runs as the
//!   hosts recorded them (whichever controller ran them).
//!
//! `netcheck` is [`crate::fleet::netcheck_all`].

use crate::hostrun::HostResult;
use crate::remote::RemoteHost;

pub mod detect;
pub mod fleet_history;
pub mod history;
pub mod rollback;
pub mod rollout;
pub mod status;
pub mod unlock;

/// One host through the run: its connection, everything known about it, and its place in
/// the deployment (or the restore). The one per-host value every step of `rollout` and
/// `rollback` reads and updates.
pub(crate) struct HostRun<'a> {
    pub remote: &'a RemoteHost,
    pub result: HostResult,
    /// Where this run deploys the host (None: not deployed by this run).
    pub place: Option<Place>,
}

/// A host's place in the deployment: its batch (0 is the canary when enabled) and its rank
/// in the plan (non-DR hosts first, inventory order otherwise).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Place {
    pub batch: usize,
    pub rank: usize,
}

impl HostRun<'_> {
    pub fn in_batch(&self, n: usize) -> bool {
        self.place.is_some_and(|p| p.batch == n)
    }
}
