//! The shipped systemd unit starts under its own sandbox. systemd does not run on CI machines,
//! so the test reproduces what the unit imposes on the master: a private mount namespace in
//! which `/tmp` is read-only (`ProtectSystem=strict`), `RUNTIME_DIRECTORY` set (by
//! `RuntimeDirectory=`), no `XDG_RUNTIME_DIR`. The master must serve, and remove only what it
//! created.
mod support;

use std::process::Command;

use support::*;

const UNIT: &str = include_str!("../../../packaging/systemd/hotel-api.service");

/// `sh -c` body run in the new mount namespace: make /tmp read-only there, prove it, then exec
/// the master (same pid: `unshare` and `sh` both exec).
const SANDBOX: &str = "mount --bind /tmp /tmp && mount -o remount,bind,ro /tmp || exit 96
if touch /tmp/.hotel-api-sandbox-probe 2>/dev/null; then exit 97; fi
exec \"$@\"";

fn zdrun_dirs(dir: &std::path::Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("zdrun-"))
        .collect()
}

#[test]
fn master_serves_under_the_units_sandbox_with_a_read_only_tmp() {
    for line in [
        "ProtectSystem=strict",
        "RuntimeDirectory=hotel-api",
        "Type=notify",
    ] {
        assert!(UNIT.lines().any(|l| l == line), "the unit must keep {line}");
    }
    // Under /run, as the unit's RuntimeDirectory is: the sandbox makes /tmp read-only, and
    // the target dir itself may sit under /tmp (a clone in /tmp).
    let root = tempfile::Builder::new()
        .prefix("hotel-api-sandbox-")
        .tempdir_in("/run")
        .unwrap();
    let run = root.path().join("run/hotel-api");
    std::fs::create_dir_all(&run).unwrap();
    let bystander = run.join("operator-file");
    std::fs::write(&bystander, "not the master's").unwrap();
    let pid_file = run.join("hotel-api.pid");
    let mut cmd = Command::new("unshare");
    cmd.args(["--mount", "--propagation", "private", "sh", "-c"])
        .args([SANDBOX, "sh"])
        .arg(testkit::bins::hotel_api())
        .args(["--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0"])
        .arg("--pid-file")
        .arg(&pid_file)
        .arg("--data-dir")
        .arg(root.path().join("data"))
        .env_remove("XDG_RUNTIME_DIR")
        .env("RUNTIME_DIRECTORY", &run);
    // Same pid as the master: `unshare` and `sh` both exec. Its log names the port it bound.
    let mut master = Master::spawn(cmd, root, "master.log", None);
    master.wait_serving();
    assert_eq!(
        zdrun_dirs(&run).len(),
        1,
        "runtime dir inside RUNTIME_DIRECTORY"
    );
    let status = master.term_and_wait();
    assert_eq!(status.code(), Some(0), "{}", master.log_text());
    assert!(zdrun_dirs(&run).is_empty(), "its own directory removed");
    assert!(!pid_file.exists(), "pid file removed");
    assert!(bystander.exists(), "never remove what it did not create");
}
