//! Which Cargo packages own the changed sources: diff coverage runs only their tests, so a
//! change to one crate does not pay for instrumenting and running the whole workspace.
//!
//! A package's tests cover its own sources; code of a package exercised only through
//! another package's tests (e.g. a library driven by a binary's integration tests) is
//! measured only when that other package changes too. The output names the packages run.

use std::collections::BTreeSet;
use std::path::Path;

use anyhow::{Context, Result};

use super::diff::FileChange;

/// Names of the packages owning the changed Rust sources of `changes`, sorted; when a
/// changed source belongs to no package, the whole workspace (`--workspace`).
pub fn owning(repo: &Path, changes: &[FileChange]) -> Result<Vec<String>> {
    let mut names = BTreeSet::new();
    for path in changes
        .iter()
        .filter(|c| !c.added.is_empty())
        .filter_map(|c| c.new_path.as_deref())
        .filter(|p| p.ends_with(".rs"))
    {
        match package_of(repo, path)? {
            Some(name) => names.insert(name),
            None => return Ok(vec!["--workspace".into()]),
        };
    }
    Ok(names.into_iter().collect())
}

/// The `[package] name` of the nearest `Cargo.toml` above `path` inside `repo`.
fn package_of(repo: &Path, path: &str) -> Result<Option<String>> {
    let mut dir = Path::new(path).parent();
    while let Some(d) = dir {
        let manifest = repo.join(d).join("Cargo.toml");
        if manifest.is_file() {
            let text = std::fs::read_to_string(&manifest)
                .with_context(|| format!("reading {}", manifest.display()))?;
            if let Some(name) = package_name(&text) {
                return Ok(Some(name));
            }
        }
        dir = d.parent();
    }
    Ok(None)
}

/// `name = "..."` in the `[package]` table of a manifest.
fn package_name(manifest: &str) -> Option<String> {
    let mut in_package = false;
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            in_package = line == "[package]";
        } else if in_package {
            if let Some(v) = line.strip_prefix("name") {
                let v = v.trim_start().strip_prefix('=')?.trim();
                return Some(v.trim_matches('"').to_string());
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changed_sources_map_to_their_packages() {
        let dir = tempfile::tempdir().unwrap();
        let w = |p: &str, t: &str| {
            let p = dir.path().join(p);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, t).unwrap();
        };
        w("Cargo.toml", "[workspace]\nmembers = [\"crates/a\"]\n");
        w(
            "crates/a/Cargo.toml",
            "[package]\nname = \"alpha\"\nversion = \"0.1.0\"\n[dependencies]\nname = \"x\"\n",
        );
        let change = |p: &str, added: Vec<u32>| FileChange {
            new_path: Some(p.into()),
            added,
            ..FileChange::default()
        };
        let got = owning(
            dir.path(),
            &[
                change("crates/a/src/lib.rs", vec![1]),
                change("crates/a/tests/t.rs", vec![2]),
                change("crates/a/src/gone.rs", vec![]),
                change("README.md", vec![1]),
            ],
        )
        .unwrap();
        assert_eq!(got, ["alpha"]);
        let got = owning(dir.path(), &[change("tools/x.rs", vec![1])]).unwrap();
        assert_eq!(got, ["--workspace"]);
    }
}
