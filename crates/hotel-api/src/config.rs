//! Service configuration: a TOML file plus command-line overrides. Re-read by every worker at
//! start, so a config change takes effect on the next graceful restart (except `listen`, which
//! the master owns).

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::faults::{FailScope, ResponseFaults};

/// Faults a worker can be told to inject (for failure tests of the runtime and of deployments).
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Fault {
    /// No fault.
    #[default]
    None,
    /// `/ready` never turns 200.
    NeverReady,
    /// The worker exits with status 3 during start-up.
    CrashOnStart,
    /// The worker ignores SIGTERM (the master must SIGKILL it after the grace period).
    IgnoreSigterm,
    /// Once ready, every request but `/ready` hangs: a deadlock the liveness probe must catch.
    Hang,
    /// Clears `PR_SET_PDEATHSIG` at start, as exec of a setuid or file-capability binary does:
    /// only the master's guard pipe can then stop the worker when the master dies.
    ClearPdeathsig,
}

/// Effective configuration.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Public address (owned by the master).
    pub listen: String,
    /// Directory of the SQLite database.
    pub data_dir: PathBuf,
    /// Admin endpoint of the master (loopback or unix:PATH).
    pub admin: Option<String>,
    /// Pid file of the master.
    pub pid_file: Option<PathBuf>,
    /// Simulated warm-up (DB pool, caches) before `/ready` turns 200.
    pub warmup_ms: u64,
    /// Simulated supplier latency of `/search`.
    pub search_latency_ms: u64,
    /// Deadline of a `/search` aggregation.
    pub search_deadline_ms: u64,
    /// How long idle keep-alive connections stay open after SIGTERM.
    pub linger_ms: u64,
    /// Injected fault.
    pub fault: Fault,
    /// Share of API responses answered 500 (0.0 to 1.0; canary-analysis tests).
    pub fail_share: f64,
    /// Which requests `fail_share` applies to: "all" API routes or "bookings" (POST only).
    pub fail_scope: FailScope,
    /// Latency added to every API response (canary-analysis tests).
    pub added_latency_ms: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: "127.0.0.1:8080".into(),
            data_dir: PathBuf::from("./data"),
            admin: None,
            pid_file: None,
            warmup_ms: 0,
            search_latency_ms: 20,
            search_deadline_ms: 800,
            linger_ms: 1000,
            fault: Fault::None,
            fail_share: 0.0,
            fail_scope: FailScope::All,
            added_latency_ms: 0,
        }
    }
}

/// Command-line overrides (each `None` keeps the file's value).
#[derive(Clone, Debug, Default, clap::Args)]
#[command(next_help_heading = "Service options (override the config file)")]
pub struct Overrides {
    /// Public address HOST:PORT (stable flag for tooling).
    #[arg(long, value_name = "HOST:PORT")]
    pub listen: Option<String>,
    /// Data directory (SQLite database of bookings; stable flag for tooling).
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Simulated warm-up before the service reports ready.
    #[arg(long, value_name = "MS")]
    pub warmup_ms: Option<u64>,
    /// Simulated supplier latency of /search.
    #[arg(long, value_name = "MS")]
    pub search_latency_ms: Option<u64>,
    /// Deadline of a /search aggregation.
    #[arg(long, value_name = "MS")]
    pub search_deadline_ms: Option<u64>,
    /// Linger of idle keep-alive connections after SIGTERM.
    #[arg(long, value_name = "MS")]
    pub linger_ms: Option<u64>,
    /// Inject a fault (failure tests only).
    #[arg(long, value_enum, hide = true)]
    pub fault: Option<Fault>,
}

/// Why the configuration is unusable.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file cannot be read.
    #[error("cannot read config file {path:?}: {source}")]
    Read {
        /// File.
        path: PathBuf,
        /// OS error.
        #[source]
        source: std::io::Error,
    },
    /// TOML syntax or an unknown/mistyped key.
    #[error("invalid config file {path:?}: {message}")]
    Parse {
        /// File.
        path: PathBuf,
        /// toml's message (with line and column).
        message: String,
    },
    /// A value out of range.
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

impl Config {
    /// Defaults, then the file (if any), then the overrides; validated.
    pub fn load(file: Option<&Path>, o: &Overrides) -> Result<Self, ConfigError> {
        let mut cfg = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                    path: path.to_path_buf(),
                    source,
                })?;
                toml::from_str::<Config>(&text).map_err(|e| ConfigError::Parse {
                    path: path.to_path_buf(),
                    message: e.to_string(),
                })?
            }
            None => Config::default(),
        };
        if let Some(v) = &o.listen {
            cfg.listen = v.clone();
        }
        if let Some(v) = &o.data_dir {
            cfg.data_dir = v.clone();
        }
        macro_rules! take {
            ($($f:ident),*) => { $( if let Some(v) = o.$f { cfg.$f = v; } )* };
        }
        take!(
            warmup_ms,
            search_latency_ms,
            search_deadline_ms,
            linger_ms,
            fault
        );
        cfg.validate()?;
        Ok(cfg)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let bad = |m: String| Err(ConfigError::Invalid(m));
        if self.listen_spec().is_err() {
            return bad(format!("listen = {:?} is not HOST:PORT", self.listen));
        }
        if self.data_dir.as_os_str().is_empty() {
            return bad("data_dir must not be empty".into());
        }
        if self.search_deadline_ms == 0 || self.search_deadline_ms > 60_000 {
            return bad(format!(
                "search_deadline_ms = {} must be 1..=60000",
                self.search_deadline_ms
            ));
        }
        if self.warmup_ms > 600_000 {
            return bad(format!(
                "warmup_ms = {} must be at most 600000",
                self.warmup_ms
            ));
        }
        self.response_faults()
            .validate()
            .map_err(ConfigError::Invalid)
    }

    /// The response fault switches.
    pub fn response_faults(&self) -> ResponseFaults {
        ResponseFaults {
            fail_share: self.fail_share,
            fail_scope: self.fail_scope,
            added_latency_ms: self.added_latency_ms,
        }
    }

    /// The public listener spec.
    pub fn listen_spec(
        &self,
    ) -> Result<runtime::listener::ListenSpec, runtime::listener::ListenError> {
        format!("http={}", self.listen).parse()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(text: &str) -> tempfile::NamedTempFile {
        let f = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(f.path(), text).unwrap();
        f
    }

    #[test]
    fn flags_override_file() {
        let f = write("listen = \"127.0.0.1:9000\"\nwarmup_ms = 5\n");
        let o = Overrides {
            warmup_ms: Some(7),
            ..Default::default()
        };
        let c = Config::load(Some(f.path()), &o).unwrap();
        assert_eq!(c.listen, "127.0.0.1:9000");
        assert_eq!(c.warmup_ms, 7);
    }

    #[test]
    fn errors_name_the_problem() {
        let f = write("listen = 5\n");
        let e = Config::load(Some(f.path()), &Overrides::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("line 1"), "{e}");
        let f = write("lisen = \"x\"\n");
        let e = Config::load(Some(f.path()), &Overrides::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("lisen"), "{e}");
        let o = Overrides {
            listen: Some("nonsense".into()),
            ..Default::default()
        };
        let e = Config::load(None, &o).unwrap_err().to_string();
        assert!(e.contains("nonsense"), "{e}");
        let e = Config::load(
            Some(Path::new("/nonexistent/x.toml")),
            &Overrides::default(),
        )
        .unwrap_err();
        assert!(matches!(e, ConfigError::Read { .. }));
    }

    #[test]
    fn response_faults_come_from_the_file_and_are_validated() {
        let f = write("fail_share = 0.05\nfail_scope = \"bookings\"\nadded_latency_ms = 50\n");
        let c = Config::load(Some(f.path()), &Overrides::default()).unwrap();
        let r = c.response_faults();
        assert_eq!(r.fail_scope, FailScope::Bookings);
        assert_eq!((r.fail_share, r.added_latency_ms), (0.05, 50));
        let f = write("fail_share = 2.0\n");
        let e = Config::load(Some(f.path()), &Overrides::default()).unwrap_err();
        assert!(e.to_string().contains("fail_share"), "{e}");
        let f = write("fail_scope = \"search\"\n");
        let e = Config::load(Some(f.path()), &Overrides::default()).unwrap_err();
        assert!(
            e.to_string().contains("fail_scope") || e.to_string().contains("search"),
            "{e}"
        );
    }
}
