//! Load balancer scripts ([`crate::lbpush`] for nginx, [`crate::haproxy`]) and their parsers.

use super::{none, Record, Script, ScriptError};
use crate::lbpush::Change;

pub const NGINX_APPLY: Script = super::script!("nginx_apply", lib = "lib_owned_pid");
pub const NGINX_RESTORE: Script = super::script!("nginx_restore", lib = "lib_owned_pid");
pub const HAPROXY_RUNTIME: Script = super::script!("haproxy_runtime");
pub const HAPROXY_QUERY: Script = super::script!("haproxy_query");
pub const HAPROXY_SWAP: Script = super::script!("haproxy_swap", lib = "lib_owned_pid");
pub const HAPROXY_RESTORE: Script = super::script!("haproxy_restore", lib = "lib_owned_pid");

fn change(script: &Script, out: &str, choices: &[&'static str]) -> Result<Change, ScriptError> {
    let r = Record::of(script, out, &["change"])?;
    Ok(match r.one_of("change", choices)? {
        "runtime" => Change::Runtime,
        "started" => Change::Started,
        _ => Change::Reloaded,
    })
}

/// [`NGINX_APPLY`]'s answer: reloaded or started.
pub fn parse_nginx_apply(out: &str) -> Result<Change, ScriptError> {
    change(&NGINX_APPLY, out, &["reloaded", "started"])
}

/// [`NGINX_RESTORE`]'s answer (nothing).
pub fn parse_nginx_restore(out: &str) -> Result<(), ScriptError> {
    none(&NGINX_RESTORE, out)
}

/// [`HAPROXY_RUNTIME`]'s answer (nothing).
pub fn parse_haproxy_runtime(out: &str) -> Result<(), ScriptError> {
    none(&HAPROXY_RUNTIME, out)
}

/// [`HAPROXY_SWAP`]'s answer: runtime, reloaded or started.
pub fn parse_haproxy_swap(out: &str) -> Result<Change, ScriptError> {
    change(&HAPROXY_SWAP, out, &["runtime", "reloaded", "started"])
}

/// [`HAPROXY_RESTORE`]'s answer (nothing).
pub fn parse_haproxy_restore(out: &str) -> Result<(), ScriptError> {
    none(&HAPROXY_RESTORE, out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apply_answers_name_the_change_and_nothing_else() {
        assert_eq!(parse_nginx_apply("change=reloaded\n"), Ok(Change::Reloaded));
        assert_eq!(parse_nginx_apply("change=started\n"), Ok(Change::Started));
        assert_eq!(parse_haproxy_swap("change=runtime\n"), Ok(Change::Runtime));
        assert_eq!(
            parse_haproxy_swap("change=reloaded\n"),
            Ok(Change::Reloaded)
        );
        assert_eq!(parse_haproxy_swap("change=started\n"), Ok(Change::Started));
        for (out, want) in [
            ("", "no `change=`"),
            ("reloaded", "not key=value"),
            ("change=runtime", "not one of"),
            ("change=", "not one of"),
            ("change=started\nchange=started", "repeated key"),
            ("change=started\nserial=1", "unknown key"),
        ] {
            let e = parse_nginx_apply(out).unwrap_err().to_string();
            assert!(
                e.contains(want) && e.contains("nginx_apply"),
                "{out:?}: {e}"
            );
        }
        let e = parse_haproxy_swap("change=unchanged")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("haproxy_swap") && e.contains("\"change=unchanged\""),
            "{e}"
        );
    }

    #[test]
    fn silent_lb_scripts_must_stay_silent() {
        for parse in [
            parse_nginx_restore,
            parse_haproxy_runtime,
            parse_haproxy_restore,
        ] {
            assert_eq!(parse(""), Ok(()));
            assert!(parse("reloaded\n").is_err());
        }
    }
}
