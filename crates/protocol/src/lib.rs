//! Every contract between the processes of this workspace, defined once (serde only).
//!
//! | contract | producer | consumers | here |
//! |---|---|---|---|
//! | `GET /version` body, `ARTIFACT version --json` | hotel-api | deployctl, gatecheck, the master's `/status` | [`Version`] |
//! | admin `GET /status` body | runtime master | deployctl, `ctl status`, tests | [`Status`], [`WorkerStatus`] |
//! | admin `POST /restart` answer | runtime master | deployctl, `ctl restart` | [`RestartAnswer`], [`RestartOutcome`], [`RestartReason`] |
//! | worker environment (`LISTEN_*`, `ZDRUN_*`, `NOTIFY_SOCKET`) | runtime master | runtime worker side, any worker program | [`env`] |
//! | admin endpoint address | the master's `--admin`, the inventory's `service.admin` | runtime, deployctl, gatecheck | [`AdminAddr`] |
//!
//! Compatibility rule: a consumer of an older producer keeps working. A field that an older
//! producer did not send, or that only some answers carry, is an `Option` (never defaulted to
//! an empty value); a new field is added as an `Option`.

mod admin_addr;
pub mod env;
mod restart;
mod status;
mod version;

pub use admin_addr::{AdminAddr, AdminAddrError};
pub use restart::{RestartAnswer, RestartOutcome, RestartReason};
pub use status::{Status, WorkerStatus};
pub use version::Version;
