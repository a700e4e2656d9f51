//! The worker side of the protocol, for Rust services: take the inherited listeners (or bind
//! directly when running bare), know who we are (generation, master pid, grace period), track
//! the lifecycle (starting -> ready -> draining), and wait for the stop signal.
//!
//! - this module: inherited listeners ([`Listeners`]), [`Identity`], [`Lifecycle`], stop signal.
//! - [`drain`]: serving an axum app with the zero-loss drain sequence.
//! - [`guard`]: the worker's end of the master's guard pipe (stop when the master is gone).
//! - [`embed`]: one binary that is master or worker ([`embed::Mode`]).

pub mod drain;
pub mod embed;
pub mod guard;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use protocol::env as var;
use tokio::sync::watch;

use crate::listener::{self, BindPolicy, ListenAddr, ListenSpec};

/// Errors while taking over inherited sockets.
#[derive(Debug, thiserror::Error)]
pub enum ActivationError {
    /// `LISTEN_FDS`/`LISTEN_FDNAMES` are malformed.
    #[error("invalid socket-activation environment: {0}")]
    Env(#[source] std::io::Error),
    /// An inherited fd is not a listening stream socket.
    #[error("inherited fd {fd} ({name}) is not a usable socket: {reason}")]
    BadFd {
        /// The descriptor.
        fd: i32,
        /// Its name.
        name: String,
        /// Why.
        reason: String,
    },
    /// Binding directly (bare worker mode) failed.
    #[error(transparent)]
    Bind(#[from] listener::ListenError),
}

/// A listening socket, TCP or Unix.
#[derive(Debug)]
pub enum AnyListener {
    /// TCP.
    Tcp(std::net::TcpListener),
    /// Unix-domain stream.
    #[cfg(unix)]
    Unix(std::os::unix::net::UnixListener),
}

/// A listener with its `LISTEN_FDNAMES` name.
#[derive(Debug)]
pub struct NamedListener {
    /// Name (`http` by default).
    pub name: String,
    /// The socket.
    pub listener: AnyListener,
    /// `Some(backlog)` while bound but not yet listening: in the compatibility mode a worker
    /// joins the `SO_REUSEPORT` group only once ready ([`NamedListener::start_listening`]).
    pub deferred_backlog: Option<i32>,
}

impl NamedListener {
    /// Starts listening if that was deferred (a no-op otherwise).
    pub fn start_listening(&self) -> std::io::Result<()> {
        let Some(backlog) = self.deferred_backlog else {
            return Ok(());
        };
        match &self.listener {
            AnyListener::Tcp(t) => socket2::SockRef::from(t).listen(backlog),
            #[cfg(unix)]
            AnyListener::Unix(u) => socket2::SockRef::from(u).listen(backlog),
        }
    }
}

/// The sockets a worker serves on.
#[derive(Debug)]
pub struct Listeners {
    /// Public listeners: accepted from only once the service is ready.
    pub public: Vec<NamedListener>,
    /// Private loopback listener of this worker (readiness checks, `/version`), served at once.
    pub private: Option<std::net::TcpListener>,
    /// Whether the sockets came from a master (`false`: bound directly, bare mode).
    pub inherited: bool,
}

impl Listeners {
    /// Takes the sockets passed by a master (systemd convention, `LISTEN_PID` must be ours),
    /// or, when there are none, binds `fallback` directly.
    pub fn from_env_or_bind(fallback: &[ListenSpec]) -> Result<Self, ActivationError> {
        #[cfg(unix)]
        {
            // LISTEN_FDS=0 (compatibility mode without a private listener) means "none".
            let none = std::env::var(var::LISTEN_FDS).is_ok_and(|v| v.trim() == "0");
            let inherited: Vec<(i32, String)> = if none {
                Vec::new()
            } else {
                sd_notify::listen_fds_with_names()
                    .map_err(ActivationError::Env)?
                    .collect()
            };
            if !inherited.is_empty() {
                let mut adopted = Self::adopt(inherited)?;
                if adopted.public.is_empty() {
                    // Compatibility mode: the master passed only the private listener.
                    adopted.public = Self::bind_public(fallback)?;
                }
                return Ok(adopted);
            }
        }
        Ok(Listeners {
            public: Self::bind_public(fallback)?,
            private: None,
            inherited: false,
        })
    }

    /// Binds the public listeners ourselves: bare mode, or the master's compatibility mode
    /// (`ZDRUN_REUSEPORT=1`, so old and new worker can both listen during a restart).
    fn bind_public(fallback: &[ListenSpec]) -> Result<Vec<NamedListener>, ActivationError> {
        let reuse_port = std::env::var_os(var::ZDRUN_REUSEPORT).is_some_and(|v| v == "1");
        let policy = BindPolicy {
            reuse_port,
            defer_listen: reuse_port,
            ..BindPolicy::default()
        };
        let mut public = Vec::new();
        for spec in fallback {
            let bound = listener::bind(spec, &policy)?;
            public.push(NamedListener {
                name: spec.name.clone(),
                listener: from_socket(bound.socket, &bound.local),
                deferred_backlog: policy.defer_listen.then_some(policy.backlog),
            });
        }
        Ok(public)
    }

    #[cfg(unix)]
    fn adopt(fds: Vec<(i32, String)>) -> Result<Self, ActivationError> {
        use std::os::fd::FromRawFd;
        let mut public = Vec::new();
        let mut private = None;
        for (fd, name) in fds {
            let bad = |reason: String| ActivationError::BadFd {
                fd,
                name: name.clone(),
                reason,
            };
            // SAFETY: the master placed a socket on this fd for us and nothing else owns it;
            // sd_notify has checked LISTEN_PID and set close-on-exec.
            let socket = unsafe { socket2::Socket::from_raw_fd(fd) };
            let local = socket.local_addr().map_err(|e| bad(e.to_string()))?;
            let addr = if let Some(a) = local.as_socket() {
                ListenAddr::Tcp(a)
            } else if local.is_unix() {
                ListenAddr::Unix(
                    local
                        .as_pathname()
                        .map(|p| p.to_path_buf())
                        .unwrap_or_default(),
                )
            } else {
                return Err(bad("neither TCP nor Unix".into()));
            };
            let l = from_socket(socket, &addr);
            if name == listener::PRIVATE_NAME {
                if let AnyListener::Tcp(t) = l {
                    private = Some(t);
                    continue;
                }
                return Err(bad("the private listener must be TCP".into()));
            }
            public.push(NamedListener {
                name,
                listener: l,
                deferred_backlog: None,
            });
        }
        Ok(Listeners {
            public,
            private,
            inherited: true,
        })
    }

    /// Local addresses of the public TCP listeners.
    pub fn public_tcp_addrs(&self) -> Vec<SocketAddr> {
        self.public
            .iter()
            .filter_map(|l| match &l.listener {
                AnyListener::Tcp(t) => t.local_addr().ok(),
                #[cfg(unix)]
                AnyListener::Unix(_) => None,
            })
            .collect()
    }
}

fn from_socket(socket: socket2::Socket, addr: &ListenAddr) -> AnyListener {
    match addr {
        ListenAddr::Tcp(_) => AnyListener::Tcp(socket.into()),
        #[cfg(unix)]
        ListenAddr::Unix(_) => AnyListener::Unix(socket.into()),
        #[cfg(not(unix))]
        ListenAddr::Unix(_) => AnyListener::Tcp(socket.into()),
    }
}

/// Who this worker is, from the master's environment variables.
#[derive(Clone, Debug, Default)]
pub struct Identity {
    /// Pid of the master, if supervised.
    pub master_pid: Option<u32>,
    /// Worker generation (0 when bare).
    pub generation: u64,
    /// Grace period the master allows for draining.
    pub grace: Duration,
}

impl Identity {
    /// Reads `ZDRUN_MASTER_PID`, `ZDRUN_GENERATION` and `ZDRUN_GRACE_MS`.
    pub fn from_env() -> Self {
        let num = |k: &str| std::env::var(k).ok().and_then(|v| v.parse::<u64>().ok());
        Identity {
            master_pid: num(var::ZDRUN_MASTER_PID).map(|p| p as u32),
            generation: num(var::ZDRUN_GENERATION).unwrap_or(0),
            grace: Duration::from_millis(num(var::ZDRUN_GRACE_MS).unwrap_or(30_000)),
        }
    }

    /// True when this process was started by a master.
    pub fn is_supervised() -> bool {
        std::env::var_os(var::ZDRUN_GENERATION).is_some()
    }
}

/// Where a worker is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Warming up: `/ready` answers 503, public listeners not accepted from.
    Starting,
    /// Serving.
    Ready,
    /// Stop requested: `/ready` answers 503, responses carry `Connection: close`.
    Draining,
}

/// Shared lifecycle handle (cheap to clone); the service's `/ready` handler reads it.
#[derive(Clone, Debug)]
pub struct Lifecycle(Arc<watch::Sender<Phase>>);

impl Default for Lifecycle {
    fn default() -> Self {
        Self::new()
    }
}

impl Lifecycle {
    /// Starts in [`Phase::Starting`].
    pub fn new() -> Self {
        Lifecycle(Arc::new(watch::channel(Phase::Starting).0))
    }

    /// The service finished warming up.
    pub fn set_ready(&self) {
        self.0.send_if_modified(|p| {
            let changed = *p == Phase::Starting;
            if changed {
                *p = Phase::Ready;
            }
            changed
        });
    }

    /// Enter draining (irreversible).
    pub fn begin_drain(&self) {
        self.0.send_replace(Phase::Draining);
    }

    /// Current phase.
    pub fn phase(&self) -> Phase {
        *self.0.borrow()
    }

    /// Ready and not draining: what `/ready` reports.
    pub fn is_serving(&self) -> bool {
        self.phase() == Phase::Ready
    }

    /// Stop requested.
    pub fn is_draining(&self) -> bool {
        self.phase() == Phase::Draining
    }

    /// Resolves once the phase is no longer `Starting`.
    pub async fn started(&self) {
        let mut rx = self.0.subscribe();
        let _ = rx.wait_for(|p| *p != Phase::Starting).await;
    }
}

/// Resolves on SIGTERM or SIGINT (Ctrl-C on Windows).
pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) {
            (Ok(mut t), Ok(mut i)) => {
                tokio::select! {
                    _ = t.recv() => {}
                    _ = i.recv() => {}
                }
            }
            _ => std::future::pending::<()>().await,
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Tells the master (via `NOTIFY_SOCKET`) that this worker is ready. A no-op when bare.
pub fn notify_ready() {
    #[cfg(unix)]
    if let Err(e) = sd_notify::notify(&[sd_notify::NotifyState::Ready]) {
        tracing::warn!(event = "notify_failed", error = %e, "cannot send READY=1 to the master");
    }
}

pub use guard::{die_with_master, GUARD_FD_VAR};
