//! Proof of the bytes: the running worker's image (sha256 of `/proc/PID/exe`, read from the
//! admin `GET /status` when `[service] admin` is set, else on the host for every child of the
//! master) must equal the sha256 of the installed binary. Run after every restart and restore.

use crate::inventory::Environment;
use crate::probe;
use crate::remote::{HostError, Layout, RemoteHost};
use crate::scripts::image as sh;
use std::time::{Duration, Instant};

/// What the check established.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Image {
    /// The running worker image is the installed binary (its sha256).
    Proven(String),
    /// The installed file is a script (`#!`): the kernel runs its interpreter, so the image
    /// cannot be compared; recorded as a warning.
    Script,
}

/// Retry [`check_once`] until it passes or the health timeout elapses.
pub async fn check(r: &RemoteHost, env: &Environment, l: &Layout) -> Result<Image, HostError> {
    let start = Instant::now();
    let limit = Duration::from_secs(env.health.timeout_s);
    loop {
        match check_once(r, env, l).await {
            Ok(x) => return Ok(x),
            Err(e) if start.elapsed() >= limit => return Err(e),
            Err(_) => tokio::time::sleep(Duration::from_millis(env.health.interval_ms)).await,
        }
    }
}

/// One comparison of the running image with the installed binary.
pub async fn check_once(r: &RemoteHost, env: &Environment, l: &Layout) -> Result<Image, HostError> {
    let from_host = if env.service.admin.is_some() {
        "0"
    } else {
        "1"
    };
    let args = [&l.binary, &env.service.pid_file, from_host];
    let out = r.script("image check", &sh::IMAGE, &args).await?;
    let (installed, on_host) = match sh::parse_image(&out)? {
        sh::HostImage::Script => return Ok(Image::Script),
        sh::HostImage::Binary { installed, running } => (installed, running),
    };
    let running = match &env.service.admin {
        Some(admin) => vec![admin_sha(r, admin).await?],
        None => on_host,
    };
    if running.is_empty() || running.iter().any(|s| s != &installed) {
        return Err(HostError::Check(format!(
            "running worker image sha256 {running:?} is not the installed binary's {installed}"
        )));
    }
    Ok(Image::Proven(installed))
}

/// `current.sha256` of the admin `GET /status` (a `protocol::Status`), through the SSH tunnel.
async fn admin_sha(r: &RemoteHost, admin: &std::net::SocketAddr) -> Result<String, HostError> {
    let stream = r.t.tunnel(admin.port()).await?;
    let host = admin.to_string();
    let fut = probe::request(stream, "GET", &host, "/status", "admin /status");
    let resp = tokio::time::timeout(Duration::from_secs(10), fut)
        .await
        .map_err(|_| HostError::Check("admin /status: no answer within 10s".into()))?
        .map_err(|e| HostError::Check(e.to_string()))?;
    let s: protocol::Status<serde::de::IgnoredAny> = serde_json::from_str(&resp.body)
        .map_err(|e| HostError::Check(format!("admin /status: {e}")))?;
    s.current.and_then(|c| c.sha256).ok_or_else(|| {
        HostError::Check(format!(
            "admin /status has no current.sha256: {}",
            resp.body.trim()
        ))
    })
}
