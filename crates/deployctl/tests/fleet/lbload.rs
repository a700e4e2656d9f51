//! Client load THROUGH a bed load balancer: GET /ping and POST /bookings, each in keep-alive
//! and connection-per-request mode, every failure kind counted (connect, write, read,
//! timeout, non-2xx, truncated body); plus the LB's processes and files on its bed host.

use loadgen::{ClientMode, Live, LoadConfig, Report};
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use testkit::*;

/// Clients per kind (method x mode).
pub const CLIENTS: usize = 2;

/// Requests (all client kinds together) a test lets the load run against one state of the
/// fleet before it changes it or stops the load: about 2 s of the bed's mix.
pub const EXPOSURE: u64 = 1000;

/// The four client kinds of a mix: (label, report).
pub type MixReport = Vec<(String, Report)>;

/// Load in the four client kinds at once, until stopped (bounded by 240 s).
pub struct Mix {
    rt: tokio::runtime::Runtime,
    stop: tokio::sync::watch::Sender<bool>,
    runs: Vec<(String, tokio::task::JoinHandle<Report>)>,
    /// Requests finished so far, every client kind together.
    live: Arc<Live>,
}

impl Mix {
    pub fn start(lb: &str) -> Mix {
        Mix::through(lb, "/ping", CLIENTS, Duration::from_secs(240))
    }

    /// GET `get_path` and POST /bookings, each in both modes, `clients` connections per kind
    /// through `lb`'s port 80, each kind bounded by `bound`.
    pub fn through(lb: &str, get_path: &str, clients: usize, bound: Duration) -> Mix {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let target: SocketAddr = format!("{lb}:80").parse().unwrap();
        let (stop, rx) = tokio::sync::watch::channel(false);
        let live = Arc::new(Live::default());
        let mut runs = vec![];
        for mode in [ClientMode::KeepAlive, ClientMode::NewConnection] {
            for post in [false, true] {
                let mut cfg = if post {
                    LoadConfig::bookings(target, mode)
                } else {
                    LoadConfig::new(target, get_path, mode)
                };
                cfg.concurrency = clients;
                cfg.max_duration = bound;
                let label = format!("{} {:?}", cfg.method.name(), mode);
                let h = rt.spawn(loadgen::run(cfg, rx.clone(), live.clone()));
                runs.push((label, h));
            }
        }
        Mix {
            rt,
            stop,
            runs,
            live,
        }
    }

    /// Waits (60 s at most) until the clients have finished `n` more requests: the load is
    /// exposed to the fleet's current state for that many requests.
    pub fn run_more(&self, n: u64, what: &str) {
        let from = self.live.requests.load(Ordering::Relaxed);
        wait_for(what, Duration::from_secs(60), || {
            self.live.requests.load(Ordering::Relaxed) >= from + n
        });
    }

    pub fn stop(self) -> MixReport {
        self.stop.send(true).unwrap();
        let rt = self.rt;
        self.runs
            .into_iter()
            .map(|(l, h)| (l, rt.block_on(h).unwrap()))
            .collect()
    }
}

/// One line per client kind: requests and failures by kind.
pub fn table(m: &MixReport) -> String {
    m.iter()
        .map(|(l, r)| {
            format!(
                "{l}: {} requests, failed {:?} first {:?}",
                r.requests(),
                r.failed_by_kind(),
                r.first_errors
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every client kind ran (at least `min` requests) and none failed.
pub fn assert_clean(m: &MixReport, min: u64, what: &str) {
    for (l, r) in m {
        assert!(r.requests() >= min, "{what}: {l} ran\n{}", table(m));
        assert_eq!(r.failed(), 0, "{what}: client errors\n{}", table(m));
    }
}

/// nginx reloads: new-connection clients see no error; a keep-alive connection at most one
/// `read`/`write` error per reload (a request racing the old worker's close of it).
pub fn assert_reload_cost_only(m: &MixReport, min: u64, reloads: u64, what: &str) {
    for (l, r) in m {
        assert!(r.requests() >= min, "{what}: {l} ran\n{}", table(m));
        let k = r.failed_by_kind();
        if l.contains("NewConnection") {
            assert_eq!(r.failed(), 0, "{what}: client errors\n{}", table(m));
        } else {
            assert_eq!(r.failed(), k["read"] + k["write"], "{what}\n{}", table(m));
            let bound = reloads * CLIENTS as u64;
            assert!(
                r.failed() <= bound,
                "{what}: > {bound} errors\n{}",
                table(m)
            );
        }
    }
}

/// Build ids that served requests of the mix.
pub fn builds_seen(m: &MixReport) -> Vec<String> {
    let mut v: Vec<String> = m
        .iter()
        .flat_map(|(_, r)| r.header_values.keys().cloned())
        .collect();
    v.sort();
    v.dedup();
    v
}

/// `kind = "..."` inventory line and the LB's files on bed host k.
pub struct LbHost {
    pub kind: &'static str,
    pub srv: std::path::PathBuf,
}

impl LbHost {
    pub fn new(bed: &Bed, k: usize, kind: &'static str) -> LbHost {
        LbHost {
            kind,
            srv: bed.srv(k).join(kind),
        }
    }

    /// The file deployctl owns.
    pub fn owned(&self) -> String {
        let f = if self.kind == "nginx" {
            "deployctl-upstreams.conf"
        } else {
            "haproxy.cfg"
        };
        std::fs::read_to_string(self.srv.join(f)).unwrap()
    }

    /// Master pid and its children (the workers): a reload replaces the workers.
    pub fn processes(&self) -> (u32, Vec<u32>) {
        let pid: u32 = std::fs::read_to_string(self.srv.join(format!("{}.pid", self.kind)))
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        let mut kids: Vec<u32> = std::fs::read_dir(format!("/proc/{pid}/task"))
            .unwrap()
            .flatten()
            .map(|t| std::fs::read_to_string(t.path().join("children")).unwrap_or_default() + " ")
            .collect::<String>()
            .split_whitespace()
            .map(|p| p.parse().unwrap())
            .collect();
        kids.sort();
        (pid, kids)
    }
}

/// `deployctl status` of the LB host (index 0 in the JSON): disk and live agree.
pub fn assert_lb_in_sync(inv: &std::path::Path, state: &std::path::Path, what: &str) -> Value {
    let st = deployctl(inv, state, &["status", "--env", "bed"]);
    let lb = st.json[0]["lb"].clone();
    assert_eq!(lb["in_sync"], true, "{what}: LB disk != live: {}", st.json);
    lb
}

/// haproxy: wait (bounded, 40 s) until every server in rotation passed its active checks
/// (`rise` checks after a start or a return from maintenance). nginx: nothing to wait for.
pub fn wait_lb_up(inv: &std::path::Path, state: &std::path::Path, kind: &str) {
    if kind != "haproxy" {
        return;
    }
    let t0 = std::time::Instant::now();
    loop {
        let lb = assert_lb_in_sync(inv, state, "wait for checks");
        let servers = lb["servers"].as_array().cloned().unwrap_or_default();
        let pending: Vec<&Value> = servers
            .iter()
            .filter(|s| s["disabled_on_disk"] == false && s["status"] != "UP")
            .collect();
        if !servers.is_empty() && pending.is_empty() {
            return;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(40),
            "haproxy servers not UP: {pending:?}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

use serde_json::Value;

/// Install `text` as the executable `/srv/fault/NAME` of bed host `k` (a program the inventory
/// names in place of the real one, e.g. `[lb] nginx = "/srv/fault/nginx"`: named like it, so
/// the LB scripts' pid check accepts the processes it execs).
pub fn fault_program(bed: &testkit::Bed, k: usize, name: &str, text: &str) {
    use std::os::unix::fs::PermissionsExt;
    let dir = bed.srv(k).join("fault");
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
}
