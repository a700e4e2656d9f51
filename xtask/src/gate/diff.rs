//! Parser for the output of `git diff -U0 --find-renames`.
//!
//! Produces, per file, the new-side line numbers that were added and the number of
//! deleted lines. Hunk bodies are consumed by the counts in their `@@` header, so a
//! content line such as `+++ x` is never mistaken for a file header.

use std::fmt;

/// One file of a unified diff.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FileChange {
    /// Path before the change (`None` for an added file).
    pub old_path: Option<String>,
    /// Path after the change (`None` for a deleted file).
    pub new_path: Option<String>,
    /// New-side line numbers of added lines, ascending.
    pub added: Vec<u32>,
    /// Number of deleted lines.
    pub deleted: u32,
    /// Git reported "Binary files ... differ": no line counts exist.
    pub binary: bool,
}

impl FileChange {
    /// The path that names this change: the new path, or the old one for a deletion.
    pub fn display_path(&self) -> &str {
        self.new_path
            .as_deref()
            .or(self.old_path.as_deref())
            .unwrap_or("")
    }

    /// Added plus deleted lines.
    pub fn changed_lines(&self) -> u64 {
        self.added.len() as u64 + u64::from(self.deleted)
    }
}

/// A diff that does not follow the unified format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiffParseError {
    /// 1-based line number in the diff text.
    pub line: usize,
    /// What was wrong.
    pub reason: String,
}

impl fmt::Display for DiffParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "diff line {}: {}", self.line, self.reason)
    }
}

impl std::error::Error for DiffParseError {}

/// Parses a unified diff (any context size) into per-file changes.
pub fn parse_unified_diff(text: &str) -> Result<Vec<FileChange>, DiffParseError> {
    let mut files: Vec<FileChange> = Vec::new();
    // Remaining old-side and new-side lines of the current hunk.
    let mut old_left = 0u32;
    let mut new_left = 0u32;
    let mut new_line = 0u32;
    for (idx, line) in text.lines().enumerate() {
        let err = |reason: String| DiffParseError {
            line: idx + 1,
            reason,
        };
        if old_left > 0 || new_left > 0 {
            let file = files
                .last_mut()
                .ok_or_else(|| err("hunk outside a file".into()))?;
            match line.as_bytes().first() {
                Some(b'+') if new_left > 0 => {
                    file.added.push(new_line);
                    new_line += 1;
                    new_left -= 1;
                }
                Some(b'-') if old_left > 0 => {
                    file.deleted += 1;
                    old_left -= 1;
                }
                Some(b' ') | None if old_left > 0 && new_left > 0 => {
                    new_line += 1;
                    new_left -= 1;
                    old_left -= 1;
                }
                Some(b'\\') => {}
                _ => return Err(err(format!("unexpected line inside a hunk: {line:?}"))),
            }
            continue;
        }
        if let Some(rest) = line.strip_prefix("diff --git ") {
            files.push(FileChange::default());
            let (old, new) = split_git_header(rest).ok_or_else(|| err("bad diff header".into()))?;
            let file = files.last_mut().expect("just pushed");
            file.old_path = strip_side(&old, "a/");
            file.new_path = strip_side(&new, "b/");
            continue;
        }
        if line.starts_with('\\') {
            continue;
        }
        let Some(file) = files.last_mut() else {
            continue; // preamble before the first file
        };
        if let Some(rest) = line.strip_prefix("--- ") {
            file.old_path = side_path(rest, "a/");
        } else if let Some(rest) = line.strip_prefix("+++ ") {
            file.new_path = side_path(rest, "b/");
        } else if line.strip_prefix("new file mode").is_some() {
            file.old_path = None;
        } else if line.strip_prefix("deleted file mode").is_some() {
            file.new_path = None;
        } else if let Some(rest) = line.strip_prefix("rename from ") {
            file.old_path = Some(unquote(rest));
        } else if let Some(rest) = line.strip_prefix("rename to ") {
            file.new_path = Some(unquote(rest));
        } else if line.starts_with("Binary files ") {
            file.binary = true;
        } else if let Some(rest) = line.strip_prefix("@@ ") {
            let (o, n, start) =
                parse_hunk_header(rest).ok_or_else(|| err("bad hunk header".into()))?;
            old_left = o;
            new_left = n;
            new_line = start;
        }
    }
    if old_left > 0 || new_left > 0 {
        return Err(DiffParseError {
            line: text.lines().count(),
            reason: "diff ends inside a hunk".into(),
        });
    }
    Ok(files)
}

/// `-a,b +c,d @@ ...` -> (b, d, c). A missing count means 1.
fn parse_hunk_header(rest: &str) -> Option<(u32, u32, u32)> {
    let mut parts = rest.split_whitespace();
    let old = parts.next()?.strip_prefix('-')?;
    let new = parts.next()?.strip_prefix('+')?;
    let count = |s: &str| -> Option<(u32, u32)> {
        match s.split_once(',') {
            Some((start, n)) => Some((start.parse().ok()?, n.parse().ok()?)),
            None => Some((s.parse().ok()?, 1)),
        }
    };
    let (_, old_n) = count(old)?;
    let (new_start, new_n) = count(new)?;
    Some((old_n, new_n, new_start))
}

fn side_path(raw: &str, prefix: &str) -> Option<String> {
    let raw = raw.trim_end_matches('\t');
    if raw == "/dev/null" {
        return None;
    }
    strip_side(&unquote(raw), prefix)
}

fn strip_side(path: &str, prefix: &str) -> Option<String> {
    Some(path.strip_prefix(prefix).unwrap_or(path).to_string())
}

/// Splits `a/x b/y` (possibly quoted) into its two sides.
fn split_git_header(rest: &str) -> Option<(String, String)> {
    if rest.starts_with('"') {
        let end = closing_quote(rest)?;
        let (first, second) = rest.split_at(end + 1);
        return Some((unquote(first), unquote(second.trim_start())));
    }
    if rest.ends_with('"') {
        let start = rest.rfind(" \"")?;
        return Some((rest[..start].to_string(), unquote(&rest[start + 1..])));
    }
    // Unquoted: both sides have the same length when the path did not change.
    let half = rest.len().checked_sub(1)? / 2;
    if rest.is_char_boundary(half) && rest.as_bytes().get(half) == Some(&b' ') {
        let (a, b) = (&rest[..half], &rest[half + 1..]);
        if a.get(2..) == b.get(2..) {
            return Some((a.to_string(), b.to_string()));
        }
    }
    let idx = rest.find(" b/")?;
    Some((rest[..idx].to_string(), rest[idx + 1..].to_string()))
}

fn closing_quote(s: &str) -> Option<usize> {
    let bytes = s.as_bytes();
    let mut i = 1;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'"' => return Some(i),
            _ => i += 1,
        }
    }
    None
}

/// Undoes git's C-style path quoting (`"a/\tb\303\251"`); unquoted input is returned as is.
pub fn unquote(raw: &str) -> String {
    let Some(inner) = raw.strip_prefix('"').and_then(|r| r.strip_suffix('"')) else {
        return raw.to_string();
    };
    let bytes = inner.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'\\' || i + 1 >= bytes.len() {
            out.push(bytes[i]);
            i += 1;
            continue;
        }
        let c = bytes[i + 1];
        let octal = bytes
            .get(i + 1..i + 4)
            .filter(|d| d.iter().all(|b| (b'0'..=b'7').contains(b)));
        if let Some(digits) = octal {
            let value = digits
                .iter()
                .fold(0u32, |acc, d| acc * 8 + u32::from(d - b'0'));
            out.push(value as u8);
            i += 4;
            continue;
        }
        out.push(match c {
            b'n' => b'\n',
            b't' => b'\t',
            b'r' => b'\r',
            b'a' => 7,
            b'b' => 8,
            b'f' => 12,
            b'v' => 11,
            other => other,
        });
        i += 2;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn added_and_deleted_lines_follow_hunk_counts() {
        let diff = "diff --git a/src/x.rs b/src/x.rs\nindex 1..2 100644\n--- a/src/x.rs\n+++ b/src/x.rs\n@@ -2 +2,2 @@ fn a()\n-old\n+++ new content that looks like a header\n+second\n@@ -10,2 +11,0 @@\n-gone\n-gone too\n";
        let files = parse_unified_diff(diff).unwrap();
        assert_eq!(files.len(), 1);
        assert_eq!(files[0].new_path.as_deref(), Some("src/x.rs"));
        assert_eq!(files[0].added, vec![2, 3]);
        assert_eq!(files[0].deleted, 3);
        assert_eq!(files[0].changed_lines(), 5);
    }

    #[test]
    fn new_deleted_and_binary_files() {
        let diff = "diff --git a/n.rs b/n.rs\nnew file mode 100644\n--- /dev/null\n+++ b/n.rs\n@@ -0,0 +1 @@\n+x\n\\ No newline at end of file\ndiff --git a/d.rs b/d.rs\ndeleted file mode 100644\n--- a/d.rs\n+++ /dev/null\n@@ -1,2 +0,0 @@\n-a\n-b\ndiff --git a/i.png b/i.png\nBinary files a/i.png and b/i.png differ\n";
        let files = parse_unified_diff(diff).unwrap();
        assert_eq!(files[0].old_path, None);
        assert_eq!(files[0].added, vec![1]);
        assert_eq!(files[1].new_path, None);
        assert_eq!(files[1].display_path(), "d.rs");
        assert_eq!(files[1].deleted, 2);
        assert!(files[2].binary);
    }

    #[test]
    fn quoted_paths_and_renames() {
        let diff = "diff --git \"a/t\\tb.rs\" \"b/caf\\303\\251.rs\"\nsimilarity index 90%\nrename from \"t\\tb.rs\"\nrename to \"caf\\303\\251.rs\"\n--- \"a/t\\tb.rs\"\n+++ \"b/caf\\303\\251.rs\"\n@@ -1,0 +2 @@\n+y\n";
        let files = parse_unified_diff(diff).unwrap();
        assert_eq!(files[0].old_path.as_deref(), Some("t\tb.rs"));
        assert_eq!(files[0].new_path.as_deref(), Some("café.rs"));
        assert_eq!(files[0].added, vec![2]);
    }

    #[test]
    fn pure_rename_has_paths_and_no_lines() {
        let diff = "diff --git a/old name.rs b/new name.rs\nsimilarity index 100%\nrename from old name.rs\nrename to new name.rs\n";
        let files = parse_unified_diff(diff).unwrap();
        assert_eq!(files[0].old_path.as_deref(), Some("old name.rs"));
        assert_eq!(files[0].new_path.as_deref(), Some("new name.rs"));
        assert_eq!(files[0].changed_lines(), 0);
    }

    #[test]
    fn truncated_hunk_is_an_error() {
        let err = parse_unified_diff("diff --git a/x b/x\n@@ -1 +1,2 @@\n+a\n").unwrap_err();
        assert!(err.reason.contains("ends inside a hunk"), "{err}");
        let err = parse_unified_diff("diff --git a/x b/x\n@@ -1 +1 @@\n?\n").unwrap_err();
        assert_eq!(err.line, 3);
    }
}
