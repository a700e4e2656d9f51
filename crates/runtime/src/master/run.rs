//! The master's entry point: binds the listeners once, starts the admin endpoint and the
//! supervisor, and runs until shutdown.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot, watch};

use super::config::MasterConfig;
use super::metrics::Metrics;
use super::spawn::SpawnError;
use super::status::{Published, RestartAnswer};
use super::{orphans, runtime_dir, supervisor};
use crate::listener::{self, ListenError};

/// Why the master could not run.
#[derive(Debug, thiserror::Error)]
pub enum MasterError {
    /// A listener could not be bound.
    #[error(transparent)]
    Listen(#[from] ListenError),
    /// The first worker could not be started.
    #[error(transparent)]
    Spawn(SpawnError),
    /// Signal handlers could not be installed.
    #[error("cannot install signal handlers")]
    Signals(#[source] std::io::Error),
    /// A file the master manages (pid file, runtime dir).
    #[error("{what} {path:?}")]
    File {
        /// What the file is.
        what: &'static str,
        /// Where.
        path: PathBuf,
        /// OS error.
        #[source]
        source: std::io::Error,
    },
    /// The admin endpoint could not start.
    #[error("admin endpoint: {0}")]
    Admin(String),
}

/// How the master ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shutdown {
    /// Workers drained and exited.
    Graceful,
    /// A second stop signal killed the workers.
    Forced,
}

/// Requests to the supervisor from the admin endpoint.
#[derive(Debug)]
pub enum Command {
    /// Perform a graceful restart and report its outcome. Requests made while a restart runs
    /// share the one follow-up restart that starts after it.
    Restart(oneshot::Sender<RestartAnswer>),
}

/// What the admin endpoint needs from a running master.
#[derive(Clone, Debug)]
pub struct Handles {
    /// Metrics registry.
    pub metrics: Arc<Metrics>,
    /// Latest published state.
    pub status: watch::Receiver<Published>,
    /// Control channel.
    pub commands: mpsc::Sender<Command>,
}

/// Runs the master on a single-threaded runtime (the master is deliberately small: one thread,
/// a few tasks). Blocks until shutdown.
pub fn run_blocking(cfg: MasterConfig) -> Result<Shutdown, MasterError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|source| MasterError::File {
            what: "tokio runtime",
            path: PathBuf::new(),
            source,
        })?;
    rt.block_on(run(cfg))
}

/// Runs the master until it is told to stop and every worker is gone.
pub async fn run(cfg: MasterConfig) -> Result<Shutdown, MasterError> {
    mark_inherited_fds_cloexec();
    orphans::become_subreaper();
    let mut bound = Vec::with_capacity(cfg.listeners.len());
    let to_bind = if cfg.compat_reuseport {
        &[][..]
    } else {
        &cfg.listeners[..]
    };
    for spec in to_bind {
        let l = listener::bind(spec, &cfg.bind)?;
        tracing::info!(event = "listening", name = %spec.name, addr = %l.local, "listener bound");
        bound.push(l);
    }
    // Guard pipe: every worker inherits the read end; the write end never leaves the master, so
    // end of file on it means the master is gone, even where PDEATHSIG does not reach.
    let (guard_read, _guard_write) = guard_pipe().map_err(|source| MasterError::File {
        what: "guard pipe",
        path: PathBuf::new(),
        source,
    })?;
    let runtime_dir =
        runtime_dir::RuntimeDir::create().map_err(|(path, source)| MasterError::File {
            what: "cannot create the runtime directory in",
            path,
            source,
        })?;
    let signals = supervisor::Signals::install()?;
    if let Some(p) = &cfg.pid_file {
        write_pid_file(p)?;
    }
    let _pid_guard = cfg.pid_file.clone().map(RemoveOnDrop);

    let metrics = Arc::new(Metrics::new());
    let (status_tx, status_rx) = watch::channel(Published::initial());
    let (cmd_tx, cmd_rx) = mpsc::channel(64);
    let (ev_tx, ev_rx) = mpsc::unbounded_channel();
    let handles = Handles {
        metrics: metrics.clone(),
        status: status_rx,
        commands: cmd_tx,
    };
    let _admin = match &cfg.admin {
        Some(addr) => Some(
            super::admin::serve(
                addr,
                handles.clone(),
                super::admin::Access {
                    token: cfg.admin_token.clone(),
                    group: cfg.admin_group,
                },
            )
            .map_err(|e| MasterError::Admin(e.to_string()))?,
        ),
        None => None,
    };
    tracing::info!(event = "master_started", pid = std::process::id(), program = ?cfg.program, "master started");
    let sup = supervisor::Supervisor::new(
        cfg,
        bound,
        runtime_dir.path().to_path_buf(),
        guard_read,
        ev_tx,
        metrics,
        status_tx,
    );
    drop(handles);
    let result = sup.run(ev_rx, cmd_rx, signals).await;
    tracing::info!(event = "master_exit", result = ?result.as_ref().map_err(|e| e.to_string()), "master exiting");
    result
}

/// Descriptors the master inherited from whoever started it must not leak into workers: only
/// the sockets the master hands over explicitly are inherited by a worker.
fn mark_inherited_fds_cloexec() {
    let fds: Vec<i32> = match std::fs::read_dir("/proc/self/fd") {
        Ok(dir) => dir
            .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
            .collect(),
        Err(_) => (3..1024).collect(),
    };
    for fd in fds.into_iter().filter(|fd| *fd > 2) {
        // SAFETY: fcntl on a descriptor number; on a closed one it fails with EBADF, harmlessly.
        unsafe {
            let flags = libc::fcntl(fd, libc::F_GETFD);
            if flags >= 0 && flags & libc::FD_CLOEXEC == 0 {
                libc::fcntl(fd, libc::F_SETFD, flags | libc::FD_CLOEXEC);
            }
        }
    }
}

/// A close-on-exec pipe (the worker's copy of the read end is placed by `spawn`).
fn guard_pipe() -> std::io::Result<(std::os::fd::OwnedFd, std::os::fd::OwnedFd)> {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        Ok(nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?)
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    {
        use nix::fcntl::{fcntl, FcntlArg, FdFlag};
        let (r, w) = nix::unistd::pipe()?;
        fcntl(&r, FcntlArg::F_SETFD(FdFlag::FD_CLOEXEC))?;
        fcntl(&w, FcntlArg::F_SETFD(FdFlag::FD_CLOEXEC))?;
        Ok((r, w))
    }
}

/// Writes our pid atomically (temporary file + rename).
fn write_pid_file(path: &Path) -> Result<(), MasterError> {
    let err = |source| MasterError::File {
        what: "pid file",
        path: path.to_path_buf(),
        source,
    };
    let tmp = path.with_extension(format!("tmp.{}", std::process::id()));
    std::fs::write(&tmp, format!("{}\n", std::process::id())).map_err(err)?;
    std::fs::rename(&tmp, path).map_err(err)
}

/// Removes the pid file at the end of the master's life, only if it is still ours.
struct RemoveOnDrop(PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        if std::fs::read_to_string(&self.0)
            .is_ok_and(|s| s.trim() == std::process::id().to_string())
        {
            let _ = std::fs::remove_file(&self.0);
        }
    }
}
