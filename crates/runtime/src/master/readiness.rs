//! Master-side readiness: a worker is ready when its private `GET /ready` answers 200.
//! The worker's sd_notify `READY=1` on the per-worker `NOTIFY_SOCKET` triggers an immediate
//! check instead of waiting for the next poll; with the HTTP check disabled the notification
//! alone is enough. Every wait is bounded by the readiness timeout.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::master::probe;

/// Readiness settings.
#[derive(Clone, Debug)]
pub struct ReadinessConfig {
    /// Poll period of the HTTP check (default 1 s).
    pub poll_interval: Duration,
    /// Give up after this long (default 120 s).
    pub timeout: Duration,
    /// Path polled on the worker's private listener; `None` = trust `READY=1` alone.
    pub http_path: Option<String>,
}

impl Default for ReadinessConfig {
    fn default() -> Self {
        ReadinessConfig {
            poll_interval: Duration::from_secs(1),
            timeout: Duration::from_secs(120),
            http_path: Some("/ready".to_string()),
        }
    }
}

/// How readiness was established.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReadyVia {
    /// `READY=1` followed by a successful HTTP check (or alone when HTTP is off).
    Notify,
    /// A periodic HTTP poll succeeded before any notification.
    Poll,
}

/// Why a worker was not confirmed ready.
#[derive(Debug, thiserror::Error)]
pub enum ReadinessError {
    /// The timeout passed.
    #[error("not ready after {waited:?} (last check: {last})")]
    Timeout {
        /// How long it waited.
        waited: Duration,
        /// The last observation.
        last: String,
    },
    /// The worker told the master it is stopping, or the notify socket failed.
    #[error("readiness check failed: {0}")]
    Failed(String),
}

/// The per-worker sd_notify datagram socket. The file is removed on drop.
#[derive(Debug)]
pub struct NotifySocket {
    sock: tokio::net::UnixDatagram,
    path: PathBuf,
}

impl NotifySocket {
    /// Binds a datagram socket at `path` (replacing a leftover file).
    pub fn bind(path: &Path) -> std::io::Result<Self> {
        let _ = std::fs::remove_file(path);
        let sock = tokio::net::UnixDatagram::bind(path)?;
        Ok(NotifySocket {
            sock,
            path: path.to_path_buf(),
        })
    }

    /// Path to pass in `NOTIFY_SOCKET`.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Receives one datagram as text.
    pub async fn recv(&self) -> std::io::Result<String> {
        let mut buf = vec![0u8; 4096];
        let n = self.sock.recv(&mut buf).await?;
        Ok(String::from_utf8_lossy(&buf[..n]).into_owned())
    }
}

impl Drop for NotifySocket {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Waits until the worker is ready, or fails after `cfg.timeout`.
pub async fn wait_ready(
    generation: u64,
    notify: Option<NotifySocket>,
    private: Option<SocketAddr>,
    cfg: &ReadinessConfig,
) -> Result<ReadyVia, ReadinessError> {
    let started = Instant::now();
    let deadline = tokio::time::Instant::now() + cfg.timeout;
    let http = match (&cfg.http_path, private) {
        (Some(p), Some(a)) => Some((a, p.as_str())),
        _ => None,
    };
    let mut ticker = tokio::time::interval(cfg.poll_interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last = String::from("no check yet");
    let mut notified = false;
    loop {
        let via = tokio::select! {
            _ = tokio::time::sleep_until(deadline) => {
                return Err(ReadinessError::Timeout { waited: started.elapsed(), last });
            }
            msg = recv_or_pending(notify.as_ref()) => {
                let msg = msg.map_err(|e| ReadinessError::Failed(format!("notify socket: {e}")))?;
                for line in msg.lines() {
                    tracing::info!(event = "worker_notify", generation, message = line, "worker notification");
                }
                if msg.lines().any(|l| l == "STOPPING=1") {
                    return Err(ReadinessError::Failed("worker sent STOPPING=1 while starting".into()));
                }
                if !msg.lines().any(|l| l == "READY=1") {
                    continue;
                }
                notified = true;
                if http.is_none() {
                    return Ok(ReadyVia::Notify);
                }
                ReadyVia::Notify
            }
            _ = ticker.tick(), if http.is_some() => ReadyVia::Poll,
        };
        let Some((addr, path)) = http else { continue };
        let remaining = deadline.saturating_duration_since(tokio::time::Instant::now());
        let bound = cfg.poll_interval.max(Duration::from_secs(1)).min(remaining);
        match probe::get(addr, path, bound).await {
            Ok(r) if r.status == 200 => {
                let via = if notified { ReadyVia::Notify } else { via };
                tracing::info!(event = "readiness_confirmed", generation, via = ?via, waited_ms = started.elapsed().as_millis() as u64, "worker is ready");
                return Ok(via);
            }
            Ok(r) => last = format!("{path} answered {} {}", r.status, r.body.trim()),
            Err(e) => last = e.to_string(),
        }
        tracing::info!(event = "readiness_progress", generation, waited_ms = started.elapsed().as_millis() as u64, last = %last, "worker not ready yet");
    }
}

async fn recv_or_pending(sock: Option<&NotifySocket>) -> std::io::Result<String> {
    match sock {
        Some(s) => s.recv().await,
        None => std::future::pending().await,
    }
}
