//! Upload scripts ([`crate::upload`]) and their parsers.

use super::{none, Record, Script, ScriptError};

pub const DIR: Script = super::script!("upload_dir");
pub const REMOVE: Script = super::script!("upload_remove");
pub const RESUME: Script = super::script!("upload_resume");
pub const APPEND: Script = super::script!("upload_append");
pub const INSTALL: Script = super::script!("upload_install");
pub const INSTALL_SUDO: Script = super::script!("upload_install_sudo");

/// [`DIR`]'s answer (nothing).
pub fn parse_dir(out: &str) -> Result<(), ScriptError> {
    none(&DIR, out)
}

/// [`REMOVE`]'s answer (nothing).
pub fn parse_remove(out: &str) -> Result<(), ScriptError> {
    none(&REMOVE, out)
}

/// [`RESUME`]'s answer: the bytes the attempt starts from, never more than `len`.
pub fn parse_resume(out: &str, len: usize) -> Result<usize, ScriptError> {
    let r = Record::of(&RESUME, out, &["have"])?;
    let have: usize = r.num("have")?;
    if have > len {
        let line = r.line("have").expect("read above");
        return Err(line.bad(&RESUME, format!("more than the {len} bytes of the data")));
    }
    Ok(have)
}

/// [`APPEND`]'s answer (nothing).
pub fn parse_append(out: &str) -> Result<(), ScriptError> {
    none(&APPEND, out)
}

/// [`INSTALL`]'s answer (nothing).
pub fn parse_install(out: &str) -> Result<(), ScriptError> {
    none(&INSTALL, out)
}

/// [`INSTALL_SUDO`]'s answer (nothing).
pub fn parse_install_sudo(out: &str) -> Result<(), ScriptError> {
    none(&INSTALL_SUDO, out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resume_offsets_are_byte_counts_within_the_data() {
        assert_eq!(parse_resume("have=0\n", 10), Ok(0));
        assert_eq!(parse_resume("have=10\n", 10), Ok(10));
        for (out, want) in [
            ("", "no `have=`"),
            ("have=11", "more than the 10 bytes"),
            ("have=", "not a decimal number"),
            ("have=-1", "not a decimal number"),
            ("have=1 2", "not a decimal number"),
            ("have=99999999999999999999999", "out of range"),
            ("1000", "not key=value"),
            ("have=1\nhave=2", "repeated key"),
            ("have=1\nsize=2", "unknown key"),
        ] {
            let e = parse_resume(out, 10).unwrap_err().to_string();
            assert!(
                e.contains(want) && e.contains("upload_resume"),
                "{out:?}: {e}"
            );
        }
    }

    #[test]
    fn silent_upload_scripts_must_stay_silent() {
        for parse in [
            parse_dir,
            parse_remove,
            parse_append,
            parse_install,
            parse_install_sudo,
        ] {
            assert_eq!(parse(""), Ok(()));
            assert!(parse("x\n")
                .unwrap_err()
                .to_string()
                .contains("prints nothing"));
        }
    }
}
