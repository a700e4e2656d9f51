//! The five gates. Each returns an [`Outcome`] saying what it checked and why it failed,
//! and writes its evidence into the output directory.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result};
use serde::Serialize;

use super::change_size::{self, ChangeSize};
use super::coverage::{self, DiffCoverage};
use super::file_size::{self, FileSizeReport};
use super::git::{self, Base};
use super::lcov;
use super::packages;

/// Verdict of one gate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pass,
    Fail,
    /// The gate could not be evaluated (missing base, tool failure): blocks like a failure.
    Error,
}

/// What a gate checked and its verdict.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    pub gate: &'static str,
    pub status: Status,
    pub checked: String,
    pub detail: String,
}

impl Outcome {
    fn error(gate: &'static str, checked: String, err: &anyhow::Error) -> Self {
        Outcome {
            gate,
            status: Status::Error,
            checked,
            detail: format!("{err:#}"),
        }
    }
}

/// Where the gates run and where they write.
#[derive(Debug, Clone)]
pub struct Workspace {
    pub repo: PathBuf,
    pub out_dir: PathBuf,
    pub base: String,
}

fn run_tool(ctx: &Workspace, gate: &'static str, program: &str, args: &[&str]) -> Outcome {
    let checked = format!("{program} {}", args.join(" "));
    println!("gate {gate}: running `{checked}`");
    match Command::new(program)
        .args(args)
        .current_dir(&ctx.repo)
        .status()
    {
        Ok(s) if s.success() => Outcome {
            gate,
            status: Status::Pass,
            checked,
            detail: "clean".into(),
        },
        Ok(s) => Outcome {
            gate,
            status: Status::Fail,
            checked,
            detail: format!("exited with {s}; see its output above"),
        },
        Err(e) => Outcome::error(gate, checked, &anyhow::Error::new(e)),
    }
}

/// `cargo fmt --all -- --check`.
pub fn fmt(ctx: &Workspace) -> Outcome {
    run_tool(ctx, "fmt", "cargo", &["fmt", "--all", "--", "--check"])
}

/// `cargo clippy --workspace --all-targets -- -D warnings`.
pub fn clippy(ctx: &Workspace) -> Outcome {
    run_tool(
        ctx,
        "clippy",
        "cargo",
        &[
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ],
    )
}

/// Every tracked source file within `max_lines`.
pub fn file_size(ctx: &Workspace, max_lines: usize) -> Outcome {
    let checked = format!("tracked *.rs/*.sh files <= {max_lines} lines");
    let report = match file_size_in(&ctx.repo, max_lines) {
        Ok(r) => r,
        Err(e) => return Outcome::error("file-size", checked, &e),
    };
    for f in &report.over_aim {
        println!(
            "  note: {} has {} lines (aim < {})",
            f.path,
            f.lines,
            file_size::AIM_LINES
        );
    }
    if let Err(e) = write_json(&ctx.out_dir.join("file-size.json"), &report) {
        return Outcome::error("file-size", checked, &e);
    }
    let over: Vec<String> = report
        .over_limit
        .iter()
        .map(|f| format!("{} ({} lines)", f.path, f.lines))
        .collect();
    Outcome {
        gate: "file-size",
        status: if over.is_empty() {
            Status::Pass
        } else {
            Status::Fail
        },
        checked: format!("{} ({} files)", checked, report.checked),
        detail: if over.is_empty() {
            "all within the limit".into()
        } else {
            format!(
                "over the limit, split by responsibility: {}",
                over.join(", ")
            )
        },
    }
}

/// Reads tracked source files of `repo` and checks their length.
pub fn file_size_in(repo: &Path, max_lines: usize) -> Result<FileSizeReport> {
    let mut texts = Vec::new();
    for path in git::tracked_files(repo)?
        .into_iter()
        .filter(|p| file_size::is_source(p))
    {
        // A tracked file deleted in the work tree is not part of what is checked.
        if let Ok(bytes) = std::fs::read(repo.join(&path)) {
            texts.push((path, String::from_utf8_lossy(&bytes).into_owned()));
        }
    }
    Ok(file_size::evaluate(
        texts.iter().map(|(p, t)| (p.as_str(), t.as_str())),
        max_lines,
    ))
}

/// Changed lines of `BASE...HEAD` in `repo`; files listed in the repository's exclusion
/// list as it is at the merge base (a change cannot exclude its own lines) are left out.
pub fn change_size_in(repo: &Path, base: &str, limit: u64) -> Result<(Base, ChangeSize)> {
    let base = git::resolve_base(repo, base)?;
    let changes = git::changes(repo, &base)?;
    let list = git::file_at(repo, &base.merge_base, change_size::EXCLUDE_FILE)
        .map(|t| change_size::parse_list(&t))
        .unwrap_or_default();
    Ok((base, change_size::evaluate(&changes, limit, &list)))
}

/// The change-size gate.
pub fn change_size(ctx: &Workspace, limit: u64) -> Outcome {
    let checked = format!("added+deleted lines of {}...HEAD <= {limit}", ctx.base);
    let (base, size) = match change_size_in(&ctx.repo, &ctx.base, limit) {
        Ok(r) => r,
        Err(e) => return Outcome::error("change-size", checked, &e),
    };
    for e in &size.excluded {
        println!(
            "  excluded: {} ({}, {} lines)",
            e.path, e.reason, e.changed_lines
        );
    }
    let json = serde_json::json!({"base": base.name, "base_commit": base.commit,
        "merge_base": base.merge_base, "head": base.head, "result": size});
    if let Err(e) = write_json(&ctx.out_dir.join("change-size.json"), &json) {
        return Outcome::error("change-size", checked, &e);
    }
    Outcome {
        gate: "change-size",
        status: if size.passed {
            Status::Pass
        } else {
            Status::Fail
        },
        checked,
        detail: format!(
            "{} changed lines in {} files ({} files excluded){}",
            size.total,
            size.files.len(),
            size.excluded.len(),
            if size.passed {
                String::new()
            } else {
                format!(": over the limit of {limit}; split the change")
            }
        ),
    }
}

/// Diff coverage of `BASE...HEAD` in `repo` against an LCOV tracefile's text. A tracefile
/// without source records, or none of whose sources is in `repo` (another checkout), is an
/// error: it cannot show what the change's tests cover.
pub fn diff_coverage_in(repo: &Path, base: &str, lcov_text: &str) -> Result<(Base, DiffCoverage)> {
    let base = git::resolve_base(repo, base)?;
    let changes = git::changes(repo, &base)?;
    let hits = lcov::parse_lcov(lcov_text).context("parsing the LCOV tracefile")?;
    anyhow::ensure!(
        !hits.is_empty(),
        "the LCOV tracefile lists no source file: empty coverage is missing data, not a pass"
    );
    let rel = coverage::relativize(&hits, repo);
    if rel.is_empty() {
        let sample = hits.keys().next().map(String::as_str).unwrap_or("");
        anyhow::bail!(
            "none of the {} source files of the LCOV tracefile is under {} (e.g. {sample}): \
             a tracefile of another checkout",
            hits.len(),
            repo.display()
        );
    }
    let head = base.head.clone();
    let text_of = |path: &str| git::file_at(repo, &head, path);
    Ok((base, coverage::intersect(&changes, &rel, text_of)))
}

/// Whether a change adds lines to a Rust source (the only files LCOV can list).
fn adds_rust_lines(change: &super::diff::FileChange) -> bool {
    !change.added.is_empty()
        && change
            .new_path
            .as_deref()
            .is_some_and(|p| p.ends_with(".rs"))
}

/// The sidecar naming the commit a tracefile was measured at: `FILE.commit`.
pub fn commit_sidecar(lcov: &Path) -> PathBuf {
    let mut name = lcov.as_os_str().to_owned();
    name.push(".commit");
    PathBuf::from(name)
}

/// Produces `lcov.info` in the output directory for HEAD, or copies the one given after
/// checking it was measured at HEAD (its `FILE.commit` sidecar). Coverage of a work tree
/// that differs from HEAD is refused: it would not be the coverage of the change.
fn produce_lcov(ctx: &Workspace, given: Option<&Path>, packages: &[String]) -> Result<PathBuf> {
    let target = ctx.out_dir.join("lcov.info");
    std::fs::create_dir_all(&ctx.out_dir)
        .with_context(|| format!("creating {}", ctx.out_dir.display()))?;
    let head = git::head(&ctx.repo)?;
    if let Some(src) = given {
        let sidecar = commit_sidecar(src);
        let measured = std::fs::read_to_string(&sidecar).with_context(|| {
            format!(
                "{} names no commit: an LCOV file is accepted only with {} holding the \
                 commit it was measured at",
                src.display(),
                sidecar.display()
            )
        })?;
        anyhow::ensure!(
            measured.trim() == head,
            "{} was measured at {}, not at HEAD {head}",
            src.display(),
            measured.trim()
        );
        if src != target {
            std::fs::copy(src, &target)
                .with_context(|| format!("copying {} to {}", src.display(), target.display()))?;
        }
        std::fs::write(commit_sidecar(&target), format!("{head}\n"))?;
        return Ok(target);
    }
    let dirty = git::modified_tracked(&ctx.repo)?;
    anyhow::ensure!(
        dirty.is_empty(),
        "the work tree differs from HEAD ({}): coverage must be of HEAD; commit or stash first",
        dirty.join(", ")
    );
    let out = target.to_string_lossy().into_owned();
    let mut args = vec!["llvm-cov", "nextest", "--lcov", "--output-path", &out];
    if packages.is_empty() {
        args.push("--workspace");
    }
    for p in packages {
        match p.as_str() {
            "--workspace" => args.push(p),
            _ => args.extend(["-p", p]),
        }
    }
    println!("gate diff-coverage: running `cargo {}`", args.join(" "));
    let status = Command::new("cargo")
        .args(&args)
        .current_dir(&ctx.repo)
        .status()
        .context("running cargo llvm-cov (install: scripts/install-gate-tools.sh)")?;
    anyhow::ensure!(
        status.success(),
        "cargo llvm-cov failed ({status}): tests must pass to measure coverage"
    );
    std::fs::write(commit_sidecar(&target), format!("{head}\n"))?;
    Ok(target)
}

/// The diff-coverage gate.
pub fn diff_coverage(ctx: &Workspace, threshold: f64, lcov_file: Option<&Path>) -> Outcome {
    let checked = format!(
        "coverage of added executable lines of {}...HEAD >= {threshold}%",
        ctx.base
    );
    // Resolve the base first: a missing base must fail before an expensive test run.
    let changes = match git::resolve_base(&ctx.repo, &ctx.base)
        .and_then(|base| git::changes(&ctx.repo, &base))
    {
        Ok(c) => c,
        Err(e) => return Outcome::error("diff-coverage", checked, &e),
    };
    let adds_rust = changes.iter().any(adds_rust_lines);
    let result = if !adds_rust && lcov_file.is_none() {
        println!(
            "gate diff-coverage: no added lines in Rust sources: nothing to measure, tests not run"
        );
        git::resolve_base(&ctx.repo, &ctx.base).map(|b| (b, coverage::nothing_added(&changes)))
    } else {
        // Only the packages that own changed sources run their tests under coverage.
        let packages = packages::owning(&ctx.repo, &changes);
        packages
            .and_then(|p| produce_lcov(ctx, lcov_file, &p))
            .and_then(|p| {
                let text = std::fs::read_to_string(&p)
                    .with_context(|| format!("reading {}", p.display()))?;
                diff_coverage_in(&ctx.repo, &ctx.base, &text)
            })
    };
    let (base, cov) = match result {
        Ok(r) => r,
        Err(e) => return Outcome::error("diff-coverage", checked, &e),
    };
    for f in &cov.missing_from_lcov {
        println!("  missing from the LCOV (counted uncovered): {f}");
    }
    for f in &cov.files {
        if !f.uncovered_lines.is_empty() {
            println!(
                "  uncovered: {}:{}",
                f.path,
                coverage::ranges(&f.uncovered_lines)
            );
        }
    }
    let passed = cov.passes(threshold);
    let json = serde_json::json!({"base": base.name, "base_commit": base.commit,
        "merge_base": base.merge_base, "head": base.head, "threshold_percent": threshold,
        "passed": passed, "result": cov});
    if let Err(e) = write_json(&ctx.out_dir.join("diff-coverage.json"), &json) {
        return Outcome::error("diff-coverage", checked, &e);
    }
    let detail = match cov.percent {
        None => format!("no executable lines among {} added lines: pass", cov.added),
        Some(p) => format!(
            "{:.1}% ({} of {} added executable lines covered){}",
            p,
            cov.covered,
            cov.executable,
            if passed {
                ""
            } else {
                ": add tests for the uncovered lines listed above"
            }
        ),
    };
    Outcome {
        gate: "diff-coverage",
        status: if passed { Status::Pass } else { Status::Fail },
        checked,
        detail,
    }
}

/// Writes pretty JSON, creating the directory.
pub fn write_json(path: &Path, value: &impl Serialize) -> Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let text = serde_json::to_string_pretty(value)?;
    std::fs::write(path, text + "\n").with_context(|| format!("writing {}", path.display()))
}
