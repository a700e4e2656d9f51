//! Diff coverage: the added lines of a diff intersected with LCOV line hits.
//!
//! An added line counts only when the tracefile lists it as executable (`DA:`); it is
//! covered when its hit count is above zero. A changed source file the tracefile does not
//! list at all counts as uncovered: every added line of code in it (not blank, not a
//! comment), and it is listed. A change with no executable added lines passes (there is
//! nothing to cover).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::diff::FileChange;
use super::lcov::LineHits;

/// Coverage of one changed file's executable added lines.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileCoverage {
    /// Repo-relative path (new side).
    pub path: String,
    /// Added executable lines with hits > 0.
    pub covered_lines: Vec<u32>,
    /// Added executable lines never hit.
    pub uncovered_lines: Vec<u32>,
}

/// The diff-coverage figure and the lines behind it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DiffCoverage {
    /// Added executable lines that were hit.
    pub covered: u64,
    /// Added executable lines.
    pub executable: u64,
    /// Added lines in total (executable or not).
    pub added: u64,
    /// covered / executable in percent; `None` when nothing executable changed.
    pub percent: Option<f64>,
    /// Files with at least one executable added line.
    pub files: Vec<FileCoverage>,
    /// Changed source files absent from the tracefile (their added code counted uncovered).
    pub missing_from_lcov: Vec<String>,
}

impl DiffCoverage {
    /// Pass when nothing executable changed or when percent >= `threshold`.
    pub fn passes(&self, threshold: f64) -> bool {
        self.percent.is_none_or(|p| p >= threshold)
    }
}

/// Maps tracefile paths to repo-relative ones; paths outside `repo_root` are dropped
/// (dependencies, the standard library).
pub fn relativize(hits: &LineHits, repo_root: &Path) -> BTreeMap<String, BTreeMap<u32, u64>> {
    let roots: Vec<PathBuf> = {
        let mut r = vec![repo_root.to_path_buf()];
        if let Ok(c) = repo_root.canonicalize() {
            if c != repo_root {
                r.push(c);
            }
        }
        r
    };
    let mut out: BTreeMap<String, BTreeMap<u32, u64>> = BTreeMap::new();
    for (raw, lines) in hits {
        let path = Path::new(raw);
        let rel = if path.is_absolute() {
            let Some(rel) = roots.iter().find_map(|root| path.strip_prefix(root).ok()) else {
                continue;
            };
            rel.to_path_buf()
        } else {
            path.strip_prefix("./").unwrap_or(path).to_path_buf()
        };
        let key = rel.to_string_lossy().replace('\\', "/");
        let slot = out.entry(key).or_default();
        for (line, n) in lines {
            let hit = slot.entry(*line).or_insert(0);
            *hit = hit.saturating_add(*n);
        }
    }
    out
}

/// Whether coverage of a source file is expected in the tracefile: Rust sources except
/// build scripts and integration tests, benches, examples and fixtures (not instrumented as
/// library code).
pub fn expects_coverage(path: &str) -> bool {
    let mut parts = path.split('/');
    let name = parts.next_back().unwrap_or(path);
    name.ends_with(".rs")
        && name != "build.rs"
        && !parts.any(|c| matches!(c, "tests" | "benches" | "examples" | "fixtures"))
}

/// Whether a source line is code (not blank, not only a comment).
fn is_code(line: &str) -> bool {
    let t = line.trim();
    !(t.is_empty() || t.starts_with("//") || t.starts_with("/*") || t.starts_with('*'))
}

/// Intersects the added lines of `changes` with repo-relative line hits. `text_of` gives
/// the new text of a changed file that the tracefile does not list (its added code lines
/// count as uncovered; `None` counts every added line).
pub fn intersect(
    changes: &[FileChange],
    hits: &BTreeMap<String, BTreeMap<u32, u64>>,
    text_of: impl Fn(&str) -> Option<String>,
) -> DiffCoverage {
    let mut result = DiffCoverage {
        covered: 0,
        executable: 0,
        added: 0,
        percent: None,
        files: Vec::new(),
        missing_from_lcov: Vec::new(),
    };
    for change in changes {
        let Some(path) = change.new_path.as_deref() else {
            continue;
        };
        result.added += change.added.len() as u64;
        let mut file = FileCoverage {
            path: path.to_string(),
            covered_lines: Vec::new(),
            uncovered_lines: Vec::new(),
        };
        match hits.get(path) {
            Some(lines) => {
                for line in &change.added {
                    match lines.get(line) {
                        Some(0) => file.uncovered_lines.push(*line),
                        Some(_) => file.covered_lines.push(*line),
                        None => {}
                    }
                }
            }
            None if expects_coverage(path) && !change.added.is_empty() => {
                result.missing_from_lcov.push(path.to_string());
                let text: Option<Vec<String>> =
                    text_of(path).map(|t| t.lines().map(str::to_string).collect());
                file.uncovered_lines = change
                    .added
                    .iter()
                    .copied()
                    .filter(|n| {
                        text.as_ref()
                            .is_none_or(|t| t.get(*n as usize - 1).is_none_or(|l| is_code(l)))
                    })
                    .collect();
            }
            None => continue,
        }
        let executable = (file.covered_lines.len() + file.uncovered_lines.len()) as u64;
        if executable > 0 {
            result.covered += file.covered_lines.len() as u64;
            result.executable += executable;
            result.files.push(file);
        }
    }
    if result.executable > 0 {
        result.percent = Some(100.0 * result.covered as f64 / result.executable as f64);
    }
    result
}

/// The figure of a change that adds no Rust line: nothing executable, nothing measured.
pub fn nothing_added(changes: &[FileChange]) -> DiffCoverage {
    intersect(changes, &BTreeMap::new(), |_| None)
}

/// Compact line ranges for printing: `[1,2,3,7]` -> `1-3,7`.
pub fn ranges(lines: &[u32]) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut iter = lines.iter().copied().peekable();
    while let Some(start) = iter.next() {
        let mut end = start;
        while iter.peek() == Some(&(end + 1)) {
            end += 1;
            iter.next();
        }
        out.push(if start == end {
            start.to_string()
        } else {
            format!("{start}-{end}")
        });
    }
    out.join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(path: &str, added: Vec<u32>) -> FileChange {
        FileChange {
            old_path: Some(path.into()),
            new_path: Some(path.into()),
            added,
            ..FileChange::default()
        }
    }

    #[test]
    fn intersection_counts_only_executable_added_lines() {
        let mut hits = LineHits::new();
        hits.insert(
            "/repo/src/a.rs".into(),
            [(1, 5), (2, 0), (3, 1), (9, 0)].into_iter().collect(),
        );
        hits.insert("/elsewhere/dep.rs".into(), [(1, 0)].into_iter().collect());
        hits.insert("./src/b.rs".into(), [(4, 0)].into_iter().collect());
        let rel = relativize(&hits, Path::new("/repo"));
        assert_eq!(rel.keys().collect::<Vec<_>>(), ["src/a.rs", "src/b.rs"]);
        let cov = intersect(
            &[
                change("src/a.rs", vec![1, 2, 4]),
                change("src/b.rs", vec![4]),
                change("README.md", vec![1]),
            ],
            &rel,
            |_| None,
        );
        assert_eq!((cov.covered, cov.executable, cov.added), (1, 3, 5));
        assert!((cov.percent.unwrap() - 100.0 / 3.0).abs() < 1e-9);
        assert!(!cov.passes(50.0));
        assert_eq!(cov.files[0].uncovered_lines, vec![2]);
    }

    #[test]
    fn nothing_executable_passes() {
        let cov = intersect(
            &[change("docs.md", vec![1, 2]), change("tests/t.rs", vec![1])],
            &BTreeMap::new(),
            |_| None,
        );
        assert_eq!(cov.percent, None);
        assert!(cov.passes(50.0));
        assert!(cov.missing_from_lcov.is_empty());
    }

    #[test]
    fn a_changed_source_missing_from_the_tracefile_is_uncovered_and_listed() {
        let mut hits = BTreeMap::new();
        hits.insert(
            "src/a.rs".to_string(),
            [(1, 1)].into_iter().collect::<BTreeMap<u32, u64>>(),
        );
        let text = "fn f() {}\n\n// note\nfn g() {}\n";
        let cov = intersect(
            &[
                change("src/a.rs", vec![1]),
                change("src/new.rs", vec![1, 2, 3, 4]),
                change("build.rs", vec![1]),
            ],
            &hits,
            |p| (p == "src/new.rs").then(|| text.to_string()),
        );
        assert_eq!(cov.missing_from_lcov, ["src/new.rs"]);
        assert_eq!(cov.files[1].uncovered_lines, vec![1, 4], "code lines only");
        assert_eq!((cov.covered, cov.executable), (1, 3));
        assert!(!cov.passes(50.0));
    }

    #[test]
    fn coverage_is_expected_of_library_and_binary_sources_only() {
        assert!(expects_coverage("crates/x/src/lib.rs"));
        assert!(expects_coverage("xtask/src/gate/tests.rs"));
        assert!(!expects_coverage("crates/x/build.rs"));
        assert!(!expects_coverage("crates/x/tests/it.rs"));
        assert!(!expects_coverage("README.md"));
    }

    #[test]
    fn ranges_are_compact() {
        assert_eq!(ranges(&[1, 2, 3, 7, 9, 10]), "1-3,7,9-10");
        assert_eq!(ranges(&[]), "");
    }
}
