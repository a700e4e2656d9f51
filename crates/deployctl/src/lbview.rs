//! `deployctl status` on a load balancer: the routing on disk (the owned file) next to what
//! the LB does right now. nginx: the rendered membership and the serial nginx serves. haproxy:
//! the runtime API's server states and last check results, and the live gray map. Both: do the
//! file on disk and the live state agree?

use crate::haproxy::{self, Paths};
use crate::lb::{self, LbKind, LbSettings};
use crate::lbpush;
use crate::remote::{HostError, RemoteHost};
use serde::Serialize;

/// Routing in force on a load balancer.
#[derive(Debug, Clone, Serialize)]
pub struct LbStatus {
    pub kind: LbKind,
    /// Serial of the file on disk.
    pub serial: Option<String>,
    /// Serial the LB serves at `/__deployctl/config` (`None`: not answering).
    pub served_serial: Option<String>,
    /// Gray share on disk, `None` outside gray mode.
    pub gray_percent: Option<f64>,
    pub gray_pool: Vec<String>,
    pub down: Vec<String>,
    /// haproxy: every server as the runtime API reports it.
    pub servers: Vec<LiveServer>,
    /// The file on disk and the live state agree.
    pub in_sync: bool,
    /// Where they do not.
    pub mismatches: Vec<String>,
}

/// One haproxy server, live.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct LiveServer {
    pub backend: String,
    pub server: String,
    /// UP, DOWN, MAINT, DRAIN, ... (with "n/m" while a check streak is in progress).
    pub status: String,
    /// Last check: status (L7OK, L4CON, ...), HTTP code, seconds since it ran.
    pub check_status: String,
    pub check_code: String,
    pub last_check_s: String,
    /// `disabled` in the configuration on disk.
    pub disabled_on_disk: bool,
}

/// Parse the owned file (either kind) back into an [`LbStatus`] without live data.
pub fn from_disk(kind: LbKind, conf: &str) -> LbStatus {
    let mut st = LbStatus {
        kind,
        serial: lb::parse_serial(conf),
        served_serial: None,
        gray_percent: lb::parse_percent(conf),
        gray_pool: vec![],
        down: lb::parse_down(conf).into_iter().collect(),
        servers: vec![],
        in_sync: false,
        mismatches: vec![],
    };
    let mut in_gray = false;
    for l in conf.lines() {
        if l.starts_with("upstream ") || l.starts_with("backend ") {
            in_gray = l.contains("deployctl_gray");
        }
        let t = l.trim();
        let name = match kind {
            LbKind::Nginx => t
                .strip_prefix("server ")
                .and_then(|x| x.split_once("# "))
                .map(|x| x.1.trim().to_string()),
            LbKind::Haproxy => t
                .strip_prefix("server ")
                .filter(|x| !x.ends_with(" disabled"))
                .and_then(|x| x.split_whitespace().next())
                .map(str::to_string),
        };
        if let (true, Some(n)) = (in_gray && st.gray_percent.is_some(), name) {
            st.gray_pool.push(n);
        }
    }
    st
}

/// Human lines of `deployctl status` for one LB.
pub fn lines(lb: &LbStatus) -> Vec<String> {
    let kind = match lb.kind {
        LbKind::Nginx => "nginx",
        LbKind::Haproxy => "haproxy",
    };
    let mut v = vec![format!(
        "{kind} config {} (served {}) gray {} (pool {:?}) down {:?} {}",
        lb.serial.as_deref().unwrap_or("-"),
        lb.served_serial.as_deref().unwrap_or("nothing"),
        lb.gray_percent
            .map(|p| format!("{p}%"))
            .unwrap_or("off".into()),
        lb.gray_pool,
        lb.down,
        if lb.in_sync {
            "disk = live".to_string()
        } else {
            format!("DISK != LIVE: {}", lb.mismatches.join("; "))
        }
    )];
    for x in &lb.servers {
        v.push(format!(
            "  {}/{}: {} (last check {} {} {}s ago)",
            x.backend, x.server, x.status, x.check_status, x.check_code, x.last_check_s
        ));
    }
    v
}

/// `(backend, server) -> disabled` from a rendered haproxy.cfg.
fn disk_servers(cfg: &str) -> Vec<(String, String, bool)> {
    let mut backend = String::new();
    let mut out = vec![];
    for l in cfg.lines() {
        if let Some(b) = l.strip_prefix("backend ") {
            backend = b.trim().to_string();
        } else if let Some(x) = l.trim().strip_prefix("server ") {
            let name = x.split_whitespace().next().unwrap_or_default().to_string();
            out.push((backend.clone(), name, x.ends_with(" disabled")));
        }
    }
    out
}

/// Servers from `show stat` (CSV with a `# pxname,svname,...` header).
pub fn parse_stat(csv: &str, cfg: &str) -> Vec<LiveServer> {
    let mut lines = csv.lines();
    let Some(head) = lines.next() else {
        return vec![];
    };
    let cols: Vec<&str> = head.trim_start_matches("# ").split(',').collect();
    let col = |f: &[&str], name: &str| -> String {
        cols.iter()
            .position(|c| *c == name)
            .and_then(|i| f.get(i))
            .map(|v| v.to_string())
            .unwrap_or_default()
    };
    let disk = disk_servers(cfg);
    lines
        .map(|l| l.split(',').collect::<Vec<_>>())
        .filter(|f| f.len() > 2 && f[1] != "FRONTEND" && f[1] != "BACKEND")
        .map(|f| LiveServer {
            backend: col(&f, "pxname"),
            server: col(&f, "svname"),
            status: col(&f, "status"),
            check_status: col(&f, "check_status"),
            check_code: col(&f, "check_code"),
            last_check_s: col(&f, "last_chk"),
            disabled_on_disk: disk
                .iter()
                .any(|d| d.0 == col(&f, "pxname") && d.1 == col(&f, "svname") && d.2),
        })
        .collect()
}

/// `key value` pairs of `show map` (lines `0xADDR key value`) or of a map file.
fn map_pairs(text: &str) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = text
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            match f.as_slice() {
                [_, k, v] if f[0].starts_with("0x") => Some((k.to_string(), v.to_string())),
                [k, v] => Some((k.to_string(), v.to_string())),
                _ => None,
            }
        })
        .collect();
    v.sort();
    v
}

/// Disk and live state of LB host `r`.
pub async fn status(r: &RemoteHost, s: &LbSettings) -> Result<LbStatus, HostError> {
    let conf = lbpush::current(r, s).await?;
    let mut st = from_disk(s.kind, &conf);
    st.served_serial = lbpush::served(r, s).await;
    if st.served_serial != st.serial {
        st.mismatches.push(format!(
            "serial on disk {:?}, served {:?}",
            st.serial, st.served_serial
        ));
    }
    if s.kind == LbKind::Haproxy && st.served_serial.is_some() {
        let p = Paths::of(s);
        st.servers = parse_stat(&haproxy::query(r, s, "show stat").await?, &conf);
        for d in disk_servers(&conf) {
            let live = st
                .servers
                .iter()
                .find(|x| x.backend == d.0 && x.server == d.1);
            match live {
                None => st.mismatches.push(format!("{}/{} not live", d.0, d.1)),
                Some(x) if x.status.starts_with("MAINT") != d.2 => st.mismatches.push(format!(
                    "{}/{}: disabled on disk {}, live {}",
                    d.0, d.1, d.2, x.status
                )),
                _ => {}
            }
        }
        let live_map = map_pairs(&haproxy::query(r, s, &format!("show map {}", p.route)).await?);
        let disk_map = lbpush::read(r, "read map", &p.route).await?;
        if live_map != map_pairs(&disk_map) {
            st.mismatches.push(format!(
                "gray map on disk {:?}, live {live_map:?}",
                map_pairs(&disk_map)
            ));
        }
    }
    st.in_sync = st.mismatches.is_empty();
    Ok(st)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn show_stat_and_maps_are_read_against_the_disk() {
        let cfg = "backend deployctl_stable\n    server a 10.0.0.2:8080\n    server b 10.0.0.3:8080 disabled\nbackend deployctl_gray\n    server g 10.0.0.4:8080\n";
        let csv = "# pxname,svname,qcur,status,check_status,check_code,last_chk\n\
                   deployctl_stable,FRONTEND,0,OPEN,,,\n\
                   deployctl_stable,a,0,UP,L7OK,200,1\n\
                   deployctl_stable,b,0,MAINT,L7OK,200,2\n\
                   deployctl_gray,g,0,DOWN 1/2,L4CON,,3\n";
        let v = parse_stat(csv, cfg);
        assert_eq!(v.len(), 3);
        assert_eq!(v[0].check_status, "L7OK");
        assert!(v[1].disabled_on_disk && v[1].status == "MAINT");
        assert_eq!(v[2].status, "DOWN 1/2");
        assert_eq!(
            map_pairs("0x55 share 2000\n0x56 gray 1\n"),
            map_pairs("gray 1\nshare 2000\n")
        );
        let st = from_disk(LbKind::Haproxy, &format!("# deployctl: haproxy of env e, serial r.2. Rewritten by every run; do not edit.\n# deployctl-gray-percent: 20\n# deployctl-down: b\n{cfg}"));
        assert_eq!(st.serial.as_deref(), Some("r.2"));
        assert_eq!(st.gray_pool, vec!["g".to_string()]);
        assert_eq!(st.down, vec!["b".to_string()]);
    }

    use crate::lb::{render, Member, Routing};

    #[test]
    fn lb_status_reads_back_what_render_wrote() {
        let m = |n: &str| Member {
            name: n.into(),
            addr: format!("{n}:8080"),
        };
        let r = Routing {
            env: "prod".into(),
            serial: "20261125T000000Z-1.3".into(),
            stable: vec![m("a"), m("b")],
            gray: vec![m("g")],
            percent: 10.0,
            down: ["b".to_string()].into(),
            gray_hosts: vec![m("g")],
        };
        let st = from_disk(LbKind::Nginx, &render(&r, &LbSettings::default()));
        assert_eq!(st.serial.as_deref(), Some("20261125T000000Z-1.3"));
        assert_eq!(st.gray_percent, Some(10.0));
        assert_eq!(st.gray_pool, vec!["g".to_string()]);
        assert_eq!(st.down, vec!["b".to_string()]);
    }
}
