//! The test bed (scripts/testbed.sh): network + mount + UTS namespaces as hosts, one real
//! OpenSSH server per host, each host's /srv a directory of this machine. Torn down on drop,
//! by the names it created.

use crate::bins::repo;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

static SEQ: AtomicUsize = AtomicUsize::new(0);

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
    /// `DEPLOYCTL_TESTBED_ROOT` when not the script's default.
    root: Option<PathBuf>,
}

fn testbed(root: Option<&Path>) -> Command {
    let mut c = Command::new(repo().join("scripts/testbed.sh"));
    if let Some(r) = root {
        c.env("DEPLOYCTL_TESTBED_ROOT", r);
    }
    c
}

impl Bed {
    /// Bring up `n` hosts under a name unique to this test process.
    pub fn up(n: usize) -> Bed {
        Bed::start(n, None)
    }

    /// [`Bed::up`] with the bed's state under `root` instead of the script's default.
    pub fn up_in(root: &Path, n: usize) -> Bed {
        Bed::start(n, Some(root.to_path_buf()))
    }

    fn start(n: usize, root: Option<PathBuf>) -> Bed {
        let name = format!(
            "b{}x{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::SeqCst)
        );
        let out = testbed(root.as_deref())
            .args(["up", &n.to_string(), "--name", &name])
            .output()
            .expect("run testbed.sh");
        // From here on the drop tears down whatever was made, also when `up` failed.
        let mut bed = Bed {
            name,
            dir: PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()),
            hosts: vec![],
            root,
        };
        assert!(
            out.status.success(),
            "testbed up failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        bed.hosts = std::fs::read_to_string(bed.dir.join("hosts"))
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
        bed
    }

    /// Addresses of the hosts, in bed order.
    pub fn addresses(&self) -> Vec<String> {
        self.hosts.iter().map(|h| h.address.clone()).collect()
    }

    /// The host's own /srv as seen from the root mount namespace.
    pub fn srv(&self, k: usize) -> PathBuf {
        self.dir.join(format!("h{}/srv", k + 1))
    }

    /// Prepare every host for the unprivileged login `user` (the bed's `deploy`, see
    /// scripts/testbed.sh): the install dir `/srv/hotel` (with the backups under it) is theirs
    /// and so is the masters' admin token, which the service they start reads. `/srv` itself
    /// stays root's.
    pub fn own_install_dirs(&self, user: &str) {
        for k in 0..self.hosts.len() {
            let (srv, hotel) = (self.srv(k), self.srv(k).join("hotel"));
            std::fs::create_dir_all(&hotel).unwrap();
            let st = Command::new("chown")
                .arg(format!("{user}:{user}"))
                .arg(&hotel)
                .arg(srv.join("admin.token"))
                .status()
                .unwrap();
            assert!(st.success(), "chown {user} on host {k}");
        }
    }

    /// Whether nothing was installed on host k: its `/srv` holds only what the bed put there
    /// (the masters' `admin.token`).
    pub fn untouched(&self, k: usize) -> bool {
        crate::ls(&self.srv(k)) == ["admin.token"]
    }

    fn sshd_log_lines(&self, k: usize, prefix: &str) -> usize {
        std::fs::read_to_string(self.dir.join(format!("h{}/sshd.log", k + 1)))
            .unwrap_or_default()
            .lines()
            .filter(|l| l.starts_with(prefix))
            .count()
    }

    /// SSH logins the host's sshd accepted so far.
    pub fn logins(&self, k: usize) -> usize {
        self.sshd_log_lines(k, "Accepted publickey")
    }

    /// TCP connections the host's sshd saw so far.
    pub fn connections(&self, k: usize) -> usize {
        self.sshd_log_lines(k, "Connection from")
    }

    /// Pid of host k's listening sshd.
    pub fn sshd_pid(&self, k: usize) -> u32 {
        std::fs::read_to_string(self.dir.join(format!("h{}/sshd.pid", k + 1)))
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    }

    /// Drop `pct` % of the packets entering host k (0 removes the loss).
    pub fn loss(&self, k: usize, pct: u32) {
        let st = testbed(self.root.as_deref())
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
            .args(["-t", &self.sshd_pid(k).to_string(), "-m", "--"])
            .args(["mount", "--bind"])
            .arg(&file)
            .arg("/etc/passwd")
            .status()
            .unwrap();
        assert!(st.success(), "bind-mount passwd on host {k}");
    }

    /// Run `script` with `sh -c` in the mount namespace of host k.
    pub fn in_host(&self, k: usize, script: &str) {
        let st = Command::new("nsenter")
            .args([
                "-t",
                &self.sshd_pid(k).to_string(),
                "-m",
                "sh",
                "-c",
                script,
            ])
            .status()
            .unwrap();
        assert!(st.success(), "{script}");
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

    /// Run `argv` inside host k's network namespace and return its stdout.
    pub fn output_in(&self, k: usize, argv: &[&str]) -> Vec<u8> {
        Command::new("ip")
            .args(["netns", "exec", &self.hosts[k].netns])
            .args(argv)
            .output()
            .unwrap()
            .stdout
    }

    /// Wait (bounded) until something accepts TCP connections on host k's `port`.
    pub fn wait_listening(&self, k: usize, port: u16) {
        let addr: std::net::SocketAddr =
            format!("{}:{port}", self.hosts[k].address).parse().unwrap();
        crate::wait_for(
            &format!("{addr} listening"),
            Duration::from_secs(20),
            || std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok(),
        );
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

    /// Drops host k's inbound SSH traffic above `mbytes` MB/s (nftables table `dctl_rate`),
    /// so an upload is observable mid-way.
    pub fn limit_ssh(&self, k: usize, mbytes: u32) {
        let rate = mbytes.to_string();
        let chain = "{ type filter hook input priority 0; policy accept; }";
        self.nft(k, &["add", "table", "inet", "dctl_rate"]);
        self.nft(k, &["add", "chain", "inet", "dctl_rate", "input", chain]);
        self.nft(
            k,
            &[
                "add",
                "rule",
                "inet",
                "dctl_rate",
                "input",
                "tcp",
                "dport",
                "22",
                "limit",
                "rate",
                "over",
                &rate,
                "mbytes/second",
                "drop",
            ],
        );
    }

    /// The admin `/status` of host k's master (asked inside its namespace with curl), or
    /// `Null` when it does not answer.
    pub fn admin_status(&self, k: usize) -> serde_json::Value {
        let url = format!(
            "http://127.0.0.1:{}/status",
            crate::inventory::BED_ADMIN_PORT
        );
        let out = self.output_in(k, &["curl", "-q", "-s", "-m", "5", &url]);
        serde_json::from_slice(&out).unwrap_or(serde_json::Value::Null)
    }

    /// The build id host k serves on its service port (`GET /version`), `None` when nothing
    /// answers.
    pub fn served_build(&self, k: usize) -> Option<String> {
        served_build(&self.hosts[k].address)
    }
}

/// `GET http://ADDRESS:8080/version` build id, through the bed's network.
pub fn served_build(address: &str) -> Option<String> {
    let port = crate::inventory::BED_SERVICE_PORT;
    let r = crate::http::get_at(&format!("{address}:{port}"), "/version")?;
    let v: serde_json::Value = serde_json::from_str(&r.body).ok()?;
    Some(v["build_id"].as_str()?.to_string())
}

impl Drop for Bed {
    fn drop(&mut self) {
        let _ = testbed(self.root.as_deref())
            .args(["down", "--name", &self.name])
            .stderr(Stdio::null())
            .status();
    }
}
