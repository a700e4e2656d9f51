//! Worker side of the master's guard pipe: dying with the master without relying on
//! `PR_SET_PDEATHSIG`.

/// Names the inherited fd of the master's guard pipe in a worker: the master holds the only
/// write end, so end of file on it means the master is gone.
pub const GUARD_FD_VAR: &str = protocol::env::ZDRUN_MASTER_FD;

/// Dies with the master without relying on `PR_SET_PDEATHSIG` (which exec of a setuid or
/// file-capability binary clears, and which macOS lacks): a thread blocks reading the guard
/// pipe named by `ZDRUN_MASTER_FD` and, at end of file, sends SIGTERM to this process, so the
/// usual drain runs. Returns whether a guard is armed (false when bare or already armed).
pub fn die_with_master() -> bool {
    #[cfg(unix)]
    {
        static ARMED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
        let Some(fd) = std::env::var(GUARD_FD_VAR)
            .ok()
            .and_then(|v| v.parse::<i32>().ok())
        else {
            return false;
        };
        if ARMED.swap(true, std::sync::atomic::Ordering::SeqCst) {
            return false;
        }
        match guard_thread(fd) {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!(event = "master_guard_failed", fd, error = %e, "cannot watch the master's guard pipe");
                false
            }
        }
    }
    #[cfg(not(unix))]
    false
}

#[cfg(unix)]
fn guard_thread(fd: i32) -> std::io::Result<()> {
    use std::io::Read;
    if fd < 3 {
        return Err(std::io::Error::other("not an inherited descriptor"));
    }
    use std::os::fd::FromRawFd;
    // SAFETY: borrowing a descriptor number only for fstat; it is not closed here.
    let st = nix::sys::stat::fstat(unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) })?;
    if st.st_mode & libc::S_IFMT != libc::S_IFIFO {
        return Err(std::io::Error::other("not a pipe"));
    }
    // SAFETY: the master placed the read end of its pipe on this fd for us; nothing else in this
    // process owns it (checked above that it is a pipe).
    let mut pipe = unsafe { std::fs::File::from_raw_fd(fd) };
    // Our own children must not keep the guard open.
    nix::fcntl::fcntl(
        &pipe,
        nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::FD_CLOEXEC),
    )?;
    std::thread::Builder::new()
        .name("master-guard".into())
        .spawn(move || {
            let mut buf = [0u8; 16];
            loop {
                match pipe.read(&mut buf) {
                    Ok(0) => break,
                    Ok(_) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(_) => break,
                }
            }
            tracing::warn!(
                event = "master_gone",
                "the master's guard pipe closed; stopping"
            );
            let _ =
                nix::sys::signal::kill(nix::unistd::getpid(), nix::sys::signal::Signal::SIGTERM);
        })?;
    Ok(())
}
