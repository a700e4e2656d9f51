//! Runs of the real `deployctl` binary, each bounded: `deployctl -i INV --state-dir STATE
//! --json ARGS`, its exit code, JSON report and stderr.

use serde_json::Value;
use std::ffi::OsStr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
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
pub fn finish(mut child: Child, limit: Duration) -> Run {
    let t0 = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if t0.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("deployctl did not finish within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    Run {
        code: out.status.code().unwrap_or(-1),
        json: serde_json::from_str(&stdout).unwrap_or(Value::Null),
        stderr: String::from_utf8_lossy(&out.stderr).to_string(),
    }
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
