//! The commands: each `<verb>.rs` turns its command-line arguments into the options of one
//! operation in [`crate::ops`], runs it, prints its report (human lines, or one JSON document
//! with `--json`, through [`emit`]) and maps the report to an [`Exit`] code. Nothing else
//! prints; the operations return typed reports.

pub mod canary;
pub mod detect;
pub mod gray;
pub mod history;
pub mod netcheck;
pub mod promote;
pub mod report;
pub mod rollback;
pub mod rollout;
pub mod status;
pub mod unlock;

use crate::exit::Exit;
use crate::inventory::{Environment, Inventory};
use crate::ops::rollout::RunError;
use crate::outcome::Outcome;
use crate::ui::Ui;
use anyhow::Context;
use serde::Serialize;
use std::path::PathBuf;

/// Human lines, or one JSON document on stdout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Human,
    Json,
}

/// What every command gets from the global options.
#[derive(Debug, Clone)]
pub struct Ctx {
    pub inventory: PathBuf,
    pub state_dir: PathBuf,
    pub format: Format,
}

/// A usage or inventory error: said as it is, exit code [`Exit::Usage`].
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

impl Ctx {
    /// The environment `name` of the inventory (read and validated first).
    pub fn env(&self, name: &str) -> anyhow::Result<Environment> {
        let inv = Inventory::load(&self.inventory)
            .map_err(|e| UsageError(format!("invalid inventory: {e}")))?;
        let env = inv.env(name).map_err(|e| UsageError(e.to_string()))?;
        Ok(env.clone())
    }

    /// Progress output: silent with `--json`.
    pub fn ui(&self) -> Ui {
        match self.format {
            Format::Human => Ui::human(),
            Format::Json => Ui::quiet(),
        }
    }
}

/// The exit code of an error that ended a command.
pub fn exit_of(e: &anyhow::Error) -> Exit {
    if e.downcast_ref::<UsageError>().is_some() {
        Exit::Usage
    } else {
        Exit::Error
    }
}

/// Print `report`: one JSON document with `--json`, else `human`'s lines.
pub fn emit<T: Serialize>(ctx: &Ctx, report: &T, human: impl FnOnce(&T)) -> anyhow::Result<()> {
    match ctx.format {
        Format::Json => println!("{}", serde_json::to_string_pretty(report)?),
        Format::Human => human(report),
    }
    Ok(())
}

/// Run a command that changes hosts under signal handling (SIGINT, SIGTERM, SIGHUP): a
/// first signal is the operation's to handle (it stops and records INTERRUPTED); so is a
/// second one (the operation cuts its waits, restores the routing and records the outcome,
/// each bounded). Only if the operation has still not returned [`FORCED_GRACE`] after the
/// second signal is it dropped. `None`: dropped (already said, exit [`Exit::Interrupted`]).
async fn interruptible<T>(op: impl std::future::Future<Output = T>) -> Option<T> {
    crate::interrupt::listen();
    tokio::pin!(op);
    tokio::select! {
        r = &mut op => return Some(r),
        () = crate::interrupt::forced() => {}
    }
    match tokio::time::timeout(FORCED_GRACE, op).await {
        Ok(r) => Some(r),
        Err(_) => {
            dropped().await;
            None
        }
    }
}

/// How long an operation has after a second signal to restore the routing, record its
/// outcome and release its leases (each of its steps is bounded well within it).
const FORCED_GRACE: std::time::Duration = std::time::Duration::from_secs(90);

/// The operation did not return within [`FORCED_GRACE`] of the second signal: its future is
/// dropped (its leases started their release; let it finish), and what it leaves is said.
async fn dropped() {
    crate::lease::drain(std::time::Duration::from_secs(15)).await;
    eprintln!(
        "deployctl: forced stop: the run did not end within {FORCED_GRACE:?} of the second \
         signal; leases released; {}",
        crate::interrupt::left_behind()
    );
}

/// A run refused before touching any host: the lock is held or the audit log cannot be
/// opened (ABORTED); anything else is an internal error.
fn refused(e: RunError, what: &'static str) -> anyhow::Result<Exit> {
    match e {
        RunError::Lock(_) | RunError::Audit(_) => {
            eprintln!("deployctl: {e}; nothing touched");
            Ok(Outcome::Aborted.exit_code())
        }
        e => Err(e).context(what),
    }
}

/// The exit code of a finished run: its outcome's, unless the audit log lost a record (the
/// run then fails with [`Exit::Error`] whatever its outcome).
fn run_exit(audit_error: Option<&str>, out: Outcome) -> Exit {
    match audit_error {
        None => out.exit_code(),
        Some(err) => {
            eprintln!(
                "deployctl: the audit log could not be written ({err}): the run fails; its outcome was {}",
                out.as_str()
            );
            Exit::Error
        }
    }
}
