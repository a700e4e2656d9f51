//! hotel-api under its master ([`Master`]): a private copy of a build in the master's own
//! directory (a test may replace it), its config file, data dir, pid file, admin token; the
//! public and admin listeners on port 0.

use crate::master::{token_file, Master};
use crate::net::Reserved;
use std::path::{Path, PathBuf};
use std::process::Command;

/// How to start one hotel-api master.
pub struct HotelApi {
    bin: PathBuf,
    config: String,
    args: Vec<String>,
}

impl HotelApi {
    /// `bin` (default: this build's hotel-api) with an empty config file.
    pub fn new(bin: Option<&Path>) -> HotelApi {
        HotelApi {
            bin: bin.map_or_else(crate::bins::hotel_api, Path::to_path_buf),
            config: String::new(),
            args: vec![],
        }
    }

    /// The config file's contents (workers read it at start).
    pub fn config(mut self, text: &str) -> HotelApi {
        self.config = text.into();
        self
    }

    /// More arguments of the master. With `--compat-reuseport` (workers bind the port
    /// themselves) the public port is a [`Reserved`] one.
    pub fn args(mut self, extra: &[&str]) -> HotelApi {
        self.args.extend(extra.iter().map(|a| a.to_string()));
        self
    }

    /// Starts it; not waited ([`Master::addr`] waits for the address).
    pub fn spawn(self) -> Master {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("hotel-api");
        std::fs::copy(&self.bin, &bin).unwrap();
        let config = dir.path().join("hotel-api.toml");
        std::fs::write(&config, &self.config).unwrap();
        let reserved = self
            .args
            .iter()
            .any(|a| a == "--compat-reuseport")
            .then(Reserved::new);
        let listen = reserved
            .as_ref()
            .map_or("127.0.0.1:0".to_string(), |r| r.addr.to_string());
        let mut cmd = Command::new(&bin);
        cmd.arg("--config")
            .arg(&config)
            .args(["--listen", &listen, "--admin", "127.0.0.1:0"])
            .arg("--data-dir")
            .arg(dir.path().join("data"))
            .arg("--pid-file")
            .arg(dir.path().join("master.pid"))
            .args(["--ready-interval", "100ms"])
            .arg("--admin-token-file")
            .arg(token_file(dir.path()))
            .args(&self.args);
        Master::spawn(cmd, dir, "master.log", reserved)
    }

    /// Starts it and waits until it serves.
    pub fn start(self) -> Master {
        let m = self.spawn();
        m.wait_serving();
        m
    }
}

impl Master {
    /// The hotel-api binary the master runs (its private copy).
    pub fn bin(&self) -> PathBuf {
        self.dir.path().join("hotel-api")
    }

    /// The master's admin token file.
    pub fn token_file(&self) -> PathBuf {
        self.dir.path().join("admin.token")
    }

    /// Replaces the binary on disk with a copy stamped `label` (atomic rename); its build id.
    pub fn install_build(&self, label: &str) -> String {
        let staged = self.dir.path().join("staged");
        crate::builds::stamp(&crate::bins::hotel_api(), label, &staged);
        std::fs::rename(&staged, self.bin()).unwrap();
        crate::build_id(&self.bin())
    }

    /// Rewrites the config file (workers read it at start).
    pub fn set_config(&self, text: &str) {
        let tmp = self.dir.path().join("cfg.tmp");
        std::fs::write(&tmp, text).unwrap();
        std::fs::rename(&tmp, self.dir.path().join("hotel-api.toml")).unwrap();
    }

    /// `http://ADDR` of the public listener.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr())
    }

    /// `GET /version` as JSON.
    pub fn version(&self) -> serde_json::Value {
        let r = self.get("/version");
        assert_eq!(r.status, 200, "{}", r.body);
        r.json()
    }

    /// Current worker (pid, generation) from `/status`.
    pub fn current(&self) -> (i32, u64) {
        let s = self.status();
        let c = &s["current"];
        let pid = c["pid"]
            .as_i64()
            .unwrap_or_else(|| panic!("no current.pid in {s}"));
        let generation = c["generation"]
            .as_u64()
            .unwrap_or_else(|| panic!("no current.generation in {s}"));
        (pid as i32, generation)
    }
}
