//! UAT version parity: every app host of an environment, and each load balancer's external
//! URL once ([`crate::targets`]), must serve the commit about to be promoted. With `--sync`, a mismatch first rolls the environment forward with deployctl
//! (after checking that the artifact it would ship is that commit), then checks again.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use deployctl::inventory::Environment;
use serde::Serialize;

use crate::targets::{self, Kind};
use crate::version::{self, Parity, VersionInfo};

/// What one host serves.
#[derive(Debug, Clone, Serialize)]
pub struct HostVersion {
    pub host: String,
    pub base_url: String,
    /// `app` (the host itself) or `lb` (a load balancer's external URL).
    pub target: Kind,
    /// Commit the host reports, or `None` when `/version` could not be read.
    pub commit: Option<String>,
    pub build_id: Option<String>,
    /// The host's build came from a dirty tree (never matches).
    pub dirty: bool,
    pub error: Option<String>,
    pub matches: bool,
}

/// Parity of one environment against one commit.
#[derive(Debug, Clone, Serialize)]
pub struct ParityReport {
    pub env: String,
    pub commit: String,
    /// Exact build required (from `--artifact`), if any.
    pub build_id: Option<String>,
    pub passed: bool,
    pub hosts: Vec<HostVersion>,
}

impl ParityReport {
    /// One line per host and a verdict.
    pub fn console(&self) -> String {
        let mut s = String::new();
        for h in &self.hosts {
            let what = match (&h.commit, &h.error) {
                (Some(c), _) => format!(
                    "runs commit {c} (build {}){}",
                    h.build_id.as_deref().unwrap_or("?"),
                    if h.dirty {
                        ", built from a dirty tree: never passes parity"
                    } else {
                        ""
                    }
                ),
                (None, Some(e)) => format!("unreadable: {e}"),
                (None, None) => "unreadable".into(),
            };
            let label = if h.matches { "OK" } else { "MISMATCH" };
            s.push_str(&format!(
                "{label:<9} {:<12} {} {what}\n",
                h.host, h.base_url
            ));
        }
        let build = self
            .build_id
            .as_deref()
            .map(|b| format!(" build {b}"))
            .unwrap_or_default();
        s.push_str(&format!(
            "parity of env {} with commit {}{build}: {}\n",
            self.env,
            self.commit,
            if self.passed { "PASSED" } else { "FAILED" }
        ));
        s
    }
}

/// Reads `/version` from every app host of `env` and each LB external URL once, and compares
/// the commit and, when `build_id` is given (the artifact's identity), the exact build.
pub fn check(
    env: &Environment,
    commit: &str,
    build_id: Option<&str>,
    timeout: Duration,
) -> ParityReport {
    let mut hosts = Vec::new();
    for t in targets::of(env) {
        let got: Result<VersionInfo, _> = version::fetch(&t.base_url, &env.health.version, timeout);
        let (host, base_url, target) = (t.host.name.clone(), t.base_url, t.kind);
        hosts.push(match got {
            Ok(v) => HostVersion {
                host,
                base_url,
                target,
                matches: v.is_commit(commit) && build_id.is_none_or(|b| b == v.build_id),
                dirty: v.is_dirty(),
                commit: Some(v.commit),
                build_id: Some(v.build_id),
                error: None,
            },
            Err(e) => HostVersion {
                host,
                base_url,
                target,
                commit: None,
                build_id: None,
                dirty: false,
                error: Some(e.to_string()),
                matches: false,
            },
        });
    }
    ParityReport {
        env: env.name.clone(),
        commit: commit.to_string(),
        build_id: build_id.map(str::to_string),
        passed: !hosts.is_empty() && hosts.iter().all(|h| h.matches),
        hosts,
    }
}

/// Why a sync did not happen or failed.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("refusing to sync: the artifact {artifact} reports commit {found}, not {wanted}; build the commit first")]
    WrongArtifact {
        artifact: PathBuf,
        found: String,
        wanted: String,
    },
    #[error(transparent)]
    Version(#[from] version::VersionError),
    #[error("running {program}: {source}")]
    Spawn {
        program: PathBuf,
        source: std::io::Error,
    },
    #[error("`{command}` failed ({status}): the environment was not rolled forward")]
    Rollout { command: String, status: String },
}

/// How to roll an environment forward.
#[derive(Debug, Clone)]
pub struct SyncPlan {
    pub deployctl: PathBuf,
    pub inventory: PathBuf,
    pub env: String,
    /// The artifact deployctl ships (inventory `artifact.binary` unless overridden).
    pub artifact: PathBuf,
    /// Passed as `--artifact` when set.
    pub artifact_override: bool,
}

impl SyncPlan {
    /// The deployctl command line.
    pub fn argv(&self) -> Vec<String> {
        let mut v = vec![
            "rollout".to_string(),
            "--inventory".into(),
            self.inventory.display().to_string(),
            "--env".into(),
            self.env.clone(),
        ];
        if self.artifact_override {
            v.push("--artifact".into());
            v.push(self.artifact.display().to_string());
        }
        v
    }
}

/// Checks the artifact is `commit`, then runs `deployctl rollout` and waits for it.
pub fn sync(plan: &SyncPlan, commit: &str) -> Result<(), SyncError> {
    let info = version::of_artifact(&plan.artifact)?;
    if !info.is_commit(commit) {
        return Err(SyncError::WrongArtifact {
            artifact: plan.artifact.clone(),
            found: if info.is_dirty() {
                format!("{} built from a dirty tree", info.commit)
            } else {
                info.commit
            },
            wanted: commit.to_string(),
        });
    }
    let argv = plan.argv();
    let command = format!("{} {}", plan.deployctl.display(), argv.join(" "));
    println!("parity: syncing env {} with `{command}`", plan.env);
    let status = Command::new(&plan.deployctl)
        .args(&argv)
        .status()
        .map_err(|source| SyncError::Spawn {
            program: plan.deployctl.clone(),
            source,
        })?;
    if !status.success() {
        return Err(SyncError::Rollout {
            command,
            status: status.to_string(),
        });
    }
    Ok(())
}

/// The deployctl binary: next to this executable when built together, else from PATH.
pub fn default_deployctl() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(|d| d.join("deployctl")))
        .filter(|p| p.is_file())
        .unwrap_or_else(|| Path::new("deployctl").to_path_buf())
}
