//! Backup scripts ([`crate::backup`]) and their parsers.

use super::{digits, is_sha256, none, records, Script, ScriptError};
use crate::backup::FileEntry;

pub const COPY: Script = super::script!("backup_copy");
pub const COMMIT: Script = super::script!("backup_commit");
pub const LIST: Script = super::script!("backup_list");
pub const ROTATE: Script = super::script!("backup_rotate");
pub const RESTORE: Script = super::script!("backup_restore");

/// [`COPY`]'s answer: the entry of every copied file; `files` are the (path, sudo) pairs it
/// was given, in order.
pub fn parse_copy(out: &str, files: &[(String, bool)]) -> Result<Vec<FileEntry>, ScriptError> {
    let keys = ["copied", "sha256", "mode", "owner"];
    let mut seen = vec![false; files.len()];
    records(&COPY, out, "copied", &keys)?
        .into_iter()
        .map(|r| {
            let i: usize = r.num("copied")?;
            let line = r.line("copied").expect("lead line");
            let slot = i.checked_sub(1).filter(|k| *k < files.len());
            let k = slot.ok_or_else(|| line.bad(&COPY, format!("{} files given", files.len())))?;
            if std::mem::replace(&mut seen[k], true) {
                return Err(line.bad(&COPY, "file listed twice"));
            }
            let (path, sudo) = &files[k];
            Ok(FileEntry {
                path: path.trim_start_matches('/').to_string(),
                sha256: r.check("sha256", "a sha256", is_sha256)?.into(),
                mode: r.check("mode", "an octal mode", is_mode)?.into(),
                owner: r.check("owner", "UID:GID", is_owner)?.into(),
                sudo: *sudo,
            })
        })
        .collect()
}

/// `stat -c %a`: 1 to 4 octal digits.
fn is_mode(s: &str) -> bool {
    (1..=4).contains(&s.len()) && s.bytes().all(|b| (b'0'..=b'7').contains(&b))
}

/// `stat -c %u:%g`.
fn is_owner(s: &str) -> bool {
    s.split_once(':')
        .is_some_and(|(u, g)| digits(u) && digits(g))
}

/// [`COMMIT`]'s answer (nothing).
pub fn parse_commit(out: &str) -> Result<(), ScriptError> {
    none(&COMMIT, out)
}

/// One directory [`LIST`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Listed {
    /// A directory and its manifest text, if it holds one.
    Dir {
        name: String,
        manifest: Option<String>,
        /// When the manifest was written, by the host's clock (ms since the epoch).
        written_ms: Option<u64>,
    },
    /// A directory whose name holds a newline (shown with `?`): never a backup of ours.
    Odd(String),
}

/// [`LIST`]'s answer, in the order found.
pub fn parse_list(out: &str) -> Result<Vec<Listed>, ScriptError> {
    let mut v = vec![];
    for l in super::lines(&LIST, out)? {
        match (l.key, v.last_mut()) {
            ("backup", _) => v.push(Listed::Dir {
                name: l.value.into(),
                manifest: None,
                written_ms: None,
            }),
            ("odd", _) => v.push(Listed::Odd(l.value.into())),
            (
                "manifest",
                Some(Listed::Dir {
                    manifest: m @ None, ..
                }),
            ) => *m = Some(l.value.into()),
            ("manifest", _) => return Err(l.bad(&LIST, "manifest without its directory")),
            (
                "written",
                Some(Listed::Dir {
                    manifest: Some(_),
                    written_ms: w @ None,
                    ..
                }),
            ) => *w = Some(host_ms(l.value).ok_or_else(|| l.bad(&LIST, "not SECONDS.mmm"))?),
            ("written", _) => return Err(l.bad(&LIST, "written without its manifest")),
            _ => return Err(l.bad(&LIST, "unknown key")),
        }
    }
    Ok(v)
}

/// `SECONDS.mmm` (stat's `%.3Y`) as milliseconds.
fn host_ms(v: &str) -> Option<u64> {
    let (s, ms) = v.split_once('.')?;
    let ok = super::digits(s) && ms.len() == 3 && super::digits(ms);
    ok.then(|| {
        s.parse::<u64>()
            .ok()
            .map(|s| s * 1000 + ms.parse::<u64>().unwrap())
    })?
}

/// [`ROTATE`]'s answer (nothing).
pub fn parse_rotate(out: &str) -> Result<(), ScriptError> {
    none(&ROTATE, out)
}

/// [`RESTORE`]'s answer (nothing).
pub fn parse_restore(out: &str) -> Result<(), ScriptError> {
    none(&RESTORE, out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHA: &str = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

    fn files() -> Vec<(String, bool)> {
        vec![("/srv/app".into(), false), ("/etc/app.toml".into(), true)]
    }

    fn why(e: ScriptError) -> String {
        e.to_string()
    }

    #[test]
    fn copy_answers_are_read_and_everything_else_refused() {
        let out = format!("copied=2\nsha256={SHA}\nmode=640\nowner=0:0\n");
        let got = parse_copy(&out, &files()).unwrap();
        assert_eq!(got.len(), 1);
        let f = &got[0];
        assert_eq!(
            (f.path.as_str(), f.mode.as_str(), f.owner.as_str()),
            ("etc/app.toml", "640", "0:0")
        );
        assert!(f.sudo && f.sha256 == SHA);
        assert_eq!(parse_copy("", &files()).unwrap(), vec![]);
        let bad = [
            ("1 abc 755 0:0", "not key=value"),
            (&*format!("sha256={SHA}"), "before the first"),
            (&*format!("copied=3\nsha256={SHA}\nmode=755\nowner=0:0"), "2 files given"),
            (&*format!("copied=0\nsha256={SHA}\nmode=755\nowner=0:0"), "2 files given"),
            ("copied=x", "not a decimal number"),
            ("copied=1\nsha256=abc\nmode=755\nowner=0:0", "not a sha256"),
            (&*format!("copied=1\nsha256={SHA}\nmode=9\nowner=0:0"), "not an octal mode"),
            (&*format!("copied=1\nsha256={SHA}\nmode=755\nowner=root"), "not UID:GID"),
            (&*format!("copied=1\nsha256={SHA}\nmode=755"), "no `owner=`"),
            (&*format!("copied=1\nsha256={SHA}\nsha256={SHA}"), "repeated key"),
            (&*format!("copied=1\nsize=3\nsha256={SHA}"), "unknown key"),
            (
                &*format!("copied=1\nsha256={SHA}\nmode=7\nowner=0:0\ncopied=1\nsha256={SHA}\nmode=7\nowner=0:0"),
                "listed twice",
            ),
        ];
        for (out, want) in bad {
            let e = why(parse_copy(out, &files()).unwrap_err());
            assert!(
                e.contains(want) && e.contains("backup_copy"),
                "{out:?}: {e}"
            );
        }
    }

    #[test]
    fn listings_pair_directories_with_their_manifests() {
        let out = "backup=r1\nmanifest={\"a\":1}\nwritten=1796690466.123\nbackup=r2\nodd=x?y\n";
        assert_eq!(
            parse_list(out).unwrap(),
            vec![
                Listed::Dir {
                    name: "r1".into(),
                    manifest: Some("{\"a\":1}".into()),
                    written_ms: Some(1_796_690_466_123),
                },
                Listed::Dir {
                    name: "r2".into(),
                    manifest: None,
                    written_ms: None,
                },
                Listed::Odd("x?y".into()),
            ]
        );
        for (out, want) in [
            ("manifest={}", "without its directory"),
            (
                "backup=a\nmanifest={}\nmanifest={}",
                "without its directory",
            ),
            ("odd=a\nmanifest={}", "without its directory"),
            ("backup=a\nsize=1", "unknown key"),
            ("r1\0{}", "not key=value"),
        ] {
            let e = why(parse_list(out).unwrap_err());
            assert!(
                e.contains(want) && e.contains("backup_list"),
                "{out:?}: {e}"
            );
        }
    }

    #[test]
    fn silent_scripts_must_stay_silent() {
        for parse in [parse_commit, parse_rotate, parse_restore] {
            assert_eq!(parse(""), Ok(()));
            let e = why(parse("done\n").unwrap_err());
            assert!(
                e.contains("\"done\"") && e.contains("prints nothing"),
                "{e}"
            );
        }
    }

    #[test]
    fn the_listing_script_reports_odd_names_and_missing_manifests() {
        let d = tempfile::tempdir().unwrap();
        for n in ["r1", "r2", ".partial-r3", "a\nb"] {
            std::fs::create_dir(d.path().join(n)).unwrap();
        }
        std::fs::write(d.path().join("r1/manifest.json"), "{\n\"x\": 1\n}\n").unwrap();
        let argv = super::super::argv(&LIST, &[d.path().to_str().unwrap()]);
        let out = std::process::Command::new(&argv[0])
            .args(&argv[1..])
            .output()
            .unwrap();
        assert!(out.status.success());
        let mut got = parse_list(&String::from_utf8(out.stdout).unwrap()).unwrap();
        got.sort_by_key(|l| format!("{l:?}"));
        // The manifest's write time by the host's clock (mtime, milliseconds).
        let Some(Listed::Dir { written_ms, .. }) = got.first_mut() else {
            panic!("{got:?}")
        };
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64;
        assert!(
            written_ms.is_some_and(|w| w.abs_diff(now_ms) < 60_000),
            "{written_ms:?}"
        );
        *written_ms = None;
        assert_eq!(
            got,
            vec![
                Listed::Dir {
                    name: "r1".into(),
                    manifest: Some("{\"x\": 1}".into()),
                    written_ms: None,
                },
                Listed::Dir {
                    name: "r2".into(),
                    manifest: None,
                    written_ms: None,
                },
                Listed::Odd("a?b".into()),
            ]
        );
        assert!(
            parse_list("backup=a\nwritten=1.000\n").is_err(),
            "written before manifest"
        );
        assert!(parse_list("backup=a\nmanifest={}\nwritten=12\n").is_err());
    }
}
