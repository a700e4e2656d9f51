//! Processes and sockets as the kernel shows them (/proc): children (zombies included, so a
//! master that never reaps fails a count), liveness, signals by pid, TCP sockets by port.

use std::time::Duration;

/// Fields of `/proc/PID/stat` after the command name: state, ppid, ...
fn stat_fields(pid: i32) -> Option<Vec<String>> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, rest) = stat.rsplit_once(')')?;
    Some(rest.split_whitespace().map(str::to_string).collect())
}

/// Children of `pid`, zombies included.
pub fn children_of(pid: i32) -> Vec<i32> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(p) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        if stat_fields(p).is_some_and(|f| f.get(1).is_some_and(|pp| *pp == pid.to_string())) {
            out.push(p);
        }
    }
    out
}

/// Whether a process exists, zombies included: a worker its master has not reaped yet is
/// not gone.
pub fn alive(pid: i32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}

/// Whether a process exists and is not a zombie. Only for a process whose parent is gone (a
/// worker of a SIGKILLed master): its reaping is then up to whoever adopted it.
pub fn running(pid: i32) -> bool {
    stat_fields(pid).is_some_and(|f| f.first().is_some_and(|s| s != "Z"))
}

/// Sends `sig` to `pid`; whether it was delivered.
pub fn signal(pid: i32, sig: libc::c_int) -> bool {
    // SAFETY: kill(2) with a pid the test started or read from the kernel just now.
    unsafe { libc::kill(pid, sig) == 0 }
}

/// SIGKILL to `pid`, then waits (bounded) until its /proc entry is gone or a zombie.
pub fn kill9(pid: i32) {
    signal(pid, libc::SIGKILL);
    crate::wait_for(
        &format!("pid {pid} killed"),
        Duration::from_secs(10),
        || !running(pid),
    );
}

/// (state in hex, rx_queue, inode) of the TCP sockets whose local port is `port`, from
/// /proc/net/tcp{,6}. For a LISTEN socket (`0A`) rx_queue is the length of its accept queue.
pub fn tcp_sockets(port: u16) -> Vec<(String, u64, u64)> {
    let mut out = Vec::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = std::fs::read_to_string(table) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let f: Vec<&str> = line.split_whitespace().collect();
            let local_port = f
                .get(1)
                .and_then(|a| a.rsplit_once(':'))
                .and_then(|(_, p)| u16::from_str_radix(p, 16).ok());
            let rx = f
                .get(4)
                .and_then(|q| q.split_once(':'))
                .and_then(|(_, rx)| u64::from_str_radix(rx, 16).ok());
            let inode = f.get(9).and_then(|i| i.parse::<u64>().ok());
            if let (Some(p), Some(state), Some(rx), Some(inode)) = (local_port, f.get(3), rx, inode)
            {
                if p == port {
                    out.push((state.to_string(), rx, inode));
                }
            }
        }
    }
    out
}

/// Socket inodes held by process `pid`.
pub fn socket_inodes(pid: i64) -> Vec<u64> {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| {
            d.flatten()
                .filter_map(|e| {
                    let target = std::fs::read_link(e.path()).ok()?;
                    target
                        .to_str()?
                        .strip_prefix("socket:[")?
                        .strip_suffix(']')?
                        .parse()
                        .ok()
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Established connections on local `port` that process `pid` holds (accepted by it).
pub fn accepted_by(pid: i32, port: u16) -> usize {
    let held = socket_inodes(pid.into());
    tcp_sockets(port)
        .iter()
        .filter(|(state, _, inode)| state == "01" && held.contains(inode))
        .count()
}

/// The LISTEN sockets on `port` that process `pid` holds.
pub fn listening_on(port: u16, pid: i32) -> Vec<u64> {
    let held = socket_inodes(pid.into());
    tcp_sockets(port)
        .into_iter()
        .filter(|(state, _, inode)| state == "0A" && held.contains(inode))
        .map(|(_, _, inode)| inode)
        .collect()
}

/// Someone else's process (`sleep`, at most `secs`), stopped by its pid when dropped: what a
/// stale pid file may come to name once its pid is reused.
pub struct Bystander(std::process::Child);

impl Bystander {
    pub fn spawn(secs: u32) -> Bystander {
        let child = std::process::Command::new("sleep")
            .arg(secs.to_string())
            .stdin(std::process::Stdio::null())
            .spawn()
            .unwrap();
        Bystander(child)
    }

    pub fn pid(&self) -> u32 {
        self.0.id()
    }
}

impl Drop for Bystander {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
