//! What `gray --analyze` holds from before the gray deploy to the end of its action (promote
//! or abort): the environment lock and every host's lease, renewed, over connections of its
//! own. The gray and promote runs go under it ([`crate::ops::rollout::Within`]), so no other
//! controller can deploy between them, and a lease lost meanwhile is seen ([`Hold::lost_any`]).

use crate::audit::Audit;
use crate::fleet::{self, close_all};
use crate::inventory::Environment;
use crate::lease::RunGuard;
use crate::lock::LockError;
use crate::remote::RemoteHost;
use crate::ui::Ui;
use std::path::Path;

/// Why the hold could not be taken (nothing touched).
#[derive(Debug, thiserror::Error)]
pub enum HoldError {
    #[error("cannot reach every host to lease it: {0}")]
    Unreachable(String),
    #[error(transparent)]
    Lock(#[from] LockError),
}

/// The lock and the leases of one `gray --analyze`, and a connection to every host.
pub struct Hold {
    pub conns: Vec<RemoteHost>,
    guard: RunGuard,
}

impl Hold {
    /// Connect to every host of `env`, then take the lock and lease them all (as `audit`'s run).
    pub async fn take(
        env: &Environment,
        state_dir: &Path,
        audit: &Audit,
        ui: &Ui,
    ) -> Result<Hold, HoldError> {
        let mut conns = vec![];
        let mut errors = vec![];
        for c in fleet::connect_all(env).await {
            match c {
                Ok(r) => conns.push(r),
                Err(e) => errors.push(e.to_string()),
            }
        }
        if !errors.is_empty() {
            close_all(&conns).await;
            return Err(HoldError::Unreachable(errors.join(" | ")));
        }
        match crate::lease::guard(env, &conns, state_dir, audit, ui).await {
            Ok(guard) => Ok(Hold { conns, guard }),
            Err(e) => {
                close_all(&conns).await;
                Err(e.into())
            }
        }
    }

    /// The connection to host `name`.
    pub fn host(&self, name: &str) -> Option<&RemoteHost> {
        self.conns.iter().find(|r| r.host.name == name)
    }

    /// Resolves with the hosts whose lease was lost (taken by another run).
    pub fn lost_any(&self) -> impl std::future::Future<Output = Vec<String>> + Send + 'static {
        self.guard.lost_any()
    }

    /// Give the leases and the lock back, then close the connections.
    pub async fn release(self, audit: &Audit) {
        self.guard.release(audit).await;
        close_all(&self.conns).await;
    }
}
