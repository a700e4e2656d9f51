//! Change size: added + deleted lines against the base. Files are excluded only by the
//! repository's list (`change-size-exclude.txt`, read at the merge base so a change cannot
//! exclude itself) and binary files (no lines); every exclusion is listed with its reason.

use serde::Serialize;

use super::diff::FileChange;

/// Default limit of changed lines.
pub const DEFAULT_LIMIT: u64 = 400;

/// The exclusion list, at the repository root.
pub const EXCLUDE_FILE: &str = "change-size-exclude.txt";
/// One counted file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CountedFile {
    pub path: String,
    pub added: u64,
    pub deleted: u64,
}

/// One excluded file and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExcludedFile {
    pub path: String,
    pub reason: String,
    pub changed_lines: u64,
}

/// The change-size verdict.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChangeSize {
    pub limit: u64,
    pub total: u64,
    pub passed: bool,
    pub files: Vec<CountedFile>,
    pub excluded: Vec<ExcludedFile>,
}

/// Patterns of the exclusion list: one glob per line (`*` within a path segment, `**` any
/// number of segments); blank lines and `#` comments skipped.
pub fn parse_list(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_string)
        .collect()
}

/// Whether `path` matches the glob `pattern`.
pub fn glob_match(pattern: &str, path: &str) -> bool {
    let pat: Vec<&str> = pattern.split('/').collect();
    let segs: Vec<&str> = path.split('/').collect();
    match_segments(&pat, &segs)
}

fn match_segments(pat: &[&str], segs: &[&str]) -> bool {
    match pat.split_first() {
        None => segs.is_empty(),
        Some((&"**", rest)) => (0..=segs.len()).any(|i| match_segments(rest, &segs[i..])),
        Some((p, rest)) => segs
            .split_first()
            .is_some_and(|(s, tail)| wildcard(p, s) && match_segments(rest, tail)),
    }
}

/// `*` matches any run of characters within one segment.
fn wildcard(p: &str, s: &str) -> bool {
    match p.split_once('*') {
        None => p == s,
        Some((head, tail)) => {
            s.starts_with(head)
                && (head.len()..=s.len()).any(|i| s.is_char_boundary(i) && wildcard(tail, &s[i..]))
        }
    }
}

/// Counts changed lines; files matching a pattern of `excluded` and binary files are left
/// out and listed.
pub fn evaluate(changes: &[FileChange], limit: u64, excluded: &[String]) -> ChangeSize {
    let mut files = Vec::new();
    let mut left_out = Vec::new();
    for change in changes {
        let path = change.display_path().to_string();
        let paths = [change.old_path.as_deref(), change.new_path.as_deref()];
        let listed = excluded
            .iter()
            .find(|p| paths.iter().flatten().all(|path| glob_match(p, path)));
        let reason = if change.binary {
            Some("binary file".to_string())
        } else {
            listed.map(|p| format!("{EXCLUDE_FILE}: {p}"))
        };
        match reason {
            Some(reason) => left_out.push(ExcludedFile {
                path,
                reason,
                changed_lines: change.changed_lines(),
            }),
            None => files.push(CountedFile {
                path,
                added: change.added.len() as u64,
                deleted: u64::from(change.deleted),
            }),
        }
    }
    let total = files.iter().map(|f| f.added + f.deleted).sum();
    ChangeSize {
        limit,
        total,
        passed: total <= limit,
        files,
        excluded: left_out,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(path: &str, added: u32, deleted: u32) -> FileChange {
        FileChange {
            old_path: Some(path.into()),
            new_path: Some(path.into()),
            added: (1..=added).collect(),
            deleted,
            binary: false,
        }
    }

    #[test]
    fn limit_is_inclusive_and_only_listed_files_are_excluded() {
        let list = parse_list("# machine-written\nCargo.lock\n\ncrates/*/generated/**\n");
        let changes = [
            change("src/a.rs", 300, 100),
            change("Cargo.lock", 900, 10),
            change("crates/x/generated/deep/schema.rs", 50, 0),
            change("web/app.lock", 1, 0),
        ];
        let size = evaluate(&changes, 401, &list);
        assert_eq!(size.total, 401, "an unlisted *.lock counts");
        assert!(size.passed);
        let reasons: Vec<_> = size.excluded.iter().map(|e| e.reason.as_str()).collect();
        assert_eq!(
            reasons,
            [
                "change-size-exclude.txt: Cargo.lock",
                "change-size-exclude.txt: crates/*/generated/**"
            ]
        );
        let size = evaluate(&[change("src/a.rs", 301, 100)], 400, &list);
        assert_eq!(size.total, 401);
        assert!(!size.passed);
    }

    #[test]
    fn a_file_named_generated_or_marked_counts_unless_listed() {
        let size = evaluate(&[change("src/generated/x.rs", 5, 0)], 400, &[]);
        assert_eq!(size.total, 5);
        assert!(size.excluded.is_empty());
    }

    #[test]
    fn globs() {
        assert!(glob_match("Cargo.lock", "Cargo.lock"));
        assert!(!glob_match("Cargo.lock", "sub/Cargo.lock"));
        assert!(glob_match("**/Cargo.lock", "sub/Cargo.lock"));
        assert!(glob_match("**/Cargo.lock", "Cargo.lock"));
        assert!(glob_match("docs/*.svg", "docs/a.svg"));
        assert!(!glob_match("docs/*.svg", "docs/x/a.svg"));
        assert!(glob_match("a/**", "a/b/c"));
    }
}
