//! Service control on a host: find our master from its pid file (and prove it is ours),
//! start it on first install, and restart it gracefully: `POST /restart` on the admin
//! endpoint when the inventory names one (synchronous outcome), else SIGUSR1 to the master.

use crate::inventory::Service;
use crate::probe;
use crate::remote::{HostError, Layout, RemoteHost};
use crate::scripts::service as sh;
use protocol::{RestartAnswer, RestartOutcome};
use serde::de::IgnoredAny;
use std::net::SocketAddr;
use std::time::Duration;

/// The running master of a host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Master {
    pub pid: u32,
    pub exe: String,
    /// Generation of its serving worker, read from the admin endpoint when the inventory
    /// names one ([`observe`]); `None` otherwise.
    pub generation: Option<u64>,
}

/// Read the pid file; `Ok(None)` when no live process is behind it. A live pid whose
/// executable is not our installed binary is an error: deployctl never signals it.
pub async fn master(
    r: &RemoteHost,
    svc: &Service,
    l: &Layout,
) -> Result<Option<Master>, HostError> {
    let out = r
        .script("read pid file", &sh::MASTER, &[&svc.pid_file])
        .await?;
    let Some(sh::Named { pid, exe }) = sh::parse_master(&out)? else {
        return Ok(None);
    };
    // An unreadable /proc/PID/exe is not ours: shown as `?`.
    let exe = exe.unwrap_or_else(|| "?".into());
    if !is_our_binary(&exe, &l.binary) {
        return Err(HostError::Check(format!(
            "pid file {} names pid {pid}, which runs `{exe}`, not {}: refusing to signal it",
            svc.pid_file, l.binary
        )));
    }
    Ok(Some(Master {
        pid,
        exe,
        generation: None,
    }))
}

/// [`master`], plus the serving generation from the admin endpoint when one is configured:
/// what [`restart`] compares against right before it acts.
pub async fn observe(
    r: &RemoteHost,
    svc: &Service,
    l: &Layout,
) -> Result<Option<Master>, HostError> {
    let Some(mut m) = master(r, svc, l).await? else {
        return Ok(None);
    };
    if let Some(admin) = &svc.admin {
        m.generation = Some(admin_status(r, admin).await?.generation);
    }
    Ok(Some(m))
}

/// What the admin endpoint's `GET /status` says about the master.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminStatus {
    pub master_pid: u32,
    pub generation: u64,
    pub restart_in_progress: bool,
}

/// `GET /status` on the admin endpoint through the transport's tunnel (bounded).
pub async fn admin_status(r: &RemoteHost, admin: &SocketAddr) -> Result<AdminStatus, HostError> {
    let host = admin.to_string();
    let resp = r
        .bounded("admin /status", async {
            let stream = r.t.tunnel(admin.port()).await?;
            probe::request(stream, "GET", &host, "/status", "admin /status")
                .await
                .map_err(|e| HostError::Check(e.to_string()))
        })
        .await?;
    parse_status(resp.status, &resp.body)
}

/// The fields of a `GET /status` answer (a `protocol::Status`; the worker's own `/version`
/// in it is not read) that the re-check needs.
pub fn parse_status(status: u16, body: &str) -> Result<AdminStatus, HostError> {
    let bad =
        |why: &str| HostError::Check(format!("admin /status answered {status}: {why}: {body}"));
    let s: protocol::Status<IgnoredAny> =
        serde_json::from_str(body).map_err(|e| bad(&e.to_string()))?;
    Ok(AdminStatus {
        master_pid: s.master_pid,
        generation: s
            .current
            .map(|c| c.generation)
            .ok_or_else(|| bad("no serving worker"))?,
        restart_in_progress: s.restart_in_progress,
    })
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
    let mut args: Vec<String> = vec![log, pid_dir.to_string(), l.binary.clone()];
    args.extend(start_args(svc, l));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = r.script_once("start service", &sh::START, &args).await?;
    Ok(sh::parse_start(&out)?)
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

/// The master's admin token, read on the host from `service.admin_token_file`.
async fn admin_token(r: &RemoteHost, svc: &Service) -> Result<String, HostError> {
    let file = svc.admin_token_file.as_deref().ok_or_else(|| {
        HostError::Check("service.admin is set without service.admin_token_file".into())
    })?;
    let out = r.script("admin token", &sh::TOKEN, &[file]).await?;
    sh::parse_token(&out)?
        .ok_or_else(|| HostError::Check(format!("admin token file {file} is empty")))
}

/// Graceful restart of `m`: the admin control verb when configured, else SIGUSR1. Right
/// before it, the master is re-checked on the host (it was read before backup and upload):
/// the pid file must still name it, it must still run our binary, and, with an admin
/// endpoint, it must still serve the generation [`observe`] saw with no restart under way.
/// Neither is repeated after a lost connection (the caller re-reads the host).
pub async fn restart(
    r: &RemoteHost,
    svc: &Service,
    l: &Layout,
    m: &Master,
) -> Result<RestartMethod, HostError> {
    let (pid_file, binary, pid) = (svc.pid_file.as_str(), l.binary.as_str(), m.pid.to_string());
    let changed = |e: HostError| match e {
        HostError::Command {
            status: 3, stderr, ..
        } => HostError::Check(format!(
            "master changed since it was checked, not restarted: {stderr}"
        )),
        e => e,
    };
    if let Some(admin) = &svc.admin {
        let token = admin_token(r, svc).await?;
        let out = r
            .script(
                "re-check master",
                &sh::RECHECK,
                &[pid_file, &pid, binary, "check"],
            )
            .await
            .map_err(changed)?;
        sh::parse_recheck(&out)?;
        let now = admin_status(r, admin).await?;
        if let Some(why) = generation_changed(m, &now) {
            return Err(HostError::Check(format!(
                "master changed since it was checked, not restarted: {why}"
            )));
        }
        return admin_restart(r, admin, &token).await;
    }
    let out = r
        .script_once("SIGUSR1", &sh::RECHECK, &[pid_file, &pid, binary, "signal"])
        .await
        .map_err(changed)?;
    sh::parse_recheck(&out)?;
    Ok(RestartMethod::Sigusr1)
}

/// Why the admin endpoint's answer `now` is not the master `m` that was checked, if it is not.
pub fn generation_changed(m: &Master, now: &AdminStatus) -> Option<String> {
    if now.master_pid != m.pid {
        return Some(format!(
            "admin endpoint answers for master pid {}, not {}",
            now.master_pid, m.pid
        ));
    }
    if now.restart_in_progress {
        return Some("a restart is already under way".into());
    }
    match m.generation {
        Some(g) if g != now.generation => Some(format!(
            "it serves generation {}, not {g} as when it was checked",
            now.generation
        )),
        _ => None,
    }
}

/// `POST /restart` on the admin endpoint: the synchronous outcome of the restart.
async fn admin_restart(
    r: &RemoteHost,
    admin: &SocketAddr,
    token: &str,
) -> Result<RestartMethod, HostError> {
    let stream = r.t.tunnel(admin.port()).await?;
    let host = admin.to_string();
    let fut = probe::request_with_token(stream, "POST", &host, "/restart", "admin /restart", token);
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
    let verb = match ans.outcome {
        RestartOutcome::Ok => return Ok(RestartMethod::AdminVerb),
        RestartOutcome::Aborted => "aborted",
        RestartOutcome::Refused => "refused",
    };
    Err(HostError::Check(match ans.reason {
        Some(why) => format!("master {verb} the restart: {why}"),
        None => format!("master {verb} the restart (no reason given)"),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A master's `/status` with master pid 40, serving `generation` (none: no worker).
    fn status_doc(generation: Option<u64>) -> String {
        let current = match generation {
            Some(g) => format!(
                r#"{{"pid":41,"generation":{g},"program":"/srv/hotel/hotel-api","started_at":"t","ready":true,"private_addr":null,"sha256":"ab","version":{{"foreign":true}}}}"#
            ),
            None => "null".into(),
        };
        format!(
            r#"{{"master_pid":40,"listeners":[],"current":{current},"previous":null,"restart_in_progress":false,"last_restart":null,"stopping":false}}"#
        )
    }

    #[test]
    fn a_changed_generation_pid_or_restart_under_way_is_reported() {
        let m = Master {
            pid: 40,
            exe: "/srv/hotel/hotel-api".into(),
            generation: Some(1),
        };
        let now = parse_status(200, &status_doc(Some(1))).unwrap();
        assert_eq!(generation_changed(&m, &now), None);
        let moved = AdminStatus {
            generation: 2,
            ..now.clone()
        };
        let why = generation_changed(&m, &moved).unwrap();
        assert!(why.contains("generation 2, not 1"), "{why}");
        let busy = AdminStatus {
            restart_in_progress: true,
            ..now.clone()
        };
        assert!(generation_changed(&m, &busy).unwrap().contains("under way"));
        let other = AdminStatus {
            master_pid: 41,
            ..now
        };
        assert!(generation_changed(&m, &other).unwrap().contains("pid 41"));
        let none = parse_status(200, &status_doc(None))
            .unwrap_err()
            .to_string();
        assert!(none.contains("no serving worker"), "{none}");
        assert!(parse_status(200, r#"{"master_pid":40,"current":null}"#).is_err());
    }

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
