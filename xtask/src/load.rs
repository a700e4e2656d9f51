//! Background load in both client modes (keep-alive and new connection per request), with live
//! counters for progress displays.

use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use loadgen::{ClientMode, Live, LoadConfig, Report};
use tokio::sync::watch;

/// Load running on its own thread and runtime.
pub struct Background {
    stop: watch::Sender<bool>,
    handle: JoinHandle<Result<Vec<(ClientMode, Report)>>>,
    /// Live counters (all modes together).
    pub live: Arc<Live>,
    /// When the load started (sample offsets are relative to about this instant).
    pub started: Instant,
}

impl Background {
    /// Starts `per_mode` clients of each mode against `addr` `path`, bounded by `max`.
    pub fn start(addr: SocketAddr, path: &str, per_mode: usize, max: Duration) -> Self {
        let configs = [ClientMode::KeepAlive, ClientMode::NewConnection]
            .into_iter()
            .map(|mode| {
                let mut cfg = LoadConfig::new(addr, path, mode);
                cfg.concurrency = per_mode;
                cfg.max_duration = max;
                cfg.max_requests = 50_000_000;
                cfg
            })
            .collect();
        Self::start_configs(configs, 1)
    }

    /// Runs every config at once on a runtime of `threads` worker threads.
    pub fn start_configs(configs: Vec<LoadConfig>, threads: usize) -> Self {
        let (stop, rx) = watch::channel(false);
        let live = Arc::new(Live::default());
        let l = live.clone();
        let started = Instant::now();
        let handle = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(threads.max(1))
                .enable_all()
                .build()?;
            rt.block_on(async move {
                let mut runs = Vec::new();
                for cfg in configs {
                    let mode = cfg.mode;
                    runs.push((mode, tokio::spawn(loadgen::run(cfg, rx.clone(), l.clone()))));
                }
                let mut out = Vec::new();
                for (mode, h) in runs {
                    match h.await {
                        Ok(r) => out.push((mode, r)),
                        Err(e) => bail!("load client task ({mode:?}) failed: {e}"),
                    }
                }
                Ok(out)
            })
        });
        Background {
            stop,
            handle,
            live,
            started,
        }
    }

    /// Stops the clients and returns one report per config. A load that could not run, or a
    /// mode in which not a single request was sent, is an error: no figure from missing data.
    pub fn finish(self) -> Result<Vec<(ClientMode, Report)>> {
        let _ = self.stop.send(true);
        let reports = match self.handle.join() {
            Ok(r) => r?,
            Err(_) => bail!("the load thread panicked: no report"),
        };
        check_ran(&reports)?;
        Ok(reports)
    }
}

/// Fails when there is no report or a report has no request.
pub fn check_ran(reports: &[(ClientMode, Report)]) -> Result<()> {
    if reports.is_empty() {
        bail!("no load report");
    }
    for (mode, r) in reports {
        if r.requests() == 0 {
            bail!("no request ran in {mode:?} mode: nothing was measured");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mode_without_requests_is_an_error() {
        assert!(check_ran(&[]).is_err());
        let empty = vec![(ClientMode::KeepAlive, Report::default())];
        let err = check_ran(&empty).unwrap_err().to_string();
        assert!(err.contains("no request ran in KeepAlive"), "{err}");
    }

    #[test]
    fn load_against_a_closed_port_still_reports_its_failures() {
        let port = crate::service::free_port().unwrap();
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let load = Background::start(addr, "/", 1, Duration::from_secs(5));
        let deadline = Instant::now() + Duration::from_secs(30);
        while loadgen::snapshot(&load.live).0 < 200 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        let reports = load.finish().unwrap();
        assert_eq!(reports.len(), 2);
        for (_, r) in &reports {
            assert!(r.requests() > 0);
            assert_eq!(r.failed(), r.requests());
        }
    }
}
