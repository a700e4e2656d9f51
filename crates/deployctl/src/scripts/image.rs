//! The image script ([`crate::image`]) and its parser.

use super::{is_sha256, lines, Script, ScriptError};

pub const IMAGE: Script = super::script!("image");

/// What [`IMAGE`] read on the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostImage {
    /// The installed file is a script (`#!`).
    Script,
    /// The installed binary's sha256 and those of the master's children (when asked).
    Binary {
        installed: String,
        running: Vec<String>,
    },
}

/// [`IMAGE`]'s answer.
pub fn parse_image(out: &str) -> Result<HostImage, ScriptError> {
    let all = lines(&IMAGE, out)?;
    let Some(first) = all.first() else {
        return Err(ScriptError::Missing {
            script: IMAGE.name,
            key: "kind",
        });
    };
    match (first.key, first.value) {
        ("kind", "script") => match all.get(1) {
            Some(l) => Err(l.bad(&IMAGE, "after kind=script")),
            None => Ok(HostImage::Script),
        },
        ("kind", "binary") => {
            let sha = |l: &super::Line<'_>, key: &str| {
                if l.key != key {
                    Err(l.bad(&IMAGE, format!("expected {key}=")))
                } else if !is_sha256(l.value) {
                    Err(l.bad(&IMAGE, "not a sha256"))
                } else {
                    Ok(l.value.to_string())
                }
            };
            let installed = all.get(1).ok_or(ScriptError::Missing {
                script: IMAGE.name,
                key: "installed",
            })?;
            Ok(HostImage::Binary {
                installed: sha(installed, "installed")?,
                running: all[2..]
                    .iter()
                    .map(|l| sha(l, "running"))
                    .collect::<Result<_, _>>()?,
            })
        }
        _ => Err(first.bad(&IMAGE, "not kind=script or kind=binary first")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
    const B: &str = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824";

    #[test]
    fn image_answers_are_a_script_or_the_installed_and_running_sha256s() {
        assert_eq!(parse_image("kind=script\n"), Ok(HostImage::Script));
        let out = format!("kind=binary\ninstalled={A}\nrunning={A}\nrunning={B}\n");
        assert_eq!(
            parse_image(&out),
            Ok(HostImage::Binary {
                installed: A.into(),
                running: vec![A.into(), B.into()]
            })
        );
        let none = format!("kind=binary\ninstalled={A}\n");
        assert!(
            matches!(parse_image(&none), Ok(HostImage::Binary { running, .. }) if running.is_empty())
        );
        for (out, want) in [
            ("".to_string(), "no `kind=`".to_string()),
            ("kind=binary".into(), "no `installed=`".into()),
            (
                "kind=elf".into(),
                "not kind=script or kind=binary first".into(),
            ),
            (
                format!("installed={A}"),
                "not kind=script or kind=binary first".into(),
            ),
            (
                format!("kind=script\ninstalled={A}"),
                "after kind=script".into(),
            ),
            (
                format!("kind=binary\nrunning={A}"),
                "expected installed=".into(),
            ),
            (
                format!("kind=binary\ninstalled={A}\ninstalled={A}"),
                "expected running=".into(),
            ),
            ("kind=binary\ninstalled=abc".into(), "not a sha256".into()),
            (
                format!("kind=binary\ninstalled={A}\nrunning=?"),
                "not a sha256".into(),
            ),
            (format!("installed {A}"), "not key=value".into()),
        ] {
            let e = parse_image(&out).unwrap_err().to_string();
            assert!(
                e.contains(&want) && e.contains("script image"),
                "{out:?}: {e}"
            );
        }
    }
}
