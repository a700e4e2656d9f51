//! Unit tests of the load generator: request framing, failure classification, reports.

use super::*;

#[test]
fn percentiles_use_nearest_rank() {
    let mut v: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
    assert_eq!(percentile(&mut v, 50.0), Some(Duration::from_millis(50)));
    assert_eq!(percentile(&mut v, 99.0), Some(Duration::from_millis(99)));
    assert_eq!(percentile(&mut v, 100.0), Some(Duration::from_millis(100)));
    assert_eq!(percentile(&mut [], 50.0), None);
}

#[tokio::test]
async fn open_loop_latency_counts_from_the_intended_send_time() {
    // A server that stalls 300 ms before its first answer: every request scheduled during
    // the stall waits for it, and its latency says so.
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        let (mut s, _) = l.accept().await.unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
        let mut buf = [0u8; 4096];
        while let Ok(n @ 1..) = s.read(&mut buf).await {
            let requests = String::from_utf8_lossy(&buf[..n]).matches("GET ").count();
            for _ in 0..requests {
                let ok = "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
                if s.write_all(ok.as_bytes()).await.is_err() {
                    return;
                }
            }
        }
    });
    let mut cfg = LoadConfig::new(addr, "/", ClientMode::KeepAlive);
    cfg.concurrency = 1;
    cfg.max_requests = 20;
    cfg.rate = Some(100.0);
    let r = run(cfg, watch::channel(false).1, Arc::default()).await;
    assert_eq!((r.requests(), r.failed()), (20, 0), "{:?}", r.first_errors);
    // Requests due during the stall wait for it: the one due at 100 ms waited ~200 ms.
    let second = r
        .samples
        .iter()
        .find(|s| s.at >= Duration::from_millis(90))
        .unwrap();
    assert!(second.latency >= Duration::from_millis(150), "{second:?}");
    assert!(
        second.at < Duration::from_millis(150),
        "intended time: {second:?}"
    );
}

#[tokio::test]
async fn refused_connections_are_counted_as_connect_failures() {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    drop(l);
    let mut cfg = LoadConfig::new(addr, "/", ClientMode::NewConnection);
    cfg.max_requests = 5;
    cfg.concurrency = 1;
    let r = run(cfg, watch::channel(false).1, Arc::default()).await;
    assert_eq!(r.requests(), 5);
    assert_eq!(r.failed_by_kind()["connect"], 5);
}

/// A server that answers a POST of the booking whole (201) and anything else with a 200
/// whose body stops short of its length (then closes the connection).
async fn short_body_server() -> SocketAddr {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                while let Ok(n @ 1..) = s.read(&mut buf).await {
                    let req = String::from_utf8_lossy(&buf[..n]).to_string();
                    if req.starts_with("POST /bookings") && req.contains(BOOKING_JSON) {
                        let ok = "HTTP/1.1 201 Created\r\ncontent-length: 2\r\nx-build-id: booked\r\n\r\nok";
                        let _ = s.write_all(ok.as_bytes()).await;
                    } else {
                        let short = "HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n0123456789";
                        let _ = s.write_all(short.as_bytes()).await;
                        return;
                    }
                }
            });
        }
    });
    addr
}

#[tokio::test]
async fn short_bodies_are_counted_as_truncated_and_posts_carry_the_booking() {
    let addr = short_body_server().await;
    for mode in [ClientMode::KeepAlive, ClientMode::NewConnection] {
        let mut cfg = LoadConfig::bookings(addr, mode);
        cfg.max_requests = 4;
        cfg.concurrency = 1;
        let r = run(cfg, watch::channel(false).1, Arc::default()).await;
        assert_eq!((r.requests(), r.failed()), (4, 0), "{:?}", r.first_errors);
        assert_eq!(r.header_values.get("booked"), Some(&4));
        let mut cfg = LoadConfig::new(addr, "/ping", mode);
        cfg.max_requests = 3;
        cfg.concurrency = 1;
        let r = run(cfg, watch::channel(false).1, Arc::default()).await;
        assert_eq!(r.requests(), 3);
        assert_eq!(r.failed_by_kind()["truncated"], 3, "{:?}", r.first_errors);
    }
}
