//! Upload of one file: written to a temporary name next to its destination, resumed from
//! the bytes already on the host when the connection dies, sha256-verified on the host, then
//! renamed over the destination (atomic on one filesystem). A failed upload never leaves a
//! partial file at the destination.

use crate::remote::{HostError, RemoteHost};
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
pub async fn upload(
    r: &RemoteHost,
    data: &[u8],
    sha256: &str,
    dest: &str,
    mode: u32,
    tag: &str,
) -> Result<UploadReport, HostError> {
    let (dir, name) = dest.rsplit_once('/').unwrap_or((".", dest));
    let tmp = format!("{dir}/.{name}.upload-{tag}");
    r.run("mkdir", &["mkdir".into(), "-p".into(), dir.to_string()])
        .await?;
    let mut report = UploadReport {
        dest: dest.to_string(),
        bytes: data.len(),
        sha256: sha256.to_string(),
        attempts: 0,
        resumed_at: vec![],
    };
    loop {
        report.attempts += 1;
        // Bytes already on the host (0 when the temp file does not exist).
        let have: usize = r
            .script(
                "stat upload",
                r#"[ -e "$1" ] && stat -c %s "$1" || echo 0"#,
                &[&tmp],
            )
            .await?
            .trim()
            .parse()
            .unwrap_or(0);
        let offset = if have > data.len() {
            r.run("reset upload", &["rm".into(), "-f".into(), tmp.clone()])
                .await?;
            0
        } else {
            have
        };
        if offset > 0 && offset < data.len() {
            report.resumed_at.push(offset);
        }
        if offset < data.len() {
            let sent = r
                .script_stdin("upload", r#"cat >> "$1""#, &[&tmp], &data[offset..])
                .await;
            match sent {
                Ok(out) if out.ok() => {}
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
        let remote_sha = r
            .script(
                "sha256 on host",
                r#"sha256sum "$1" | cut -d' ' -f1"#,
                &[&tmp],
            )
            .await?;
        if remote_sha.trim() == sha256 {
            break;
        }
        r.run(
            "discard corrupt upload",
            &["rm".into(), "-f".into(), tmp.clone()],
        )
        .await?;
        if report.attempts >= MAX_ATTEMPTS {
            return Err(HostError::Check(format!(
                "{dest}: sha256 on host {} != expected {sha256} after {} attempts",
                remote_sha.trim(),
                report.attempts
            )));
        }
    }
    r.script(
        "install",
        r#"chmod "$2" "$1" && mv -f "$1" "$3""#,
        &[&tmp, &format!("{mode:o}"), dest],
    )
    .await?;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::Host;
    use crate::transport::local::LocalTransport;
    use std::os::unix::fs::PermissionsExt;

    fn local() -> RemoteHost {
        let h = Host {
            name: "local".into(),
            address: "127.0.0.1".into(),
            user: "root".into(),
            port: 22,
            roles: vec![],
            dr: false,
            gray: false,
            external_url: "http://127.0.0.1:1".into(),
        };
        RemoteHost::new(h, Box::new(LocalTransport::new("local")))
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
        // A previous attempt left the first 1000 bytes in the temp file.
        std::fs::create_dir_all(dir.path().join("sub")).unwrap();
        std::fs::write(dir.path().join("sub/.app.upload-r1"), &data[..1000]).unwrap();
        let rep = upload(&local(), &data, &sha, dest.to_str().unwrap(), 0o750, "r1")
            .await
            .unwrap();
        assert_eq!(rep.resumed_at, vec![1000]);
        assert_eq!(std::fs::read(&dest).unwrap(), data);
        assert_eq!(
            std::fs::metadata(&dest).unwrap().permissions().mode() & 0o777,
            0o750
        );
        let leftovers: Vec<_> = std::fs::read_dir(dir.path().join("sub"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(leftovers, vec![std::ffi::OsString::from("app")]);
    }

    #[tokio::test]
    async fn a_corrupt_temp_file_is_discarded_and_the_destination_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("app");
        std::fs::write(&dest, b"old").unwrap();
        let data = b"new contents".to_vec();
        std::fs::write(dir.path().join(".app.upload-r2"), b"XXX").unwrap();
        std::fs::write(
            dir.path().join(".app.upload-old-run"),
            b"left by a killed run",
        )
        .unwrap();
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
        assert!(!dir.path().join(".app.upload-r3").exists());
    }
}
