//! Background load in both client modes (keep-alive and new connection per request), with live
//! counters for progress displays.

use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use loadgen::{ClientMode, Live, LoadConfig, Report};
use tokio::sync::watch;

/// Load running on its own thread and runtime.
pub struct Background {
    stop: watch::Sender<bool>,
    handle: JoinHandle<Vec<(ClientMode, Report)>>,
    /// Live counters (all modes together).
    pub live: Arc<Live>,
    /// When the load started (sample offsets are relative to about this instant).
    pub started: Instant,
}

impl Background {
    /// Starts `per_mode` clients of each mode against `addr` `path`, bounded by `max`.
    pub fn start(addr: SocketAddr, path: &str, per_mode: usize, max: Duration) -> Self {
        let (stop, rx) = watch::channel(false);
        let live = Arc::new(Live::default());
        let path = path.to_string();
        let l = live.clone();
        let started = Instant::now();
        let handle = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                let mut runs = Vec::new();
                for mode in [ClientMode::KeepAlive, ClientMode::NewConnection] {
                    let mut cfg = LoadConfig::new(addr, &path, mode);
                    cfg.concurrency = per_mode;
                    cfg.max_duration = max;
                    cfg.max_requests = 50_000_000;
                    runs.push((mode, tokio::spawn(loadgen::run(cfg, rx.clone(), l.clone()))));
                }
                let mut out = Vec::new();
                for (mode, h) in runs {
                    out.push((mode, h.await.unwrap_or_default()));
                }
                out
            })
        });
        Background {
            stop,
            handle,
            live,
            started,
        }
    }

    /// Stops the clients and returns one report per mode.
    pub fn finish(self) -> Vec<(ClientMode, Report)> {
        let _ = self.stop.send(true);
        self.handle.join().unwrap_or_default()
    }
}
