//! The response fault switches (canary-analysis tests) on a real master/worker pair: a share of
//! API responses answered 500, `POST /bookings` only, and added latency; health and identity
//! endpoints are never affected.
mod support;

use std::sync::Arc;
use std::time::Duration;

use loadgen::{ClientMode, FailureKind, LoadConfig, Report};
use support::*;

fn load(cfg: LoadConfig) -> Report {
    let (_tx, rx) = tokio::sync::watch::channel(false);
    block_on(loadgen::run(cfg, rx, Arc::new(loadgen::Live::default())))
}

fn bounded(mut cfg: LoadConfig, n: u64) -> LoadConfig {
    cfg.max_requests = n;
    cfg.concurrency = 2;
    cfg.max_duration = Duration::from_secs(60);
    cfg
}

fn non_2xx(r: &Report) -> u64 {
    r.samples
        .iter()
        .filter(|s| s.failure == Some(FailureKind::Non2xx))
        .count() as u64
}

#[test]
fn bookings_scope_fails_exactly_the_share_of_posts_only() {
    let svc = start("fail_share = 0.05\nfail_scope = \"bookings\"\n", &[]);
    let posts = load(bounded(
        LoadConfig::bookings(svc.addr(), ClientMode::KeepAlive),
        200,
    ));
    assert_eq!(posts.requests(), 200);
    assert_eq!(non_2xx(&posts), 10, "{:?}", posts.failed_by_kind());
    assert_eq!(
        posts.failed(),
        10,
        "only 500s: {:?}",
        posts.failed_by_kind()
    );
    let gets = load(bounded(
        LoadConfig::new(svc.addr(), "/search?city=Rome", ClientMode::NewConnection),
        100,
    ));
    assert_eq!((gets.requests(), gets.failed()), (100, 0));
    assert_eq!(svc.get("/ping").status, 200);
    svc.wait_event("fault_injected", |e| e["fault"] == "response");
}

#[test]
fn all_scope_fails_api_routes_but_never_health_or_identity() {
    let svc = start("fail_share = 1.0\n", &[]);
    let r = svc.get("/search?city=Rome");
    assert_eq!(r.status, 500, "{}", r.body);
    assert!(r.body.contains("injected fault"), "{}", r.body);
    for p in ["/ready", "/ping", "/version"] {
        assert_eq!(svc.get(p).status, 200, "{p}");
    }
}

#[test]
fn added_latency_shifts_every_api_response() {
    let base = "search_latency_ms = 0\n";
    let plain = start(base, &[]);
    let slow = start(&format!("{base}added_latency_ms = 50\n"), &[]);
    let path = "/search?city=Rome";
    let p50 = |svc: &Master| {
        let r = load(bounded(
            LoadConfig::new(svc.addr(), path, ClientMode::KeepAlive),
            40,
        ));
        assert_eq!((r.requests(), r.failed()), (40, 0));
        let min = r.percentile_ms(0.0, |_| true).unwrap();
        (min, r.percentile_ms(50.0, |_| true).unwrap())
    };
    let (_, plain_p50) = p50(&plain);
    let (slow_min, slow_p50) = p50(&slow);
    assert!(
        slow_min >= 50.0,
        "every response waits 50 ms: min {slow_min}"
    );
    assert!(
        slow_p50 >= plain_p50 + 45.0,
        "p50 {slow_p50} vs {plain_p50}"
    );
    let fastest_ping = (0..5)
        .map(|_| {
            let t = std::time::Instant::now();
            assert_eq!(slow.get("/ping").status, 200);
            t.elapsed()
        })
        .min()
        .unwrap();
    assert!(
        fastest_ping < Duration::from_millis(50),
        "/ping not delayed: {fastest_ping:?}"
    );
}
