//! Authenticated control: the admin Unix socket's mode, never replacing a file that is not a
//! socket, and the bearer token for `POST /restart`.

mod support;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::process::{Command, Stdio};
use std::time::Duration;

use support::*;

const TOKEN: &str = "s3cret-token-0123456789";

fn token_file(dir: &std::path::Path, mode: u32) -> std::path::PathBuf {
    let p = dir.join("admin.token");
    std::fs::write(&p, format!("{TOKEN}\n")).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
    p
}

fn post_restart(z: &Zdrun, token: Option<&str>) -> probe::ProbeResponse {
    block_on(probe::request_with_token(
        z.admin(),
        "POST",
        "/restart",
        Duration::from_secs(60),
        token,
    ))
    .unwrap()
}

#[test]
fn restart_without_the_token_is_refused_and_reads_stay_open() {
    let tdir = tempfile::tempdir().unwrap();
    let file = token_file(tdir.path(), 0o600);
    let z = Zdrun::start(
        "normal",
        &["--admin-token-file", file.to_str().unwrap()],
        None,
    );
    z.wait_serving();
    for token in [None, Some("wrong-token-0123456789")] {
        let r = post_restart(&z, token);
        assert_eq!(r.status, 401, "{token:?}: {}", r.body);
        assert!(r.body.contains("refused"), "{}", r.body);
    }
    assert_eq!(get(z.admin(), "/metrics").unwrap().status, 200);
    let generation = z.wait_confirmed();
    assert!(
        get(z.admin(), "/metrics")
            .unwrap()
            .body
            .contains(&format!("hotel_be_worker_generation {generation}")),
        "{}",
        z.log()
    );
    let r = post_restart(&z, Some(TOKEN));
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(generation, 1, "no restart may have happened: {}", z.log());
    // `ctl` reads the same file.
    let out = Command::new(testkit::bins::zdrun())
        .args([
            "ctl",
            "restart",
            "--admin",
            &z.admin().to_string(),
            "--token-file",
        ])
        .arg(&file)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let outcome: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(outcome["generation"], generation + 2, "{outcome}");
    assert!(!z.log().contains(TOKEN), "the token must never be logged");
}

#[test]
fn restart_over_tcp_without_a_token_file_is_refused() {
    let z = Zdrun::start_without_token("normal");
    z.wait_serving();
    let generation = z.wait_confirmed();
    for token in [None, Some("any-token-at-all-0123456789")] {
        let r = post_restart(&z, token);
        assert_eq!(r.status, 401, "{token:?}: {}", r.body);
        assert!(r.body.contains("--admin-token-file"), "{}", r.body);
    }
    let out = Command::new(testkit::bins::zdrun())
        .args(["ctl", "restart", "--admin", &z.admin().to_string()])
        .output()
        .unwrap();
    assert!(!out.status.success(), "ctl restart must fail: {out:?}");
    assert_eq!(
        get(z.admin(), "/status").unwrap().status,
        200,
        "reads stay open"
    );
    assert_eq!(
        z.wait_confirmed(),
        generation,
        "no restart may have happened"
    );
    assert!(z.log().contains("admin_refused"), "{}", z.log());
}

#[test]
fn token_file_readable_by_others_is_refused_at_start() {
    let tdir = tempfile::tempdir().unwrap();
    let file = token_file(tdir.path(), 0o644);
    let out = Command::new(testkit::bins::zdrun())
        .args(["--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0"])
        .arg("--admin-token-file")
        .arg(&file)
        .args(["--", "true"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("readable by group or others"), "{err}");
}

fn start_on_socket(sock: &std::path::Path, extra: &[&str]) -> std::process::Child {
    Command::new(testkit::bins::zdrun())
        .args(["--listen", "http=127.0.0.1:0"])
        .arg("--admin")
        .arg(format!("unix:{}", sock.display()))
        .args(extra)
        .args(["--", "python3", WORKER])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Waits (bounded) until the master answers `GET /status` on its admin socket.
fn wait_until_served(sock: &std::path::Path) {
    wait_until("admin socket answers", || {
        block_on(probe::request_unix(
            sock,
            "GET",
            "/status",
            Duration::from_secs(5),
        ))
        .is_ok_and(|r| r.status == 200)
    });
}

#[test]
fn admin_socket_is_0600_or_0660_with_a_group_and_never_replaces_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("admin.sock");
    // A stale socket (its master SIGKILLed) is replaced; a regular file at the path is refused
    // and left intact.
    std::fs::write(&sock, "precious").unwrap();
    let out = start_on_socket(&sock, &[]).wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("not a socket"),
        "{out:?}"
    );
    assert_eq!(std::fs::read_to_string(&sock).unwrap(), "precious");
    std::fs::remove_file(&sock).unwrap();
    for (extra, mode) in [(&[][..], 0o600), (&["--admin-group", "0"][..], 0o660)] {
        let mut master = start_on_socket(&sock, extra);
        // The socket is created 0600 and only then opened to its group.
        wait_until("admin socket with its final mode", || {
            std::fs::metadata(&sock).is_ok_and(|m| m.mode() & 0o777 == mode && m.gid() == 0)
        });
        wait_until_served(&sock);
        // A second master must not take over a socket that is being served.
        let second = start_on_socket(&sock, &[]).wait_with_output().unwrap();
        assert_eq!(second.status.code(), Some(2), "{second:?}");
        let _ = master.kill();
        let _ = master.wait();
    }
}

#[test]
fn a_master_stopped_by_sigterm_removes_its_admin_socket() {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("admin.sock");
    let mut master = start_on_socket(&sock, &[]);
    wait_until_served(&sock);
    let pid = nix::unistd::Pid::from_raw(master.id() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
    let mut status = None;
    wait_until("the master exits after SIGTERM", || {
        status = master.try_wait().unwrap();
        status.is_some()
    });
    assert!(status.unwrap().success(), "{status:?}");
    assert!(
        std::fs::symlink_metadata(&sock).is_err(),
        "the admin socket outlived its master"
    );
}
