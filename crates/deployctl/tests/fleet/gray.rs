//! Load balancers (real nginx on a bed host) in front of real app hosts: zero failed requests
//! through a rollout, gray routing by header and sticky percentage, promote and abort,
//! a rejected nginx configuration, and a never-ready host kept out of the pool.

use crate::lbstate::assert_lb_agrees;
use testkit::*;

pub fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// GET /version through the LB with headers; returns the build id.
pub async fn build_via(lb: &str, headers: &[(&str, String)]) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(format!("{lb}:80"))
        .await
        .unwrap();
    let mut req = "GET /version HTTP/1.1\r\nHost: lb\r\nConnection: close\r\n".to_string();
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let mut buf = vec![];
    s.read_to_end(&mut buf).await.unwrap();
    let r = deployctl::observe::parse(&buf).unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    v["build_id"].as_str().unwrap().to_string()
}

/// Builds seen for client keys `c{from}..c{to}` (16 requests in flight).
pub fn builds_for_keys(lb: &str, keys: std::ops::Range<usize>) -> Vec<String> {
    rt().block_on(async {
        let mut out = vec![String::new(); keys.len()];
        let start = keys.start;
        let keys: Vec<usize> = keys.collect();
        for chunk in keys.chunks(16) {
            let futs: Vec<_> = chunk
                .iter()
                .map(|&k| {
                    let lb = lb.to_string();
                    tokio::spawn(async move {
                        (k, build_via(&lb, &[("X-Client", format!("c{k}"))]).await)
                    })
                })
                .collect();
            for f in futs {
                let (k, b) = f.await.unwrap();
                out[k - start] = b;
            }
        }
        out
    })
}

pub fn share(builds: &[String], id: &str) -> f64 {
    100.0 * builds.iter().filter(|b| b.as_str() == id).count() as f64 / builds.len() as f64
}

#[test]
fn gray_routes_by_header_and_sticky_share_then_abort_and_promote() {
    let f = Fleet::on_v1(
        3,
        &Inv {
            lb_hosts: vec![0],
            gray: vec![2],
            lb: vec!["split_key = \"$http_x_client\"".into()],
            ..Inv::default()
        },
    );
    let (bed, builds, inv, state) = (&f.bed, &f.builds, &f.inv, &f.state);
    let lb = bed.hosts[0].address.clone();
    let (v1, v2) = (build_id(&builds.v1), build_id(&builds.v2));
    let v2_path = builds.v2.to_str().unwrap();
    // 2000 distinct client keys per share; tolerance +-3.5 points (> 4 standard deviations at 50%).
    for pct in [10u32, 50, 1] {
        let r = deployctl(
            inv,
            state,
            &[
                "gray",
                "--env",
                "bed",
                "--percent",
                &pct.to_string(),
                "--artifact",
                v2_path,
            ],
        );
        assert_eq!(r.code, 0, "gray {pct}: {} {}", r.stderr, r.json);
        let seen = builds_for_keys(&lb, 0..2000);
        let got = share(&seen, &v2);
        assert!(
            (got - pct as f64).abs() <= 3.5,
            "gray {pct}%: observed {got:.1}%"
        );
        assert!(seen.iter().all(|b| *b == v1 || *b == v2));
        // Sticky: the same keys land on the same side again.
        assert_eq!(
            builds_for_keys(&lb, 0..300),
            seen[..300].to_vec(),
            "gray {pct}%: not sticky"
        );
        // The header always reaches the gray pool.
        let headed = rt().block_on(async {
            let mut v = vec![];
            for k in 0..50 {
                v.push(
                    build_via(
                        &lb,
                        &[("X-Gray", "1".into()), ("X-Client", format!("c{k}"))],
                    )
                    .await,
                );
            }
            v
        });
        assert!(
            headed.iter().all(|b| *b == v2),
            "gray {pct}%: header not routed to gray"
        );
        assert_lb_agrees(bed, 0, "nginx", &format!("gray {pct}%"));
        if pct == 10 {
            let st = deployctl(inv, state, &["status", "--env", "bed"]);
            let lbst = &st.json[0]["lb"];
            assert_eq!(lbst["gray_percent"], 10.0, "{}", st.json);
            assert_eq!(
                lbst["gray_pool"][0],
                bed.hosts[2].name.as_str(),
                "{}",
                st.json
            );
        }
        if pct == 50 {
            let r = deployctl(inv, state, &["gray", "--env", "bed", "--abort"]);
            assert_eq!(r.code, 0, "abort: {} {}", r.stderr, r.json);
            assert!(
                builds_for_keys(&lb, 0..200).iter().all(|b| *b == v1),
                "abort: old build everywhere"
            );
        }
    }
    let r = deployctl(
        inv,
        state,
        &["promote", "--env", "bed", "--artifact", v2_path],
    );
    assert_eq!(r.code, 0, "promote: {} {}", r.stderr, r.json);
    assert!(
        builds_for_keys(&lb, 0..200).iter().all(|b| *b == v2),
        "promote: new build everywhere"
    );
    let live = assert_lb_agrees(bed, 0, "nginx", "promote");
    assert!(live.down.is_empty(), "{live:?}");
}

#[test]
fn invalid_nginx_directive_is_rejected_and_nginx_keeps_serving() {
    let f = Fleet::on_v1(
        2,
        &Inv {
            lb_hosts: vec![0],
            ..Inv::default()
        },
    );
    let (bed, builds, work, state, good) = (&f.bed, &f.builds, &f.work, &f.state, &f.inv);
    let conf = bed.srv(0).join("nginx/deployctl-upstreams.conf");
    let before = std::fs::read_to_string(&conf).unwrap();
    // Roles detected from what runs: nginx on :80 => lb, our master => app.
    let auto_dir = work.path().join("auto");
    std::fs::create_dir_all(&auto_dir).unwrap();
    let auto = bed.inventory(
        &auto_dir,
        &builds.v1,
        &Inv {
            auto_roles: true,
            ..Inv::default()
        },
    );
    let d = deployctl(&auto, state, &["detect", "--env", "bed"]);
    assert_eq!(d.code, 0, "{} {}", d.stderr, d.json);
    assert_eq!(d.json[0]["roles"], serde_json::json!(["lb"]), "{}", d.json);
    assert_eq!(d.json[1]["roles"], serde_json::json!(["app"]), "{}", d.json);
    assert_eq!(d.json[1]["detected"], true);
    // A dry run prints the plan and touches nothing.
    let dry = deployctl(
        good,
        state,
        &[
            "rollout",
            "--env",
            "bed",
            "--dry-run",
            "--artifact",
            builds.v2.to_str().unwrap(),
        ],
    );
    assert_eq!(dry.code, 0, "{} {}", dry.stderr, dry.json);
    assert_eq!(dry.json["dry_run"], true);
    assert_eq!(std::fs::read_to_string(&conf).unwrap(), before);
    assert_eq!(
        sha256_file(&bed.srv(1).join("hotel/hotel-api")),
        sha256_file(&builds.v1)
    );
    let bad_dir = work.path().join("bad");
    std::fs::create_dir_all(&bad_dir).unwrap();
    let bad = bed.inventory(
        &bad_dir,
        &builds.v1,
        &Inv {
            lb_hosts: vec![0],
            lb: vec!["upstream_extra = \"bogus_directive on;\"".into()],
            ..Inv::default()
        },
    );
    let r = deployctl(
        &bad,
        state,
        &[
            "rollout",
            "--env",
            "bed",
            "--artifact",
            builds.v2.to_str().unwrap(),
        ],
    );
    assert_eq!(r.code, 5, "{} {}", r.stderr, r.json);
    let reason = r.json["reason"].as_str().unwrap();
    assert!(reason.contains("nginx -t rejected"), "{reason}");
    assert_eq!(
        std::fs::read_to_string(&conf).unwrap(),
        before,
        "previous file in place"
    );
    let lb = bed.hosts[0].address.clone();
    let v1 = build_id(&builds.v1);
    assert!(
        builds_for_keys(&lb, 0..20).iter().all(|b| *b == v1),
        "nginx still serves, app untouched"
    );
    assert_lb_agrees(bed, 0, "nginx", "nginx -t rejected a file");
}
