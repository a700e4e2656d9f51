//! A secret shipped with the build is never readable by others on the host, not even while
//! its upload is paused halfway (the host's SSH packets dropped with nftables).

use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};
use testkit::*;

#[test]
fn a_0600_secret_is_never_readable_by_others_during_a_paused_upload() {
    let mut f = Fleet::new(1, &Inv::default());
    let key = f.work.path().join("tls.key");
    let secret: Vec<u8> = (0..24u32 << 20)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    std::fs::write(&key, &secret).unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    f.set_inv(&Inv {
        config: vec![ConfigFile::new(&key, "tls.key", Some("0600"))],
        admin: false,
        ..Inv::default()
    });
    let (bed, inv, state) = (&f.bed, &f.inv, &f.state);
    // Slow the host's inbound SSH traffic, so the data in flight when the pause starts is a
    // small part of the 24 MiB and the upload is still halfway when it is paused.
    bed.limit_ssh(0, 8);
    let run = spawn(inv, state, &["rollout", "--env", "bed"]);
    let tmpdir = bed.srv(0).join("hotel/.deployctl-upload");
    let mut seen = 0;
    let mut paused = false;
    let t0 = Instant::now();
    // Watch every state of the temporary file until the upload is done.
    while !bed.srv(0).join("hotel/tls.key").exists() {
        assert!(
            t0.elapsed() < Duration::from_secs(120),
            "upload never finished"
        );
        for e in std::fs::read_dir(&tmpdir).into_iter().flatten().flatten() {
            if !e.file_name().to_string_lossy().starts_with("tls.key.") {
                continue;
            }
            let Ok(m) = e.metadata() else { continue };
            seen += 1;
            assert_eq!(
                m.permissions().mode() & 0o077,
                0,
                "temp file readable by others"
            );
            let dm = std::fs::metadata(&tmpdir).unwrap().permissions().mode();
            assert_eq!(dm & 0o777, 0o700, "upload dir open to others");
            if !paused && m.len() < secret.len() as u64 / 2 {
                paused = true;
                bed.nft(0, &["add", "table", "inet", "dctlpause"]);
                bed.nft(
                    0,
                    &[
                        "add",
                        "chain",
                        "inet",
                        "dctlpause",
                        "input",
                        "{ type filter hook input priority 0 ; }",
                    ],
                );
                bed.nft(
                    0,
                    &[
                        "add",
                        "rule",
                        "inet",
                        "dctlpause",
                        "input",
                        "tcp",
                        "dport",
                        "22",
                        "drop",
                    ],
                );
                std::thread::sleep(Duration::from_millis(1500));
                let m = std::fs::metadata(e.path())
                    .expect("the temporary file outlived the pause (upload finished first)");
                assert!(m.len() < secret.len() as u64, "paused halfway");
                assert_eq!(
                    m.permissions().mode() & 0o077,
                    0,
                    "paused temp file readable by others"
                );
                bed.nft(0, &["delete", "table", "inet", "dctlpause"]);
            }
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    let r = finish(run, Duration::from_secs(120));
    assert_eq!(r.code, 0, "{} {}", r.stderr, r.json);
    assert!(
        seen > 0 && paused,
        "the temporary file was observed ({seen}) and paused"
    );
    let dest = bed.srv(0).join("hotel/tls.key");
    assert_eq!(
        std::fs::metadata(&dest).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert!(std::fs::read(&dest).unwrap() == secret);
    assert!(ls(&tmpdir).is_empty(), "no temporary file left");
    let bin = bed.srv(0).join("hotel/hotel-api");
    assert_eq!(
        std::fs::metadata(bin).unwrap().permissions().mode() & 0o777,
        0o755
    );
}
