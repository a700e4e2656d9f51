//! What a bed load balancer does right now, read from the LB itself (never through deployctl),
//! compared with the files deployctl left on its disk. haproxy: the runtime API on the stats
//! socket (`show servers state`: every server, its address and admin state; `show map`: the
//! gray route and the serial) against `haproxy.cfg` and the map files. nginx: the serial the
//! running workers serve at `/__deployctl/config` (rendered into the file: a file written but
//! not loaded serves the previous one) against the file, and the upstream each response
//! names (`X-Upstream`): never a host the file marks down, never one the file lacks.

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::path::Path;
use std::time::Duration;
use testkit::Bed;

/// The LB's live state, once it agrees with the disk.
#[derive(Debug, Clone, PartialEq)]
pub struct Live {
    /// Serial of the configuration in force.
    pub serial: String,
    /// Hosts out of the stable rotation (haproxy: admin maintenance; nginx: `down`).
    pub down: BTreeSet<String>,
}

/// Send `req` to `addr` and read the answer to the end (bounded by 5 s).
fn exchange(mut s: impl Read + Write, req: &str) -> String {
    s.write_all(req.as_bytes()).unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

/// One runtime API command on a haproxy stats socket.
pub fn haproxy_cli(sock: &Path, cmd: &str) -> String {
    let s = std::os::unix::net::UnixStream::connect(sock)
        .unwrap_or_else(|e| panic!("{}: {e}", sock.display()));
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    exchange(s, &format!("{cmd}\n"))
}

/// `GET path` on the LB's port 80 with `Connection: close`: (status line + headers, body).
pub fn lb_get(addr: &str, path: &str) -> (String, String) {
    let a: std::net::SocketAddr = format!("{addr}:80").parse().unwrap();
    let s = std::net::TcpStream::connect_timeout(&a, Duration::from_secs(5)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let out = exchange(
        s,
        &format!("GET {path} HTTP/1.1\r\nHost: lb\r\nConnection: close\r\n\r\n"),
    );
    let (head, body) = out.split_once("\r\n\r\n").unwrap_or((&out, ""));
    assert!(head.starts_with("HTTP/1.1 200"), "GET {path}: {head}");
    (head.to_string(), body.trim().to_string())
}

/// `key value` lines (of a map file, or `show map` lines `0xADDR key value`), sorted.
fn pairs(text: &str) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = text
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            match f.as_slice() {
                [a, k, v] if a.starts_with("0x") => Some((k.to_string(), v.to_string())),
                [k, v] => Some((k.to_string(), v.to_string())),
                _ => None,
            }
        })
        .collect();
    v.sort();
    v
}

/// `server` lines of the owned file: (backend or upstream, name, address, out of rotation).
fn disk_servers(kind: &str, conf: &str) -> BTreeSet<(String, String, String, bool)> {
    let mut block = String::new();
    let mut out = BTreeSet::new();
    for l in conf.lines() {
        if let Some(b) = l.strip_prefix("backend ").or(l.strip_prefix("upstream ")) {
            block = b.trim_end_matches(" {").trim().to_string();
        }
        let Some(x) = l.trim().strip_prefix("server ") else {
            continue;
        };
        let f: Vec<&str> = x.split_whitespace().collect();
        let s = if kind == "nginx" {
            let name = x.split_once("# ").map(|n| n.1.trim()).unwrap_or_default();
            (
                block.clone(),
                name.into(),
                f[0].into(),
                x.contains(" down;"),
            )
        } else {
            (
                block.clone(),
                f[0].into(),
                f[1].into(),
                x.ends_with(" disabled"),
            )
        };
        out.insert(s);
    }
    out
}

/// haproxy `show servers state`: (backend, server, address, in maintenance).
fn live_servers(state: &str) -> BTreeSet<(String, String, String, bool)> {
    let mut lines = state.lines().filter(|l| !l.trim().is_empty());
    assert_eq!(lines.next(), Some("1"), "state format: {state}");
    let head: Vec<&str> = lines
        .next()
        .unwrap()
        .trim_start_matches("# ")
        .split(' ')
        .collect();
    let col = |f: &[&str], n: &str| f[head.iter().position(|c| *c == n).unwrap()].to_string();
    lines
        .map(|l| l.split(' ').collect::<Vec<_>>())
        .map(|f| {
            let admin: u32 = col(&f, "srv_admin_state").parse().unwrap();
            // haproxy's SRV_ADMF_MAINT mask is forced 0x01 | inherited 0x02 | resolution
            // 0x20; 0x04 only records `disabled` in the configuration (kept after `set
            // server ... state ready`). deployctl never drains (0x08 | 0x10).
            assert_eq!(admin & 0x18, 0, "drain: {f:?}");
            let a = col(&f, "srv_addr");
            let a = if a.contains(':') { format!("[{a}]") } else { a };
            let addr = format!("{a}:{}", col(&f, "srv_port"));
            (
                col(&f, "be_name"),
                col(&f, "srv_name"),
                addr,
                admin & 0x23 != 0,
            )
        })
        .collect()
}

/// The LB on bed host `k` runs what its files on disk say; panics naming the difference.
pub fn assert_lb_agrees(bed: &Bed, k: usize, kind: &str, what: &str) -> Live {
    let dir = bed.srv(k).join(kind);
    let addr = &bed.hosts[k].address;
    let owned = if kind == "nginx" {
        "deployctl-upstreams.conf"
    } else {
        "haproxy.cfg"
    };
    let conf = std::fs::read_to_string(dir.join(owned)).unwrap();
    let serial = deployctl::observe::parse_serial(&conf).expect("serial on disk");
    let (_, served) = lb_get(addr, "/__deployctl/config");
    assert_eq!(
        served, serial,
        "{what}: {kind} serves another configuration"
    );
    let disk = disk_servers(kind, &conf);
    assert!(!disk.is_empty(), "{what}: no server on disk\n{conf}");
    if kind == "haproxy" {
        let sock = dir.join("haproxy.sock");
        let live = live_servers(&haproxy_cli(&sock, "show servers state"));
        assert_eq!(live, disk, "{what}: haproxy servers live != {owned}");
        for map in ["deployctl-route.map", "deployctl-serial.map"] {
            let file = std::fs::read_to_string(dir.join(map)).unwrap();
            let shown = haproxy_cli(&sock, &format!("show map /srv/haproxy/{map}"));
            assert_eq!(pairs(&shown), pairs(&file), "{what}: {map} live != disk");
        }
    } else {
        // Every response names the upstream that answered: never one marked down or gone.
        let up: BTreeSet<&str> = disk.iter().filter(|s| !s.3).map(|s| s.2.as_str()).collect();
        for _ in 0..20 {
            let (head, _) = lb_get(addr, "/ping");
            let ups = head
                .lines()
                .find_map(|l| l.strip_prefix("X-Upstream: "))
                .unwrap_or_else(|| panic!("{what}: no X-Upstream in {head}"));
            for u in ups.split(", ") {
                assert!(
                    up.contains(u.trim()),
                    "{what}: served by {u}, not up on disk {up:?}"
                );
            }
        }
    }
    let down = disk
        .iter()
        .filter(|s| s.3 && s.0 == "deployctl_stable")
        .map(|s| s.1.clone())
        .collect();
    Live { serial, down }
}

/// haproxy on bed host `k`: servers of the stable backend in maintenance right now.
pub fn haproxy_maint(bed: &Bed, k: usize) -> BTreeSet<String> {
    let sock = bed.srv(k).join("haproxy/haproxy.sock");
    live_servers(&haproxy_cli(&sock, "show servers state"))
        .into_iter()
        .filter(|s| s.3 && s.0 == "deployctl_stable")
        .map(|s| s.1)
        .collect()
}
