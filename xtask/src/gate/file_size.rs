//! Per-file size limit on tracked source files (a file should be readable in one sitting).

use std::path::Path;

use serde::Serialize;

/// Hard limit in lines; the team aims for under [`AIM_LINES`].
pub const DEFAULT_MAX_LINES: usize = 500;
/// Files above this are reported as a warning only.
pub const AIM_LINES: usize = 400;
/// Extensions that count as source.
const SOURCE_EXTENSIONS: &[&str] = &["rs", "sh"];

/// A source file and its length.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SizedFile {
    pub path: String,
    pub lines: usize,
}

/// Files over the limit and over the aim.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileSizeReport {
    pub max_lines: usize,
    pub checked: usize,
    pub over_limit: Vec<SizedFile>,
    pub over_aim: Vec<SizedFile>,
}

/// Whether a repo-relative path is a source file for this gate.
pub fn is_source(path: &str) -> bool {
    Path::new(path)
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| SOURCE_EXTENSIONS.contains(&e))
}

/// Number of lines, counting a last line without a newline.
pub fn count_lines(text: &str) -> usize {
    text.lines().count()
}

/// Checks `(path, text)` pairs against `max_lines`.
pub fn evaluate<'a>(
    files: impl IntoIterator<Item = (&'a str, &'a str)>,
    max_lines: usize,
) -> FileSizeReport {
    let mut report = FileSizeReport {
        max_lines,
        checked: 0,
        over_limit: Vec::new(),
        over_aim: Vec::new(),
    };
    for (path, text) in files {
        report.checked += 1;
        let sized = SizedFile {
            path: path.to_string(),
            lines: count_lines(text),
        };
        if sized.lines > max_lines {
            report.over_limit.push(sized);
        } else if sized.lines > AIM_LINES {
            report.over_aim.push(sized);
        }
    }
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limit_and_aim() {
        let big = "x\n".repeat(501);
        let near = "x\n".repeat(450);
        let ok = "x\n".repeat(500);
        let r = evaluate(
            [
                ("a.rs", big.as_str()),
                ("b.rs", near.as_str()),
                ("c.rs", ok.as_str()),
            ],
            500,
        );
        assert_eq!(r.checked, 3);
        assert_eq!(
            r.over_limit,
            vec![SizedFile {
                path: "a.rs".into(),
                lines: 501
            }]
        );
        assert_eq!(r.over_aim.len(), 2);
        assert_eq!(count_lines("a\nb"), 2);
        assert!(is_source("crates/x/src/lib.rs") && is_source("scripts/t.sh"));
        assert!(!is_source("README.md") && !is_source("Makefile"));
    }
}
