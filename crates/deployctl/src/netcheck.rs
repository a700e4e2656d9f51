//! Network quality per host before anything is touched: TCP connect probes to the SSH port
//! (what the rollout depends on) give loss and latency. ICMP needs raw sockets and is not
//! used; a dropped SYN is a lost probe (the kernel's SYN retry takes 1 s, past our timeout).

use crate::inventory::Thresholds;
use serde::Serialize;
use std::time::{Duration, Instant};

/// Probe results for one host.
#[derive(Debug, Clone, Serialize)]
pub struct NetStats {
    pub target: String,
    pub sent: u32,
    pub answered: u32,
    pub loss_pct: f64,
    /// Median and worst connect time of the answered probes.
    pub latency_p50_ms: Option<f64>,
    pub latency_max_ms: Option<f64>,
}

/// Verdict against the thresholds.
#[derive(Debug, Clone, Serialize)]
pub struct NetVerdict {
    pub ok: bool,
    pub reasons: Vec<String>,
}

/// Send `count` TCP connect probes to `addr:port`, one after the other `gap` apart, each
/// bounded by `timeout`. Runs on its own OS thread (blocking connects) so that the async
/// runtime's scheduling does not inflate the measured handshake time.
pub async fn probe(
    addr: &str,
    port: u16,
    count: u32,
    gap: Duration,
    timeout: Duration,
) -> NetStats {
    let target = if addr.contains(':') {
        format!("[{addr}]:{port}")
    } else {
        format!("{addr}:{port}")
    };
    let t = target.clone();
    let lat = tokio::task::spawn_blocking(move || {
        let Ok(sa) = t.parse::<std::net::SocketAddr>() else {
            return Vec::new();
        };
        let mut lat = Vec::new();
        for i in 0..count {
            if i > 0 {
                std::thread::sleep(gap);
            }
            let t0 = Instant::now();
            if std::net::TcpStream::connect_timeout(&sa, timeout).is_ok() {
                lat.push(t0.elapsed().as_secs_f64() * 1000.0);
            }
        }
        lat
    })
    .await
    .unwrap_or_default();
    let mut lat = lat;
    lat.sort_by(|a, b| a.total_cmp(b));
    let answered = lat.len() as u32;
    NetStats {
        target,
        sent: count,
        answered,
        loss_pct: if count == 0 {
            0.0
        } else {
            100.0 * f64::from(count - answered) / f64::from(count)
        },
        latency_p50_ms: lat.get(lat.len() / 2).copied(),
        latency_max_ms: lat.last().copied(),
    }
}

/// Compare stats with the thresholds.
pub fn judge(s: &NetStats, t: &Thresholds) -> NetVerdict {
    let mut reasons = Vec::new();
    if s.loss_pct > t.max_loss_pct {
        reasons.push(format!("loss {:.0}% > {:.0}%", s.loss_pct, t.max_loss_pct));
    }
    match s.latency_p50_ms {
        Some(l) if l > t.max_latency_ms => {
            reasons.push(format!("latency {l:.1} ms > {:.0} ms", t.max_latency_ms))
        }
        None => reasons.push("no probe answered".into()),
        _ => {}
    }
    NetVerdict {
        ok: reasons.is_empty(),
        reasons,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_listening_port_answers_and_a_closed_one_is_total_loss() {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = l.local_addr().unwrap().port();
        let s = probe(
            "127.0.0.1",
            port,
            5,
            Duration::from_millis(1),
            Duration::from_millis(500),
        )
        .await;
        assert_eq!((s.sent, s.answered), (5, 5));
        assert_eq!(s.loss_pct, 0.0);
        drop(l);
        let s = probe(
            "127.0.0.1",
            port,
            4,
            Duration::from_millis(1),
            Duration::from_millis(500),
        )
        .await;
        assert_eq!(s.answered, 0);
        assert_eq!(s.loss_pct, 100.0);
        let t: Thresholds = toml::from_str("max_loss_pct = 5.0").unwrap();
        let v = judge(&s, &t);
        assert!(!v.ok);
        assert!(v.reasons[0].contains("loss 100%"), "{:?}", v.reasons);
    }
}
