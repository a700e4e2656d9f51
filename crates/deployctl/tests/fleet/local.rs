//! The embedded default: `--env local` deploys on this machine with no SSH at all.

use std::time::Duration;
use testkit::inventory::{Remote, Service};
use testkit::net::Reserved;
use testkit::*;

/// The embedded-default shape: one host, `--env local`, installed under `WORK/hotel`.
pub struct Local {
    pub builds: Builds,
    pub work: tempfile::TempDir,
    pub reserved: Reserved,
    pub install_dir: String,
    pub inv: std::path::PathBuf,
}

impl Local {
    pub fn new() -> Local {
        let builds = Builds::new();
        let work = tempfile::tempdir().unwrap();
        // The service's port, known to the inventory before the master binds it.
        let reserved = Reserved::new();
        let port = reserved.port();
        let i = work.path().join("hotel").display().to_string();
        let mut args = vec![
            "--listen",
            "127.0.0.1:{port}",
            "--data-dir",
            "{install_dir}/data",
        ];
        args.extend(["--pid-file", "{pid_file}", "--grace", "2s"]);
        let inv = Inventory {
            binary: builds.v1.clone(),
            config: vec![],
            remote: Remote {
                install_dir: i.clone(),
                backup_dir: format!("{i}/backups"),
                keep_backups: Some(2),
                step_timeout_s: None,
            },
            service: Service {
                pid_file: format!("{i}/run/hotel.pid"),
                port,
                admin: None,
                args: args.iter().map(|a| a.to_string()).collect(),
            },
            health: None,
            thresholds: None,
            rollout: None,
            envs: vec![Env::new(
                "local",
                Transport::Local,
                vec![Host::new("local", "127.0.0.1")],
            )],
        }
        .write(work.path());
        Local {
            builds,
            work,
            reserved,
            install_dir: i,
            inv,
        }
    }

    /// Stops the master this fleet started, on drop.
    pub fn stopper(&self) -> StopMaster {
        StopMaster(format!("{}/run/hotel.pid", self.install_dir).into())
    }
}

#[test]
fn local_environment_rolls_out_and_back_without_ssh() {
    let l = Local::new();
    let (builds, work, reserved, inv) = (&l.builds, &l.work, &l.reserved, &l.inv);
    let state = work.path().join("state");
    let stop = l.stopper();
    let get = |p: &str| http::get(reserved.addr, p, Duration::from_secs(3)).unwrap();
    let r = deployctl(inv, &state, &["rollout", "--env", "local"]);
    assert_eq!(r.code, 0, "{} {}", r.stderr, r.json);
    assert!(get("/version").body.contains(&build_id(&builds.v1)));
    // The new build goes out under load (one connection per request): zero failed requests.
    let lrt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut cfg =
        loadgen::LoadConfig::new(reserved.addr, "/ping", loadgen::ClientMode::NewConnection);
    cfg.max_duration = Duration::from_secs(120);
    let (stop_load, stop_rx) = tokio::sync::watch::channel(false);
    let load = lrt.spawn(loadgen::run(cfg, stop_rx, Default::default()));
    let r = deployctl(
        inv,
        &state,
        &[
            "rollout",
            "--env",
            "local",
            "--artifact",
            builds.v2.to_str().unwrap(),
        ],
    );
    stop_load.send(true).unwrap();
    let load = lrt.block_on(load).unwrap();
    assert_eq!(r.code, 0, "{} {}", r.stderr, r.json);
    assert!(load.requests() > 100, "{} requests", load.requests());
    assert_eq!(
        load.failed(),
        0,
        "{:?} {:?}",
        load.failed_by_kind(),
        load.first_errors
    );
    assert!(get("/version").body.contains(&build_id(&builds.v2)));
    let r = deployctl(inv, &state, &["rollback", "--env", "local"]);
    assert_eq!(r.code, 0, "{} {}", r.stderr, r.json);
    assert!(get("/version").body.contains(&build_id(&builds.v1)));
    drop(stop);
}

/// Stops the master started by the test (SIGTERM to the pid in its pid file) on drop.
pub struct StopMaster(std::path::PathBuf);

impl Drop for StopMaster {
    fn drop(&mut self) {
        if let Ok(pid) = std::fs::read_to_string(&self.0) {
            let pid = pid.trim().to_string();
            let _ = std::process::Command::new("kill")
                .args(["-TERM", &pid])
                .status();
            for _ in 0..100 {
                if !std::path::Path::new(&format!("/proc/{pid}")).exists() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
}
