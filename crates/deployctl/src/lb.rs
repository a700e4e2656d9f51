//! nginx load balancers: the upstream configuration deployctl owns on every LB host.
//!
//! [`render`] is pure and deterministic (same input, same bytes): a stable pool, and in gray
//! mode a gray pool reached by the gray header or, stickily, by `split_clients` on a key for
//! P% of the other clients. Hosts being restarted or not verified are `down`. Every file
//! carries the run id and a serial, served at `/__deployctl/config` so a reload can be
//! confirmed. Stock nginx has no active health checks: deployctl's own membership (down
//! before restart, back after verify) replaces the third-party `check interval=3000` module;
//! an operator who has that module can add `check interval=3000 rise=2 fall=3 timeout=1000
//! type=http;` through `[lb] upstream_extra`.

use serde::Deserialize;
use std::collections::BTreeSet;
use std::fmt::Write;

/// `[lb]` table of the inventory.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LbSettings {
    /// nginx's directory on the LB host: nginx.conf, the owned upstream file, pid, logs, temp.
    #[serde(default = "d_dir")]
    pub dir: String,
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
}

fn d_dir() -> String {
    "/srv/nginx".into()
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
    pub fn main_conf(&self) -> String {
        format!("{}/nginx.conf", self.dir)
    }
    pub fn upstream_conf(&self) -> String {
        format!("{}/deployctl-upstreams.conf", self.dir)
    }
    pub fn pid_file(&self) -> String {
        format!("{}/nginx.pid", self.dir)
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
    let mut o = String::new();
    let _ = writeln!(
        o,
        "# deployctl: upstreams of env {}, serial {}. Rewritten by every run; do not edit.",
        r.env, r.serial
    );
    let gray = !r.gray.is_empty();
    let _ = writeln!(
        o,
        "# deployctl-gray-percent: {}",
        if gray {
            fmt_pct(r.percent)
        } else {
            "off".into()
        }
    );
    pool(&mut o, "deployctl_stable", &r.stable, &r.down, s);
    if gray {
        pool(&mut o, "deployctl_gray", &r.gray, &r.down, s);
        let _ = writeln!(o, "split_clients \"{}\" $deployctl_split {{", s.split_key);
        if r.percent > 0.0 {
            let _ = writeln!(o, "    {}% deployctl_gray;", fmt_pct(r.percent.min(100.0)));
        }
        if r.percent < 100.0 {
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
    let _ = writeln!(
        o,
        "server {{\n    listen {};\n    location = /__deployctl/config {{\n        return 200 \"{}\\n\";\n    }}\n    location / {{\n        proxy_pass http://$deployctl_pool;\n        proxy_http_version 1.1;\n        proxy_set_header Connection \"\";\n        proxy_set_header Host $host;\n        # Idempotent requests move to the next server on errors; POSTs are never replayed.\n        proxy_next_upstream error timeout http_502 http_503 http_504;\n        proxy_next_upstream_tries 3;\n        proxy_connect_timeout 2s;\n        add_header X-Deployctl-Pool $deployctl_pool always;\n        add_header X-Upstream $upstream_addr always;\n    }}\n}}",
        s.listen, r.serial
    );
    o
}

fn fmt_pct(p: f64) -> String {
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
    let d = &s.dir;
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
    }
}
