//! Upload of one file: written under `umask 077` to a temporary name in an owner-only
//! directory next to its destination, resumed from the bytes already on the host when the
//! connection dies, sha256-verified on the host, then renamed over the destination (atomic on
//! one filesystem). A privileged file (`sudo = true`) waits instead in the login user's own
//! upload directory under the install dir (its destination's directory may be root's), and
//! `sudo -n` copies it next to the destination and renames it over it. A failed upload never
//! leaves a partial file at the destination, nor its temporary file.

use crate::remote::{HostError, RemoteHost};
use crate::scripts::files::{self, FileSha};
use crate::scripts::upload as sh;
use crate::transport::backoff;
use sha2::{Digest, Sha256};

/// Hex sha256 of `data`.
pub fn sha256_hex(data: &[u8]) -> String {
    Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// What an upload did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct UploadReport {
    pub dest: String,
    pub bytes: usize,
    pub sha256: String,
    /// Attempts of the data transfer (1 when nothing went wrong).
    pub attempts: u32,
    /// Offsets at which a broken transfer was resumed.
    pub resumed_at: Vec<usize>,
}

/// Maximum transfer attempts before the host fails.
pub const MAX_ATTEMPTS: u32 = 6;

/// Upload `data` to `dest` with octal `mode`; `tag` makes the temporary name unique per run.
#[cfg(test)]
pub async fn upload(
    r: &RemoteHost,
    data: &[u8],
    sha256: &str,
    dest: &str,
    mode: u32,
    tag: &str,
) -> Result<UploadReport, HostError> {
    upload_as(r, data, sha256, dest, mode, None, tag, "").await
}

/// The login user's upload directory under `install_dir`.
const UPLOAD_DIR: &str = ".deployctl-upload";

/// Where the bytes wait: `DIR/.deployctl-upload/NAME.TAG.N` for attempt N, in a directory
/// only the login user can enter, written under `umask 077` (a secret is never readable by
/// others, even half-written), on the destination's filesystem (the final rename is atomic).
/// A privileged file (`privileged`) waits in `INSTALL_DIR/.deployctl-upload/` instead, named
/// after its whole path (`/` as `%`: two privileged `app.toml` never share a name, and none
/// shares one with a file of the install dir): the login user may not write its destination's
/// directory; `sudo -n` makes the copy next to the destination that is renamed over it.
/// Returns the directory and the per-run base name (`NAME.TAG`); [`attempt_path`] adds N.
pub fn temp_path(dest: &str, tag: &str, privileged: bool, install_dir: &str) -> (String, String) {
    let (dir, name) = dest.rsplit_once('/').unwrap_or((".", dest));
    if privileged {
        let tmpdir = format!("{}/{UPLOAD_DIR}", install_dir.trim_end_matches('/'));
        let base = format!("{tmpdir}/{}.{tag}", dest.replace('/', "%"));
        return (tmpdir, base);
    }
    let tmpdir = format!("{dir}/{UPLOAD_DIR}");
    let base = format!("{tmpdir}/{name}.{tag}");
    (tmpdir, base)
}

/// The temporary file of one attempt: a writer left behind by a broken attempt (its `cat`
/// still appending on the host) never writes into the file of the next one.
pub fn attempt_path(base: &str, attempt: u32) -> String {
    format!("{base}.{attempt}")
}

/// Like [`upload`]; with `privileged = Some(owner)` the file waits under `install_dir` and is
/// installed through `sudo -n` (owned by `owner` when not empty). Temporary files are removed
/// on every failure.
#[allow(clippy::too_many_arguments)]
pub async fn upload_as(
    r: &RemoteHost,
    data: &[u8],
    sha256: &str,
    dest: &str,
    mode: u32,
    privileged: Option<&str>,
    tag: &str,
    install_dir: &str,
) -> Result<UploadReport, HostError> {
    let (tmpdir, base) = temp_path(dest, tag, privileged.is_some(), install_dir);
    sh::parse_dir(&r.script("upload dir", &sh::DIR, &[&tmpdir]).await?)?;
    let out = async {
        let (report, tmp) = transfer(r, data, sha256, &base, dest).await?;
        install(r, &tmp, dest, sha256, mode, privileged, tag).await?;
        Ok(report)
    }
    .await;
    // Every attempt's file goes (a late writer of a broken attempt may have recreated one).
    if let Ok(out) = r.script("remove upload", &sh::REMOVE, &[&base]).await {
        let _ = sh::parse_remove(&out);
    }
    out
}

/// Send the bytes (resuming what a broken attempt left) until the host's sha256 matches.
/// Returns the report and the verified temporary file.
async fn transfer(
    r: &RemoteHost,
    data: &[u8],
    sha256: &str,
    base: &str,
    dest: &str,
) -> Result<(UploadReport, String), HostError> {
    let mut report = UploadReport {
        dest: dest.to_string(),
        bytes: data.len(),
        sha256: sha256.to_string(),
        attempts: 0,
        resumed_at: vec![],
    };
    loop {
        report.attempts += 1;
        let tmp = attempt_path(base, report.attempts);
        let len = data.len().to_string();
        let said = r
            .script("resume upload", &sh::RESUME, &[&tmp, base, &len])
            .await?;
        let offset = sh::parse_resume(&said, data.len())?;
        if offset > 0 && offset < data.len() {
            report.resumed_at.push(offset);
        }
        if offset < data.len() {
            let sent = r
                .script_stdin(
                    "upload",
                    &sh::APPEND,
                    &[&tmp, &offset.to_string()],
                    &data[offset..],
                )
                .await;
            match sent {
                Ok(out) if out.ok() => sh::parse_append(&String::from_utf8_lossy(&out.stdout))?,
                Ok(out) => {
                    return Err(HostError::Command {
                        what: format!("writing {tmp}"),
                        status: out.status,
                        stderr: out.stderr_str(),
                    })
                }
                Err(e) if e.is_transient() && report.attempts < MAX_ATTEMPTS => {
                    tokio::time::sleep(backoff(report.attempts)).await;
                    let _ = r.t.reconnect().await;
                    continue;
                }
                Err(e) => return Err(e.into()),
            }
        }
        let remote_sha = sha_on_host_any(r, &tmp, false).await?;
        if remote_sha.is(sha256) {
            return Ok((report, tmp));
        }
        r.run(
            "discard corrupt upload",
            &["rm".into(), "-f".into(), tmp.clone()],
        )
        .await?;
        if report.attempts >= MAX_ATTEMPTS {
            return Err(HostError::Check(format!(
                "{dest}: sha256 on host {remote_sha} != expected {sha256} after {} attempts",
                report.attempts
            )));
        }
    }
}

/// Test hook: `DEPLOYCTL_TEST_FAULT=drop-after-install` kills the host's sshd process of this
/// connection right after the rename (a real lost connection at the worst moment).
fn fault() -> String {
    std::env::var("DEPLOYCTL_TEST_FAULT").unwrap_or_default()
}

/// Put the verified temp file in place: never blindly repeated. After a lost connection the
/// host is asked what happened (the destination's sha256) and the install counts as done
/// when it already carries the new bytes.
async fn install(
    r: &RemoteHost,
    tmp: &str,
    dest: &str,
    sha256: &str,
    mode: u32,
    privileged: Option<&str>,
    tag: &str,
) -> Result<(), HostError> {
    let mode = format!("{mode:o}");
    let res = match privileged {
        None => r
            .script_once("install", &sh::INSTALL, &[tmp, &mode, dest, &fault()])
            .await
            .map(|out| sh::parse_install(&out)),
        Some(owner) => r
            .script_once(
                "install (sudo)",
                &sh::INSTALL_SUDO,
                &[tmp, &mode, dest, tag, owner],
            )
            .await
            .map(|out| sh::parse_install_sudo(&out)),
    };
    match res {
        Ok(parsed) => Ok(parsed?),
        Err(HostError::Transport(e)) if e.is_transient() => {
            let _ = r.t.reconnect().await;
            let now = sha_on_host_any(r, dest, privileged.is_some()).await?;
            if now.is(sha256) {
                return Ok(());
            }
            Err(HostError::Check(format!(
                "{dest}: connection lost during install ({e}); the host shows {now}, not the new build: not repeated"
            )))
        }
        Err(e) => Err(e),
    }
}

/// What is at `path` on the host (read through `sudo -n` with `sudo`).
pub(crate) async fn sha_on_host_any(
    r: &RemoteHost,
    path: &str,
    sudo: bool,
) -> Result<FileSha, HostError> {
    let (what, flag) = if sudo {
        ("sha256 on host (sudo)", "1")
    } else {
        ("sha256 on host", "0")
    };
    let out = r.script(what, &files::SHA256, &[path, flag]).await?;
    Ok(files::parse_sha256(&out)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn local() -> RemoteHost {
        RemoteHost::local_for_tests()
    }

    fn ls(d: &std::path::Path) -> Vec<std::ffi::OsString> {
        let mut v: Vec<_> = std::fs::read_dir(d)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn sha256_of_known_input() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[tokio::test]
    async fn uploads_verifies_and_renames_resuming_a_partial_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("sub/app");
        let data: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        let sha = sha256_hex(&data);
        // An earlier attempt of this run left the first 1000 bytes in its own temp file.
        std::fs::create_dir_all(dir.path().join("sub")).unwrap();
        std::fs::create_dir_all(dir.path().join("sub/.deployctl-upload")).unwrap();
        std::fs::write(
            dir.path().join("sub/.deployctl-upload/app.r1.0"),
            &data[..1000],
        )
        .unwrap();
        let rep = upload(&local(), &data, &sha, dest.to_str().unwrap(), 0o750, "r1")
            .await
            .unwrap();
        assert_eq!(rep.resumed_at, vec![1000]);
        assert_eq!(std::fs::read(&dest).unwrap(), data);
        assert_eq!(
            std::fs::metadata(&dest).unwrap().permissions().mode() & 0o777,
            0o750
        );
        let leftovers = ls(&dir.path().join("sub"));
        assert_eq!(
            leftovers,
            vec![
                std::ffi::OsString::from(".deployctl-upload"),
                std::ffi::OsString::from("app")
            ]
        );
        assert!(ls(&dir.path().join("sub/.deployctl-upload")).is_empty());
        let tmpdir = std::fs::metadata(dir.path().join("sub/.deployctl-upload")).unwrap();
        assert_eq!(tmpdir.permissions().mode() & 0o777, 0o700);
    }

    #[tokio::test]
    async fn a_corrupt_temp_file_is_discarded_and_the_destination_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("app");
        std::fs::write(&dest, b"old").unwrap();
        let data = b"new contents".to_vec();
        std::fs::create_dir_all(dir.path().join(".deployctl-upload")).unwrap();
        std::fs::write(dir.path().join(".deployctl-upload/app.r2.0"), b"XXX").unwrap();
        let rep = upload(
            &local(),
            &data,
            &sha256_hex(&data),
            dest.to_str().unwrap(),
            0o755,
            "r2",
        )
        .await
        .unwrap();
        assert_eq!(
            rep.attempts, 2,
            "first pass finds a bad checksum, second re-sends"
        );
        assert_eq!(std::fs::read(&dest).unwrap(), data);
        let wrong = upload(
            &local(),
            &data,
            &"0".repeat(64),
            dest.to_str().unwrap(),
            0o755,
            "r3",
        )
        .await;
        assert!(matches!(wrong, Err(HostError::Check(_))));
        assert_eq!(
            std::fs::read(&dest).unwrap(),
            data,
            "destination untouched by a failed upload"
        );
        assert!(ls(&dir.path().join(".deployctl-upload")).is_empty());
    }
}
