//! The few git queries the gates need, run in a given repository.
//!
//! The diff is always `BASE...HEAD` (changes on HEAD since the merge base), with user
//! configuration that would change its shape (external diff tools, prefixes, colour,
//! path quoting) overridden on the command line.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

use super::diff::{parse_unified_diff, FileChange};

fn git(repo: &Path, args: &[&str]) -> Result<String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(repo)
        .args(["-c", "core.quotePath=false"])
        .args(args)
        .output()
        .with_context(|| format!("running git {}", args.join(" ")))?;
    if !out.status.success() {
        bail!(
            "git {} failed ({}): {}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    String::from_utf8(out.stdout).context("git printed non-UTF-8 output")
}

/// The top-level directory of the repository containing `dir`.
pub fn toplevel(dir: &Path) -> Result<PathBuf> {
    Ok(PathBuf::from(
        git(dir, &["rev-parse", "--show-toplevel"])?.trim(),
    ))
}

/// The resolved base and the merge base the diff starts from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Base {
    /// The ref as the user named it.
    pub name: String,
    /// Commit the ref points to.
    pub commit: String,
    /// `git merge-base BASE HEAD`.
    pub merge_base: String,
    /// HEAD commit.
    pub head: String,
}

/// Resolves `base`; a ref that does not name a commit is an error, never an empty diff.
pub fn resolve_base(repo: &Path, base: &str) -> Result<Base> {
    let spec = format!("{base}^{{commit}}");
    let commit = git(repo, &["rev-parse", "--verify", "--quiet", "--end-of-options", &spec])
        .map_err(|_| {
            anyhow::anyhow!(
                "base ref {base:?} does not name a commit in {} (fetch it, e.g. \
                 `git fetch origin main`, or pass --base REF); a missing base is an error, not a pass",
                repo.display()
            )
        })?
        .trim()
        .to_string();
    let head = git(repo, &["rev-parse", "--verify", "HEAD"])?
        .trim()
        .to_string();
    let merge_base = git(repo, &["merge-base", &commit, &head])
        .with_context(|| {
            format!("no merge base between {base} and HEAD (a shallow clone? fetch full history)")
        })?
        .trim()
        .to_string();
    Ok(Base {
        name: base.to_string(),
        commit,
        merge_base,
        head,
    })
}

/// Picks the default base: `$GATE_BASE`, else `origin/main`, else `main`.
pub fn default_base(repo: &Path) -> String {
    if let Ok(b) = std::env::var("GATE_BASE") {
        if !b.is_empty() {
            return b;
        }
    }
    for candidate in ["origin/main", "main"] {
        if git(repo, &["rev-parse", "--verify", "--quiet", candidate]).is_ok() {
            return candidate.to_string();
        }
    }
    "origin/main".to_string()
}

/// `git diff -U0 --find-renames BASE...HEAD`, parsed.
pub fn changes(repo: &Path, base: &Base) -> Result<Vec<FileChange>> {
    let range = format!("{}...{}", base.commit, base.head);
    let text = git(
        repo,
        &[
            "diff",
            "-U0",
            "--find-renames",
            "--no-color",
            "--no-ext-diff",
            "--no-textconv",
            "--src-prefix=a/",
            "--dst-prefix=b/",
            &range,
        ],
    )?;
    parse_unified_diff(&text).context("parsing git diff output")
}

/// The full text of a file at a commit, if it exists there.
pub fn file_at(repo: &Path, commit: &str, path: &str) -> Option<String> {
    git(repo, &["cat-file", "-p", &format!("{commit}:{path}")]).ok()
}

/// The HEAD commit.
pub fn head(repo: &Path) -> Result<String> {
    Ok(git(repo, &["rev-parse", "--verify", "HEAD"])?
        .trim()
        .to_string())
}

/// Tracked files whose work-tree content differs from HEAD.
pub fn modified_tracked(repo: &Path) -> Result<Vec<String>> {
    Ok(
        git(repo, &["status", "--porcelain", "--untracked-files=no"])?
            .lines()
            .filter_map(|l| l.get(3..))
            .map(str::to_string)
            .collect(),
    )
}

/// Tracked files at HEAD of the work tree.
pub fn tracked_files(repo: &Path) -> Result<Vec<String>> {
    Ok(git(repo, &["ls-files", "-z"])?
        .split('\0')
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect())
}
