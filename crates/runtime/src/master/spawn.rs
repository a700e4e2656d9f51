//! Starting one worker process: the program is resolved on disk at every start (so a replaced
//! binary takes effect), the listening sockets are placed on fds 3.. by the systemd
//! socket-activation convention, `LISTEN_PID` is set to the child's own pid, and the child is
//! tied to the master with `PR_SET_PDEATHSIG` (with the `getppid` race closed) and with the
//! master's guard pipe (`ZDRUN_MASTER_FD`, end of file = the master is gone). Each worker leads
//! its own process group.
//!
//! All of the child-side work happens between `fork` and `execve` and is async-signal-safe:
//! every buffer is prepared in the parent, the child only writes digits into a pre-sized slot,
//! moves descriptors and calls `execve` itself.

use std::ffi::{CString, OsStr, OsString};
use std::os::fd::RawFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use protocol::env as var;

/// Environment variables that the master owns and never forwards from its own environment
/// (besides every `ZDRUN_*` name).
pub const OWNED_ENV: [&str; 4] = var::MASTER_OWNED;

/// Why a worker could not be started.
#[derive(Debug, thiserror::Error)]
pub enum SpawnError {
    /// Nothing executable at the path (or on `PATH`).
    #[error("worker program {0:?} not found")]
    NotFound(PathBuf),
    /// The file exists but is not an executable regular file.
    #[error("worker program {0:?} is not an executable file")]
    NotExecutable(PathBuf),
    /// An argument or variable contains a NUL byte.
    #[error("argument or environment variable contains a NUL byte: {0:?}")]
    Nul(OsString),
    /// `fork`/`execve` failed.
    #[error("cannot start worker {program:?}: {source}")]
    Io {
        /// The program.
        program: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
}

/// Everything needed to start one worker.
#[derive(Debug)]
pub struct Launch<'a> {
    /// The command as given (a path, or a name looked up on `PATH`).
    pub program: &'a OsStr,
    /// Arguments after the program name.
    pub args: &'a [OsString],
    /// Sockets to hand over, in order, with their `LISTEN_FDNAMES` names.
    pub fds: Vec<(String, RawFd)>,
    /// Read end of the master's guard pipe, placed on the fd after the sockets and named by
    /// `ZDRUN_MASTER_FD` (not counted in `LISTEN_FDS`).
    pub guard_fd: Option<RawFd>,
    /// Extra environment (identity, `NOTIFY_SOCKET`); overrides the inherited one.
    pub env: Vec<(OsString, OsString)>,
    /// Pid of the master (the child exits at once if its parent is already another process).
    pub master_pid: u32,
}

/// Resolves `program` the way `execvp` would and checks it is an executable regular file.
pub fn resolve_program(program: &OsStr) -> Result<PathBuf, SpawnError> {
    let as_path = Path::new(program);
    if program.as_bytes().contains(&b'/') {
        return check_executable(as_path);
    }
    let path_var =
        std::env::var_os("PATH").unwrap_or_else(|| "/usr/local/bin:/usr/bin:/bin".into());
    for dir in std::env::split_paths(&path_var) {
        let candidate = dir.join(program);
        if let Ok(p) = check_executable(&candidate) {
            return Ok(p);
        }
    }
    Err(SpawnError::NotFound(as_path.to_path_buf()))
}

fn check_executable(path: &Path) -> Result<PathBuf, SpawnError> {
    let meta = std::fs::metadata(path).map_err(|_| SpawnError::NotFound(path.to_path_buf()))?;
    if !meta.is_file() || meta.permissions().mode() & 0o111 == 0 {
        return Err(SpawnError::NotExecutable(path.to_path_buf()));
    }
    Ok(path.to_path_buf())
}

/// Starts the worker. The returned child must be waited on by its owner (the master reaps
/// every child it starts).
pub fn spawn(launch: Launch<'_>) -> Result<(tokio::process::Child, PathBuf), SpawnError> {
    let path = resolve_program(launch.program)?;
    let mut plan = ExecPlan::new(&path, &launch)?;
    let mut cmd = tokio::process::Command::new(&path);
    cmd.stdin(Stdio::null()).kill_on_drop(false);
    // SAFETY: the closure runs in the forked child and only makes async-signal-safe calls
    // (prctl, getppid, getpid, fcntl, dup2, execve) on memory prepared before the fork.
    unsafe {
        cmd.pre_exec(move || plan.exec_in_child());
    }
    let child = cmd.spawn().map_err(|source| SpawnError::Io {
        program: path.clone(),
        source,
    })?;
    Ok((child, path))
}

/// Pre-built `execve` arguments. Raw pointers point into the owned buffers, which are never
/// resized after construction.
struct ExecPlan {
    path: CString,
    _argv: Vec<CString>,
    _env: Vec<Vec<u8>>,
    argv_ptrs: Vec<*const libc::c_char>,
    envp_ptrs: Vec<*const libc::c_char>,
    pid_digits: *mut u8,
    fds: Vec<RawFd>,
    master_pid: libc::pid_t,
}

// SAFETY: the raw pointers refer to heap buffers owned by the same struct; the plan is moved
// into the pre-exec closure and only used in the child.
unsafe impl Send for ExecPlan {}
// SAFETY: as above; the parent never touches the plan after handing it to the command.
unsafe impl Sync for ExecPlan {}

pub use crate::worker::GUARD_FD_VAR;

/// `LISTEN_PID=`: the entry whose value the child fills in with its own pid.
const LISTEN_PID_PREFIX: &[u8] = b"LISTEN_PID=";
const _: () = assert!(is_entry_prefix(LISTEN_PID_PREFIX, var::LISTEN_PID));

/// Whether `prefix` is `name=` (checked at compile time: one spelling of the name).
const fn is_entry_prefix(prefix: &[u8], name: &str) -> bool {
    let name = name.as_bytes();
    if prefix.len() != name.len() + 1 || prefix[name.len()] != b'=' {
        return false;
    }
    let mut i = 0;
    while i < name.len() {
        if prefix[i] != name[i] {
            return false;
        }
        i += 1;
    }
    true
}
const PID_CAPACITY: usize = 20;

impl ExecPlan {
    fn new(path: &Path, launch: &Launch<'_>) -> Result<Self, SpawnError> {
        let cstr =
            |s: &OsStr| CString::new(s.as_bytes()).map_err(|_| SpawnError::Nul(s.to_owned()));
        let path_c = cstr(path.as_os_str())?;
        let mut argv = vec![cstr(launch.program)?];
        for a in launch.args {
            argv.push(cstr(a)?);
        }
        let mut env: Vec<Vec<u8>> = Vec::new();
        let overridden: Vec<&OsStr> = launch.env.iter().map(|(k, _)| k.as_os_str()).collect();
        for (k, v) in std::env::vars_os() {
            let owned = OWNED_ENV.iter().any(|o| k == *o)
                || k.as_bytes().starts_with(var::ZDRUN_PREFIX.as_bytes());
            if owned || overridden.contains(&k.as_os_str()) {
                continue;
            }
            env.push(env_entry(&k, &v)?);
        }
        for (k, v) in &launch.env {
            env.push(env_entry(k, v)?);
        }
        let names: Vec<&str> = launch.fds.iter().map(|(n, _)| n.as_str()).collect();
        env.push(env_entry(
            OsStr::new(var::LISTEN_FDS),
            OsStr::new(&launch.fds.len().to_string()),
        )?);
        if !names.is_empty() {
            // An empty LISTEN_FDNAMES would name one fd; with none it is left out.
            env.push(env_entry(
                OsStr::new(var::LISTEN_FDNAMES),
                OsStr::new(&names.join(":")),
            )?);
        }
        if launch.guard_fd.is_some() {
            let fd = 3 + launch.fds.len();
            env.push(env_entry(
                OsStr::new(GUARD_FD_VAR),
                OsStr::new(&fd.to_string()),
            )?);
        }
        let mut pid_entry = LISTEN_PID_PREFIX.to_vec();
        pid_entry.resize(LISTEN_PID_PREFIX.len() + PID_CAPACITY + 1, 0);
        env.push(pid_entry);
        let last = env.len() - 1;
        // SAFETY: the offset is inside the buffer (prefix + capacity + NUL).
        let pid_digits = unsafe { env[last].as_mut_ptr().add(LISTEN_PID_PREFIX.len()) };

        let mut argv_ptrs: Vec<*const libc::c_char> = argv.iter().map(|a| a.as_ptr()).collect();
        argv_ptrs.push(std::ptr::null());
        let mut envp_ptrs: Vec<*const libc::c_char> =
            env.iter().map(|e| e.as_ptr().cast()).collect();
        envp_ptrs.push(std::ptr::null());
        Ok(ExecPlan {
            path: path_c,
            _argv: argv,
            _env: env,
            argv_ptrs,
            envp_ptrs,
            pid_digits,
            fds: launch
                .fds
                .iter()
                .map(|(_, fd)| *fd)
                .chain(launch.guard_fd)
                .collect(),
            master_pid: launch.master_pid as libc::pid_t,
        })
    }

    /// Runs in the child between fork and exec. Returns only on failure.
    fn exec_in_child(&mut self) -> std::io::Result<()> {
        // SAFETY: only async-signal-safe libc calls on memory owned by `self`.
        unsafe {
            // Our own process group: the master signals the whole group, so descendants of a
            // wrapper that does not exec are stopped with it.
            if libc::setpgid(0, 0) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            #[cfg(target_os = "linux")]
            {
                if libc::prctl(
                    libc::PR_SET_PDEATHSIG,
                    libc::SIGTERM as libc::c_ulong,
                    0,
                    0,
                    0,
                ) != 0
                {
                    return Err(std::io::Error::last_os_error());
                }
            }
            // The master may have died between fork and prctl: then our parent is someone else.
            if libc::getppid() != self.master_pid {
                return Err(std::io::Error::from_raw_os_error(libc::ESRCH));
            }
            self.place_fds()?;
            self.write_pid(libc::getpid());
            libc::execve(
                self.path.as_ptr(),
                self.argv_ptrs.as_ptr(),
                self.envp_ptrs.as_ptr(),
            );
        }
        Err(std::io::Error::last_os_error())
    }

    /// Moves the sockets onto 3, 4, ... and clears close-on-exec on them only.
    unsafe fn place_fds(&mut self) -> std::io::Result<()> {
        let first = 3 as RawFd;
        let end = first + self.fds.len() as RawFd;
        for (i, fd) in self.fds.iter_mut().enumerate() {
            if *fd >= first && *fd < end && *fd != first + i as RawFd {
                // SAFETY: plain fcntl on a descriptor we own.
                let moved = unsafe { libc::fcntl(*fd, libc::F_DUPFD_CLOEXEC, end) };
                if moved < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                *fd = moved;
            }
        }
        for (i, &fd) in self.fds.iter().enumerate() {
            let target = first + i as RawFd;
            // SAFETY: plain fcntl/dup2 on descriptors we own.
            let rc = unsafe {
                if fd == target {
                    let flags = libc::fcntl(fd, libc::F_GETFD);
                    libc::fcntl(fd, libc::F_SETFD, flags & !libc::FD_CLOEXEC)
                } else {
                    libc::dup2(fd, target)
                }
            };
            if rc < 0 {
                return Err(std::io::Error::last_os_error());
            }
        }
        Ok(())
    }

    /// Writes `pid` as decimal digits into the pre-sized `LISTEN_PID=` slot.
    fn write_pid(&mut self, pid: libc::pid_t) {
        let mut digits = [0u8; PID_CAPACITY];
        let mut n = pid.unsigned_abs() as u64;
        let mut len = 0;
        loop {
            digits[len] = b'0' + (n % 10) as u8;
            len += 1;
            n /= 10;
            if n == 0 || len == PID_CAPACITY {
                break;
            }
        }
        for i in 0..len {
            // SAFETY: i < PID_CAPACITY, inside the slot; the byte after the digits stays NUL.
            unsafe { *self.pid_digits.add(i) = digits[len - 1 - i] };
        }
    }
}

fn env_entry(k: &OsStr, v: &OsStr) -> Result<Vec<u8>, SpawnError> {
    let mut e = Vec::with_capacity(k.len() + v.len() + 2);
    e.extend_from_slice(k.as_bytes());
    e.push(b'=');
    e.extend_from_slice(v.as_bytes());
    if e.contains(&0) {
        return Err(SpawnError::Nul(k.to_owned()));
    }
    e.push(0);
    Ok(e)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_on_path_and_rejects_non_executables() {
        assert!(resolve_program(OsStr::new("sh")).unwrap().is_absolute());
        assert!(matches!(
            resolve_program(OsStr::new("/nonexistent/zz")),
            Err(SpawnError::NotFound(_))
        ));
        let f = tempfile::NamedTempFile::new().unwrap();
        assert!(matches!(
            resolve_program(f.path().as_os_str()),
            Err(SpawnError::NotExecutable(_))
        ));
    }

    #[tokio::test]
    async fn child_gets_fds_names_and_its_own_pid() {
        let l1 = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let l2 = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        use std::os::fd::AsRawFd;
        let script = "test \"$LISTEN_PID\" = \"$$\" && test \"$LISTEN_FDS\" = 2 && test \"$LISTEN_FDNAMES\" = a:b \
                      && test -e /proc/self/fd/3 && test -e /proc/self/fd/4 && test \"$FOO\" = bar";
        let args = vec![OsString::from("-c"), OsString::from(script)];
        let (mut child, _) = spawn(Launch {
            program: OsStr::new("sh"),
            args: &args,
            fds: vec![("a".into(), l1.as_raw_fd()), ("b".into(), l2.as_raw_fd())],
            guard_fd: None,
            env: vec![("FOO".into(), "bar".into())],
            master_pid: std::process::id(),
        })
        .unwrap();
        let status = child.wait().await.unwrap();
        assert!(
            status.success(),
            "child saw the wrong environment: {status:?}"
        );
    }
}
