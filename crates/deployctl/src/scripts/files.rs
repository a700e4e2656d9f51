//! Scripts on plain files and directories, shared by several areas, and their parsers.

use super::{is_sha256, none, Record, Script, ScriptError};

pub const REMOVE_TREE: Script = super::script!("remove_tree");
pub const SHA256: Script = super::script!("file_sha256");
pub const AUDIT_APPEND: Script = super::script!("audit_append");
pub const READ: Script = super::script!("file_read");
pub const WRITE: Script = super::script!("file_write");
pub const HISTORY_APPEND: Script = super::script!("history_append");

/// [`REMOVE_TREE`]'s answer (nothing).
pub fn parse_remove_tree(out: &str) -> Result<(), ScriptError> {
    none(&REMOVE_TREE, out)
}

/// What [`SHA256`] found at a path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileSha {
    Absent,
    /// The file exists but `sha256sum` could not read it.
    Unreadable,
    Present(String),
}

impl FileSha {
    /// The file holds exactly the bytes of `sha256`.
    pub fn is(&self, sha256: &str) -> bool {
        matches!(self, FileSha::Present(s) if s == sha256)
    }
}

impl std::fmt::Display for FileSha {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FileSha::Absent => f.write_str("no file"),
            FileSha::Unreadable => f.write_str("an unreadable file"),
            FileSha::Present(s) => f.write_str(s),
        }
    }
}

/// [`SHA256`]'s answer.
pub fn parse_sha256(out: &str) -> Result<FileSha, ScriptError> {
    let r = Record::of(&SHA256, out, &["file", "sha256"])?;
    let state = r.one_of("file", &["absent", "unreadable", "present"])?;
    let sha = r.line("sha256");
    match (state, sha) {
        ("present", _) => Ok(FileSha::Present(
            r.check("sha256", "a sha256", is_sha256)?.into(),
        )),
        (_, Some(l)) => Err(l.bad(&SHA256, format!("sha256 of a file {state}"))),
        ("absent", None) => Ok(FileSha::Absent),
        _ => Ok(FileSha::Unreadable),
    }
}

/// [`HISTORY_APPEND`]'s answer: the host's clock when the record was written (ms).
pub fn parse_history_append(out: &str) -> Result<u64, ScriptError> {
    let r = Record::of(&HISTORY_APPEND, out, &["host_ms"])?;
    let ms = r.check("host_ms", "milliseconds", super::digits)?;
    Ok(ms.parse().expect("digits"))
}

/// [`READ`]'s answer: the file's contents, `None` when there is no file.
pub fn parse_read(out: &str) -> Result<Option<&str>, ScriptError> {
    let (first, rest) = out.split_once('\n').unwrap_or((out, ""));
    match first {
        "file=absent" if rest.is_empty() => Ok(None),
        "file=present" => Ok(Some(rest)),
        "" if out.is_empty() => Err(ScriptError::Missing {
            script: READ.name,
            key: "file",
        }),
        _ => {
            let (line, why) = match first {
                "file=absent" => (rest.lines().next().unwrap_or(""), "after file=absent"),
                _ => (first, "not file=absent or file=present"),
            };
            Err(ScriptError::Line {
                script: READ.name,
                line: line.to_string(),
                why: why.into(),
            })
        }
    }
}

/// [`WRITE`]'s answer (nothing).
pub fn parse_write(out: &str) -> Result<(), ScriptError> {
    none(&WRITE, out)
}

/// [`AUDIT_APPEND`]'s answer (nothing).
pub fn parse_audit_append(out: &str) -> Result<(), ScriptError> {
    none(&AUDIT_APPEND, out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHA: &str = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

    #[test]
    fn sha256_answers_name_the_state_of_the_file() {
        let present = parse_sha256(&format!("file=present\nsha256={SHA}\n")).unwrap();
        assert!(present.is(SHA) && !present.is(&SHA.replace('b', "c")));
        assert_eq!(parse_sha256("file=absent\n"), Ok(FileSha::Absent));
        assert_eq!(parse_sha256("file=unreadable\n"), Ok(FileSha::Unreadable));
        assert!(!FileSha::Absent.is("") && !FileSha::Unreadable.is(""));
        for (out, want) in [
            ("", "no `file=`"),
            ("file=present", "no `sha256=`"),
            ("file=present\nsha256=ABC", "not a sha256"),
            (
                &*format!("file=absent\nsha256={SHA}"),
                "sha256 of a file absent",
            ),
            ("file=gone", "not one of"),
            (SHA, "not key=value"),
            ("file=absent\nfile=absent", "repeated key"),
            ("file=absent\nsize=0", "unknown key"),
        ] {
            let e = parse_sha256(out).unwrap_err().to_string();
            assert!(
                e.contains(want) && e.contains("file_sha256"),
                "{out:?}: {e}"
            );
        }
    }

    #[test]
    fn the_sha256_script_tells_absent_unreadable_and_present_apart() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("f");
        let ask = |p: &std::path::Path| {
            let argv = super::super::argv(&SHA256, &[p.to_str().unwrap(), "0"]);
            let out = std::process::Command::new(&argv[0])
                .args(&argv[1..])
                .output()
                .unwrap();
            assert!(out.status.success(), "{out:?}");
            parse_sha256(&String::from_utf8(out.stdout).unwrap()).unwrap()
        };
        assert_eq!(ask(&f), FileSha::Absent);
        std::fs::write(&f, b"abc").unwrap();
        assert_eq!(ask(&f), FileSha::Present(SHA.into()));
        // A directory exists but sha256sum cannot read it.
        assert_eq!(ask(d.path()), FileSha::Unreadable);
    }

    #[test]
    fn reads_tell_an_absent_file_from_an_empty_one() {
        assert_eq!(parse_read("file=absent\n"), Ok(None));
        assert_eq!(parse_read("file=present\n"), Ok(Some("")));
        assert_eq!(parse_read("file=present\na=1\n\nb"), Ok(Some("a=1\n\nb")));
        for (out, want) in [
            ("", "no `file=`"),
            ("a=1\n", "not file=absent or file=present"),
            ("upstream x {}\n", "not file=absent or file=present"),
            ("file=absent\nx", "\"x\": after file=absent"),
        ] {
            let e = parse_read(out).unwrap_err().to_string();
            assert!(e.contains(want) && e.contains("file_read"), "{out:?}: {e}");
        }
    }

    #[test]
    fn silent_file_scripts_must_stay_silent() {
        for parse in [parse_audit_append, parse_remove_tree, parse_write] {
            assert_eq!(parse(""), Ok(()));
            assert!(parse("ok").is_err());
        }
    }
}
