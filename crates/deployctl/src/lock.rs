//! The environment lock: one rollout/rollback per environment at a time.
//!
//! A lock file `STATE/locks/ENV.lock` is created with `O_EXCL` and holds the owner's pid,
//! hostname, run id and start time. A lock is stale (and taken over) when its owner ran on
//! this machine and that pid is gone, or when it is older than the maximum age. The
//! [`EnvLock`] guard removes the file on drop, so every exit path releases it (errors,
//! panics, and Ctrl-C, which the CLI turns into an orderly return).

use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct LockInfo {
    pub pid: u32,
    pub hostname: String,
    pub run_id: String,
    pub env: String,
    /// Unix seconds.
    pub started: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("environment `{env}` is locked by run {} (pid {} on {}, since {}); lock file {}", .holder.run_id, .holder.pid, .holder.hostname, fmt_time(.holder.started), .path.display())]
    Held {
        env: String,
        holder: Box<LockInfo>,
        path: PathBuf,
    },
    #[error("lock file {}: {source}", .path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

fn fmt_time(t: i64) -> String {
    chrono::DateTime::from_timestamp(t, 0)
        .map(|d| d.to_rfc3339())
        .unwrap_or_else(|| t.to_string())
}

/// Held lock; released on drop.
#[derive(Debug)]
pub struct EnvLock {
    path: PathBuf,
    /// A stale lock this one replaced, if any.
    pub replaced_stale: Option<LockInfo>,
}

impl Drop for EnvLock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// This machine's name (for lock ownership).
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "unknown".into())
}

fn pid_alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

/// Why a lock is stale, or `None` when its owner may still be running.
pub fn stale_reason(info: &LockInfo, now: i64, max_age: Duration) -> Option<String> {
    if info.hostname == hostname() && !pid_alive(info.pid) {
        return Some(format!(
            "owner pid {} on {} is gone",
            info.pid, info.hostname
        ));
    }
    let age = now - info.started;
    if age > max_age.as_secs() as i64 {
        return Some(format!("lock is {age}s old (max {}s)", max_age.as_secs()));
    }
    None
}

/// Take the lock for `env` under `state_dir`.
pub fn acquire(
    state_dir: &Path,
    env: &str,
    run_id: &str,
    max_age: Duration,
) -> Result<EnvLock, LockError> {
    let dir = state_dir.join("locks");
    let path = dir.join(format!("{env}.lock"));
    let io = |source| LockError::Io {
        path: path.clone(),
        source,
    };
    std::fs::create_dir_all(&dir).map_err(io)?;
    let me = LockInfo {
        pid: std::process::id(),
        hostname: hostname(),
        run_id: run_id.to_string(),
        env: env.to_string(),
        started: chrono::Utc::now().timestamp(),
    };
    let mut replaced = None;
    for _ in 0..3 {
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
        {
            Ok(mut f) => {
                f.write_all(serde_json::to_string(&me).expect("lock json").as_bytes())
                    .map_err(io)?;
                return Ok(EnvLock {
                    path,
                    replaced_stale: replaced,
                });
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                let text = std::fs::read_to_string(&path).unwrap_or_default();
                let Ok(holder) = serde_json::from_str::<LockInfo>(&text) else {
                    // Half-written by a starting owner: give it a moment, then judge by age.
                    std::thread::sleep(Duration::from_millis(50));
                    let age = std::fs::metadata(&path)
                        .and_then(|m| m.modified())
                        .ok()
                        .and_then(|m| m.elapsed().ok())
                        .unwrap_or_default();
                    if age > Duration::from_secs(5) {
                        let _ = std::fs::remove_file(&path);
                    }
                    continue;
                };
                if stale_reason(&holder, me.started, max_age).is_some() {
                    // Remove only the file we judged (rename away, then check it is still it).
                    let _ = std::fs::remove_file(&path);
                    replaced = Some(holder);
                    continue;
                }
                return Err(LockError::Held {
                    env: env.to_string(),
                    holder: Box::new(holder),
                    path,
                });
            }
            Err(e) => return Err(io(e)),
        }
    }
    Err(io(std::io::Error::other("lock contended; try again")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_holder_is_refused_and_drop_releases() {
        let d = tempfile::tempdir().unwrap();
        let a = acquire(d.path(), "uat", "run-a", Duration::from_secs(3600)).unwrap();
        let err = acquire(d.path(), "uat", "run-b", Duration::from_secs(3600)).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("locked by run run-a"), "{msg}");
        assert!(
            msg.contains(&format!("pid {}", std::process::id())),
            "{msg}"
        );
        acquire(d.path(), "prod", "run-c", Duration::from_secs(3600)).expect("other env is free");
        drop(a);
        acquire(d.path(), "uat", "run-b", Duration::from_secs(3600)).expect("released on drop");
    }

    #[test]
    fn lock_of_a_dead_pid_or_too_old_is_stale() {
        let d = tempfile::tempdir().unwrap();
        // A real process that has exited: its pid is gone.
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let dead = child.id();
        child.wait().unwrap();
        let info = LockInfo {
            pid: dead,
            hostname: hostname(),
            run_id: "killed".into(),
            env: "uat".into(),
            started: chrono::Utc::now().timestamp(),
        };
        std::fs::create_dir_all(d.path().join("locks")).unwrap();
        std::fs::write(
            d.path().join("locks/uat.lock"),
            serde_json::to_string(&info).unwrap(),
        )
        .unwrap();
        let l = acquire(d.path(), "uat", "new", Duration::from_secs(3600)).unwrap();
        assert_eq!(
            l.replaced_stale.as_ref().map(|i| i.run_id.as_str()),
            Some("killed")
        );
        let old = LockInfo {
            pid: std::process::id(),
            hostname: "elsewhere".into(),
            started: 0,
            ..info
        };
        assert!(stale_reason(&old, 10_000, Duration::from_secs(3600))
            .unwrap()
            .contains("old"));
        assert!(stale_reason(&old, 100, Duration::from_secs(3600)).is_none());
    }
}
