//! Network quality per host before anything is touched: TCP connect probes to the SSH port
//! (what the rollout depends on) give loss and latency; a dropped SYN is a lost probe (the
//! kernel's SYN retry takes 1 s, past our timeout). ICMP echo is measured too where available,
//! with the system `ping` (iputils) run on the controller: no raw-socket code here. When `ping`
//! is missing or may not run (no permission), ICMP is reported as unavailable and the TCP
//! figures alone decide.

use crate::inventory::Thresholds;
use serde::Serialize;
use std::net::{SocketAddr, ToSocketAddrs};
use std::process::Stdio;
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
    /// Why the name did not resolve (then nothing was sent anywhere).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resolve_error: Option<String>,
    /// ICMP echo figures, or why there are none.
    pub icmp: Icmp,
}

impl NetStats {
    /// The worse of the TCP and (when measured) ICMP loss: what the thresholds apply to.
    pub fn worst_loss_pct(&self) -> f64 {
        match &self.icmp {
            Icmp::Measured(i) => self.loss_pct.max(i.loss_pct),
            Icmp::Unavailable { .. } => self.loss_pct,
        }
    }
}

/// ICMP echo result of one host: `{"status":"measured",...}` or
/// `{"status":"unavailable","reason":...}` in JSON.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Icmp {
    Measured(IcmpStats),
    Unavailable { reason: String },
}

/// Figures from `ping`'s summary.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct IcmpStats {
    pub sent: u32,
    pub received: u32,
    pub loss_pct: f64,
    /// Average round trip; none when no reply came back.
    pub rtt_avg_ms: Option<f64>,
}

/// Verdict against the thresholds.
#[derive(Debug, Clone, Serialize)]
pub struct NetVerdict {
    pub ok: bool,
    pub reasons: Vec<String>,
}

/// Send `count` TCP connect probes to `addr:port`, one after the other `gap` apart, each
/// bounded by `timeout`. `addr` may be a host name: it is resolved once, and each probe tries
/// the resolved addresses in order, the first that answers counting (and tried first from
/// then on). Runs on its own OS thread (blocking connects) so that the async runtime's
/// scheduling does not inflate the measured handshake time.
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
    let host = addr.to_string();
    let (lat, resolved) = tokio::task::spawn_blocking(move || {
        let mut addrs: Vec<SocketAddr> = match (host.as_str(), port).to_socket_addrs() {
            Ok(a) => a.collect(),
            Err(e) => return (Vec::new(), Err(e.to_string())),
        };
        let mut lat = Vec::new();
        for i in 0..count {
            if i > 0 {
                std::thread::sleep(gap);
            }
            for k in 0..addrs.len() {
                let t0 = Instant::now();
                if std::net::TcpStream::connect_timeout(&addrs[k], timeout).is_ok() {
                    lat.push(t0.elapsed().as_secs_f64() * 1000.0);
                    addrs[..=k].rotate_right(1);
                    break;
                }
            }
        }
        let first = addrs
            .first()
            .map(|a| a.ip().to_string())
            .unwrap_or_default();
        (lat, Ok(first))
    })
    .await
    .unwrap_or_else(|e| (Vec::new(), Err(e.to_string())));
    let mut lat = lat;
    lat.sort_by(|a, b| a.total_cmp(b));
    let answered = lat.len() as u32;
    NetStats {
        target: match &resolved {
            Ok(ip) if ip != addr && !ip.is_empty() => format!("{target} ({ip})"),
            _ => target,
        },
        sent: count,
        answered,
        loss_pct: if count == 0 {
            0.0
        } else {
            100.0 * f64::from(count - answered) / f64::from(count)
        },
        latency_p50_ms: lat.get(lat.len() / 2).copied(),
        latency_max_ms: lat.last().copied(),
        resolve_error: resolved.err(),
        icmp: Icmp::Unavailable {
            reason: "not measured".into(),
        },
    }
}

/// Time between two ICMP echoes (iputils lets an unprivileged user go down to 2 ms).
pub const ICMP_GAP: Duration = Duration::from_millis(20);

/// Send `count` ICMP echoes to `addr` with the system `ping`, [`ICMP_GAP`] apart, waiting at
/// most 1 s for the last reply; the whole run is bounded by `count` × the gap + 3 s. Any failure to run
/// `ping` or to read its summary gives [`Icmp::Unavailable`], never an error.
pub async fn ping(addr: &str, count: u32) -> Icmp {
    let unavailable = |reason: String| Icmp::Unavailable { reason };
    if addr.starts_with('-') || addr.is_empty() {
        return unavailable(format!("not an address: {addr:?}"));
    }
    let mut cmd = tokio::process::Command::new("ping");
    cmd.args([
        "-n",
        "-q",
        "-c",
        &count.max(1).to_string(),
        "-i",
        &format!("{:.3}", ICMP_GAP.as_secs_f64()),
        "-W",
        "1",
        "--",
    ])
    .arg(addr)
    .env("LC_ALL", "C")
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .kill_on_drop(true);
    let bound = ICMP_GAP * count + Duration::from_secs(3);
    let out = match tokio::time::timeout(bound, cmd.output()).await {
        Err(_) => return unavailable(format!("ping did not finish within {bound:?}")),
        Ok(Err(e)) => return unavailable(format!("cannot run ping: {e}")),
        Ok(Ok(out)) => out,
    };
    match parse_ping_summary(&String::from_utf8_lossy(&out.stdout)) {
        Some(s) => Icmp::Measured(s),
        None => {
            let err = String::from_utf8_lossy(&out.stderr);
            unavailable(format!(
                "ping failed ({}): {}",
                out.status,
                err.lines().next().unwrap_or("no summary").trim()
            ))
        }
    }
}

/// Read iputils `ping -q`'s summary: "N packets transmitted, M received, [...] X% packet loss"
/// and, when a reply came back, "rtt min/avg/max/mdev = a/b/c/d ms". Loss is computed from the
/// counts (ping rounds its percentage). `None` when there is no summary line.
pub fn parse_ping_summary(out: &str) -> Option<IcmpStats> {
    let line = out.lines().find(|l| l.contains("packets transmitted"))?;
    let mut parts = line.split(',').map(str::trim);
    let sent: u32 = parts
        .next()?
        .strip_suffix("packets transmitted")?
        .trim()
        .parse()
        .ok()?;
    let received: u32 = parts
        .next()?
        .strip_suffix("received")?
        .trim()
        .parse()
        .ok()?;
    if sent == 0 || received > sent {
        return None;
    }
    let rtt_avg_ms = out
        .lines()
        .find_map(|l| l.trim().strip_prefix("rtt min/avg/max/mdev = "))
        .and_then(|v| v.split('/').nth(1))
        .and_then(|v| v.trim().parse::<f64>().ok());
    Some(IcmpStats {
        sent,
        received,
        loss_pct: 100.0 * f64::from(sent - received) / f64::from(sent),
        rtt_avg_ms,
    })
}

/// Compare stats with the thresholds. The loss threshold applies to the worse of the TCP
/// and ICMP loss ([`NetStats::worst_loss_pct`]); the latency threshold to the TCP connect
/// median (the handshake the rollout's SSH sessions pay).
pub fn judge(s: &NetStats, t: &Thresholds) -> NetVerdict {
    let mut reasons = Vec::new();
    if let Some(e) = &s.resolve_error {
        return NetVerdict {
            ok: false,
            reasons: vec![format!("cannot resolve {}: {e}", s.target)],
        };
    }
    let loss = s.worst_loss_pct();
    if loss > t.max_loss_pct {
        let icmp = match &s.icmp {
            Icmp::Measured(i) => format!(", icmp {:.0}%", i.loss_pct),
            Icmp::Unavailable { .. } => String::new(),
        };
        reasons.push(format!(
            "loss {loss:.0}% > {:.0}% (tcp {:.0}%{icmp})",
            t.max_loss_pct, s.loss_pct
        ));
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

    #[tokio::test]
    async fn a_host_name_is_resolved_and_an_unresolvable_one_says_so() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        // `localhost` resolves to ::1 and 127.0.0.1 here; only the IPv4 one listens.
        let s = probe(
            "localhost",
            port,
            3,
            Duration::ZERO,
            Duration::from_millis(500),
        )
        .await;
        assert_eq!((s.sent, s.answered), (3, 3), "{s:?}");
        assert!(s.target.contains("127.0.0.1"), "{}", s.target);
        let t: Thresholds = toml::from_str("").unwrap();
        assert!(judge(&s, &t).ok);
        let bad = probe(
            "no-such-host.invalid",
            port,
            2,
            Duration::ZERO,
            Duration::from_millis(100),
        )
        .await;
        assert_eq!(bad.answered, 0);
        let v = judge(&bad, &t);
        assert!(v.reasons[0].contains("cannot resolve"), "{:?}", v.reasons);
    }

    const ZERO: &str = "PING 198.18.3.2 (198.18.3.2) 56(84) bytes of data.\n\n\
--- 198.18.3.2 ping statistics ---\n\
16 packets transmitted, 16 received, 0% packet loss, time 771ms\n\
rtt min/avg/max/mdev = 0.041/0.063/0.118/0.019 ms\n";

    #[test]
    fn ping_summary_without_loss() {
        let s = parse_ping_summary(ZERO).unwrap();
        assert_eq!((s.sent, s.received, s.loss_pct), (16, 16, 0.0));
        assert_eq!(s.rtt_avg_ms, Some(0.063));
    }

    #[test]
    fn ping_summary_with_partial_loss_and_duplicates() {
        let out = "--- 10.0.0.2 ping statistics ---\n\
10 packets transmitted, 6 received, +1 duplicates, 40% packet loss, time 460ms\n\
rtt min/avg/max/mdev = 1.204/2.5/4.010/0.911 ms, pipe 2\n";
        let s = parse_ping_summary(out).unwrap();
        assert_eq!((s.sent, s.received, s.loss_pct), (10, 6, 40.0));
        assert_eq!(s.rtt_avg_ms, Some(2.5));
    }

    #[test]
    fn ping_summary_with_total_loss_has_no_rtt() {
        let out = "PING 198.18.3.3 (198.18.3.3) 56(84) bytes of data.\n\n\
--- 198.18.3.3 ping statistics ---\n\
8 packets transmitted, 0 received, +3 errors, 100% packet loss, time 362ms\n\n";
        let s = parse_ping_summary(out).unwrap();
        assert_eq!((s.sent, s.received, s.loss_pct), (8, 0, 100.0));
        assert_eq!(s.rtt_avg_ms, None);
    }

    #[test]
    fn garbage_or_an_error_is_no_summary() {
        assert_eq!(parse_ping_summary(""), None);
        assert_eq!(
            parse_ping_summary("ping: socket: Operation not permitted\n"),
            None
        );
        assert_eq!(
            parse_ping_summary("x packets transmitted, 3 received, 0% packet loss"),
            None
        );
        assert_eq!(
            parse_ping_summary("0 packets transmitted, 0 received, 0% packet loss"),
            None
        );
        assert_eq!(
            parse_ping_summary("2 packets transmitted, 5 received, 0% packet loss"),
            None
        );
    }

    #[tokio::test]
    async fn loopback_answers_icmp_and_the_worse_loss_is_judged() {
        // Real `ping` of loopback only (installed by scripts/install-deps.sh; tests run as root).
        let r = ping("127.0.0.1", 4).await;
        let Icmp::Measured(i) = r else {
            panic!("ping of loopback unavailable: {r:?}");
        };
        assert_eq!((i.sent, i.received, i.loss_pct), (4, 4, 0.0));
        assert!(i.rtt_avg_ms.is_some());
        assert!(matches!(ping("-c1", 1).await, Icmp::Unavailable { .. }));
        let mut s = probe(
            "127.0.0.1",
            1,
            1,
            Duration::ZERO,
            Duration::from_millis(100),
        )
        .await;
        s.loss_pct = 0.0;
        s.latency_p50_ms = Some(0.1);
        s.icmp = Icmp::Measured(IcmpStats {
            sent: 10,
            received: 6,
            loss_pct: 40.0,
            rtt_avg_ms: Some(0.1),
        });
        assert_eq!(s.worst_loss_pct(), 40.0);
        let t: Thresholds = toml::from_str("max_loss_pct = 5.0").unwrap();
        let v = judge(&s, &t);
        assert!(!v.ok);
        assert!(v.reasons[0].contains("icmp 40%"), "{:?}", v.reasons);
    }
}
