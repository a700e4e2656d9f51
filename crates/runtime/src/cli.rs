//! Command-line options of the master, shared by `zdrun` and by services that embed the
//! runtime (flatten [`MasterArgs`] into your own clap parser).

use std::time::Duration;

#[cfg(unix)]
use crate::listener::ListenSpec;
use protocol::AdminAddr;

/// Parses `150ms`, `2s`, `1m`, or a bare number of seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (num, unit) = s
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .map(|i| s.split_at(i))
        .unwrap_or((s, "s"));
    let n: f64 = num
        .parse()
        .map_err(|_| format!("invalid duration {s:?} (try 500ms, 2s, 1m)"))?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" => n,
        "m" => n * 60.0,
        _ => return Err(format!("invalid duration unit in {s:?} (use ms, s or m)")),
    };
    if !secs.is_finite() || secs < 0.0 {
        return Err(format!("invalid duration {s:?}"));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// A parser for a duration flag that refuses zero and absurd values at parse time (a zero
/// poll interval would spin, a zero timeout would serve nothing).
pub fn duration_between(
    min: Duration,
    max: Duration,
) -> impl Fn(&str) -> Result<Duration, String> + Clone + Send + Sync + 'static {
    move |s: &str| {
        let d = parse_duration(s)?;
        if d < min || d > max {
            return Err(format!(
                "{s:?} is out of range: must be between {} and {}",
                show(min),
                show(max)
            ));
        }
        Ok(d)
    }
}

fn show(d: Duration) -> String {
    if d.subsec_millis() != 0 || d.as_secs() == 0 {
        format!("{}ms", d.as_millis())
    } else {
        format!("{}s", d.as_secs())
    }
}

const fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

const fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

#[cfg(unix)]
/// An error and its causes on one line.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

/// `ctl --timeout`: 100 ms to 1 h.
pub fn parse_ctl_timeout(s: &str) -> Result<Duration, String> {
    duration_between(ms(100), secs(3600))(s)
}

/// Options that are valid one by one but not together.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct InvalidArgs(pub String);

/// Parses an admin address ([`AdminAddr`]: loopback `HOST:PORT` or `unix:PATH`) for clap.
pub fn parse_admin(s: &str) -> Result<AdminAddr, String> {
    s.parse()
        .map_err(|e: protocol::AdminAddrError| e.to_string())
}

/// Master options.
#[derive(Clone, Debug, clap::Args)]
#[command(next_help_heading = "Master options")]
pub struct MasterArgs {
    /// Give up on a new worker that is not ready after this long; the old one keeps serving.
    #[arg(long, value_name = "DURATION", default_value = "120s", value_parser = duration_between(ms(100), secs(3600)))]
    pub ready_timeout: Duration,
    /// Poll period of the worker's private readiness endpoint (READY=1 triggers a poll at once).
    #[arg(long, value_name = "DURATION", default_value = "1s", value_parser = duration_between(ms(10), secs(60)))]
    pub ready_interval: Duration,
    /// Readiness path polled on the worker's private listener; `none` trusts READY=1 alone.
    #[arg(long, value_name = "PATH", default_value = "/ready")]
    pub ready_path: String,
    /// Do not pass the per-worker private listener (fd named `private`); implies `--ready-path none`.
    #[arg(long)]
    pub no_private_listener: bool,
    /// Time a retiring worker gets to finish in-flight requests before SIGKILL.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = duration_between(ms(100), secs(3600)))]
    pub grace: Duration,
    /// How long to keep probing an address that is in use before failing.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = duration_between(ms(100), secs(600)))]
    pub bind_timeout: Duration,
    /// Period of the check that the worker process is alive and not a zombie.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = duration_between(ms(100), secs(3600)))]
    pub health_interval: Duration,
    /// Largest delay between replacements of a worker that keeps crashing.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = duration_between(ms(10), secs(3600)))]
    pub backoff_max: Duration,
    /// A worker up this long resets the crash-backoff count.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = duration_between(ms(100), secs(86400)))]
    pub stable_after: Duration,
    /// Probe this path on the worker's private listener; a worker failing it 3 times in a row
    /// (deadlock) is replaced like a crash.
    #[arg(long, value_name = "PATH")]
    pub liveness_path: Option<String>,
    /// Period of the liveness probe.
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = duration_between(ms(100), secs(3600)))]
    pub liveness_interval: Duration,
    /// Write the master's pid here (atomically; removed at exit).
    #[arg(long, value_name = "FILE")]
    pub pid_file: Option<std::path::PathBuf>,
    /// Admin endpoint: loopback `HOST:PORT` or `unix:PATH` (GET /metrics, GET /status, POST /restart).
    #[arg(long, value_name = "ADDR", value_parser = parse_admin)]
    pub admin: Option<AdminAddr>,
    /// File holding the admin token (mode 0600, at least 16 characters): `POST /restart` then
    /// needs `Authorization: Bearer <token>` (`ctl --token-file`). Reads stay open.
    #[arg(long, value_name = "FILE")]
    pub admin_token_file: Option<std::path::PathBuf>,
    /// Group allowed to use a `unix:` admin socket (mode 0660 instead of 0600): name or gid.
    #[arg(long, value_name = "GROUP")]
    pub admin_group: Option<String>,
    /// Compatibility mode for workers that must bind the port themselves (SO_REUSEPORT): the
    /// master holds no public socket. Loses queued connections when a worker's socket closes;
    /// use only for programs that cannot take inherited sockets.
    #[arg(long)]
    pub compat_reuseport: bool,
}

#[cfg(unix)]
impl MasterArgs {
    /// Builds the master configuration for `program args...` on `listeners`.
    pub fn to_config(
        &self,
        program: std::ffi::OsString,
        args: Vec<std::ffi::OsString>,
        listeners: Vec<ListenSpec>,
    ) -> Result<crate::master::MasterConfig, InvalidArgs> {
        self.validate()?;
        let mut cfg = crate::master::MasterConfig::new(program, args, listeners);
        cfg.readiness.timeout = self.ready_timeout;
        cfg.readiness.poll_interval = self.ready_interval;
        cfg.private_listener = !self.no_private_listener;
        cfg.readiness.http_path =
            (self.ready_path != "none" && cfg.private_listener).then(|| self.ready_path.clone());
        cfg.grace = self.grace;
        cfg.bind.busy_timeout = self.bind_timeout;
        cfg.health_interval = self.health_interval;
        cfg.backoff.max = self.backoff_max;
        cfg.backoff.stable_after = self.stable_after;
        cfg.liveness = self
            .liveness_path
            .as_ref()
            .map(|p| crate::master::LivenessConfig {
                path: p.clone(),
                interval: self.liveness_interval,
                ..Default::default()
            });
        cfg.pid_file = self.pid_file.clone();
        cfg.admin = self.admin.clone();
        let bad = |e: crate::master::admin_auth::AuthError| InvalidArgs(error_chain(&e));
        cfg.admin_token = match &self.admin_token_file {
            Some(p) => Some(crate::master::admin_auth::read_token(p, true).map_err(bad)?),
            None => None,
        };
        cfg.admin_group = match &self.admin_group {
            Some(g) => Some(crate::master::admin_auth::resolve_group(g).map_err(bad)?),
            None => None,
        };
        cfg.compat_reuseport = self.compat_reuseport;
        Ok(cfg)
    }

    /// Cross-field checks (each flag's own range is checked by its parser).
    pub fn validate(&self) -> Result<(), InvalidArgs> {
        if self.ready_interval >= self.ready_timeout {
            return Err(InvalidArgs(format!(
                "--ready-interval ({}) must be shorter than --ready-timeout ({})",
                show(self.ready_interval),
                show(self.ready_timeout)
            )));
        }
        Ok(())
    }
}

/// `ctl` verbs: a client of the admin endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum CtlVerb {
    /// Print the master's JSON status.
    Status,
    /// Graceful restart; waits for and prints the outcome (exit 0 only if it succeeded).
    Restart,
    /// Print the Prometheus metrics.
    Metrics,
}

/// [`ctl`] on a small runtime of its own, for the binaries' `ctl` subcommands: prints the
/// answer on stdout and returns whether the verb succeeded.
pub fn ctl_blocking(
    verb: CtlVerb,
    admin: &AdminAddr,
    timeout: Duration,
    token: Option<&crate::master::admin_auth::Token>,
) -> Result<bool, crate::master::probe::ProbeError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(crate::master::probe::ProbeError::Runtime)?;
    let (body, ok) = rt.block_on(ctl(verb, admin, timeout, token))?;
    print!("{body}");
    Ok(ok)
}

/// Runs one `ctl` verb against an admin endpoint (loopback `HOST:PORT` or `unix:PATH`);
/// returns the body and whether the verb succeeded.
pub async fn ctl(
    verb: CtlVerb,
    admin: &AdminAddr,
    timeout: Duration,
    token: Option<&crate::master::admin_auth::Token>,
) -> Result<(String, bool), crate::master::probe::ProbeError> {
    let token = token.map(|t| t.expose());
    let (method, path) = match verb {
        CtlVerb::Status => ("GET", "/status"),
        CtlVerb::Restart => ("POST", "/restart"),
        CtlVerb::Metrics => ("GET", "/metrics"),
    };
    let r = match admin {
        AdminAddr::Tcp(a) => {
            crate::master::probe::request_with_token(*a, method, path, timeout, token).await?
        }
        #[cfg(unix)]
        AdminAddr::Unix(p) => {
            crate::master::probe::request_unix_with_token(p, method, path, timeout, token).await?
        }
        #[cfg(not(unix))]
        AdminAddr::Unix(p) => {
            return Err(crate::master::probe::ProbeError::Http {
                addr: p.display().to_string(),
                reason: "Unix sockets are not supported on this platform".into(),
            })
        }
    };
    Ok((r.body, r.status == 200))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("150ms").unwrap(), Duration::from_millis(150));
        assert_eq!(parse_duration("2").unwrap(), Duration::from_secs(2));
        assert_eq!(parse_duration("1.5s").unwrap(), Duration::from_millis(1500));
        assert_eq!(parse_duration("1m").unwrap(), Duration::from_secs(60));
        assert!(parse_duration("1h").is_err());
        assert!(parse_duration("abc").is_err());
    }

    #[test]
    fn admin_must_be_local() {
        assert!(parse_admin("127.0.0.1:9000").is_ok());
        assert!(parse_admin("unix:/tmp/a.sock").is_ok());
        assert!(parse_admin("0.0.0.0:9000").is_err());
    }
}
