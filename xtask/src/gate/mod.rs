//! `cargo xtask gate`: the pre-merge gates, in the order they run.
//!
//! | gate            | checks                                                         | module          |
//! |-----------------|----------------------------------------------------------------|-----------------|
//! | `fmt`           | `cargo fmt --all -- --check`                                   | [`checks`]      |
//! | `clippy`        | `cargo clippy --workspace --all-targets -- -D warnings`        | [`checks`]      |
//! | `file-size`     | every tracked `*.rs`/`*.sh` file within the line limit         | [`file_size`]   |
//! | `change-size`   | added+deleted lines of `BASE...HEAD` <= 400 (lock/generated out)| [`change_size`] |
//! | `diff-coverage` | cargo-llvm-cov LCOV x added lines of `git diff -U0 --find-renames` >= 50% | [`coverage`] |
//!
//! Parsing lives in [`diff`] (unified diff) and [`lcov`] (tracefile); git queries in [`git`].
//! Evidence goes to `--out-dir` (default `target/gate`): `lcov.info`, `diff-coverage.json`,
//! `change-size.json`, `file-size.json` and `gate-report.json`.

pub mod change_size;
pub mod checks;
pub mod coverage;
pub mod diff;
pub mod file_size;
pub mod git;
pub mod lcov;
pub mod packages;
#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};

use anyhow::Result;
use clap::{Args, ValueEnum};

use checks::{Outcome, Status, Workspace};

/// The gates by name, in run order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum GateName {
    Fmt,
    Clippy,
    FileSize,
    ChangeSize,
    DiffCoverage,
}

const ORDER: [GateName; 5] = [
    GateName::Fmt,
    GateName::Clippy,
    GateName::FileSize,
    GateName::ChangeSize,
    GateName::DiffCoverage,
];

/// Run the merge gates: fmt, clippy, file size, change size, diff coverage.
///
/// Every gate runs (so one run shows every problem) unless --only picks one; the command
/// exits non-zero when any gate fails or cannot be evaluated. A base ref that does not
/// exist is an error, never a pass: in CI fetch full history (`fetch-depth: 0`).
#[derive(Debug, Clone, Args)]
pub struct GateArgs {
    /// Base ref the change is measured against (`BASE...HEAD`). Default: $GATE_BASE,
    /// else origin/main, else main.
    #[arg(long, value_name = "REF")]
    pub base: Option<String>,
    /// Run only this gate.
    #[arg(long, value_enum, value_name = "NAME")]
    pub only: Option<GateName>,
    /// Directory for lcov.info, diff-coverage.json, change-size.json, gate-report.json.
    #[arg(long, value_name = "DIR", default_value = "target/gate")]
    pub out_dir: PathBuf,
    /// Use this LCOV tracefile instead of running `cargo llvm-cov nextest --workspace`.
    #[arg(long, value_name = "FILE")]
    pub lcov: Option<PathBuf>,
    /// Maximum changed lines (added + deleted) against the base.
    #[arg(long, default_value_t = change_size::DEFAULT_LIMIT)]
    pub max_changed_lines: u64,
    /// Minimum coverage of added executable lines, in percent.
    #[arg(long, default_value_t = 50.0)]
    pub min_diff_coverage: f64,
    /// Maximum lines in one tracked source file.
    #[arg(long, default_value_t = file_size::DEFAULT_MAX_LINES)]
    pub max_file_lines: usize,
}

/// Runs the selected gates in the workspace that contains this xtask; exits with status 1
/// when a gate blocks.
pub fn run(args: GateArgs) -> Result<()> {
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let repo = git::toplevel(manifest_dir.parent().unwrap_or(manifest_dir))?;
    let outcomes = run_in(&repo, &args)?;
    let blocked: Vec<&str> = outcomes
        .iter()
        .filter(|o| o.status != Status::Pass)
        .map(|o| o.gate)
        .collect();
    if !blocked.is_empty() {
        // A verdict, not an internal error: no backtrace, exit status 1.
        eprintln!("gate failed: {}", blocked.join(", "));
        std::process::exit(1);
    }
    Ok(())
}

/// Runs the selected gates in `repo`, prints each verdict and a summary, and writes
/// `gate-report.json` next to the other evidence.
pub fn run_in(repo: &Path, args: &GateArgs) -> Result<Vec<Outcome>> {
    let base = args.base.clone().unwrap_or_else(|| git::default_base(repo));
    let out_dir = if args.out_dir.is_absolute() {
        args.out_dir.clone()
    } else {
        repo.join(&args.out_dir)
    };
    let ws = Workspace {
        repo: repo.to_path_buf(),
        out_dir,
        base,
    };
    let outcomes = run_gates(&ws, args);
    print_summary(&outcomes);
    let report = serde_json::json!({"base": ws.base, "gates": outcomes});
    checks::write_json(&ws.out_dir.join("gate-report.json"), &report)?;
    println!("reports in {}", ws.out_dir.display());
    Ok(outcomes)
}

fn run_gates(ws: &Workspace, args: &GateArgs) -> Vec<Outcome> {
    let lcov = args.lcov.as_deref().map(|p| {
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            std::env::current_dir().unwrap_or_default().join(p)
        }
    });
    ORDER
        .iter()
        .filter(|g| args.only.is_none_or(|only| only == **g))
        .map(|gate| {
            let outcome = match gate {
                GateName::Fmt => checks::fmt(ws),
                GateName::Clippy => checks::clippy(ws),
                GateName::FileSize => checks::file_size(ws, args.max_file_lines),
                GateName::ChangeSize => checks::change_size(ws, args.max_changed_lines),
                GateName::DiffCoverage => {
                    checks::diff_coverage(ws, args.min_diff_coverage, lcov.as_deref())
                }
            };
            print_outcome(&outcome);
            outcome
        })
        .collect()
}

fn label(status: Status) -> &'static str {
    match status {
        Status::Pass => "PASS",
        Status::Fail => "FAIL",
        Status::Error => "ERROR",
    }
}

fn print_outcome(o: &Outcome) {
    println!(
        "gate {}: {} - checked {}: {}",
        o.gate,
        label(o.status),
        o.checked,
        o.detail
    );
}

fn print_summary(outcomes: &[Outcome]) {
    println!("\ngate summary");
    for o in outcomes {
        println!("  {:<14} {}", o.gate, label(o.status));
    }
}
