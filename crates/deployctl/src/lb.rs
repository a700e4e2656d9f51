//! Load balancers: the `[lb]` settings of both kinds, and the nginx upstream configuration
//! deployctl owns on every nginx LB host (haproxy: `haproxy.rs`).
//!
//! [`render`] is pure and deterministic (same input, same bytes): a stable pool, and in gray
//! mode a gray pool reached by the gray header or, stickily, by `split_clients` on a key for
//! P% of the other clients. Hosts being restarted or not verified are `down`. Every file
//! carries the run id and a serial, served at `/__deployctl/config` so a reload can be
//! confirmed. Stock nginx has no active health checks: passive ones (`max_fails` /
//! `fail_timeout`, idempotent requests moved to the next server) plus deployctl's own
//! membership (a host that fails verification is `down`); an operator who has the third-party
//! check module can add `check interval=3000 rise=2 fall=3 timeout=1000 type=http;` through
//! `[lb] upstream_extra`. The `kind = "haproxy"` LB has active checks on a stock package.

use serde::Deserialize;
use std::collections::BTreeSet;
use std::fmt::Write;

/// Which load balancer runs on the LB hosts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LbKind {
    /// Stock nginx: the owned upstream file, `nginx -t`, reload; passive checks.
    #[default]
    Nginx,
    /// Stock haproxy in master-worker mode: runtime API on the stats socket, active checks.
    Haproxy,
}

/// `[lb]` table of the inventory.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LbSettings {
    #[serde(default)]
    pub kind: LbKind,
    /// The LB's directory on the LB host (default `/srv/nginx` or `/srv/haproxy`): its
    /// configuration, the owned files, pid, sockets, logs.
    #[serde(default)]
    pub dir: String,
    /// Opt-in (services not on this runtime): mark each app host down in the LB before its
    /// restart and back after it verifies; costs two LB changes per batch.
    #[serde(default)]
    pub down_during_restart: bool,
    /// haproxy active health check of every server (`GET check_path`).
    #[serde(default = "d_check")]
    pub check: String,
    #[serde(default = "d_check_path")]
    pub check_path: String,
    #[serde(default = "d_haproxy")]
    pub haproxy: String,
    /// Client of haproxy's runtime API (stats socket) on the LB host.
    #[serde(default = "d_socat")]
    pub socat: String,
    #[serde(default = "d_listen")]
    pub listen: u16,
    #[serde(default = "d_fails")]
    pub max_fails: u32,
    #[serde(default = "d_timeout")]
    pub fail_timeout_s: u32,
    /// Requests with this header set to "1" go to the gray pool.
    #[serde(default = "d_header")]
    pub gray_header: String,
    /// nginx variable hashed by `split_clients` (sticky per client).
    #[serde(default = "d_key")]
    pub split_key: String,
    /// Extra directives inside each upstream block (e.g. the check module's `check ...;`).
    #[serde(default)]
    pub upstream_extra: String,
    #[serde(default = "d_nginx")]
    pub nginx: String,
    /// The access log (`{dir}/access.json`) is rotated to `access.json.1` when it is larger
    /// than this, at each LB change and at the start of each canary analysis.
    #[serde(default = "d_access_log_max_mb")]
    pub access_log_max_mb: u64,
}

fn d_access_log_max_mb() -> u64 {
    256
}
fn d_check() -> String {
    "inter 3s rise 2 fall 3".into()
}
fn d_check_path() -> String {
    "/ready".into()
}
fn d_haproxy() -> String {
    "haproxy".into()
}
fn d_socat() -> String {
    "socat".into()
}
fn d_listen() -> u16 {
    80
}
fn d_fails() -> u32 {
    1
}
fn d_timeout() -> u32 {
    3
}
fn d_header() -> String {
    "X-Gray".into()
}
fn d_key() -> String {
    "$remote_addr".into()
}
fn d_nginx() -> String {
    "nginx".into()
}

impl Default for LbSettings {
    fn default() -> Self {
        toml::from_str("").expect("lb defaults")
    }
}

impl LbSettings {
    /// The LB's directory on the LB host.
    pub fn dir(&self) -> String {
        match (self.dir.trim_end_matches('/'), self.kind) {
            ("", LbKind::Nginx) => "/srv/nginx".into(),
            ("", LbKind::Haproxy) => "/srv/haproxy".into(),
            (d, _) => d.to_string(),
        }
    }
    pub fn main_conf(&self) -> String {
        format!("{}/nginx.conf", self.dir())
    }
    pub fn upstream_conf(&self) -> String {
        format!("{}/deployctl-upstreams.conf", self.dir())
    }
    pub fn pid_file(&self) -> String {
        match self.kind {
            LbKind::Nginx => format!("{}/nginx.pid", self.dir()),
            LbKind::Haproxy => format!("{}/haproxy.pid", self.dir()),
        }
    }
    /// The file deployctl owns and rewrites (its first lines carry serial, share, down hosts).
    pub fn owned_file(&self) -> String {
        match self.kind {
            LbKind::Nginx => self.upstream_conf(),
            LbKind::Haproxy => format!("{}/haproxy.cfg", self.dir()),
        }
    }
}

/// One app server in a pool.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Member {
    pub name: String,
    pub addr: String,
}

/// What to route where.
#[derive(Debug, Clone, PartialEq)]
pub struct Routing {
    pub env: String,
    pub serial: String,
    pub stable: Vec<Member>,
    /// Gray pool; empty outside gray mode.
    pub gray: Vec<Member>,
    /// Share of clients without the header sent to the gray pool (0..=100).
    pub percent: f64,
    /// Hosts marked `down` (restarting or failed verification).
    pub down: BTreeSet<String>,
    /// Every app host flagged `gray` in the inventory, in gray mode or not (haproxy keeps
    /// them in both backends so gray start and end change no configuration).
    pub gray_hosts: Vec<Member>,
}

/// `host:port`, with an IPv6 address in brackets (both nginx and haproxy require them).
pub fn host_port(address: &str, port: u16) -> String {
    if address.contains(':') && !address.starts_with('[') {
        format!("[{address}]:{port}")
    } else {
        format!("{address}:{port}")
    }
}

/// The header lines both kinds start with: serial, gray share, down hosts.
pub fn header(r: &Routing, what: &str) -> String {
    let pct = if r.gray.is_empty() {
        "off".to_string()
    } else {
        fmt_pct(r.percent)
    };
    let down: Vec<&str> = r.down.iter().map(String::as_str).collect();
    format!(
        "# deployctl: {what} of env {}, serial {}. Rewritten by every run; do not edit.\n# deployctl-gray-percent: {pct}\n# deployctl-down: {}\n",
        r.env,
        r.serial,
        down.join(" ")
    )
}

/// Serial recorded in a rendered file.
pub fn parse_serial(conf: &str) -> Option<String> {
    let l = conf.lines().next()?;
    let s = l.split(", serial ").nth(1)?;
    Some(s.split(". Rewritten").next()?.trim().to_string())
}

/// Down hosts recorded in a rendered file.
pub fn parse_down(conf: &str) -> BTreeSet<String> {
    conf.lines()
        .find_map(|l| l.strip_prefix("# deployctl-down:"))
        .map(|v| v.split_whitespace().map(str::to_string).collect())
        .unwrap_or_default()
}

/// A rendered file without what changes on every write (the serial): two files that are
/// equal here route identically.
pub fn without_serial(conf: &str) -> String {
    match parse_serial(conf) {
        Some(s) if !s.is_empty() => conf.replace(&s, ""),
        _ => conf.to_string(),
    }
}

fn header_var(h: &str) -> String {
    format!("$http_{}", h.to_ascii_lowercase().replace('-', "_"))
}

fn pool(out: &mut String, name: &str, members: &[Member], down: &BTreeSet<String>, s: &LbSettings) {
    let _ = writeln!(out, "upstream {name} {{");
    let mut members = members.to_vec();
    members.sort();
    for m in &members {
        let flag = if down.contains(&m.name) { " down" } else { "" };
        let _ = writeln!(
            out,
            "    server {} max_fails={} fail_timeout={}s{flag};  # {}",
            m.addr, s.max_fails, s.fail_timeout_s, m.name
        );
    }
    if !s.upstream_extra.trim().is_empty() {
        let _ = writeln!(out, "    {}", s.upstream_extra.trim());
    }
    let _ = writeln!(out, "    keepalive 16;\n}}");
}

/// The upstream file (included in nginx's `http {}`).
pub fn render(r: &Routing, s: &LbSettings) -> String {
    let mut o = header(r, "upstreams");
    let gray = !r.gray.is_empty();
    pool(&mut o, "deployctl_stable", &r.stable, &r.down, s);
    if gray {
        pool(&mut o, "deployctl_gray", &r.gray, &r.down, s);
        let _ = writeln!(o, "split_clients \"{}\" $deployctl_split {{", s.split_key);
        // nginx reads at most two decimals; a share that rounds to 0 has no gray line.
        let pct = fmt_pct(r.percent.clamp(0.0, 100.0));
        if pct != "0" {
            let _ = writeln!(o, "    {pct}% deployctl_gray;");
        }
        if pct != "100" {
            let _ = writeln!(o, "    * deployctl_stable;");
        }
        let _ = writeln!(o, "}}");
        let _ = writeln!(o, "map {} $deployctl_pool {{\n    \"1\" deployctl_gray;\n    default $deployctl_split;\n}}", header_var(&s.gray_header));
    } else {
        let _ = writeln!(
            o,
            "map {} $deployctl_pool {{\n    default deployctl_stable;\n}}",
            header_var(&s.gray_header)
        );
    }
    o.push_str(&crate::accesslog::nginx_directives(
        &header_var(&s.gray_header),
        &s.split_key,
        gray,
    ));
    let _ = writeln!(
        o,
        "server {{\n    listen {};\n{}    location = /__deployctl/config {{\n        access_log off;\n        return 200 \"{}\\n\";\n    }}\n    location / {{\n        proxy_pass http://$deployctl_pool;\n        proxy_http_version 1.1;\n        proxy_set_header Connection \"\";\n        proxy_set_header Host $host;\n        # Idempotent requests move to the next server on errors; POSTs are never replayed.\n        proxy_next_upstream error timeout http_502 http_503 http_504;\n        proxy_next_upstream_tries 3;\n        proxy_connect_timeout 2s;\n        add_header X-Deployctl-Pool $deployctl_pool always;\n        add_header X-Upstream $upstream_addr always;\n    }}\n}}",
        s.listen,
        crate::accesslog::nginx_access_log(s),
        r.serial
    );
    o
}

pub fn fmt_pct(p: f64) -> String {
    let s = format!("{p:.2}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// Gray percent recorded in a rendered file (`None` when not in gray mode).
pub fn parse_percent(conf: &str) -> Option<f64> {
    conf.lines()
        .find_map(|l| l.strip_prefix("# deployctl-gray-percent: "))
        .and_then(|v| v.trim().parse().ok())
}

/// nginx.conf written on an LB host that has none: includes the owned upstream file.
pub fn main_conf(s: &LbSettings) -> String {
    let d = &s.dir();
    format!(
        "# written by deployctl (first use of this load balancer)\nworker_processes 1;\npid {d}/nginx.pid;\nerror_log {d}/error.log;\nevents {{ worker_connections 1024; }}\nhttp {{\n    access_log off;\n    client_body_temp_path {d}/tmp/body;\n    proxy_temp_path {d}/tmp/proxy;\n    fastcgi_temp_path {d}/tmp/fastcgi;\n    uwsgi_temp_path {d}/tmp/uwsgi;\n    scgi_temp_path {d}/tmp/scgi;\n    include {};\n}}\n",
        s.upstream_conf()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn routing(gray: bool, pct: f64) -> Routing {
        let m = |n: &str, a: &str| Member {
            name: n.into(),
            addr: a.into(),
        };
        Routing {
            env: "prod".into(),
            serial: "run1.1".into(),
            stable: vec![m("b", "10.0.0.3:8080"), m("a", "10.0.0.2:8080")],
            gray: if gray {
                vec![m("g", "10.0.0.4:8080")]
            } else {
                vec![]
            },
            percent: pct,
            down: ["b".to_string()].into(),
            gray_hosts: vec![],
        }
    }

    #[test]
    fn rendering_is_deterministic_and_marks_down_hosts() {
        let s = LbSettings::default();
        let a = render(&routing(false, 0.0), &s);
        let mut r = routing(false, 0.0);
        r.stable.reverse();
        assert_eq!(a, render(&r, &s), "member order does not change the bytes");
        assert!(a.starts_with("# deployctl: upstreams of env prod, serial run1.1."));
        assert!(a.contains("server 10.0.0.2:8080 max_fails=1 fail_timeout=3s;  # a"));
        assert!(a.contains("server 10.0.0.3:8080 max_fails=1 fail_timeout=3s down;  # b"));
        assert!(!a.contains("deployctl_gray"));
        assert_eq!(parse_percent(&a), None);
    }

    #[test]
    fn gray_mode_routes_by_header_and_sticky_percentage() {
        let s = LbSettings::default();
        let c = render(&routing(true, 12.5), &s);
        assert!(c.contains("split_clients \"$remote_addr\" $deployctl_split {\n    12.5% deployctl_gray;\n    * deployctl_stable;\n}"));
        assert!(c.contains("map $http_x_gray $deployctl_pool {\n    \"1\" deployctl_gray;"));
        assert_eq!(parse_percent(&c), Some(12.5));
        let all = render(&routing(true, 100.0), &s);
        assert!(!all.contains("* deployctl_stable"));
        let none = render(&routing(true, 0.0), &s);
        assert!(!none.contains("% deployctl_gray"));
        let tiny = render(&routing(true, 0.001), &s);
        assert!(!tiny.contains("% deployctl_gray"), "0.00% is not written");
        assert!(render(&routing(true, 33.333), &s).contains("    33.33% deployctl_gray;"));
        assert_eq!(parse_serial(&c).as_deref(), Some("run1.1"));
        assert_eq!(parse_down(&c), ["b".to_string()].into());
        let mut other = routing(true, 12.5);
        other.serial = "run2.7".into();
        assert_eq!(without_serial(&c), without_serial(&render(&other, &s)));
    }

    #[test]
    fn ipv6_members_are_bracketed() {
        assert_eq!(host_port("2001:db8::5", 8080), "[2001:db8::5]:8080");
        assert_eq!(host_port("10.0.0.2", 8080), "10.0.0.2:8080");
        assert_eq!(host_port("[::1]", 80), "[::1]:80");
    }
}
