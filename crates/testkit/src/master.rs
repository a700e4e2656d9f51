//! One process type for a master under test (hotel-api or zdrun): its listeners bind port 0
//! and it reports the addresses it bound in its JSON log (`listening`, `admin_listening`), read
//! here; its pid; signals and the stop by pid (SIGKILL to the master and the children it
//! had). In the compatibility mode (workers bind the port themselves) the port is a
//! [`Reserved`] one instead.

use crate::http::{self, Response};
use crate::net::Reserved;
use crate::procs;
use crate::wait::{wait_some, wait_until, WAIT};
use serde_json::Value;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

/// The admin token every master started here gets (restart over TCP needs one).
pub const ADMIN_TOKEN: &str = "testkit-admin-token-0123456789";

/// Writes [`ADMIN_TOKEN`] to `dir/admin.token`, mode 0600, and returns its path.
pub fn token_file(dir: &Path) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let p = dir.join("admin.token");
    std::fs::write(&p, ADMIN_TOKEN).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
    p
}

/// A running master, stopped by pid on drop.
pub struct Master {
    /// Its own directory: binary copy, config, data, pid file, token, log.
    pub dir: tempfile::TempDir,
    /// Its stderr (JSON lines).
    pub log: PathBuf,
    child: Child,
    addr: OnceLock<SocketAddr>,
    admin: OnceLock<SocketAddr>,
    reserved: Option<Reserved>,
}

impl Master {
    /// Starts `cmd` (stdin and stdout closed, stderr to `dir/log_name`); not waited.
    /// `reserved`: the public port when the master does not bind it itself.
    pub fn spawn(
        mut cmd: Command,
        dir: tempfile::TempDir,
        log_name: &str,
        reserved: Option<Reserved>,
    ) -> Master {
        let log = dir.path().join(log_name);
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap_or_else(|e| panic!("start {cmd:?}: {e}"));
        Master {
            dir,
            log,
            child,
            addr: OnceLock::new(),
            admin: OnceLock::new(),
            reserved,
        }
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// The public address (the first `listening` event; waited for, bounded).
    pub fn addr(&self) -> SocketAddr {
        *self.addr.get_or_init(|| match &self.reserved {
            Some(r) => r.addr,
            None => self.logged_addr("listening"),
        })
    }

    /// The admin address (the `admin_listening` event; waited for, bounded).
    pub fn admin(&self) -> SocketAddr {
        *self
            .admin
            .get_or_init(|| self.logged_addr("admin_listening"))
    }

    fn logged_addr(&self, event: &str) -> SocketAddr {
        let what = format!("log event {event} of pid {}", self.pid());
        let e = wait_some(&what, WAIT, || {
            let found = self.events(event).into_iter().next();
            assert!(
                found.is_some() || procs::running(self.pid()),
                "master exited before {event}:\n{}",
                self.log_text()
            );
            found
        });
        let addr = e["addr"].as_str().unwrap_or_default();
        addr.parse()
            .unwrap_or_else(|_| panic!("{event}: no TCP address in {e}"))
    }

    /// The log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The log's JSON lines.
    pub fn log_events(&self) -> Vec<Value> {
        self.log_text()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// `fields` of the log lines whose `fields.event` is `event`.
    pub fn events(&self, event: &str) -> Vec<Value> {
        self.log_events()
            .into_iter()
            .filter(|e| e["fields"]["event"] == event)
            .map(|e| e["fields"].clone())
            .collect()
    }

    /// Waits (bounded) until the log has an event matching `pred`; returns its fields.
    pub fn wait_event(&self, event: &str, pred: impl Fn(&Value) -> bool) -> Value {
        wait_some(&format!("log event {event}"), WAIT, || {
            self.events(event).into_iter().find(|e| pred(e))
        })
    }

    /// Pids of the master's children (zombies included).
    pub fn children(&self) -> Vec<i32> {
        procs::children_of(self.pid())
    }

    pub fn signal(&self, sig: libc::c_int) {
        assert!(procs::signal(self.pid(), sig), "signal {sig} to the master");
    }

    /// Its exit status if it has exited.
    pub fn try_wait(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().unwrap()
    }

    /// Waits (bounded by [`WAIT`]) for the master to exit.
    pub fn wait_exit(&mut self) -> ExitStatus {
        let mut st = None;
        wait_until("the master exits", || {
            st = self.child.try_wait().unwrap();
            st.is_some()
        });
        st.unwrap()
    }

    /// SIGTERM, then [`Master::wait_exit`].
    pub fn term_and_wait(&mut self) -> ExitStatus {
        self.signal(libc::SIGTERM);
        self.wait_exit()
    }

    /// SIGKILL to the master alone, then reaps it.
    pub fn kill(&mut self) -> ExitStatus {
        self.signal(libc::SIGKILL);
        self.child.wait().unwrap()
    }

    /// `GET path` on the public address; `None` when nothing answers.
    pub fn try_get(&self, path: &str) -> Option<Response> {
        http::get(self.addr(), path, Duration::from_secs(5)).ok()
    }

    /// `GET path` on the public address.
    pub fn get(&self, path: &str) -> Response {
        http::get(self.addr(), path, Duration::from_secs(10))
            .unwrap_or_else(|e| panic!("GET {path}: {e}"))
    }

    /// `GET path` on the admin endpoint, bounded by [`WAIT`] (a first `/status` hashes the
    /// worker's binary: seconds for a debug build on a loaded machine).
    pub fn admin_get(&self, path: &str) -> Response {
        http::get(self.admin(), path, WAIT).unwrap_or_else(|e| panic!("admin GET {path}: {e}"))
    }

    /// The admin `/status` as JSON.
    pub fn status(&self) -> Value {
        self.admin_get("/status").json()
    }

    /// The admin `/metrics` text.
    pub fn metrics(&self) -> String {
        self.admin_get("/metrics").body
    }

    /// `POST /restart` on the admin endpoint with `token`.
    pub fn post_restart(&self, token: Option<&str>) -> Response {
        let t = Duration::from_secs(60);
        http::request(self.admin(), "POST", "/restart", token, t)
            .unwrap_or_else(|e| panic!("POST /restart: {e}"))
    }

    /// Synchronous graceful restart with [`ADMIN_TOKEN`]; the outcome JSON.
    pub fn restart(&self) -> Value {
        self.post_restart(Some(ADMIN_TOKEN)).json()
    }

    /// Waits (bounded) until `GET /ready` answers 200 on the public address.
    pub fn wait_serving(&self) {
        wait_until("service ready", || {
            self.try_get("/ready").is_some_and(|r| r.status == 200)
        });
    }
}

impl Drop for Master {
    fn drop(&mut self) {
        // A master already reaped is left alone: its pid may belong to another process now.
        if !matches!(self.child.try_wait(), Ok(None)) {
            return;
        }
        let kids = self.children();
        procs::signal(self.pid(), libc::SIGKILL);
        let _ = self.child.wait();
        for k in kids {
            procs::signal(k, libc::SIGKILL);
        }
    }
}
