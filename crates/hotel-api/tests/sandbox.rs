//! The shipped systemd unit starts under its own sandbox. systemd does not run on CI machines,
//! so the test reproduces what the unit imposes on the master: a private mount namespace in
//! which `/tmp` is read-only (`ProtectSystem=strict`), `RUNTIME_DIRECTORY` set (by
//! `RuntimeDirectory=`), no `XDG_RUNTIME_DIR`. The master must serve, and remove only what it
//! created.
mod support;

use std::process::{Command, Stdio};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
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
    let addr = format!("127.0.0.1:{}", free_port());
    let admin = format!("127.0.0.1:{}", free_port());
    let pid_file = run.join("hotel-api.pid");
    let log = root.path().join("master.log");
    let mut master = Command::new("unshare")
        .args([
            "--mount",
            "--propagation",
            "private",
            "sh",
            "-c",
            SANDBOX,
            "sh",
        ])
        .arg(env!("CARGO_BIN_EXE_hotel-api"))
        .args(["--listen", &addr, "--admin", &admin, "--pid-file"])
        .arg(&pid_file)
        .arg("--data-dir")
        .arg(root.path().join("data"))
        .env_remove("XDG_RUNTIME_DIR")
        .env("RUNTIME_DIRECTORY", &run)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let addr = addr.parse().unwrap();
    let serving = || {
        block_on(runtime::master::probe::get(
            addr,
            "/ready",
            std::time::Duration::from_secs(2),
        ))
        .is_ok_and(|r| r.status == 200)
    };
    let deadline = std::time::Instant::now() + WAIT;
    while !serving() {
        if let Some(st) = master.try_wait().unwrap() {
            panic!(
                "master exited under the sandbox: {st:?}\n{}",
                std::fs::read_to_string(&log).unwrap()
            );
        }
        assert!(
            std::time::Instant::now() < deadline,
            "not serving under the sandbox"
        );
        std::thread::sleep(std::time::Duration::from_millis(25));
    }
    assert_eq!(
        zdrun_dirs(&run).len(),
        1,
        "runtime dir inside RUNTIME_DIRECTORY"
    );
    kill(Pid::from_raw(master.id() as i32), Signal::SIGTERM).unwrap();
    let deadline = std::time::Instant::now() + WAIT;
    let status = loop {
        if let Some(st) = master.try_wait().unwrap() {
            break st;
        }
        assert!(std::time::Instant::now() < deadline, "master did not exit");
        std::thread::sleep(std::time::Duration::from_millis(25));
    };
    assert_eq!(
        status.code(),
        Some(0),
        "{}",
        std::fs::read_to_string(&log).unwrap()
    );
    assert!(zdrun_dirs(&run).is_empty(), "its own directory removed");
    assert!(!pid_file.exists(), "pid file removed");
    assert!(bystander.exists(), "never remove what it did not create");
}
