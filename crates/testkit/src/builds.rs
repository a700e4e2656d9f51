//! Stamped hotel-api builds (distinct build ids and checksums) and what identifies a build.

use crate::bins;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Two stamped builds, v1 and v2, in a temp dir; [`Builds::broken_on`] makes a third.
pub struct Builds {
    pub dir: tempfile::TempDir,
    pub v1: PathBuf,
    pub v2: PathBuf,
}

impl Builds {
    pub fn new() -> Builds {
        let dir = tempfile::Builder::new()
            .prefix("testkit-builds")
            .tempdir()
            .unwrap();
        let v1 = stamp(&bins::hotel_api(), "v1", &dir.path().join("hotel-api-v1"));
        let v2 = stamp(&bins::hotel_api(), "v2", &dir.path().join("hotel-api-v2"));
        Builds { dir, v1, v2 }
    }

    /// A build whose worker never becomes ready on the hosts named in `fail_on` (matched
    /// against `hostname` inside the host) and is v2 elsewhere; `version --json` reports v2.
    pub fn broken_on(&self, fail_on: &[&str]) -> PathBuf {
        let p = self
            .dir
            .path()
            .join(format!("broken-{}", fail_on.join("-")));
        let pattern = if fail_on.is_empty() {
            "__none__".to_string()
        } else {
            fail_on.join("|")
        };
        let script = format!(
            "#!/bin/sh\n# test build: never ready on {pattern}\ncase \"$(hostname)\" in {pattern}) [ \"$1\" = version ] || exec sleep 600;; esac\nexec {} \"$@\"\n",
            self.v2.display()
        );
        std::fs::write(&p, script).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        p
    }
}

impl Default for Builds {
    fn default() -> Self {
        Builds::new()
    }
}

/// `bin stamp --label LABEL --out OUT`: a copy of `bin` with its own build id.
pub fn stamp(bin: &Path, label: &str, out: &Path) -> PathBuf {
    let st = Command::new(bin)
        .args(["stamp", "--label", label, "--out"])
        .arg(out)
        .status()
        .unwrap();
    assert!(st.success(), "{} stamp --label {label}", bin.display());
    out.to_path_buf()
}

/// `bin version --json`.
pub fn version(bin: &Path) -> serde_json::Value {
    let out = Command::new(bin)
        .args(["version", "--json"])
        .output()
        .unwrap();
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{} version --json: {e}", bin.display()))
}

/// The build id `bin version --json` reports.
pub fn build_id(bin: &Path) -> String {
    version(bin)["build_id"].as_str().unwrap().to_string()
}

/// sha256 of a file, lowercase hex.
pub fn sha256_file(p: &Path) -> String {
    let bytes = std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
