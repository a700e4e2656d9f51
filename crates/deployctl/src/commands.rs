//! Human and JSON output of the run commands (rollout, gray, promote, rollback), with Ctrl-C
//! turned into an orderly return (the environment lock is released on the way out).

use crate::cli::interrupted;
use crate::inventory::Environment;
use crate::ops;
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
    let report = tokio::select! {
        r = rollout::rollout(env, o, ui) => Some(r),
        _ = tokio::signal::ctrl_c() => None,
    };
    let Some(report) = report else {
        // The run's future is dropped: its leases started their release; let it finish.
        crate::lease::drain(std::time::Duration::from_secs(15)).await;
        return Ok(interrupted());
    };
    let report = match report {
        Ok(r) => r,
        Err(RunError::Lock(e)) => {
            eprintln!("deployctl: {e}");
            return Ok(Outcome::Aborted.exit_code());
        }
        Err(e) => return Err(e).context("rollout"),
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
    Ok(if report.dry_run {
        0
    } else {
        report.outcome.exit_code()
    })
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
    let report = tokio::select! {
        r = ops::rollback(env, o, to, only_gray, ui) => Some(r),
        _ = tokio::signal::ctrl_c() => None,
    };
    let Some(report) = report else {
        // The run's future is dropped: its leases started their release; let it finish.
        crate::lease::drain(std::time::Duration::from_secs(15)).await;
        return Ok(interrupted());
    };
    let report = match report {
        Ok(r) => r,
        Err(RunError::Lock(e)) => {
            eprintln!("deployctl: {e}");
            return Ok(Outcome::Aborted.exit_code());
        }
        Err(e) => return Err(e).context("rollback"),
    };
    if json {
        print_json(&report)?;
    } else {
        ui.outcome(report.outcome.as_str(), &report.reason);
    }
    Ok(report.outcome.exit_code())
}
