//! Diff coverage: the added lines of a diff intersected with LCOV line hits.
//!
//! An added line counts only when the tracefile lists it as executable (`DA:`); it is
//! covered when its hit count is above zero. A change with no executable added lines
//! passes (there is nothing to cover).

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

/// Intersects the added lines of `changes` with repo-relative line hits.
pub fn intersect(
    changes: &[FileChange],
    hits: &BTreeMap<String, BTreeMap<u32, u64>>,
) -> DiffCoverage {
    let mut result = DiffCoverage {
        covered: 0,
        executable: 0,
        added: 0,
        percent: None,
        files: Vec::new(),
    };
    for change in changes {
        let Some(path) = change.new_path.as_deref() else {
            continue;
        };
        result.added += change.added.len() as u64;
        let Some(lines) = hits.get(path) else {
            continue;
        };
        let mut file = FileCoverage {
            path: path.to_string(),
            covered_lines: Vec::new(),
            uncovered_lines: Vec::new(),
        };
        for line in &change.added {
            match lines.get(line) {
                Some(0) => file.uncovered_lines.push(*line),
                Some(_) => file.covered_lines.push(*line),
                None => {}
            }
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
        );
        assert_eq!((cov.covered, cov.executable, cov.added), (1, 3, 5));
        assert!((cov.percent.unwrap() - 100.0 / 3.0).abs() < 1e-9);
        assert!(!cov.passes(50.0));
        assert_eq!(cov.files[0].uncovered_lines, vec![2]);
    }

    #[test]
    fn nothing_executable_passes() {
        let cov = intersect(&[change("docs.md", vec![1, 2])], &BTreeMap::new());
        assert_eq!(cov.percent, None);
        assert!(cov.passes(50.0));
    }

    #[test]
    fn ranges_are_compact() {
        assert_eq!(ranges(&[1, 2, 3, 7, 9, 10]), "1-3,7,9-10");
        assert_eq!(ranges(&[]), "");
    }
}
