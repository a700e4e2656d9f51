//! Shared harness of the `zdrun` tests: a real `zdrun` master over a Python worker (or a
//! wrapper script), run as the test kit's [`Master`] (listeners on port 0, addresses read from
//! its log, stopped by pid); real signals, bounded waits.
#![allow(dead_code, unused_imports)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

pub use runtime::master::probe;
pub use testkit::procs::{alive as exists, children_of, socket_inodes, tcp_sockets};
pub use testkit::{block_on, wait_until, Master, ADMIN_TOKEN, WAIT};

/// The Python worker fixture.
pub const WORKER: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/worker.py");

/// `GET path` on `addr` through the runtime's own client; `None` when nothing answers.
pub fn get(addr: SocketAddr, path: &str) -> Option<probe::ProbeResponse> {
    block_on(probe::get(addr, path, Duration::from_secs(5))).ok()
}

/// A `zdrun` master and the file its worker reads its mode from.
pub struct Zdrun {
    pub master: Master,
    pub mode_file: PathBuf,
}

impl std::ops::Deref for Zdrun {
    type Target = Master;
    fn deref(&self) -> &Master {
        &self.master
    }
}

impl std::ops::DerefMut for Zdrun {
    fn deref_mut(&mut self) -> &mut Master {
        &mut self.master
    }
}

impl Zdrun {
    /// `zdrun` over the Python worker in `mode`.
    pub fn start(mode: &str, extra: &[&str], notify: Option<&Path>) -> Zdrun {
        Zdrun::start_with(mode, extra, notify, |_| {
            vec!["python3".into(), WORKER.into()]
        })
    }

    /// `zdrun` over the Python worker with a TCP admin endpoint and no admin token.
    pub fn start_without_token(mode: &str) -> Zdrun {
        Zdrun::spawn(mode, &[], None, false, |_| {
            vec!["python3".into(), WORKER.into()]
        })
    }

    /// `zdrun` over the command built by `command(dir)` (the mode file is appended).
    pub fn start_with(
        mode: &str,
        extra: &[&str],
        notify: Option<&Path>,
        command: impl FnOnce(&Path) -> Vec<std::ffi::OsString>,
    ) -> Zdrun {
        let token = !extra.iter().any(|a| a.starts_with("--admin-token-file"));
        Zdrun::spawn(mode, extra, notify, token, command)
    }

    fn spawn(
        mode: &str,
        extra: &[&str],
        notify: Option<&Path>,
        token: bool,
        command: impl FnOnce(&Path) -> Vec<std::ffi::OsString>,
    ) -> Zdrun {
        let dir = tempfile::tempdir().unwrap();
        let mode_file = dir.path().join("mode");
        std::fs::write(&mode_file, mode).unwrap();
        let worker = command(dir.path());
        let mut cmd = Command::new(testkit::bins::zdrun());
        cmd.args(["--listen", "http=127.0.0.1:0", "--admin", "127.0.0.1:0"])
            .args(["--ready-interval", "100ms"]);
        if token {
            cmd.arg("--admin-token-file")
                .arg(testkit::master::token_file(dir.path()));
        }
        cmd.args(extra).arg("--").args(worker).arg(&mode_file);
        match notify {
            Some(p) => cmd.env("NOTIFY_SOCKET", p),
            None => cmd.env_remove("NOTIFY_SOCKET"),
        };
        Zdrun {
            master: Master::spawn(cmd, dir, "zdrun.log", None),
            mode_file,
        }
    }

    /// Waits until the worker answers `GET /` with 200; returns the body.
    pub fn wait_serving(&self) -> String {
        let mut body = String::new();
        wait_until("worker serving", || {
            get(self.addr(), "/").is_some_and(|r| {
                body = r.body;
                r.status == 200
            })
        });
        body
    }

    /// Waits until the master has confirmed a worker's readiness; returns its generation.
    pub fn wait_confirmed(&self) -> u64 {
        let mut generation = 0;
        wait_until("worker readiness confirmed by the master", || {
            get(self.admin(), "/status").is_some_and(|r| {
                serde_json::from_str::<serde_json::Value>(&r.body).is_ok_and(|s| {
                    generation = s["current"]["generation"].as_u64().unwrap_or(0);
                    s["current"]["ready"] == true
                })
            })
        });
        generation
    }

    /// The master's log so far.
    pub fn log(&self) -> String {
        self.log_text()
    }
}

/// The worker pid in a fixture response (`gen G pid P mode M`).
pub fn pid_in(body: &str) -> i32 {
    body.split_whitespace().nth(3).unwrap().parse().unwrap()
}
