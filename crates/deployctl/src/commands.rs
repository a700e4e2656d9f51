//! Human and JSON output of the run commands (rollout, gray, promote, rollback), with Ctrl-C
//! turned into an orderly return (the environment lock is released on the way out).

use crate::inventory::Environment;
use crate::outcome::Outcome;
use crate::rollout::{self, RunError, RunOptions};
use crate::ui::Ui;
use anyhow::Context;

fn print_json<T: serde::Serialize>(v: &T) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(v)?);
    Ok(())
}

/// `rollout`, `gray --percent`, `promote`: returns the exit code.
pub async fn rollout(
    env: &Environment,
    o: &RunOptions,
    ui: &Ui,
    json: bool,
) -> anyhow::Result<i32> {
    crate::interrupt::listen();
    let report = tokio::select! {
        r = rollout::rollout(env, o, ui) => Some(r),
        () = crate::interrupt::forced() => None,
    };
    let Some(report) = report else {
        return Ok(forced().await);
    };
    let report = match report {
        Ok(r) => r,
        Err(e) => return refused(e, "rollout"),
    };
    if json {
        print_json(&report)?;
    } else {
        for h in &report.hosts {
            ui.info(&format!(
                "{:<14} {:<16} {:?}{} served {}{}",
                h.host,
                format!("{:?}", h.state),
                h.roles,
                if h.dr { " DR" } else { "" },
                h.served_build.as_deref().unwrap_or("-"),
                h.error
                    .as_deref()
                    .map(|e| format!(" error: {e}"))
                    .unwrap_or_default()
            ));
        }
        ui.info(&format!("audit log: {}", report.audit_log.display()));
        let what = if report.dry_run {
            "(dry run, nothing touched) "
        } else {
            ""
        };
        ui.outcome(
            report.outcome.as_str(),
            &format!(
                "{what}{} in {:.1}s",
                report.reason.clone().unwrap_or_default(),
                report.elapsed_ms as f64 / 1000.0
            ),
        );
    }
    if let Some(err) = &report.audit_error {
        return Ok(audit_failed(err, report.outcome));
    }
    Ok(if report.dry_run {
        0
    } else {
        report.outcome.exit_code()
    })
}

/// Second Ctrl-C: the run's future is dropped (its leases started their release; let it
/// finish), and what it leaves is said.
async fn forced() -> i32 {
    crate::lease::drain(std::time::Duration::from_secs(15)).await;
    eprintln!(
        "deployctl: forced stop (second Ctrl-C): leases released; {}",
        crate::interrupt::left_behind()
    );
    Outcome::Interrupted.exit_code()
}

/// A run refused before touching any host: the lock is held or the audit log cannot be
/// opened (ABORTED); anything else is an internal error.
fn refused(e: RunError, what: &'static str) -> anyhow::Result<i32> {
    match e {
        RunError::Lock(_) | RunError::Audit(_) => {
            eprintln!("deployctl: {e}; nothing touched");
            Ok(Outcome::Aborted.exit_code())
        }
        e => Err(e).context(what),
    }
}

/// The audit log lost a record: the run fails (exit 1) whatever its outcome.
fn audit_failed(err: &str, out: Outcome) -> i32 {
    eprintln!(
        "deployctl: the audit log could not be written ({err}): the run fails; its outcome was {}",
        out.as_str()
    );
    1
}

/// `rollback`, `gray --abort`: returns the exit code.
pub async fn rollback(
    env: &Environment,
    o: &RunOptions,
    to: Option<&str>,
    only_gray: bool,
    ui: &Ui,
    json: bool,
) -> anyhow::Result<i32> {
    crate::interrupt::listen();
    let report = tokio::select! {
        r = crate::rollback::rollback(env, o, to, only_gray, ui) => Some(r),
        () = crate::interrupt::forced() => None,
    };
    let Some(report) = report else {
        return Ok(forced().await);
    };
    let report = match report {
        Ok(r) => r,
        Err(e) => return refused(e, "rollback"),
    };
    if json {
        print_json(&report)?;
    } else {
        for h in &report.hosts {
            ui.info(&format!(
                "{:<14} {:<16} served {}{}",
                h.host,
                format!("{:?}", h.state),
                h.served_build.as_deref().unwrap_or("-"),
                h.error
                    .as_deref()
                    .map(|e| format!(" error: {e}"))
                    .unwrap_or_default()
            ));
        }
        ui.outcome(report.outcome.as_str(), &report.reason);
    }
    if let Some(err) = &report.audit_error {
        return Ok(audit_failed(err, report.outcome));
    }
    Ok(report.outcome.exit_code())
}
