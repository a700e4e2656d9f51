//! Service scripts ([`crate::service`]) and their parsers.

use super::{none, Record, Script, ScriptError};

pub const MASTER: Script = super::script!("service_master");
pub const START: Script = super::script!("service_start");
pub const RECHECK: Script = super::script!("service_recheck");
pub const TOKEN: Script = super::script!("service_token");

/// The live process a pid file names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Named {
    pub pid: u32,
    /// Its `/proc/PID/exe`; `None` when that link could not be read.
    pub exe: Option<String>,
}

/// [`MASTER`]'s answer: `None` when no live process is behind the pid file.
pub fn parse_master(out: &str) -> Result<Option<Named>, ScriptError> {
    let r = Record::of(&MASTER, out, &["master", "pid", "exe"])?;
    if r.one_of("master", &["absent", "running"])? == "absent" {
        if let Some(l) = r.line("pid").or(r.line("exe")) {
            return Err(l.bad(&MASTER, "with master=absent"));
        }
        return Ok(None);
    }
    Ok(Some(Named {
        pid: r.num("pid")?,
        exe: r.opt("exe").map(str::to_string),
    }))
}

/// [`START`]'s answer (nothing).
pub fn parse_start(out: &str) -> Result<(), ScriptError> {
    none(&START, out)
}

/// [`RECHECK`]'s answer (nothing).
pub fn parse_recheck(out: &str) -> Result<(), ScriptError> {
    none(&RECHECK, out)
}

/// [`TOKEN`]'s answer: the token, trimmed; `None` when the file holds only whitespace.
/// Errors never show it (only where it is).
pub fn parse_token(out: &str) -> Result<Option<String>, ScriptError> {
    let secret = |n: usize, why: &str| ScriptError::Line {
        script: TOKEN.name,
        line: format!(
            "<line {n}, {} bytes, not shown: a secret>",
            line_len(out, n)
        ),
        why: why.into(),
    };
    let mut lines = out.lines();
    let first = lines.next().ok_or(ScriptError::Missing {
        script: TOKEN.name,
        key: "token",
    })?;
    if lines.next().is_some() {
        return Err(secret(2, "a token is one line"));
    }
    let token = first
        .strip_prefix("token=")
        .ok_or_else(|| secret(1, "not token=TEXT"))?
        .trim();
    Ok((!token.is_empty()).then(|| token.to_string()))
}

fn line_len(out: &str, n: usize) -> usize {
    out.lines().nth(n - 1).map_or(0, str::len)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_master_is_absent_or_a_pid_with_its_executable() {
        assert_eq!(parse_master("master=absent\n"), Ok(None));
        let got = parse_master("master=running\npid=42\nexe=/srv/a (deleted)\n").unwrap();
        assert_eq!(
            got,
            Some(Named {
                pid: 42,
                exe: Some("/srv/a (deleted)".into())
            })
        );
        let unreadable = parse_master("master=running\npid=42\n").unwrap().unwrap();
        assert_eq!(unreadable.exe, None);
        for (out, want) in [
            ("", "no `master=`"),
            ("master=running", "no `pid=`"),
            ("master=running\npid=x", "not a decimal number"),
            ("master=running\npid=99999999999", "out of range"),
            ("master=absent\npid=4", "with master=absent"),
            ("master=dead", "not one of"),
            ("42\n/srv/a", "not key=value"),
            ("master=running\npid=1\npid=2", "repeated key"),
            ("master=running\npid=1\nuid=0", "unknown key"),
        ] {
            let e = parse_master(out).unwrap_err().to_string();
            assert!(
                e.contains(want) && e.contains("service_master"),
                "{out:?}: {e}"
            );
        }
    }

    #[test]
    fn the_token_is_one_line_and_never_shown_in_an_error() {
        assert_eq!(parse_token("token=s3cret\n"), Ok(Some("s3cret".into())));
        assert_eq!(parse_token("token= s3cret \n"), Ok(Some("s3cret".into())));
        assert_eq!(parse_token("token=  \n"), Ok(None));
        for (out, want) in [
            ("", "no `token=`"),
            ("token=s3cret\nmore-s3cret", "one line"),
            ("s3cret", "not token=TEXT"),
        ] {
            let e = parse_token(out).unwrap_err().to_string();
            assert!(
                e.contains(want) && e.contains("service_token"),
                "{out:?}: {e}"
            );
            assert!(!e.contains("s3cret"), "the secret leaked: {e}");
        }
    }

    #[test]
    fn silent_service_scripts_must_stay_silent() {
        for parse in [parse_start, parse_recheck] {
            assert_eq!(parse(""), Ok(()));
            assert!(parse("1\n").is_err());
        }
    }
}
