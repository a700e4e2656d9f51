//! Runs of the real `deployctl` binary, each bounded: `deployctl -i INV --state-dir STATE
//! --json ARGS`, its exit code, JSON report and stderr.

use serde_json::Value;
use std::ffi::OsStr;
use std::io::Read;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Result of one deployctl run.
pub struct Run {
    pub code: i32,
    pub json: Value,
    pub stderr: String,
}

impl Run {
    /// The run's local audit log (`audit_log` of the report), as text.
    pub fn audit(&self) -> String {
        let p = self.json["audit_log"]
            .as_str()
            .unwrap_or_else(|| panic!("no audit_log in {}", self.json));
        std::fs::read_to_string(p).unwrap()
    }

    /// The run's audit records.
    pub fn audit_events(&self) -> Vec<Value> {
        self.audit()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    /// The report's entry of host `name`.
    pub fn host(&self, name: &str) -> &Value {
        self.json["hosts"]
            .as_array()
            .unwrap_or_else(|| panic!("no hosts in {}", self.json))
            .iter()
            .find(|h| h["host"] == name)
            .unwrap_or_else(|| panic!("no host {name} in {}", self.json))
    }
}

/// The command line `deployctl -i INV --state-dir STATE --json`, its temporary files next to
/// the state dir (inside the test's own temporary directory: a run the test kills cannot
/// leave them in /tmp).
pub fn command(inv: &Path, state: &Path) -> Command {
    command_via(&[], inv, state)
}

/// [`command`] run through `prefix` (e.g. `unshare ... sh -c SCRIPT sh ARGS`), which gets
/// the deployctl command line as its last arguments.
pub fn command_via(prefix: &[&OsStr], inv: &Path, state: &Path) -> Command {
    let tmp = state.with_file_name("tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    let bin = crate::bins::deployctl();
    let mut c = match prefix.split_first() {
        Some((program, args)) => {
            let mut c = Command::new(program);
            c.args(args).arg(bin);
            c
        }
        None => Command::new(bin),
    };
    c.env("TMPDIR", &tmp)
        .arg("-i")
        .arg(inv)
        .arg("--state-dir")
        .arg(state)
        .arg("--json");
    c
}

/// [`command`] in a private mount namespace of its own, after `SCRIPT` ran there with `$1`
/// set to `arg` (e.g. a bind mount over /etc/hosts); the machine's mounts are never touched.
pub fn unshared(script: &str, arg: &Path, inv: &Path, state: &Path) -> Command {
    let script = format!("{script} && shift && exec \"$@\"");
    let prefix = ["unshare", "--mount", "--propagation", "private", "sh", "-c"];
    let mut prefix: Vec<&OsStr> = prefix.iter().map(OsStr::new).collect();
    prefix.extend([OsStr::new(&script), OsStr::new("sh"), arg.as_os_str()]);
    command_via(&prefix, inv, state)
}

/// Start `deployctl -i INV --state-dir STATE --json ARGS` (not waited).
pub fn spawn(inv: &Path, state: &Path, args: &[&str]) -> Child {
    spawn_env(inv, state, args, &[])
}

/// [`spawn`] with extra environment variables.
pub fn spawn_env(inv: &Path, state: &Path, args: &[&str], envs: &[(&str, &str)]) -> Child {
    command(inv, state)
        .envs(envs.iter().copied())
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Wait for `child` at most `limit`; kill it (by its pid) past that and fail the test.
pub fn finish(child: Child, limit: Duration) -> Run {
    let out = output_within(child, limit, "deployctl");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    Run {
        code: out.status.code().unwrap_or(-1),
        json: serde_json::from_str(&stdout).unwrap_or(Value::Null),
        stderr: String::from_utf8_lossy(&out.stderr).to_string(),
    }
}

/// Wait for `child` (`what`) at most `limit` while reading its piped stdout and stderr (so a
/// full pipe cannot stall it); kill it (by its pid) past the limit and fail the test.
pub fn output_within(mut child: Child, limit: Duration, what: &str) -> Output {
    let stdout = child.stdout.take().map(drain);
    let stderr = child.stderr.take().map(drain);
    let t0 = Instant::now();
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if t0.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what} did not finish within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let join = |h: Option<JoinHandle<Vec<u8>>>| h.map_or_else(Vec::new, |h| h.join().unwrap());
    Output {
        status,
        stdout: join(stdout),
        stderr: join(stderr),
    }
}

/// Reads `r` to its end on a thread of its own.
fn drain(mut r: impl Read + Send + 'static) -> JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = r.read_to_end(&mut v);
        v
    })
}

/// Run deployctl to completion (bounded by 240 s).
pub fn deployctl(inv: &Path, state: &Path, args: &[&str]) -> Run {
    finish(spawn(inv, state, args), Duration::from_secs(240))
}

/// `rollout --env bed --artifact ART` to completion.
pub fn rollout(inv: &Path, state: &Path, art: &Path) -> Run {
    let art = art.to_str().unwrap();
    deployctl(inv, state, &["rollout", "--env", "bed", "--artifact", art])
}
