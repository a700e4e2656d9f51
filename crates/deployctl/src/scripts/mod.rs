//! The remote shell scripts deployctl runs on hosts: each is a checked file
//! `crates/deployctl/scripts/NAME.sh` (POSIX sh, shellcheck clean), included at build time,
//! whose opening comment names its arguments, exit codes and output. Values reach a script
//! only as positional parameters ([`argv`], the one place that builds `sh -c`), never inside
//! its text. Every output line is `key=value`; each script has one parser (in the submodule
//! of its area) that returns a typed value and rejects anything else with a [`ScriptError`]
//! naming the script and the line.

pub mod backup;
pub mod detect;
pub mod files;
pub mod image;
pub mod lb;
pub mod lease;
pub mod service;
pub mod upload;

/// One remote script: its file name (without `.sh`), its text, and the text of the shell
/// functions it uses (a `scripts/lib_*.sh` file, prepended to its body; empty: none).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Script {
    pub name: &'static str,
    pub text: &'static str,
    pub lib: &'static str,
}

/// `script!("backup_copy")`: the [`Script`] of `crates/deployctl/scripts/backup_copy.sh`;
/// `script!("nginx_apply", lib = "lib_owned_pid")` also prepends the functions of
/// `scripts/lib_owned_pid.sh` to its body.
macro_rules! script {
    ($name:literal) => {
        $crate::scripts::Script {
            name: $name,
            text: include_str!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/scripts/",
                $name,
                ".sh"
            )),
            lib: "",
        }
    };
    ($name:literal, lib = $lib:literal) => {
        $crate::scripts::Script {
            lib: include_str!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/scripts/",
                $lib,
                ".sh"
            )),
            ..$crate::scripts::script!($name)
        }
    };
}
pub(crate) use script;

impl Script {
    /// The text after the opening comment.
    pub fn body(&self) -> &'static str {
        after_header(self.text)
    }
}

/// `text` after its opening comment lines.
fn after_header(text: &'static str) -> &'static str {
    let mut rest = text;
    while rest.starts_with('#') {
        rest = rest.split_once('\n').map_or("", |(_, r)| r);
    }
    rest
}

/// What every remote script starts with: a failing command or an unset variable stops it.
pub const STRICT: &str = "set -eu";

/// `sh -c BODY sh ARGS...`: the script refers to `$1`, `$2`..., so every value reaches the
/// host quoted. The only place deployctl builds a `sh -c` command; every script runs under
/// [`STRICT`] (prepended should a body not start with it).
pub fn argv(script: &Script, args: &[&str]) -> Vec<String> {
    let body = script.body();
    let rest = body.strip_prefix(STRICT).unwrap_or(body);
    let rest = rest.strip_prefix('\n').unwrap_or(rest);
    let body = format!("{STRICT}\n{}{rest}", after_header(script.lib));
    let mut argv = vec!["sh".to_string(), "-c".to_string(), body, "sh".to_string()];
    argv.extend(args.iter().map(|s| s.to_string()));
    argv
}

/// A script's output is not what its header promises.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScriptError {
    #[error("script {script}: unexpected output line {line:?}: {why}")]
    Line {
        script: &'static str,
        line: String,
        why: String,
    },
    #[error("script {script}: no `{key}=` line in its output")]
    Missing {
        script: &'static str,
        key: &'static str,
    },
}

/// One `key=value` output line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Line<'a> {
    pub key: &'a str,
    pub value: &'a str,
    pub raw: &'a str,
}

impl Line<'_> {
    /// The error for this line.
    pub fn bad(&self, script: &Script, why: impl Into<String>) -> ScriptError {
        ScriptError::Line {
            script: script.name,
            line: self.raw.to_string(),
            why: why.into(),
        }
    }
}

/// Split `out` into `key=value` lines (key: lowercase letters, digits, `_`).
pub fn lines<'a>(script: &Script, out: &'a str) -> Result<Vec<Line<'a>>, ScriptError> {
    out.lines()
        .map(|raw| {
            let bad = |why: &str| ScriptError::Line {
                script: script.name,
                line: raw.to_string(),
                why: why.into(),
            };
            let (key, value) = raw.split_once('=').ok_or_else(|| bad("not key=value"))?;
            let ok = !key.is_empty()
                && key
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
            if !ok {
                return Err(bad("not key=value"));
            }
            Ok(Line { key, value, raw })
        })
        .collect()
}

/// A script that prints nothing: any output is unexpected.
pub fn none(script: &Script, out: &str) -> Result<(), ScriptError> {
    match out.lines().next() {
        None => Ok(()),
        Some(line) => Err(ScriptError::Line {
            script: script.name,
            line: line.to_string(),
            why: "this script prints nothing".into(),
        }),
    }
}

/// The lines of one record: each key at most once, only the keys named.
#[derive(Debug, Clone)]
pub struct Record<'a> {
    script: Script,
    lines: Vec<Line<'a>>,
}

impl<'a> Record<'a> {
    /// Check `lines` against `keys` (unknown or repeated keys are errors).
    pub fn new(script: &Script, lines: Vec<Line<'a>>, keys: &[&str]) -> Result<Self, ScriptError> {
        for (i, l) in lines.iter().enumerate() {
            if !keys.contains(&l.key) {
                return Err(l.bad(script, "unknown key"));
            }
            if lines[..i].iter().any(|p| p.key == l.key) {
                return Err(l.bad(script, "repeated key"));
            }
        }
        Ok(Record {
            script: *script,
            lines,
        })
    }

    /// The whole output as one record.
    pub fn of(script: &Script, out: &'a str, keys: &[&str]) -> Result<Self, ScriptError> {
        Record::new(script, lines(script, out)?, keys)
    }

    /// The line of `key`, if present.
    pub fn line(&self, key: &str) -> Option<&Line<'a>> {
        self.lines.iter().find(|l| l.key == key)
    }

    /// The value of `key`, if present.
    pub fn opt(&self, key: &str) -> Option<&'a str> {
        self.line(key).map(|l| l.value)
    }

    /// The value of `key`; missing is an error.
    pub fn req(&self, key: &'static str) -> Result<&'a str, ScriptError> {
        self.opt(key).ok_or(ScriptError::Missing {
            script: self.script.name,
            key,
        })
    }

    /// The value of `key` when `ok` accepts it; else an error saying it is not `what`.
    pub fn check(
        &self,
        key: &'static str,
        what: &str,
        ok: impl Fn(&str) -> bool,
    ) -> Result<&'a str, ScriptError> {
        let v = self.req(key)?;
        if ok(v) {
            Ok(v)
        } else {
            Err(self.bad(key, &format!("not {what}")))
        }
    }

    /// The value of `key` parsed as `T` (decimal numbers, ...).
    pub fn num<T: std::str::FromStr>(&self, key: &'static str) -> Result<T, ScriptError> {
        let v = self.check(key, "a decimal number", digits)?;
        v.parse().map_err(|_| self.bad(key, "out of range"))
    }

    /// `key` present and one of `choices`.
    pub fn one_of(
        &self,
        key: &'static str,
        choices: &[&'static str],
    ) -> Result<&'static str, ScriptError> {
        let v = self.req(key)?;
        choices
            .iter()
            .find(|c| **c == v)
            .copied()
            .ok_or_else(|| self.bad(key, &format!("not one of {choices:?}")))
    }

    fn bad(&self, key: &str, why: &str) -> ScriptError {
        match self.line(key) {
            Some(l) => l.bad(&self.script, why),
            None => ScriptError::Missing {
                script: self.script.name,
                key: "?",
            },
        }
    }
}

/// Split the output into records, each starting at a `lead` line, each checked by
/// [`Record::new`]; a line before the first `lead` is an error.
pub fn records<'a>(
    script: &Script,
    out: &'a str,
    lead: &str,
    keys: &[&str],
) -> Result<Vec<Record<'a>>, ScriptError> {
    let mut groups: Vec<Vec<Line<'a>>> = vec![];
    for l in lines(script, out)? {
        match groups.last_mut() {
            Some(g) if l.key != lead => g.push(l),
            _ if l.key == lead => groups.push(vec![l]),
            _ => return Err(l.bad(script, format!("before the first `{lead}=` line"))),
        }
    }
    groups
        .into_iter()
        .map(|g| Record::new(script, g, keys))
        .collect()
}

/// ASCII digits only, at least one.
pub fn digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// A lowercase hex sha256.
pub fn is_sha256(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Every script of the crate (checked by the tests).
#[cfg(test)]
pub const ALL: &[Script] = &[
    backup::COPY,
    backup::COMMIT,
    backup::LIST,
    backup::ROTATE,
    backup::RESTORE,
    files::REMOVE_TREE,
    files::SHA256,
    files::AUDIT_APPEND,
    files::HISTORY_APPEND,
    upload::DIR,
    upload::REMOVE,
    upload::RESUME,
    upload::APPEND,
    upload::INSTALL,
    upload::INSTALL_SUDO,
    service::MASTER,
    service::START,
    service::RECHECK,
    service::TOKEN,
    files::READ,
    files::WRITE,
    lb::NGINX_APPLY,
    lb::NGINX_RESTORE,
    lb::HAPROXY_RUNTIME,
    lb::HAPROXY_QUERY,
    lb::HAPROXY_SWAP,
    lb::HAPROXY_RESTORE,
    lease::LEASE,
    detect::LISTEN,
    detect::OWNERS,
    image::IMAGE,
    crate::accesslog::fetch::READ,
    crate::accesslog::fetch::RECEIVER,
    crate::accesslog::fetch::ROTATE,
    crate::report::MASTER_LOG_TAIL,
];

#[cfg(test)]
mod tests;
