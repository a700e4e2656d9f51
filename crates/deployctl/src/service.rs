//! Service control on a host: find our master from its pid file (and prove it is ours),
//! start it on first install, and restart it gracefully: `POST /restart` on the admin
//! endpoint when the inventory names one (synchronous outcome), else SIGUSR1 to the master.

use crate::inventory::Service;
use crate::probe;
use crate::remote::{HostError, Layout, RemoteHost};
use serde::Deserialize;
use std::time::Duration;

/// The running master of a host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Master {
    pub pid: u32,
    pub exe: String,
}

/// Read the pid file; `Ok(None)` when no live process is behind it. A live pid whose
/// executable is not our installed binary is an error: deployctl never signals it.
pub async fn master(
    r: &RemoteHost,
    svc: &Service,
    l: &Layout,
) -> Result<Option<Master>, HostError> {
    let script = r#"p=$(cat "$1" 2>/dev/null) || exit 0
case "$p" in ''|*[!0-9]*) exit 0;; esac
[ -d "/proc/$p" ] || exit 0
printf '%s\n' "$p"; readlink "/proc/$p/exe" || echo "?""#;
    let script = &format!("set -eu\n{script}");
    let out = r.script("read pid file", script, &[&svc.pid_file]).await?;
    let mut lines = out.lines();
    let Some(pid) = lines.next().and_then(|p| p.trim().parse::<u32>().ok()) else {
        return Ok(None);
    };
    let exe = lines.next().unwrap_or("?").trim().to_string();
    if !is_our_binary(&exe, &l.binary) {
        return Err(HostError::Check(format!(
            "pid file {} names pid {pid}, which runs `{exe}`, not {}: refusing to signal it",
            svc.pid_file, l.binary
        )));
    }
    Ok(Some(Master { pid, exe }))
}

/// `/proc/PID/exe` of our master: the install path, or that path marked "(deleted)" after
/// the file was atomically replaced.
pub fn is_our_binary(exe: &str, binary: &str) -> bool {
    exe == binary || exe.strip_suffix(" (deleted)") == Some(binary)
}

/// Expand `{install_dir}`, `{pid_file}` and `{port}` in the service arguments.
pub fn start_args(svc: &Service, l: &Layout) -> Vec<String> {
    svc.args
        .iter()
        .map(|a| {
            a.replace("{install_dir}", &l.install_dir)
                .replace("{pid_file}", &svc.pid_file)
                .replace("{port}", &svc.port.to_string())
        })
        .collect()
}

/// Start the master detached (first install, or after it was found dead).
pub async fn start(r: &RemoteHost, svc: &Service, l: &Layout) -> Result<(), HostError> {
    let pid_dir = svc.pid_file.rsplit_once('/').map(|(d, _)| d).unwrap_or(".");
    let log = format!("{}/{}.log", l.install_dir, l.binary_name);
    let mut argv: Vec<String> = vec![
        "sh".into(),
        "-c".into(),
        r#"log=$1; piddir=$2; shift 2; mkdir -p "$piddir" && cd "$(dirname "$1")" && setsid "$@" </dev/null >>"$log" 2>&1 &"#.into(),
        "sh".into(),
        log,
        pid_dir.to_string(),
        l.binary.clone(),
    ];
    argv.extend(start_args(svc, l));
    r.run_once("start service", &argv).await?;
    Ok(())
}

/// Wait (bounded) until the pid file names a live master running our binary.
pub async fn wait_master(
    r: &RemoteHost,
    svc: &Service,
    l: &Layout,
    within: Duration,
) -> Result<Master, HostError> {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if let Some(m) = master(r, svc, l).await? {
            return Ok(m);
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(HostError::Check(format!(
                "no master wrote {} within {within:?}",
                svc.pid_file
            )));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[derive(Debug, Deserialize)]
struct RestartAnswer {
    outcome: String,
    #[serde(default)]
    reason: Option<String>,
}

/// How the restart was requested.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RestartMethod {
    AdminVerb,
    Sigusr1,
    Started,
    /// The connection dropped while asking; verify decides from what the host serves.
    Unconfirmed,
}

const SIGNAL: &str = r#"set -eu
p=$(cat "$1" 2>/dev/null || true)
[ "$p" = "$2" ] || { echo "pid file $1 now names '$p', not $2" >&2; exit 3; }
e=$(readlink "/proc/$2/exe" || true)
[ "$e" = "$3" ] || [ "$e" = "$3 (deleted)" ] || { echo "pid $2 runs '$e', not $3" >&2; exit 3; }
kill -USR1 "$2""#;

/// Prints the admin token file (at most 4 KiB); never logged.
const READ_TOKEN: &str = r#"set -eu
head -c 4096 -- "$1""#;

/// The master's admin token, read on the host from `service.admin_token_file`.
async fn admin_token(r: &RemoteHost, svc: &Service) -> Result<String, HostError> {
    let file = svc.admin_token_file.as_deref().ok_or_else(|| {
        HostError::Check("service.admin is set without service.admin_token_file".into())
    })?;
    let out = r.script("admin token", READ_TOKEN, &[file]).await?;
    let token = out.trim().to_string();
    if token.is_empty() {
        return Err(HostError::Check(format!(
            "admin token file {file} is empty"
        )));
    }
    Ok(token)
}

/// Graceful restart of `m`: the admin control verb when configured, else SIGUSR1. Neither is
/// repeated after a lost connection (the caller re-reads the host).
pub async fn restart(
    r: &RemoteHost,
    svc: &Service,
    l: &Layout,
    m: &Master,
) -> Result<RestartMethod, HostError> {
    let (pid_file, binary) = (svc.pid_file.as_str(), l.binary.as_str());
    if let Some(admin) = &svc.admin {
        let port: u16 = admin
            .rsplit_once(':')
            .and_then(|(_, p)| p.parse().ok())
            .ok_or_else(|| HostError::Check(format!("bad admin address `{admin}`")))?;
        let token = admin_token(r, svc).await?;
        let stream = r.t.tunnel(port).await?;
        let fut =
            probe::request_with_token(stream, "POST", admin, "/restart", "admin /restart", &token);
        let resp = tokio::time::timeout(Duration::from_secs(180), fut)
            .await
            .map_err(|_| HostError::Check("admin /restart: no answer within 180s".into()))?
            .map_err(|e| HostError::Check(e.to_string()))?;
        let ans: RestartAnswer = serde_json::from_str(&resp.body).map_err(|e| {
            HostError::Check(format!(
                "admin /restart answered {}: {e}: {}",
                resp.status, resp.body
            ))
        })?;
        if ans.outcome != "ok" {
            return Err(HostError::Check(format!(
                "master aborted the restart: {}",
                ans.reason.unwrap_or_default()
            )));
        }
        return Ok(RestartMethod::AdminVerb);
    }
    // Re-checked on the host right before the signal (the pid was read before backup and
    // upload): the pid file must still name this pid and it must still run our binary.
    let out = r
        .script_once("SIGUSR1", SIGNAL, &[pid_file, &m.pid.to_string(), binary])
        .await;
    match out {
        Ok(_) => Ok(RestartMethod::Sigusr1),
        Err(HostError::Command {
            status: 3, stderr, ..
        }) => Err(HostError::Check(format!(
            "master changed since it was checked, not signalled: {stderr}"
        ))),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_our_binary_even_after_replacement() {
        assert!(is_our_binary(
            "/srv/hotel/hotel-api",
            "/srv/hotel/hotel-api"
        ));
        assert!(is_our_binary(
            "/srv/hotel/hotel-api (deleted)",
            "/srv/hotel/hotel-api"
        ));
        assert!(!is_our_binary("/usr/bin/sleep", "/srv/hotel/hotel-api"));
        assert!(!is_our_binary(
            "/srv/hotel/hotel-api.old",
            "/srv/hotel/hotel-api"
        ));
    }
}
