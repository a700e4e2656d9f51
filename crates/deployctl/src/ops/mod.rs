//! The operations behind the commands: each takes an environment and an options value,
//! does its work on the hosts and returns a typed report; none of them prints (progress goes
//! through [`crate::ui::Ui`], which is silent with `--json`).
//!
//! - [`rollout`]: `rollout`, `gray --percent`, `promote` (a pipeline of named steps).
//! - [`rollback`]: `rollback`, `gray --abort` (restore one build, verify it serves).
//! - [`status`], [`detect`]: read-only surveys of the hosts.
//! - [`unlock`]: remove the leases a dead run left.
//! - [`history`]: past runs from the local audit logs.
//!
//! `netcheck` is [`crate::fleet::netcheck_all`].

pub mod detect;
pub mod history;
pub mod rollback;
pub mod rollout;
pub mod status;
pub mod unlock;
