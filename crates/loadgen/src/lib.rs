//! A bounded HTTP/1.1 load generator that classifies every failure, used by the tests, the demo
//! and the benchmarks to prove "zero failed requests".
//!
//! - [`LoadConfig`]: target, path, client mode (keep-alive or one connection per request),
//!   concurrency and the bounds (request count and duration; both always apply).
//! - [`run`]: drives the load until a bound is reached or `stop` is raised.
//! - [`Report`]: counts by outcome ([`FailureKind`]), latency samples with their start offsets
//!   (so a caller can compare steady state and restart windows), and the values of a
//!   response header (e.g. which build served each request).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::client::conn::http1::SendRequest;
use serde::Serialize;
use tokio::sync::watch;

/// How a client uses connections.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientMode {
    /// Reuse one connection; reconnect only when the server says `Connection: close`.
    KeepAlive,
    /// A new connection for every request.
    NewConnection,
}

/// Why a request failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Hash)]
#[serde(rename_all = "snake_case")]
pub enum FailureKind {
    /// TCP connect refused or failed.
    Connect,
    /// The request could not be written.
    Write,
    /// The connection broke before a complete response.
    Read,
    /// No complete response within the request timeout.
    Timeout,
    /// A response with a status outside 2xx.
    Non2xx,
    /// The status line and headers arrived, the body did not arrive whole.
    Truncated,
}

impl FailureKind {
    /// All kinds, in report order.
    pub const ALL: [FailureKind; 6] = [
        FailureKind::Connect,
        FailureKind::Write,
        FailureKind::Read,
        FailureKind::Timeout,
        FailureKind::Non2xx,
        FailureKind::Truncated,
    ];

    /// Snake-case name.
    pub fn name(self) -> &'static str {
        match self {
            FailureKind::Connect => "connect",
            FailureKind::Write => "write",
            FailureKind::Read => "read",
            FailureKind::Timeout => "timeout",
            FailureKind::Non2xx => "non_2xx",
            FailureKind::Truncated => "truncated",
        }
    }
}

/// Request method of a load run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Method {
    /// `GET path`, no body.
    Get,
    /// `POST path` with [`LoadConfig::body`] as `application/json` (never retried by a client).
    Post,
}

impl Method {
    /// `GET` or `POST`.
    pub fn name(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
        }
    }
}

/// A booking hotel-api accepts at `POST /bookings`.
pub const BOOKING_JSON: &str = r#"{"hotel_id":"htl_1","guest_name":"Load Test","checkin":"2030-01-10","checkout":"2030-01-12"}"#;

/// What to send and within which bounds.
#[derive(Clone, Debug)]
pub struct LoadConfig {
    /// Server address.
    pub target: SocketAddr,
    /// Request path.
    pub path: String,
    /// Request method (GET by default).
    pub method: Method,
    /// Body of a POST (sent as `application/json`).
    pub body: String,
    /// Connection behaviour.
    pub mode: ClientMode,
    /// Concurrent clients.
    pub concurrency: usize,
    /// Stop after this many requests in total.
    pub max_requests: u64,
    /// Stop after this long, whatever happens.
    pub max_duration: Duration,
    /// Per-request bound.
    pub request_timeout: Duration,
    /// Response header whose values are counted (e.g. `x-build-id`).
    pub track_header: Option<String>,
    /// Open loop: requests per second in total, spread evenly over the clients. Each request
    /// has an intended send time on a fixed schedule; its latency is measured from that time,
    /// so a stall counts for every request it delays (no coordinated omission). `None`: closed
    /// loop (each client sends its next request when the previous one is answered).
    pub rate: Option<f64>,
}

impl LoadConfig {
    /// `POST /bookings` with [`BOOKING_JSON`] (hotel-api's booking endpoint).
    pub fn bookings(target: SocketAddr, mode: ClientMode) -> Self {
        let mut c = LoadConfig::new(target, "/bookings", mode);
        c.method = Method::Post;
        c.body = BOOKING_JSON.to_string();
        c
    }

    /// Sensible defaults: 4 clients, at most 1,000,000 requests, 60 s, 5 s per request.
    pub fn new(target: SocketAddr, path: &str, mode: ClientMode) -> Self {
        LoadConfig {
            target,
            path: path.to_string(),
            method: Method::Get,
            body: String::new(),
            mode,
            concurrency: 4,
            max_requests: 1_000_000,
            max_duration: Duration::from_secs(60),
            request_timeout: Duration::from_secs(5),
            track_header: Some("x-build-id".into()),
            rate: None,
        }
    }
}

/// Live counters, readable while the load runs (for progress displays).
#[derive(Debug, Default)]
pub struct Live {
    /// Requests finished.
    pub requests: AtomicU64,
    /// Requests failed.
    pub failed: AtomicU64,
}

/// One finished request.
#[derive(Clone, Copy, Debug)]
pub struct Sample {
    /// Start, relative to the start of the run.
    pub at: Duration,
    /// Duration of the request.
    pub latency: Duration,
    /// `None` on success.
    pub failure: Option<FailureKind>,
}

/// Result of a run.
#[derive(Clone, Debug, Default)]
pub struct Report {
    /// Every request, in completion order per client.
    pub samples: Vec<Sample>,
    /// Counted values of the tracked header.
    pub header_values: BTreeMap<String, u64>,
    /// Wall time of the run.
    pub elapsed: Duration,
    /// First error message seen per failure kind (for diagnostics).
    pub first_errors: BTreeMap<FailureKind, String>,
}

impl Report {
    /// Requests sent.
    pub fn requests(&self) -> u64 {
        self.samples.len() as u64
    }

    /// Failed requests, all kinds.
    pub fn failed(&self) -> u64 {
        self.samples.iter().filter(|s| s.failure.is_some()).count() as u64
    }

    /// Failures by kind (every kind present, zero included).
    pub fn failed_by_kind(&self) -> BTreeMap<&'static str, u64> {
        let mut m: BTreeMap<&'static str, u64> =
            FailureKind::ALL.iter().map(|k| (k.name(), 0)).collect();
        for s in &self.samples {
            if let Some(k) = s.failure {
                *m.entry(k.name()).or_default() += 1;
            }
        }
        m
    }

    /// Successful requests per second.
    pub fn throughput(&self) -> f64 {
        let ok = self.requests() - self.failed();
        ok as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// Latency percentile (0..=100) of the samples accepted by `filter`, in milliseconds.
    pub fn percentile_ms(&self, p: f64, filter: impl Fn(&Sample) -> bool) -> Option<f64> {
        let mut v: Vec<Duration> = self
            .samples
            .iter()
            .filter(|s| filter(s))
            .map(|s| s.latency)
            .collect();
        percentile(&mut v, p).map(|d| d.as_secs_f64() * 1000.0)
    }

    /// Merges another report (e.g. the other client mode).
    pub fn merge(&mut self, other: Report) {
        self.samples.extend(other.samples);
        for (k, v) in other.header_values {
            *self.header_values.entry(k).or_default() += v;
        }
        for (k, v) in other.first_errors {
            self.first_errors.entry(k).or_insert(v);
        }
        self.elapsed = self.elapsed.max(other.elapsed);
    }
}

/// The `p`th percentile (nearest rank) of `v`; sorts `v`.
pub fn percentile(v: &mut [Duration], p: f64) -> Option<Duration> {
    if v.is_empty() {
        return None;
    }
    v.sort_unstable();
    let rank = ((p / 100.0) * v.len() as f64).ceil() as usize;
    Some(v[rank.clamp(1, v.len()) - 1])
}

/// Runs the load until `max_requests`, `max_duration`, or `stop` becomes true.
pub async fn run(cfg: LoadConfig, stop: watch::Receiver<bool>, live: Arc<Live>) -> Report {
    let started = Instant::now();
    let budget = Arc::new(AtomicU64::new(cfg.max_requests));
    let deadline = started + cfg.max_duration;
    let mut set = tokio::task::JoinSet::new();
    let clients = cfg.concurrency.max(1);
    for i in 0..clients {
        let cfg = cfg.clone();
        let (stop, live, budget) = (stop.clone(), live.clone(), budget.clone());
        // Open loop: client i sends at started + (i / clients + k) * interval.
        let schedule = cfg.rate.filter(|r| *r > 0.0).map(|r| {
            let interval = Duration::from_secs_f64(clients as f64 / r);
            (
                started + interval.mul_f64(i as f64 / clients as f64),
                interval,
            )
        });
        set.spawn(
            async move { client(cfg, started, deadline, stop, live, budget, schedule).await },
        );
    }
    let mut report = Report::default();
    while let Some(r) = set.join_next().await {
        if let Ok(r) = r {
            report.merge(r);
        }
    }
    report.elapsed = started.elapsed();
    report
}

async fn client(
    cfg: LoadConfig,
    started: Instant,
    deadline: Instant,
    stop: watch::Receiver<bool>,
    live: Arc<Live>,
    budget: Arc<AtomicU64>,
    mut schedule: Option<(Instant, Duration)>,
) -> Report {
    let mut report = Report::default();
    let mut conn: Option<SendRequest<Full<Bytes>>> = None;
    loop {
        if *stop.borrow() || Instant::now() >= deadline {
            break;
        }
        if budget
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |b| b.checked_sub(1))
            .is_err()
        {
            break;
        }
        let t0 = match schedule.as_mut() {
            Some((next, interval)) => {
                let intended = *next;
                *next += *interval;
                tokio::time::sleep_until(intended.into()).await;
                intended
            }
            None => Instant::now(),
        };
        let outcome = tokio::time::timeout(cfg.request_timeout, one_request(&cfg, &mut conn)).await;
        let (failure, header) = match outcome {
            Ok(Ok(header)) => (None, header),
            Ok(Err((kind, msg))) => {
                report.first_errors.entry(kind).or_insert(msg);
                (Some(kind), None)
            }
            Err(_) => {
                conn = None;
                (Some(FailureKind::Timeout), None)
            }
        };
        if failure.is_some() {
            conn = None;
            live.failed.fetch_add(1, Ordering::Relaxed);
        }
        live.requests.fetch_add(1, Ordering::Relaxed);
        if let Some(h) = header {
            *report.header_values.entry(h).or_default() += 1;
        }
        report.samples.push(Sample {
            at: t0 - started,
            latency: t0.elapsed(),
            failure,
        });
    }
    report
}

type Failure = (FailureKind, String);

async fn one_request(
    cfg: &LoadConfig,
    conn: &mut Option<SendRequest<Full<Bytes>>>,
) -> Result<Option<String>, Failure> {
    if conn.as_ref().is_none_or(|c| c.is_closed()) {
        *conn = Some(connect(cfg.target).await?);
    }
    let Some(sender) = conn.as_mut() else {
        return Err((FailureKind::Connect, "no connection".into()));
    };
    sender
        .ready()
        .await
        .map_err(|e| (FailureKind::Write, format!("connection not ready: {e}")))?;
    let mut req = hyper::Request::builder()
        .method(cfg.method.name())
        .uri(cfg.path.as_str())
        .header(hyper::header::HOST, cfg.target.to_string());
    if cfg.mode == ClientMode::NewConnection {
        req = req.header(hyper::header::CONNECTION, "close");
    }
    let body = match cfg.method {
        Method::Get => Bytes::new(),
        Method::Post => {
            req = req.header(hyper::header::CONTENT_TYPE, "application/json");
            Bytes::from(cfg.body.clone())
        }
    };
    let req = req
        .body(Full::new(body))
        .map_err(|e| (FailureKind::Write, e.to_string()))?;
    let resp = sender.send_request(req).await.map_err(classify)?;
    let status = resp.status();
    let close = cfg.mode == ClientMode::NewConnection
        || resp
            .headers()
            .get(hyper::header::CONNECTION)
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"close"));
    let header = cfg
        .track_header
        .as_ref()
        .and_then(|h| resp.headers().get(h.as_str()))
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    resp.into_body()
        .collect()
        .await
        .map_err(|e| (FailureKind::Truncated, format!("body: {e}")))?;
    if close {
        *conn = None;
    }
    if !status.is_success() {
        return Err((FailureKind::Non2xx, format!("status {status}")));
    }
    Ok(header)
}

async fn connect(target: SocketAddr) -> Result<SendRequest<Full<Bytes>>, Failure> {
    let stream = tokio::net::TcpStream::connect(target)
        .await
        .map_err(|e| (FailureKind::Connect, e.to_string()))?;
    let _ = stream.set_nodelay(true);
    let (sender, driver) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .map_err(|e| (FailureKind::Connect, e.to_string()))?;
    tokio::spawn(async move {
        let _ = driver.await;
    });
    Ok(sender)
}

fn classify(e: hyper::Error) -> Failure {
    let io_kind = std::error::Error::source(&e)
        .and_then(|s| s.downcast_ref::<std::io::Error>())
        .map(|io| io.kind());
    let kind = match io_kind {
        Some(std::io::ErrorKind::BrokenPipe) => FailureKind::Write,
        _ if e.is_timeout() => FailureKind::Timeout,
        _ => FailureKind::Read,
    };
    (kind, e.to_string())
}

/// Counter snapshot for progress lines.
pub fn snapshot(live: &Live) -> (u64, u64) {
    (
        live.requests.load(Ordering::Relaxed),
        live.failed.load(Ordering::Relaxed),
    )
}

#[cfg(test)]
mod tests;
