//! haproxy load balancers (`[lb] kind = "haproxy"`, the distribution's package in master-worker
//! mode). deployctl owns three files in the LB's directory:
//!
//! - `haproxy.cfg`: one frontend, a stable and a gray backend. Every app host is a server of
//!   the stable backend and every `gray` host also of the gray backend, so gray start and end,
//!   share changes and down-marking change no structure. Active checks `GET check_path`
//!   (`check inter 3s rise 2 fall 3` by default). Servers out of rotation carry `disabled`.
//! - `deployctl-route.map` (`gray` 0/1, `share` in 1/100 of a percent) and
//!   `deployctl-serial.map` (`serial`, served at `/__deployctl/config`).
//!
//! The gray header always reaches gray while gray is on; other clients go to gray when
//! `crc32(split key) mod 10000 < share` (sticky per key, and a larger share keeps every key
//! that was gray). A change whose structure is the same as the file in force is made live
//! through the runtime API on the stats socket (`set server ... state ready|maint`,
//! `set map`), then the files are rewritten to match: no reload. Otherwise the files are
//! checked with `haproxy -c` and haproxy does a seamless reload (`expose-fd listeners`,
//! `option idle-close-on-response`), or starts on first use.

use crate::accesslog;
use crate::lb::{self, LbSettings, Member, Routing};
use crate::lbpush::{self, Change};
use crate::remote::{HostError, RemoteHost};
use crate::scripts::lb as sh;
use std::fmt::Write;

/// haproxy's sample for an nginx-style `[lb] split_key`.
pub fn split_sample(key: &str) -> Result<String, String> {
    let k = key.trim();
    if k == "$remote_addr" {
        return Ok("src".into());
    }
    if k == "$remote_port" {
        // Per client connection (load tests from one address spread over both pools).
        return Ok("src_port".into());
    }
    let ok = |n: &str| !n.is_empty() && n.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if let Some(h) = k.strip_prefix("$http_").filter(|h| ok(h)) {
        return Ok(format!("req.hdr({})", h.replace('_', "-")));
    }
    if let Some(c) = k.strip_prefix("$cookie_").filter(|c| ok(c)) {
        return Ok(format!("req.cook({c})"));
    }
    Err(format!(
        "[lb] split_key {k:?}: haproxy supports $remote_addr, $remote_port, $http_NAME and $cookie_NAME"
    ))
}

/// Paths of the owned files.
pub struct Paths {
    pub cfg: String,
    pub route: String,
    pub serial: String,
    pub sock: String,
}

impl Paths {
    pub fn of(s: &LbSettings) -> Paths {
        let d = s.dir();
        Paths {
            cfg: format!("{d}/haproxy.cfg"),
            route: format!("{d}/deployctl-route.map"),
            serial: format!("{d}/deployctl-serial.map"),
            sock: format!("{d}/haproxy.sock"),
        }
    }
}

/// The three rendered files.
#[derive(Debug, Clone, PartialEq)]
pub struct Files {
    pub cfg: String,
    pub route: String,
    pub serial: String,
}

/// haproxy's name of a server (letters, digits, `-`, `_`, `.` only).
pub fn server_name(host: &str) -> String {
    host.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Every app host of the routing, gray or not, sorted.
fn members(r: &Routing) -> Vec<Member> {
    let mut all: Vec<Member> = r
        .stable
        .iter()
        .chain(&r.gray)
        .chain(&r.gray_hosts)
        .cloned()
        .collect();
    all.sort();
    all.dedup();
    all
}

/// Live state of every server: (backend, server, in rotation).
pub fn desired(r: &Routing) -> Vec<(String, String, bool)> {
    let gray_on = !r.gray.is_empty();
    let is_gray = |m: &Member| r.gray_hosts.iter().any(|g| g.name == m.name);
    let all = members(r);
    let mut out = vec![];
    for m in &all {
        let up = !r.down.contains(&m.name);
        let stable_up = up && !(gray_on && is_gray(m));
        out.push(("deployctl_stable".into(), server_name(&m.name), stable_up));
    }
    for m in all.iter().filter(|m| is_gray(m)) {
        let up = gray_on && !r.down.contains(&m.name);
        out.push(("deployctl_gray".into(), server_name(&m.name), up));
    }
    out
}

/// Share in 1/100 of a percent (0..=10000).
fn share(r: &Routing) -> u32 {
    if r.gray.is_empty() {
        0
    } else {
        (r.percent.clamp(0.0, 100.0) * 100.0).round() as u32
    }
}

/// Render the owned files (pure, deterministic).
pub fn render(r: &Routing, s: &LbSettings) -> Result<Files, String> {
    let p = Paths::of(s);
    let key = split_sample(&s.split_key)?;
    let mut o = lb::header(r, "haproxy");
    let _ = write!(
        o,
        "global\n    master-worker\n    pidfile {pid}\n    stats socket {sock} mode 600 level admin expose-fd listeners\n    stats timeout 10s\n\
         defaults\n    mode http\n    timeout connect 2s\n    timeout client 30s\n    timeout server 30s\n    timeout http-keep-alive 10s\n\
         \x20   option idle-close-on-response\n    option redispatch\n    retries 2\n\
         \x20   # Idempotent requests are retried on another server; a POST only when it never reached one.\n\
         \x20   retry-on conn-failure empty-response response-timeout 502 503 504\n\
         {target}\
         frontend deployctl\n    bind :{listen}\n\
         \x20   http-request return status 200 content-type text/plain lf-string \"%[str(serial),map({serial})]\" if {{ path /__deployctl/config }}\n\
         \x20   http-request disable-l7-retry if !METH_GET !METH_HEAD\n\
         \x20   http-request set-var(txn.deployctl_on) str(gray),map_str_int({route},0)\n\
         \x20   http-request set-var(txn.deployctl_share) str(share),map_str_int({route},0)\n\
         \x20   http-request set-var(txn.deployctl_cut) {key},crc32,mod(10000),sub(txn.deployctl_share)\n\
         \x20   http-request set-var(txn.deployctl_client) {key},sdbm(1)\n\
         \x20   acl deployctl_on var(txn.deployctl_on) -m int 1\n\
         \x20   acl deployctl_header req.hdr({hdr}) -m str 1\n\
         \x20   acl deployctl_split var(txn.deployctl_cut) -m int lt 0\n\
         {log}\
         \x20   use_backend deployctl_gray if deployctl_on deployctl_header\n\
         \x20   use_backend deployctl_gray if deployctl_on deployctl_split\n\
         \x20   default_backend deployctl_stable\n",
        pid = s.pid_file(),
        sock = p.sock,
        listen = s.listen,
        serial = p.serial,
        route = p.route,
        hdr = s.gray_header,
        target = accesslog::haproxy_log_target(s),
        log = accesslog::haproxy_directives(),
    );
    let all = members(r);
    let addr = |n: &str| {
        all.iter()
            .find(|m| server_name(&m.name) == n)
            .map(|m| m.addr.clone())
            .unwrap_or_default()
    };
    let mut last = String::new();
    for (backend, name, up) in desired(r) {
        if backend != last {
            let _ = write!(
                o,
                "backend {backend}\n    balance roundrobin\n    option httpchk GET {}\n    http-check expect status 200\n    default-server check {}\n",
                s.check_path, s.check
            );
            last = backend.clone();
        }
        let flag = if up { "" } else { " disabled" };
        let _ = writeln!(o, "    server {name} {}{flag}", addr(&name));
    }
    if !desired(r).iter().any(|d| d.0 == "deployctl_gray") {
        let _ = writeln!(o, "backend deployctl_gray\n    # no host is flagged gray");
    }
    Ok(Files {
        cfg: o,
        route: format!(
            "gray {}\nshare {}\n",
            u8::from(!r.gray.is_empty()),
            share(r)
        ),
        serial: format!("serial {}\n", r.serial),
    })
}

/// The configuration without its state (header lines, `disabled` flags): equal skeletons
/// mean the change can be made live through the runtime API.
pub fn skeleton(cfg: &str) -> String {
    cfg.lines()
        .filter(|l| !l.starts_with("# deployctl"))
        .map(|l| l.trim_end_matches(" disabled"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Runtime API commands that make the live state match `files` (absolute, so idempotent).
pub fn runtime_commands(r: &Routing, s: &LbSettings, files: &Files) -> Vec<String> {
    let p = Paths::of(s);
    let state = |want: bool| {
        desired(r)
            .into_iter()
            .filter(move |d| d.2 == want)
            .map(|(b, n, up)| {
                let st = if up { "ready" } else { "maint" };
                format!("set server {b}/{n} state {st}")
            })
    };
    // Servers join before the routing may send to them and leave after it stopped: a
    // request never finds a backend without a server in rotation (haproxy would answer 503).
    let mut cmds: Vec<String> = state(true).collect();
    for l in files.route.lines() {
        cmds.push(format!("set map {} {l}", p.route));
    }
    cmds.extend(state(false));
    cmds.push(format!("set map {} serial {}", p.serial, r.serial));
    cmds
}

/// Runtime API query (`show stat`, `show map ...`): its answer, verbatim, for the parser of
/// that query ([`crate::lbview`]).
pub async fn query(r: &RemoteHost, s: &LbSettings, cmd: &str) -> Result<String, HostError> {
    let args = [&Paths::of(s).sock, &s.socat, cmd];
    r.script("haproxy runtime API", &sh::HAPROXY_QUERY, &args)
        .await
}

/// Apply `routing` on haproxy LB host `r`: nothing when it is in force, live through the
/// runtime API when only state differs, else a checked seamless reload (or first start).
pub async fn apply(r: &RemoteHost, s: &LbSettings, routing: &Routing) -> Result<Change, HostError> {
    let files = render(routing, s).map_err(HostError::Check)?;
    let p = Paths::of(s);
    let cur = lbpush::current(r, s).await?;
    let served = lbpush::served(r, s).await;
    let running = served.is_some() && served == lb::parse_serial(&cur);
    if running && lb::without_serial(&cur) == lb::without_serial(&files.cfg) {
        return Ok(Change::Unchanged);
    }
    let live = running && skeleton(&cur) == skeleton(&files.cfg);
    let serial = &routing.serial;
    accesslog::fetch::rotate(r, s).await?;
    accesslog::fetch::ensure_receiver(r, s).await?;
    for (path, text) in [
        (&p.cfg, &files.cfg),
        (&p.route, &files.route),
        (&p.serial, &files.serial),
    ] {
        lbpush::upload(r, &format!("{path}.new-{serial}"), text).await?;
    }
    if live {
        let cmds = runtime_commands(routing, s, &files);
        let mut args: Vec<&str> = vec![&p.sock, &s.socat];
        args.extend(cmds.iter().map(String::as_str));
        // Absolute states: safe to re-send after a lost connection.
        let sent = async {
            let out = r
                .script("haproxy runtime API", &sh::HAPROXY_RUNTIME, &args)
                .await?;
            Ok::<_, HostError>(sh::parse_haproxy_runtime(&out)?)
        };
        if let Err(e) = sent.await {
            return Err(undo_runtime(r, s, &cur, e).await);
        }
    }
    let mode = if live { "runtime" } else { "full" };
    let pid = s.pid_file();
    let args = [mode, &s.haproxy, &pid, serial, &p.cfg, &p.route, &p.serial];
    let swap = (
        &sh::HAPROXY_SWAP,
        &args[..],
        sh::parse_haproxy_swap as lbpush::Parse,
    );
    let change = lbpush::run_once(r, s, "haproxy apply", swap, serial).await?;
    if let Err(e) = lbpush::confirm(r, s, serial).await {
        let back = [&pid, &s.haproxy, &p.cfg, &p.route, &p.serial].map(String::as_str);
        let restored = async {
            let out = r
                .script("restore haproxy", &sh::HAPROXY_RESTORE, &back)
                .await?;
            Ok(sh::parse_haproxy_restore(&out)?)
        };
        return Err(lbpush::with_restore(e, restored.await));
    }
    Ok(change)
}

/// A runtime change that failed part of the way (some commands took effect): a seamless
/// reload of the files on disk, unchanged, puts the live state back to them, confirmed by the
/// serial they hold. `e` with the undo's failure too, if it failed.
async fn undo_runtime(r: &RemoteHost, s: &LbSettings, disk: &str, e: HostError) -> HostError {
    let (pid, haproxy) = (s.pid_file(), s.haproxy.clone());
    let undone = async {
        let out = r
            .script("reload haproxy", &sh::HAPROXY_RESTORE, &[&pid, &haproxy])
            .await?;
        sh::parse_haproxy_restore(&out)?;
        match lb::parse_serial(disk) {
            Some(serial) => lbpush::confirm(r, s, &serial).await,
            None => Ok(()),
        }
    };
    let e = HostError::Check(format!("{e} (undone: haproxy reloaded the files on disk)"));
    lbpush::with_restore(e, undone.await)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn routing(gray: bool, pct: f64, down: &[&str]) -> Routing {
        let m = |n: &str, a: &str| Member {
            name: n.into(),
            addr: a.into(),
        };
        let all = vec![m("a", "10.0.0.2:8080"), m("b", "10.0.0.3:8080")];
        let g = vec![m("g", "[2001:db8::4]:8080")];
        Routing {
            env: "prod".into(),
            serial: "run1.1".into(),
            stable: all,
            gray: if gray { g.clone() } else { vec![] },
            percent: pct,
            down: down.iter().map(|d| d.to_string()).collect(),
            gray_hosts: g,
        }
    }

    #[test]
    fn split_keys_translate_to_haproxy_samples() {
        assert_eq!(split_sample("$remote_addr").unwrap(), "src");
        assert_eq!(split_sample("$remote_port").unwrap(), "src_port");
        assert_eq!(split_sample("$http_x_client").unwrap(), "req.hdr(x-client)");
        assert_eq!(split_sample("$cookie_sid").unwrap(), "req.cook(sid)");
        assert!(split_sample("$request_uri").is_err());
        assert!(split_sample("$http_a b").is_err());
    }

    #[test]
    fn gray_start_share_and_down_marking_keep_the_structure() {
        let s = LbSettings {
            kind: lb::LbKind::Haproxy,
            ..LbSettings::default()
        };
        let off = render(&routing(false, 0.0, &[]), &s).unwrap();
        let on = render(&routing(true, 20.0, &["b"]), &s).unwrap();
        assert_eq!(skeleton(&off.cfg), skeleton(&on.cfg));
        assert_eq!(on.route, "gray 1\nshare 2000\n");
        assert_eq!(off.route, "gray 0\nshare 0\n");
        assert!(on.cfg.contains("    server b 10.0.0.3:8080 disabled\n"));
        assert!(on.cfg.contains("    server g [2001:db8::4]:8080\n"));
        assert!(off
            .cfg
            .contains("    server g [2001:db8::4]:8080 disabled\n"));
        assert!(on
            .cfg
            .contains("default-server check inter 3s rise 2 fall 3"));
        assert!(on.cfg.contains("option httpchk GET /ready"));
        assert!(on.cfg.contains("expose-fd listeners"));
        assert!(on.cfg.contains("option idle-close-on-response"));
        let cmds = runtime_commands(&routing(true, 20.0, &["b"]), &s, &on);
        assert!(cmds.contains(&"set server deployctl_stable/g state maint".to_string()));
        assert!(cmds.contains(&"set server deployctl_gray/g state ready".to_string()));
        assert!(cmds.contains(&"set server deployctl_stable/b state maint".to_string()));
        assert!(cmds.contains(&"set map /srv/haproxy/deployctl-route.map share 2000".into()));
        assert_eq!(
            cmds.last().unwrap(),
            "set map /srv/haproxy/deployctl-serial.map serial run1.1"
        );
        // Servers in rotation first, then the maps, then servers out of rotation.
        let at = |c: &str| cmds.iter().position(|x| x == c).unwrap();
        let map = at("set map /srv/haproxy/deployctl-route.map share 2000");
        assert!(at("set server deployctl_gray/g state ready") < map);
        assert!(at("set server deployctl_stable/g state maint") > map);
        let off = render(&routing(false, 0.0, &[]), &s).unwrap();
        let cmds = runtime_commands(&routing(false, 0.0, &[]), &s, &off);
        let at = |c: &str| cmds.iter().position(|x| x == c).unwrap();
        assert!(
            at("set map /srv/haproxy/deployctl-route.map gray 0")
                < at("set server deployctl_gray/g state maint"),
            "gray routing ends before its server leaves: {cmds:?}"
        );
        let mut more = routing(false, 0.0, &[]);
        more.stable.push(Member {
            name: "c".into(),
            addr: "10.0.0.5:8080".into(),
        });
        let added = render(&more, &s).unwrap();
        assert_ne!(
            skeleton(&off.cfg),
            skeleton(&added.cfg),
            "a new host reloads"
        );
    }
}
