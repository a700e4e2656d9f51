//! The local environment lock: one rollout/rollback per environment and state directory at a
//! time, on this machine.
//!
//! `STATE/locks/ENV.lock` is locked with `flock` (exclusive, non-blocking) and then holds the
//! owner's pid, hostname, run id and start time for whoever is refused. The file itself is
//! never removed: the kernel drops the lock when its holder exits, however it exits (SIGKILL
//! included), so there is no stale lock to judge and no create/remove race. Runs from other
//! state directories or other machines are kept out by the host leases ([`crate::lease`]).

use serde::{Deserialize, Serialize};
use std::fs::{File, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

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
    #[error(transparent)]
    Lease(#[from] crate::lease::LeaseError),
}

pub(crate) fn fmt_time(t: i64) -> String {
    chrono::DateTime::from_timestamp(t, 0)
        .map(|d| d.to_rfc3339())
        .unwrap_or_else(|| t.to_string())
}

/// Held lock; the kernel releases it when the file is closed (drop) or the process dies.
#[derive(Debug)]
pub struct EnvLock {
    _file: File,
    /// The lock file (shown by `Debug`).
    _path: PathBuf,
}

/// This machine's name (for lock and lease ownership).
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "unknown".into())
}

/// Take the lock for `env` under `state_dir`, or say who holds it.
pub fn acquire(state_dir: &Path, env: &str, run_id: &str) -> Result<EnvLock, LockError> {
    let dir = state_dir.join("locks");
    let path = dir.join(format!("{env}.lock"));
    let io = |source| LockError::Io {
        path: path.clone(),
        source,
    };
    std::fs::create_dir_all(&dir).map_err(io)?;
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(io)?;
    match f.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => {
            let mut text = String::new();
            let _ = f.read_to_string(&mut text);
            let holder = serde_json::from_str::<LockInfo>(&text).unwrap_or(LockInfo {
                pid: 0,
                hostname: "?".into(),
                run_id: "(starting)".into(),
                env: env.into(),
                started: 0,
            });
            return Err(LockError::Held {
                env: env.to_string(),
                holder: Box::new(holder),
                path,
            });
        }
        Err(TryLockError::Error(e)) => return Err(io(e)),
    }
    let me = LockInfo {
        pid: std::process::id(),
        hostname: hostname(),
        run_id: run_id.to_string(),
        env: env.to_string(),
        started: chrono::Utc::now().timestamp(),
    };
    f.set_len(0).map_err(io)?;
    f.rewind().map_err(io)?;
    f.write_all(serde_json::to_string(&me).expect("lock json").as_bytes())
        .map_err(io)?;
    f.flush().map_err(io)?;
    Ok(EnvLock {
        _file: f,
        _path: path,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_holder_is_refused_and_drop_releases() {
        let d = tempfile::tempdir().unwrap();
        let a = acquire(d.path(), "uat", "run-a").unwrap();
        let err = acquire(d.path(), "uat", "run-b").unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("locked by run run-a"), "{msg}");
        assert!(
            msg.contains(&format!("pid {}", std::process::id())),
            "{msg}"
        );
        acquire(d.path(), "prod", "run-c").expect("other env is free");
        drop(a);
        acquire(d.path(), "uat", "run-b").expect("released on drop");
    }

    #[test]
    fn a_killed_holders_lock_is_free_at_once() {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("locks/uat.lock");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, "{}").unwrap();
        // One real process holds the lock (its fd 9 is the only one on the file: flock(1)
        // locks that shared open file, then the shell execs sleep), then is killed.
        let mut child = std::process::Command::new("sh")
            .arg("-c")
            .arg(r#"exec 9>>"$1"; flock -x 9; echo locked; exec sleep 60"#)
            .arg("sh")
            .arg(&path)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
        std::io::BufRead::read_line(&mut out, &mut line).unwrap();
        assert_eq!(line.trim(), "locked");
        assert!(matches!(
            acquire(d.path(), "uat", "probe"),
            Err(LockError::Held { .. })
        ));
        child.kill().unwrap();
        child.wait().unwrap();
        let l = acquire(d.path(), "uat", "new").expect("free once its holder died");
        assert!(path.exists());
        drop(l);
    }
}
