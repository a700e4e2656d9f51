//! The environment a master gives each worker. The `LISTEN_*` and `NOTIFY_SOCKET` names follow
//! systemd's socket-activation and sd_notify conventions, so a worker written for systemd runs
//! under the master unchanged; the `ZDRUN_*` names are this runtime's own.

/// Number of inherited listening sockets, on fds 3, 4, ... (systemd convention).
pub const LISTEN_FDS: &str = "LISTEN_FDS";
/// The pid the sockets are meant for: the worker's own pid (systemd convention).
pub const LISTEN_PID: &str = "LISTEN_PID";
/// `:`-separated names of the inherited sockets, in fd order (systemd convention).
pub const LISTEN_FDNAMES: &str = "LISTEN_FDNAMES";
/// Datagram socket for the worker's `READY=1` (sd_notify convention).
pub const NOTIFY_SOCKET: &str = "NOTIFY_SOCKET";

/// Pid of the supervising master.
pub const ZDRUN_MASTER_PID: &str = "ZDRUN_MASTER_PID";
/// Generation of this worker (1 for the first); its presence marks a supervised worker.
pub const ZDRUN_GENERATION: &str = "ZDRUN_GENERATION";
/// The master's grace period for a retiring worker, in milliseconds.
pub const ZDRUN_GRACE_MS: &str = "ZDRUN_GRACE_MS";
/// `1` in compatibility mode: the worker binds the public port itself with `SO_REUSEPORT`.
pub const ZDRUN_REUSEPORT: &str = "ZDRUN_REUSEPORT";
/// The fd of the read end of the master's guard pipe (end of file = the master is gone).
pub const ZDRUN_MASTER_FD: &str = "ZDRUN_MASTER_FD";
/// Prefix of every runtime-owned name: a master never forwards such a variable from its own
/// environment to a worker.
pub const ZDRUN_PREFIX: &str = "ZDRUN_";

/// Names the master sets itself and never forwards from its own environment (besides every
/// name starting with [`ZDRUN_PREFIX`]).
pub const MASTER_OWNED: [&str; 4] = [LISTEN_FDS, LISTEN_PID, LISTEN_FDNAMES, NOTIFY_SOCKET];
