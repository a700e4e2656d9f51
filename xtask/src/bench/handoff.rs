//! The handoff seen from outside: a probe loop on the public port (a new connection per
//! request, back to back) records which worker generation answered and when
//! (`x-worker-generation`). Per restart, the handoff is the time from SIGUSR1 to the first
//! response served by the new generation.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

/// One probe response: when it completed and which generation served it.
#[derive(Debug, Clone, Copy)]
pub struct Seen {
    pub at: Instant,
    pub generation: u64,
}

/// The probe loop on its own thread.
pub struct Probe {
    stop: Arc<AtomicBool>,
    handle: JoinHandle<(Vec<Seen>, u64)>,
}

impl Probe {
    /// Starts probing `GET /ping` on `addr`.
    pub fn start(addr: SocketAddr) -> Probe {
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        let handle = std::thread::spawn(move || {
            let (mut seen, mut failed) = (Vec::new(), 0u64);
            while !s.load(Ordering::Relaxed) {
                match generation_of(addr) {
                    Ok(generation) => seen.push(Seen {
                        at: Instant::now(),
                        generation,
                    }),
                    Err(_) => failed += 1,
                }
            }
            (seen, failed)
        });
        Probe { stop, handle }
    }

    /// Stops the loop: every response seen, and the number of failed probes.
    pub fn finish(self) -> Result<(Vec<Seen>, u64)> {
        self.stop.store(true, Ordering::Relaxed);
        let (seen, failed) = self
            .handle
            .join()
            .map_err(|_| anyhow::anyhow!("the probe thread panicked"))?;
        if seen.is_empty() {
            bail!("the probe saw no response at all");
        }
        Ok((seen, failed))
    }
}

/// One request on a new connection; the `x-worker-generation` of the response.
fn generation_of(addr: SocketAddr) -> Result<u64> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    s.set_nodelay(true)?;
    s.write_all(b"GET /ping HTTP/1.1\r\nHost: probe\r\nConnection: close\r\n\r\n")?;
    let mut text = String::new();
    s.read_to_string(&mut text)?;
    let head = text.split("\r\n\r\n").next().unwrap_or("");
    anyhow::ensure!(head.starts_with("HTTP/1.1 200"), "not a 200: {head:?}");
    head.lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("x-worker-generation")
                .then(|| v.trim().parse().ok())?
        })
        .context("no x-worker-generation header")
}

/// Time from `signal` to the first response of a generation above `old`, completed before
/// `until` (the next restart's signal, or the end).
pub fn handoff(seen: &[Seen], signal: Instant, old: u64, until: Instant) -> Result<Duration> {
    seen.iter()
        .find(|s| s.at >= signal && s.at < until && s.generation > old)
        .map(|s| s.at - signal)
        .with_context(|| {
            format!("the probe saw no response of a generation above {old} after the signal")
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handoff_is_the_first_response_of_a_newer_generation() {
        let t0 = Instant::now();
        let at = |ms| t0 + Duration::from_millis(ms);
        let seen = [
            Seen {
                at: at(5),
                generation: 1,
            },
            Seen {
                at: at(12),
                generation: 1,
            },
            Seen {
                at: at(30),
                generation: 2,
            },
        ];
        let h = handoff(&seen, at(10), 1, at(100)).unwrap();
        assert_eq!(h, Duration::from_millis(20));
        assert!(handoff(&seen, at(10), 2, at(100)).is_err());
        assert!(handoff(&seen, at(10), 1, at(20)).is_err(), "seen too late");
    }
}
