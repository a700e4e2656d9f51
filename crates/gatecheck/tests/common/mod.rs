//! Real hotel-api processes (the test kit's [`Master`], listeners on port 0) and inventories
//! for gatecheck's tests.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;
use testkit::inventory::{Remote, Service};
use testkit::{Env, Host, HotelApi, Inventory, Master, Transport};

/// The workspace root.
pub fn repo_root() -> PathBuf {
    testkit::bins::repo()
}

/// A private copy of this build's hotel-api in `dir`: the shared target directory may be
/// rebuilt by another build while the test runs, and a test compares builds.
pub fn hotel_api_bin(dir: &Path) -> PathBuf {
    let copy = dir.join("hotel-api");
    std::fs::copy(testkit::bins::hotel_api(), &copy).expect("copy hotel-api");
    copy
}

/// `bin` under its master, serving.
pub fn start(bin: &Path) -> Master {
    HotelApi::new(Some(bin)).start()
}

/// A `deploy.toml` with one local environment `env`; hosts are (name, base URL); `admin`: the
/// master whose admin endpoint and token the inventory names.
pub fn inventory(
    dir: &Path,
    env: &str,
    artifact: &Path,
    admin: Option<&Master>,
    hosts: &[(&str, String)],
) -> PathBuf {
    let d = dir.display();
    let hosts = hosts
        .iter()
        .enumerate()
        .map(|(i, (n, url))| {
            // Distinct loopback addresses: deployctl refuses one address under two names.
            let mut h = Host::new(n, &format!("127.0.0.{}", i + 1));
            h.external_url = Some(url.clone());
            h
        })
        .collect();
    let admin = admin.map(|m| {
        let token = m.token_file().display().to_string();
        (m.admin().to_string(), token)
    });
    Inventory {
        binary: artifact.to_path_buf(),
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
            admin,
            args: vec![],
        },
        health: None,
        thresholds: None,
        rollout: None,
        envs: vec![Env::new(env, Transport::Local, hosts)],
    }
    .write(dir)
}

/// `GET path` on `addr` (`HOST:PORT`): (status, body), `None` if nothing answers.
pub fn http_get_at(addr: &str, path: &str) -> Option<(u16, String)> {
    let r = testkit::http::get_at(addr, path)?;
    Some((r.status, r.body))
}

/// Runs the gatecheck binary with `args`, bounded by the suites' own timeouts.
pub fn gatecheck(args: &[&str]) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_gatecheck"))
        .args(args)
        .current_dir(repo_root())
        .output()
        .expect("run gatecheck");
    eprintln!(
        "gatecheck {args:?} -> {}\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The commit of a build that must be clean for the test: a build from a dirty tree never
/// passes parity, so a test that needs parity to pass needs a committed tree (CI builds a
/// fresh clone). Fails with that explanation otherwise.
pub fn clean_commit(version: &serde_json::Value) -> String {
    assert_eq!(
        version["dirty"], false,
        "this hotel-api was built from a tree with uncommitted changes (version {}); parity \
         never passes for it: commit first, then run this test",
        version["version"]
    );
    let commit = version["commit"].as_str().expect("commit").to_string();
    assert_eq!(commit.len(), 40, "full commit hash expected: {commit}");
    commit
}

/// A one-document HTTP server on loopback: every request gets `200` with `body` (JSON).
/// Returns its base URL; the thread ends with the test process.
pub fn static_json_server(body: String) -> String {
    use std::io::{Read, Write};
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    std::thread::spawn(move || {
        for mut s in l.incoming().flatten() {
            let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf);
            let _ = write!(
                s,
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    url
}
