//! An environment with a load balancer and a database host: parity and the E2E gate probe the
//! app host directly and the LB's external URL (its default: the `[lb] listen` port) once,
//! through a real nginx in front of a real hotel-api; the LB and database hosts are never
//! probed as app hosts (no admin suite through the LB, nothing sent to the database host).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use common::{clean_commit, gatecheck, hotel_api_bin, repo_root, start};
use serde_json::Value;
use testkit::inventory::{Remote, Service};
use testkit::net::Reserved;
use testkit::{Env, Host, Inventory, Master, Role, Transport};

/// nginx's readiness probe (not one of the gates' requests).
const PROBE: &str = "/ping?nginx-ready";

/// nginx in the foreground on `listen`, proxying to `upstream`; one access log line per
/// request (`METHOD URI STATUS`), written once the response is sent. Stopped when dropped.
struct Nginx {
    child: Child,
    log: PathBuf,
}

impl Nginx {
    fn start(dir: &Path, listen: &Reserved, upstream: std::net::SocketAddr) -> Nginx {
        let d = dir.display();
        for t in ["body", "proxy", "fastcgi", "uwsgi", "scgi"] {
            std::fs::create_dir_all(dir.join(t)).unwrap();
        }
        let conf = format!(
            "daemon off;\nmaster_process off;\npid {d}/nginx.pid;\nerror_log {d}/error.log;\n\
             events {{ worker_connections 64; }}\n\
             http {{\n  log_format gate '$request_method $request_uri $status';\n  \
             access_log {d}/access.log gate;\n  client_body_temp_path {d}/body;\n  \
             proxy_temp_path {d}/proxy;\n  fastcgi_temp_path {d}/fastcgi;\n  \
             uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n  \
             server {{\n    listen {};\n    location / {{ proxy_pass http://{upstream}; }}\n  }}\n}}\n",
            listen.addr
        );
        std::fs::write(dir.join("nginx.conf"), conf).unwrap();
        let child = Command::new("nginx")
            .arg("-c")
            .arg(dir.join("nginx.conf"))
            .arg("-p")
            .arg(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("nginx (installed with the test bed's packages)");
        let n = Nginx {
            child,
            log: dir.join("access.log"),
        };
        testkit::wait_until("nginx answers", || {
            testkit::http::get_at(&listen.addr.to_string(), PROBE).is_some_and(|r| r.status == 200)
        });
        n
    }

    /// Access log lines so far, the readiness probe's left out.
    fn requests(&self) -> Vec<String> {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        text.lines()
            .filter(|l| !l.contains(PROBE))
            .map(str::to_string)
            .collect()
    }

    /// The requests after the first `from`, once (bounded) one of them is a `GET /version`.
    fn requests_with_version(&self, from: usize) -> Vec<String> {
        let new = || self.requests().split_off(from);
        testkit::wait_until("GET /version in the LB's access log", || {
            new().iter().any(|l| l.starts_with("GET /version "))
        });
        new()
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Environment `t`: `lb` (role lb, no external_url: its listen port), `app` (the service,
/// with its admin endpoint), `db` (role db; nothing listens at its default URL).
fn inventory(dir: &Path, bin: &Path, svc: &Master, lb_port: u16) -> PathBuf {
    let d = dir.display();
    let host = |name: &str, addr: &str, role: Role| {
        let mut h = Host::new(name, addr);
        h.roles = vec![role];
        h
    };
    let mut app = host("app", "127.0.0.2", Role::App);
    app.external_url = Some(svc.url());
    let mut env = Env::new(
        "t",
        Transport::Local,
        vec![
            host("lb", "127.0.0.1", Role::Lb),
            app,
            host("db", "127.0.0.3", Role::Db),
        ],
    );
    env.lb = vec![format!("listen = {lb_port}")];
    let token = svc.token_file().display().to_string();
    Inventory {
        binary: bin.to_path_buf(),
        config: vec![],
        remote: Remote {
            install_dir: format!("{d}/srv"),
            backup_dir: format!("{d}/srv/backups"),
            keep_backups: None,
            step_timeout_s: None,
        },
        service: Service {
            pid_file: format!("{d}/srv/hotel-api.pid"),
            port: 1,
            admin: Some((svc.admin().to_string(), token)),
            args: vec![],
        },
        health: None,
        thresholds: None,
        rollout: None,
        envs: vec![env],
    }
    .write(dir)
}

fn json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// (host, target, base_url) of each entry of a report.
fn targets(report: &Value) -> Vec<(String, String, String)> {
    report["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            let s = |k: &str| h[k].as_str().unwrap().to_string();
            (s("host"), s("target"), s("base_url"))
        })
        .collect()
}

#[test]
fn an_environment_with_an_lb_passes_parity_and_e2e_and_the_lb_url_is_checked_once() {
    let tmp = tempfile::tempdir().unwrap();
    let bin = hotel_api_bin(tmp.path());
    let svc = start(&bin);
    let commit = clean_commit(&svc.version());
    let lb_port = Reserved::new();
    let nginx_dir = tmp.path().join("nginx");
    let nginx = Nginx::start(&nginx_dir, &lb_port, svc.addr());
    let inv = inventory(tmp.path(), &bin, &svc, lb_port.port());
    let inv = inv.to_str().unwrap();
    let lb_url = format!("http://{}", lb_port.addr);
    let want = |app: &str| {
        vec![
            ("app".to_string(), "app".to_string(), app.to_string()),
            ("lb".to_string(), "lb".to_string(), lb_url.clone()),
        ]
    };

    // Parity: the app host and the LB's URL, one GET /version through the LB.
    let parity = tmp.path().join("parity.json");
    let out = gatecheck(&[
        "--inventory",
        inv,
        "parity",
        "--env",
        "t",
        "--commit",
        &commit,
        "--report",
        parity.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "parity must pass");
    let p = json(&parity);
    assert_eq!(p["passed"], true, "{p}");
    assert_eq!(targets(&p), want(&svc.url()), "{p}");
    assert_eq!(
        nginx.requests_with_version(0),
        ["GET /version 200"],
        "the LB URL once"
    );
    let mark = nginx.requests().len();

    // E2E: every suite on the app host (the restart suite through its admin endpoint), the
    // suites without an admin endpoint once through the LB.
    let reports = tmp.path().join("reports");
    let suites = repo_root().join("e2e");
    let out = gatecheck(&[
        "--inventory",
        inv,
        "e2e",
        "--env",
        "t",
        "--suites",
        suites.to_str().unwrap(),
        "--reports",
        reports.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "the E2E gate must pass");
    let e = json(&reports.join("e2e.json"));
    assert_eq!(e["passed"], true, "{e}");
    assert_eq!(targets(&e), want(&svc.url()), "{e}");
    let names = |k: usize| -> Vec<String> {
        let runs = e["hosts"][k]["runs"].as_array().unwrap();
        assert!(runs.iter().all(|r| r["verdict"] == "passed"), "{e}");
        runs.iter()
            .map(|r| r["suite"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(names(0).len(), 5, "{e}");
    assert_eq!(
        names(1),
        ["01-health", "02-version", "03-search", "04-booking"],
        "{e}"
    );
    // Through the LB: each suite's requests once (one /version: suite 02), no admin call.
    let seen = nginx.requests_with_version(mark);
    let versions = seen
        .iter()
        .filter(|l| l.starts_with("GET /version "))
        .count();
    assert_eq!(versions, 1, "{seen:?}");
    assert!(seen.iter().all(|l| !l.contains("/restart")), "{seen:?}");
}
