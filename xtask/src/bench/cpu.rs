//! Who limits a load benchmark: the server, the client, or other processes on the machine.
//! The judgement compares CPU time per phase (cores busy on average): a machine whose CPU is
//! saturated is server-bound only when the server uses at least as much of it as the client;
//! otherwise the client (on the same cores) is what caps the throughput.

use anyhow::{Context, Result};

/// Average cores busy over one phase.
#[derive(Debug, Clone, Copy)]
pub struct Usage {
    /// The service's processes (master and workers).
    pub server: f64,
    /// This benchmark process (the load generator).
    pub client: f64,
    /// Every process of the machine.
    pub machine: f64,
    /// Threads the client runs on.
    pub client_threads: usize,
    /// Cores of the machine.
    pub cores: f64,
}

/// Who limits the throughput, and the figures the verdict rests on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// The client's threads are busy (< 20% idle).
    ClientThreads,
    /// The CPU is saturated and other processes take at least a quarter of it.
    OtherProcesses,
    /// The CPU is saturated and the server uses at least as much of it as the client.
    ServerCpu,
    /// The CPU is saturated and the client uses more of it than the server.
    ClientCpu,
    /// CPU not saturated, client idle: the server waits (I/O, locks, timers).
    ServerWaits,
}

impl Usage {
    /// Share of the client's threads left idle, in percent.
    pub fn client_idle_pct(&self) -> f64 {
        100.0 * (1.0 - self.client / self.client_threads.max(1) as f64).max(0.0)
    }

    /// Cores taken by processes other than server and client.
    pub fn others(&self) -> f64 {
        (self.machine - self.server - self.client).max(0.0)
    }

    pub fn limit(&self) -> Limit {
        let saturated = self.machine >= 0.9 * self.cores;
        if self.client_idle_pct() < 20.0 {
            Limit::ClientThreads
        } else if saturated && self.others() >= 0.25 * self.cores {
            Limit::OtherProcesses
        } else if saturated && self.server >= self.client {
            Limit::ServerCpu
        } else if saturated {
            Limit::ClientCpu
        } else {
            Limit::ServerWaits
        }
    }
}

/// One line: the figures and who limits.
pub fn verdict(u: &Usage) -> String {
    let what = match u.limit() {
        Limit::ClientThreads => "the client (its threads are busy)",
        Limit::OtherProcesses => "the machine: other processes take CPU from the server",
        Limit::ServerCpu => "the server: CPU saturated, the server uses most of it",
        Limit::ClientCpu => {
            "the client: CPU saturated and the client uses more of it than the server"
        }
        Limit::ServerWaits => "the server (client threads idle, CPU not saturated: waits, not CPU)",
    };
    format!(
        "server {:.2} cores, client {:.2} cores of {} threads ({:.0}% idle), other processes \
         {:.2}, machine {:.2} of {:.0} cores busy: bottleneck is {what}",
        u.server,
        u.client,
        u.client_threads,
        u.client_idle_pct(),
        u.others(),
        u.machine,
        u.cores
    )
}

/// Busy time of all CPUs (`/proc/stat`: everything but idle and iowait), in clock ticks.
pub fn machine_ticks() -> Result<u64> {
    let stat = std::fs::read_to_string("/proc/stat").context("reading /proc/stat")?;
    let cpu: Vec<u64> = stat
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("cpu "))
        .context("no cpu line in /proc/stat")?
        .split_whitespace()
        .map(|f| f.parse().context("malformed /proc/stat"))
        .collect::<Result<_>>()?;
    anyhow::ensure!(cpu.len() >= 5, "short cpu line in /proc/stat");
    Ok(cpu.iter().sum::<u64>() - cpu[3] - cpu[4])
}

/// Clock ticks per second (`sysconf(_SC_CLK_TCK)`).
pub fn clock_ticks() -> Result<f64> {
    // SAFETY: sysconf only reads a configuration value.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    anyhow::ensure!(hz > 0, "sysconf(_SC_CLK_TCK) failed");
    Ok(hz as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usage(server: f64, client: f64, machine: f64) -> Usage {
        Usage {
            server,
            client,
            machine,
            client_threads: 4,
            cores: 2.0,
        }
    }

    #[test]
    fn saturated_cpu_is_the_servers_only_when_it_uses_at_least_the_clients_share() {
        assert_eq!(usage(1.1, 0.8, 1.95).limit(), Limit::ServerCpu);
        assert_eq!(usage(0.7, 1.2, 1.95).limit(), Limit::ClientCpu);
        assert!(verdict(&usage(0.7, 1.2, 1.95)).contains("bottleneck is the client"));
    }

    #[test]
    fn busy_client_threads_other_processes_and_waits() {
        let two_threads = Usage {
            client_threads: 2,
            ..usage(0.2, 1.7, 1.95)
        };
        assert_eq!(two_threads.limit(), Limit::ClientThreads);
        assert_eq!(usage(0.6, 0.6, 1.9).limit(), Limit::OtherProcesses);
        assert_eq!(usage(0.3, 0.2, 0.6).limit(), Limit::ServerWaits);
    }
}
