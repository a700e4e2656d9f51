//! E2E suites: `*.hurl` files, discovered in a directory and run one at a time against one
//! host through the `hurl` library.
//!
//! `hurl::runner::run` is synchronous (libcurl easy handles): call it from a plain thread,
//! never from inside an async task.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use hurl::runner::{self, RunnerOptionsBuilder, Value, VariableSet};
use hurl::util::logger::LoggerOptionsBuilder;
use hurl::util::path::ContextDir;
use hurl_core::error::{DisplaySourceError, OutputFormat};
use hurl_core::input::Input;
use serde::Serialize;

/// A suite file.
#[derive(Debug, Clone)]
pub struct Suite {
    /// File stem, e.g. `03-search`.
    pub name: String,
    pub path: PathBuf,
    pub content: String,
}

/// Why suites could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum SuiteError {
    #[error("{dir}: cannot read suites: {source}")]
    Read {
        dir: PathBuf,
        source: std::io::Error,
    },
    #[error("{dir}: no *.hurl suites found")]
    Empty { dir: PathBuf },
}

/// Loads every `*.hurl` file of `dir`, sorted by name (the run order).
pub fn discover(dir: &Path) -> Result<Vec<Suite>, SuiteError> {
    let read_err = |source| SuiteError::Read {
        dir: dir.to_path_buf(),
        source,
    };
    let mut suites = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(read_err)? {
        let path = entry.map_err(read_err)?.path();
        if path.extension().and_then(|e| e.to_str()) != Some("hurl") {
            continue;
        }
        let content = std::fs::read_to_string(&path).map_err(read_err)?;
        let name = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        suites.push(Suite {
            name,
            path,
            content,
        });
    }
    if suites.is_empty() {
        return Err(SuiteError::Empty {
            dir: dir.to_path_buf(),
        });
    }
    suites.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(suites)
}

/// How a suite run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Every entry ran and every assert held.
    Passed,
    /// An assert did not hold (status, header, body, jsonpath, duration...).
    Failed,
    /// The suite could not run to its asserts: host down, timeout, parse error, missing variable.
    Error,
}

/// The result of one suite against one host.
#[derive(Debug, Clone, Serialize)]
pub struct SuiteRun {
    pub suite: String,
    pub verdict: Verdict,
    pub duration_ms: u64,
    /// Requests sent, retries included.
    pub requests: usize,
    /// Assert failures, rendered with the suite source line.
    pub failures: Vec<String>,
    /// Runtime errors, rendered with the suite source line.
    pub errors: Vec<String>,
}

/// Limits applied to every request of a suite (a suite's `[Options]` may raise them).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub connect_timeout: Duration,
    pub request_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(30),
        }
    }
}

/// The suites' variable holding the master's admin token: a hurl secret, redacted from
/// every report and log.
pub const ADMIN_TOKEN_VAR: &str = "admin_token";

/// Runs `suite` with `variables` (e.g. `base_url`). Blocking.
pub fn run(suite: &Suite, variables: &BTreeMap<String, String>, limits: Limits) -> SuiteRun {
    let start = Instant::now();
    let mut vars = VariableSet::new();
    for (k, v) in variables {
        if k == ADMIN_TOKEN_VAR {
            vars.insert_secret(k.clone(), v.clone());
        } else {
            vars.insert(k.clone(), Value::String(v.clone()));
        }
    }
    let context_dir = ContextDir::default();
    let options = RunnerOptionsBuilder::new()
        .connect_timeout(limits.connect_timeout)
        .timeout(limits.request_timeout)
        .context_dir(&context_dir)
        .fail_fast(true)
        .build();
    let logger = LoggerOptionsBuilder::new()
        .color(false)
        .verbosity(None)
        .build();
    let input = Input::new(&suite.path.to_string_lossy());
    let file_name = input.to_string();
    let mut out = SuiteRun {
        suite: suite.name.clone(),
        verdict: Verdict::Passed,
        duration_ms: 0,
        requests: 0,
        failures: Vec::new(),
        errors: Vec::new(),
    };
    match runner::run(&suite.content, Some(&input), &options, &vars, &logger) {
        Err(parse_error) => {
            out.errors.push(format!("{file_name}: {parse_error}"));
        }
        Ok(result) => {
            out.requests = result.entries.iter().map(|e| e.calls.len()).sum();
            for (error, info) in result.errors() {
                let text =
                    error.render(&file_name, &suite.content, Some(info), OutputFormat::Plain);
                if error.assert {
                    out.failures.push(text);
                } else {
                    out.errors.push(text);
                }
            }
            if !result.success && out.failures.is_empty() && out.errors.is_empty() {
                out.errors
                    .push(format!("{file_name}: run reported failure without details"));
            }
        }
    }
    out.verdict = if !out.errors.is_empty() {
        Verdict::Error
    } else if !out.failures.is_empty() {
        Verdict::Failed
    } else {
        Verdict::Passed
    };
    out.duration_ms = u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn discovery_is_sorted_and_ignores_other_files() {
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in [
            ("b.hurl", "GET http://x\n"),
            ("a.hurl", "GET http://y\n"),
            ("README.md", "#"),
        ] {
            std::fs::write(dir.path().join(name), text).unwrap();
        }
        let suites = discover(dir.path()).unwrap();
        let names: Vec<&str> = suites.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["a", "b"]);
        assert!(matches!(
            discover(&dir.path().join("missing")),
            Err(SuiteError::Read { .. })
        ));
    }

    #[test]
    fn unparsable_suite_and_missing_variable_are_errors_not_failures() {
        let suite = |content: &str| Suite {
            name: "s".into(),
            path: PathBuf::from("s.hurl"),
            content: content.into(),
        };
        let run_one = |content: &str| run(&suite(content), &BTreeMap::new(), Limits::default());
        let r = run_one("NOT A METHOD\n");
        assert_eq!(r.verdict, Verdict::Error);
        assert_eq!(r.requests, 0);
        let r = run_one("GET {{base_url}}/ping\nHTTP 200\n");
        assert_eq!(r.verdict, Verdict::Error);
        assert!(r.errors[0].contains("base_url"), "{:?}", r.errors);
    }
}
