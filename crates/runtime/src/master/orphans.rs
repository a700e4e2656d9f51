//! Descendants of workers that outlive their parent. The master is a child subreaper
//! (`PR_SET_CHILD_SUBREAPER`), so such processes (the server of a wrapper script that does not
//! `exec`, say) are re-parented to it instead of to init. They are found in `/proc`, reaped and
//! counted here; workers themselves (group leaders owned by `child.rs`) are never touched.
//!
//! Signalling a leftover group is safe from pid reuse: it is done only while one of its
//! members is still an unreaped child of ours, and a group id cannot be reused while a process
//! (even a zombie) carries it.

use nix::sys::signal::{kill, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

/// One child of the master that is not a worker it started.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Orphan {
    pub pid: i32,
    pub pgid: i32,
}

/// Makes the master the reaper of its workers' orphaned descendants (Linux; elsewhere they go
/// to init, and the worker-side guard pipe is what stops them).
pub(crate) fn become_subreaper() {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    // SAFETY: prctl with integer arguments only.
    unsafe {
        if libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0 {
            tracing::warn!(event = "subreaper_failed", error = %std::io::Error::last_os_error(), "cannot become a child subreaper; orphaned descendants of workers go to init");
        }
    }
}

/// Children of this process that are not in `workers` (alive or zombie).
pub(crate) fn children(workers: &[u32]) -> Vec<Orphan> {
    let me = std::process::id() as i32;
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| !workers.contains(&(*pid as u32)))
        .filter_map(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
            // After the command: state, ppid, pgrp, ...
            let ppid: i32 = fields.get(1)?.parse().ok()?;
            let pgid: i32 = fields.get(2)?.parse().ok()?;
            (ppid == me).then_some(Orphan { pid, pgid })
        })
        .collect()
}

/// Reaps every orphan that has exited; returns them with their wait status.
pub(crate) fn reap(workers: &[u32]) -> Vec<(Orphan, WaitStatus)> {
    children(workers)
        .into_iter()
        .filter_map(
            |o| match waitpid(Pid::from_raw(o.pid), Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::StillAlive) | Err(_) => None,
                Ok(status) => Some((o, status)),
            },
        )
        .collect()
}

/// Signals process group `pgid` if one of our orphans still belongs to it; returns whether it
/// did.
pub(crate) fn signal_group(pgid: i32, sig: Signal, workers: &[u32]) -> bool {
    if pgid <= 1 || !children(workers).iter().any(|o| o.pgid == pgid) {
        return false;
    }
    kill(Pid::from_raw(-pgid), sig).is_ok()
}

/// Signals every orphan and the groups they belong to; returns how many orphans there were.
pub(crate) fn signal_all(sig: Signal, workers: &[u32]) -> usize {
    let all = children(workers);
    let mut groups: Vec<i32> = all.iter().map(|o| o.pgid).collect();
    groups.sort_unstable();
    groups.dedup();
    let own = nix::unistd::getpgrp().as_raw();
    for g in groups.into_iter().filter(|g| *g > 1 && *g != own) {
        let _ = kill(Pid::from_raw(-g), sig);
    }
    for o in &all {
        let _ = kill(Pid::from_raw(o.pid), sig);
    }
    all.len()
}
