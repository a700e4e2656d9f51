//! Real hotel-api processes and inventories for gatecheck's tests.
//!
//! Each service listens on 127.0.0.1 on a port picked by binding :0 first, keeps its data in
//! a temporary directory, and is stopped by its pid (SIGTERM, then SIGKILL after 15 s).

#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The workspace root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// A private copy of this build's hotel-api in `dir`: the shared target directory may be
/// rebuilt by another build while the test runs, and a test compares builds.
pub fn hotel_api_bin(dir: &Path) -> PathBuf {
    let copy = dir.join("hotel-api");
    std::fs::copy(built_hotel_api(), &copy).expect("copy hotel-api");
    copy
}

/// The hotel-api binary of this build: `$HOTEL_API_BIN`, else next to the test's target
/// directory, built with cargo when missing.
pub fn built_hotel_api() -> PathBuf {
    if let Ok(p) = std::env::var("HOTEL_API_BIN") {
        return PathBuf::from(p);
    }
    // target/<profile>/deps/<test-exe> -> target/<profile>/hotel-api
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().unwrap().parent().unwrap().to_path_buf();
    let bin = profile_dir.join("hotel-api");
    if !bin.is_file() {
        let status = Command::new(env!("CARGO"))
            .args(["build", "-p", "hotel-api", "--bin", "hotel-api"])
            .env("CARGO_TARGET_DIR", profile_dir.parent().unwrap())
            .current_dir(repo_root())
            .status()
            .expect("cargo build -p hotel-api");
        assert!(status.success(), "building hotel-api failed");
    }
    assert!(bin.is_file(), "no hotel-api at {}", bin.display());
    bin
}

/// A binary of this workspace next to hotel-api (e.g. `deployctl`), built when missing.
pub fn sibling_bin(name: &str) -> PathBuf {
    let dir = built_hotel_api().parent().unwrap().to_path_buf();
    let bin = dir.join(name);
    if !bin.is_file() {
        let status = Command::new(env!("CARGO"))
            .args(["build", "-p", name, "--bin", name])
            .env("CARGO_TARGET_DIR", dir.parent().unwrap())
            .current_dir(repo_root())
            .status()
            .expect("cargo build");
        assert!(status.success(), "building {name} failed");
    }
    bin
}

/// A loopback port that was free a moment ago.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A running hotel-api master.
pub struct Service {
    pub child: Child,
    pub port: u16,
    pub admin_port: u16,
    pub data: tempfile::TempDir,
}

impl Service {
    /// The admin port and the master's token file, for [`inventory`].
    pub fn admin(&self) -> (u16, PathBuf) {
        (self.admin_port, self.data.path().join("admin.token"))
    }

    /// Starts `bin` and waits (<= 30 s) until `/ready` answers 200.
    pub fn start(bin: &Path) -> Service {
        let data = tempfile::tempdir().unwrap();
        let port = free_port();
        let admin_port = free_port();
        let child = Command::new(bin)
            .arg("--listen")
            .arg(format!("127.0.0.1:{port}"))
            .arg("--admin")
            .arg(format!("127.0.0.1:{admin_port}"))
            .arg("--admin-token-file")
            .arg(admin_token_file(data.path()))
            .arg("--data-dir")
            .arg(data.path().join("data"))
            .arg("--pid-file")
            .arg(data.path().join("hotel-api.pid"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start hotel-api");
        let svc = Service {
            child,
            port,
            admin_port,
            data,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while http_get(port, "/ready").map(|(s, _)| s) != Some(200) {
            assert!(
                Instant::now() < deadline,
                "hotel-api on :{port} not ready in 30 s"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        svc
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// `GET /version` as JSON.
    pub fn version(&self) -> serde_json::Value {
        let (status, body) = http_get(self.port, "/version").expect("GET /version");
        assert_eq!(status, 200);
        serde_json::from_str(&body).unwrap()
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let pid = self.child.id() as libc::pid_t;
        // SAFETY: signalling our own child by its pid; it has not been reaped yet.
        unsafe { libc::kill(pid, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Minimal HTTP/1.0 GET on loopback: (status, body), `None` if nothing answers.
pub fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    http_get_at(&format!("127.0.0.1:{port}"), path)
}

/// Minimal HTTP/1.0 GET to `addr` (loopback or a test-bed host): (status, body).
pub fn http_get_at(addr: &str, path: &str) -> Option<(u16, String)> {
    use std::io::{Read, Write};
    let mut s =
        std::net::TcpStream::connect_timeout(&addr.parse().ok()?, Duration::from_secs(2)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    let status = text.split_whitespace().nth(1)?.parse().ok()?;
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_string())?;
    Some((status, body))
}

/// Writes a fresh admin token to `dir/admin.token`, mode 0600, and returns its path.
fn admin_token_file(dir: &Path) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let p = dir.join("admin.token");
    std::fs::write(&p, format!("gatecheck-test-token-{}\n", std::process::id())).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
    p
}

/// A `deploy.toml` with one local environment `name`; hosts are (name, base URL).
pub fn inventory(
    dir: &Path,
    env: &str,
    artifact: &Path,
    admin: Option<(u16, PathBuf)>,
    hosts: &[(&str, String)],
) -> PathBuf {
    let admin = admin
        .map(|(p, token)| {
            format!(
                "admin = \"127.0.0.1:{p}\"\nadmin_token_file = \"{}\"\n",
                token.display()
            )
        })
        .unwrap_or_default();
    let hosts: Vec<String> = hosts
        .iter()
        .enumerate()
        .map(|(i, (n, url))| {
            // Distinct loopback addresses: deployctl refuses one address under two names.
            let a = i + 1;
            format!("{{ name = \"{n}\", address = \"127.0.0.{a}\", external_url = \"{url}\" }}")
        })
        .collect();
    let text = format!(
        "[artifact]\nbinary = \"{}\"\nname = \"hotel-api\"\n[remote]\ninstall_dir = \"{d}/srv\"\nbackup_dir = \"{d}/srv/backups\"\n\
         [service]\npid_file = \"{d}/srv/hotel-api.pid\"\nport = 1\n{admin}\
         [env.{env}]\ntransport = \"local\"\nhosts = [{}]\n",
        artifact.display(),
        hosts.join(", "),
        d = dir.display(),
    );
    let path = dir.join("deploy.toml");
    std::fs::write(&path, text).unwrap();
    path
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
