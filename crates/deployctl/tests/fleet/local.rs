//! The embedded default: `--env local` deploys on this machine with no SSH at all.

use crate::bed::*;
use std::time::Duration;

#[test]
fn local_environment_rolls_out_and_back_without_ssh() {
    let builds = Builds::new();
    let work = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let install = work.path().join("hotel");
    let inv = work.path().join("deploy.toml");
    std::fs::write(
        &inv,
        format!(
            "[env.local]\ntransport = \"local\"\nhosts = [{{ name = \"local\", address = \"127.0.0.1\" }}]\n\
             artifact = {{ binary = \"{}\", name = \"hotel-api\" }}\n\
             remote = {{ install_dir = \"{i}\", backup_dir = \"{i}/backups\", keep_backups = 2 }}\n\
             service = {{ pid_file = \"{i}/run/hotel.pid\", port = {port}, args = [\"--listen\", \"127.0.0.1:{{port}}\", \"--data-dir\", \"{{install_dir}}/data\", \"--pid-file\", \"{{pid_file}}\", \"--grace\", \"2s\"] }}\n",
            builds.v1.display(),
            i = install.display()
        ),
    )
    .unwrap();
    let state = work.path().join("state");
    let stop = StopMaster(install.join("run/hotel.pid"));
    let get = |p: &str| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(deployctl::observe::get_url(
            &format!("http://127.0.0.1:{port}"),
            p,
            Duration::from_secs(3),
        ))
        .unwrap()
    };
    let r = deployctl(&inv, &state, &["rollout", "--env", "local"]);
    assert_eq!(r.code, 0, "{} {}", r.stderr, r.json);
    assert!(get("/version").body.contains(&build_id(&builds.v1)));
    // The new build goes out under load (one connection per request): zero failed requests.
    let lrt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut cfg = loadgen::LoadConfig::new(
        format!("127.0.0.1:{port}").parse().unwrap(),
        "/ping",
        loadgen::ClientMode::NewConnection,
    );
    cfg.max_duration = Duration::from_secs(120);
    let (stop_load, stop_rx) = tokio::sync::watch::channel(false);
    let load = lrt.spawn(loadgen::run(cfg, stop_rx, Default::default()));
    let r = deployctl(
        &inv,
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
    let r = deployctl(&inv, &state, &["rollback", "--env", "local"]);
    assert_eq!(r.code, 0, "{} {}", r.stderr, r.json);
    assert!(get("/version").body.contains(&build_id(&builds.v1)));
    drop(stop);
}

/// Stops the master started by the test (SIGTERM to the pid in its pid file) on drop.
struct StopMaster(std::path::PathBuf);

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
