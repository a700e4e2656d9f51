//! Embedding the runtime in a service binary: the same executable is the master (it re-executes
//! itself as the worker with the same arguments) or the worker (serving directly).

use std::ffi::OsString;

/// Which role the process plays.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Mode {
    /// Own the sockets and supervise a worker (Linux default).
    Master,
    /// Serve directly (macOS/Windows default; also what the master's children run as).
    Worker,
}

impl Mode {
    /// Master on Linux, worker elsewhere.
    pub fn platform_default() -> Self {
        if cfg!(target_os = "linux") {
            Mode::Master
        } else {
            Mode::Worker
        }
    }

    /// The role to play: a process started by a master is always a worker; otherwise the
    /// explicit choice, or the platform default.
    pub fn resolve(explicit: Option<Mode>) -> Self {
        if crate::worker::Identity::is_supervised() {
            Mode::Worker
        } else {
            explicit.unwrap_or_else(Mode::platform_default)
        }
    }
}

/// The command a master embedded in this binary runs as its worker: this executable's path as
/// it was at start (so a file replaced at that path takes effect on the next restart) and the
/// process's own arguments, forwarded unchanged.
pub fn self_command() -> std::io::Result<(OsString, Vec<OsString>)> {
    let exe = std::env::current_exe()?;
    Ok((exe.into_os_string(), std::env::args_os().skip(1).collect()))
}
