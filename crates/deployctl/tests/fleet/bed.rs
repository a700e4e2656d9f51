//! Test harness: a real test bed (scripts/testbed.sh: network + mount + UTS namespaces, one
//! OpenSSH server per host), stamped hotel-api builds, inventories and a bounded runner for
//! the real `deployctl` binary. Everything is torn down on drop, by the names it created.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

static SEQ: AtomicUsize = AtomicUsize::new(0);

pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// One bed host: name, address, netns.
#[derive(Debug, Clone)]
pub struct BedHost {
    pub name: String,
    pub address: String,
    pub netns: String,
}

pub struct Bed {
    pub name: String,
    pub dir: PathBuf,
    pub hosts: Vec<BedHost>,
}

impl Bed {
    /// Bring up `n` hosts under a name unique to this test process.
    pub fn up(n: usize) -> Bed {
        let name = format!(
            "b{}x{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::SeqCst)
        );
        let out = Command::new(repo().join("scripts/testbed.sh"))
            .args(["up", &n.to_string(), "--name", &name])
            .output()
            .expect("run testbed.sh");
        let bed_dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim().to_string());
        if !out.status.success() {
            // Tear down whatever was made before failing.
            let _ = Command::new(repo().join("scripts/testbed.sh"))
                .args(["down", "--name", &name])
                .status();
            panic!(
                "testbed up failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let hosts = std::fs::read_to_string(bed_dir.join("hosts"))
            .unwrap()
            .lines()
            .map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                BedHost {
                    name: f[0].into(),
                    address: f[1].into(),
                    netns: f[2].into(),
                }
            })
            .collect();
        Bed {
            name,
            dir: bed_dir,
            hosts,
        }
    }

    /// The host's own /srv as seen from the root mount namespace.
    pub fn srv(&self, k: usize) -> PathBuf {
        self.dir.join(format!("h{}/srv", k + 1))
    }

    /// Whether nothing was installed on host k: its `/srv` holds only what the bed put there
    /// (the masters' `admin.token`).
    pub fn untouched(&self, k: usize) -> bool {
        ls(&self.srv(k)) == ["admin.token"]
    }

    /// SSH logins the host's sshd accepted so far.
    pub fn logins(&self, k: usize) -> usize {
        let log = std::fs::read_to_string(self.dir.join(format!("h{}/sshd.log", k + 1)))
            .unwrap_or_default();
        log.lines()
            .filter(|l| l.starts_with("Accepted publickey"))
            .count()
    }

    /// TCP connections the host's sshd saw so far.
    pub fn connections(&self, k: usize) -> usize {
        let log = std::fs::read_to_string(self.dir.join(format!("h{}/sshd.log", k + 1)))
            .unwrap_or_default();
        log.lines()
            .filter(|l| l.starts_with("Connection from"))
            .count()
    }

    /// Pid of host k's listening sshd.
    pub fn sshd_pid(&self, k: usize) -> u32 {
        std::fs::read_to_string(self.dir.join(format!("h{}/sshd.pid", k + 1)))
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    }

    pub fn loss(&self, k: usize, pct: u32) {
        let st = Command::new(repo().join("scripts/testbed.sh"))
            .args(["loss", &self.name, &(k + 1).to_string(), &pct.to_string()])
            .status()
            .unwrap();
        assert!(st.success());
    }

    /// Make `shell` root's login shell on host k only: a copy of /etc/passwd bind-mounted
    /// over /etc/passwd inside the host's own mount namespace (its sshd reads it per login).
    pub fn login_shell(&self, k: usize, shell: &str) {
        let passwd: String = std::fs::read_to_string("/etc/passwd")
            .unwrap()
            .lines()
            .map(|l| match l.strip_prefix("root:") {
                Some(rest) => {
                    let mut f: Vec<&str> = rest.split(':').collect();
                    *f.last_mut().unwrap() = shell;
                    format!("root:{}\n", f.join(":"))
                }
                None => format!("{l}\n"),
            })
            .collect();
        let file = self.dir.join(format!("h{}/passwd", k + 1));
        std::fs::write(&file, passwd).unwrap();
        let st = Command::new("nsenter")
            .args([
                "-t",
                &self.sshd_pid(k).to_string(),
                "-m",
                "--",
                "mount",
                "--bind",
            ])
            .arg(&file)
            .arg("/etc/passwd")
            .status()
            .unwrap();
        assert!(st.success(), "bind-mount passwd on host {k}");
    }

    /// Start `argv` inside host k's network namespace (not waited; stop it by its pid).
    pub fn spawn_in(&self, k: usize, argv: &[&str]) -> std::process::Child {
        Command::new("ip")
            .args(["netns", "exec", &self.hosts[k].netns])
            .args(argv)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    }

    /// Wait (bounded) until something accepts TCP connections on host k's `port`.
    pub fn wait_listening(&self, k: usize, port: u16) {
        let addr: std::net::SocketAddr =
            format!("{}:{port}", self.hosts[k].address).parse().unwrap();
        let t0 = Instant::now();
        while std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
            assert!(t0.elapsed() < Duration::from_secs(20), "{addr} listening");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Run `nft` inside host k's network namespace.
    pub fn nft(&self, k: usize, args: &[&str]) {
        let st = Command::new("ip")
            .args(["netns", "exec", &self.hosts[k].netns, "nft"])
            .args(args)
            .status()
            .unwrap();
        assert!(st.success(), "nft {args:?}");
    }
}

impl Drop for Bed {
    fn drop(&mut self) {
        let _ = Command::new(repo().join("scripts/testbed.sh"))
            .args(["down", "--name", &self.name])
            .stderr(Stdio::null())
            .status();
    }
}

/// The hotel-api binary of this workspace (built once if missing).
pub fn hotel_api() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join("target"));
    let bin = target.join("debug/hotel-api");
    if !bin.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let st = Command::new(cargo)
            .args(["build", "-p", "hotel-api"])
            .current_dir(repo())
            .status()
            .unwrap();
        assert!(st.success(), "cargo build -p hotel-api");
    }
    bin
}

/// Two stamped builds (distinct build ids and checksums) in a temp dir.
pub struct Builds {
    pub dir: tempfile::TempDir,
    pub v1: PathBuf,
    pub v2: PathBuf,
}

impl Builds {
    pub fn new() -> Builds {
        let dir = tempfile::Builder::new()
            .prefix("dctl-builds")
            .tempdir()
            .unwrap();
        let mk = |label: &str| {
            let out = dir.path().join(format!("hotel-api-{label}"));
            let st = Command::new(hotel_api())
                .args(["stamp", "--label", label, "--out"])
                .arg(&out)
                .status()
                .unwrap();
            assert!(st.success());
            out
        };
        let (v1, v2) = (mk("v1"), mk("v2"));
        Builds { dir, v1, v2 }
    }

    /// A build whose worker never becomes ready on the hosts named in `fail_on` (matched
    /// against `hostname` inside the host) and is v2 elsewhere; `version --json` reports v2.
    pub fn broken_on(&self, fail_on: &[&str]) -> PathBuf {
        let p = self
            .dir
            .path()
            .join(format!("broken-{}", fail_on.join("-")));
        let pattern = if fail_on.is_empty() {
            "__none__".to_string()
        } else {
            fail_on.join("|")
        };
        let script = format!(
            "#!/bin/sh\n# test build: never ready on {pattern}\ncase \"$(hostname)\" in {pattern}) [ \"$1\" = version ] || exec sleep 600;; esac\nexec {} \"$@\"\n",
            self.v2.display()
        );
        std::fs::write(&p, script).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        p
    }
}

pub fn build_id(bin: &Path) -> String {
    let out = Command::new(bin)
        .args(["version", "--json"])
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    v["build_id"].as_str().unwrap().to_string()
}

pub fn sha256_file(p: &Path) -> String {
    deployctl::observe::sha256_hex(&std::fs::read(p).unwrap())
}

/// Inventory knobs.
#[derive(Clone)]
pub struct Inv {
    pub transport: &'static str,
    pub tolerance: usize,
    pub dr: Vec<usize>,
    pub keep: usize,
    pub timeout_s: u64,
    pub admin: bool,
    pub on_network: &'static str,
    pub max_latency_ms: f64,
    pub batch_size: usize,
    pub parallelism: usize,
    pub known_hosts: Option<PathBuf>,
    /// Hosts (indices) that are nginx load balancers instead of app hosts.
    pub lb_hosts: Vec<usize>,
    /// App hosts (indices) of the gray pool.
    pub gray: Vec<usize>,
    /// Extra lines of `[env.bed.lb]`.
    pub lb: String,
    /// No roles in the inventory: deployctl detects them.
    pub auto_roles: bool,
    /// External URL of every host, `{addr}` replaced by its address (default http://ADDR:8080).
    pub external: Option<String>,
    /// `[health] ca_file` for https external URLs.
    pub ca_file: Option<PathBuf>,
    /// TOML value of `artifact.config` (config files shipped with the binary).
    pub config: String,
    /// `[rollout] lease_ttl_s`.
    pub lease_ttl_s: u64,
    /// `[remote] step_timeout_s`.
    pub step_timeout_s: u64,
}

impl Default for Inv {
    fn default() -> Self {
        Inv {
            transport: "ssh",
            tolerance: 0,
            dr: vec![],
            keep: 3,
            timeout_s: 20,
            admin: true,
            on_network: "stop",
            max_latency_ms: 250.0,
            batch_size: 2,
            parallelism: 4,
            known_hosts: None,
            lb_hosts: vec![],
            gray: vec![],
            lb: String::new(),
            auto_roles: false,
            external: None,
            ca_file: None,
            config: "[]".into(),
            lease_ttl_s: 120,
            step_timeout_s: 120,
        }
    }
}

impl Bed {
    /// Write an inventory for this bed into `dir` and return its path.
    pub fn inventory(&self, dir: &Path, artifact: &Path, inv: &Inv) -> PathBuf {
        let admin = if inv.admin {
            "admin = \"127.0.0.1:9901\"\nadmin_token_file = \"/srv/admin.token\"\n"
        } else {
            ""
        };
        let admin_args = if inv.admin {
            ", \"--admin\", \"127.0.0.1:9901\", \"--admin-token-file\", \"/srv/admin.token\""
        } else {
            ""
        };
        let mut t = format!(
            "[artifact]\nbinary = \"{}\"\nname = \"hotel-api\"\nconfig = {}\n\
             [remote]\ninstall_dir = \"/srv/hotel\"\nbackup_dir = \"/srv/hotel/backups\"\nkeep_backups = {}\nstep_timeout_s = {}\n\
             [service]\npid_file = \"/srv/hotel/run/hotel-api.pid\"\nport = 8080\n{admin}\
             args = [\"--listen\", \"0.0.0.0:{{port}}\", \"--data-dir\", \"{{install_dir}}/data\", \"--pid-file\", \"{{pid_file}}\", \"--ready-timeout\", \"3s\", \"--grace\", \"2s\"{admin_args}]\n\
             [health]\ntimeout_s = {}\ninterval_ms = 100\n{}\
             [thresholds]\nfailure_tolerance = {}\nmax_loss_pct = 5.0\nmax_latency_ms = {}\non_network = \"{}\"\n\
             [rollout]\nbatch_size = {}\nparallelism = {}\ncanary = true\nlease_ttl_s = {}\n\
             [env.bed]\ntransport = \"{}\"\nknown_hosts = \"{}\"\nidentity = \"{}\"\nhosts = [\n",
            artifact.display(), inv.config, inv.keep, inv.step_timeout_s, inv.timeout_s,
            inv.ca_file.as_ref().map(|c| format!("ca_file = \"{}\"\n", c.display())).unwrap_or_default(), inv.tolerance, inv.max_latency_ms, inv.on_network,
            inv.batch_size, inv.parallelism, inv.lease_ttl_s, inv.transport,
            inv.known_hosts.clone().unwrap_or_else(|| self.dir.join("known_hosts")).display(),
            self.dir.join("id_ed25519").display(),
        );
        for (k, h) in self.hosts.iter().enumerate() {
            let role = if inv.auto_roles {
                "auto"
            } else if inv.lb_hosts.contains(&k) {
                "lb"
            } else {
                "app"
            };
            t.push_str(&format!(
                "  {{ name = \"{}\", address = \"{}\", roles = [\"{role}\"], dr = {}, gray = {}{} }},\n",
                h.name,
                h.address,
                inv.dr.contains(&k),
                inv.gray.contains(&k),
                inv.external
                    .as_ref()
                    .map(|e| format!(", external_url = \"{}\"", e.replace("{addr}", &h.address)))
                    .unwrap_or_default()
            ));
        }
        t.push_str("]\n");
        if !inv.lb.is_empty() {
            t.push_str(&format!("[env.bed.lb]\n{}\n", inv.lb));
        }
        let p = dir.join("deploy.toml");
        std::fs::write(&p, t).unwrap();
        p
    }
}

/// Result of one deployctl run.
pub struct Run {
    pub code: i32,
    pub json: Value,
    pub stderr: String,
}

/// Start `deployctl -i INV --state-dir STATE --json ARGS` (not waited).
pub fn spawn(inv: &Path, state: &Path, args: &[&str]) -> std::process::Child {
    spawn_env(inv, state, args, &[])
}

/// [`spawn`] with extra environment variables.
pub fn spawn_env(
    inv: &Path,
    state: &Path,
    args: &[&str],
    envs: &[(&str, &str)],
) -> std::process::Child {
    // deployctl's temporary files (SSH control directories) go next to the state dir, inside
    // the test's own temporary directory: a run the test kills cannot leave them in /tmp.
    let tmp = state.with_file_name("tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    Command::new(env!("CARGO_BIN_EXE_deployctl"))
        .env("TMPDIR", &tmp)
        .envs(envs.iter().copied())
        .arg("-i")
        .arg(inv)
        .arg("--state-dir")
        .arg(state)
        .arg("--json")
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Wait for `child` at most `limit`; kill it (by its pid) past that and fail the test.
pub fn finish(mut child: std::process::Child, limit: Duration) -> Run {
    let t0 = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if t0.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("deployctl did not finish within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    Run {
        code: out.status.code().unwrap_or(-1),
        json: serde_json::from_str(&stdout).unwrap_or(Value::Null),
        stderr: String::from_utf8_lossy(&out.stderr).to_string(),
    }
}

/// Run deployctl to completion (bounded by 240 s).
pub fn deployctl(inv: &Path, state: &Path, args: &[&str]) -> Run {
    finish(spawn(inv, state, args), Duration::from_secs(240))
}

/// `GET base/version` build id, through the bed's network.
pub fn served_build(address: &str) -> Option<String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let r = deployctl::observe::get_url(
            &format!("http://{address}:8080"),
            "/version",
            Duration::from_secs(3),
        )
        .await
        .ok()?;
        let v: Value = serde_json::from_str(&r.body).ok()?;
        Some(v["build_id"].as_str()?.to_string())
    })
}

/// Files in `dir` (names), sorted; empty when missing.
pub fn ls(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}
