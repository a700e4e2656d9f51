//! Role detection from what runs on a host: listening TCP sockets read from `/proc/net/tcp*`
//! (per network namespace, so correct on shared-kernel test hosts), the processes that own
//! them (found by socket inode under `/proc/PID/fd`), plus our master's pid file.
//! nginx or haproxy listening on 80/443 => load balancer (any other program on those ports is
//! not one); our service port or a live master => app; PostgreSQL/MySQL/Redis/MongoDB ports
//! => database.

use crate::inventory::{Environment, Role};
use crate::remote::{HostError, Layout, RemoteHost};
use crate::service;
use std::collections::BTreeSet;

/// Ports a load balancer serves on.
pub const LB_PORTS: [u16; 2] = [80, 443];

/// (port, socket inode) of every listening socket (state 0A) in `/proc/net/tcp` / `tcp6` text.
pub fn listening(proc_net_tcp: &str) -> Vec<(u16, String)> {
    proc_net_tcp
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            if f.len() > 9 && f[3] == "0A" {
                let port = u16::from_str_radix(f[1].rsplit_once(':')?.1, 16).ok()?;
                Some((port, f[9].to_string()))
            } else {
                None
            }
        })
        .collect()
}

/// Listening ports in `/proc/net/tcp` / `tcp6` text.
pub fn listening_ports(proc_net_tcp: &str) -> BTreeSet<u16> {
    listening(proc_net_tcp)
        .into_iter()
        .map(|(p, _)| p)
        .collect()
}

/// Is `comm` (a process name from `/proc/PID/comm`) a load balancer deployctl drives?
pub fn is_lb_program(comm: &str) -> bool {
    matches!(comm.trim(), "nginx" | "haproxy")
}

/// Roles implied by listening ports, whether nginx/haproxy is what listens on 80/443, and
/// whether our master runs.
pub fn roles_from(
    ports: &BTreeSet<u16>,
    lb_listens: bool,
    service_port: u16,
    master_alive: bool,
) -> Vec<Role> {
    let mut roles = Vec::new();
    if lb_listens {
        roles.push(Role::Lb);
    }
    if master_alive || ports.contains(&service_port) {
        roles.push(Role::App);
    }
    if [5432, 3306, 6379, 27017].iter().any(|p| ports.contains(p)) {
        roles.push(Role::Db);
    }
    roles
}

/// Names of the processes owning the sockets with these inodes (`inode comm` lines).
const OWNERS: &str = r#"set -eu
for i in "$@"; do
  for fd in $(find /proc/[0-9]*/fd -lname "socket:\[$i\]" 2>/dev/null || true); do
    p=${fd#/proc/}; p=${p%%/*}
    printf '%s %s\n' "$i" "$(cat "/proc/$p/comm" 2>/dev/null || echo '?')"
  done
done"#;

/// Programs listening on the LB ports (by name; unknown owners are not listed).
async fn lb_port_programs(r: &RemoteHost, tcp: &str) -> Result<Vec<String>, HostError> {
    let inodes: Vec<String> = listening(tcp)
        .into_iter()
        .filter(|(p, _)| LB_PORTS.contains(p))
        .map(|(_, i)| i)
        .collect();
    if inodes.is_empty() {
        return Ok(vec![]);
    }
    let args: Vec<&str> = inodes.iter().map(String::as_str).collect();
    let out = r
        .script(
            "owners of :80/:443",
            &crate::scripts::Script::inline(OWNERS),
            &args,
        )
        .await?;
    Ok(out
        .lines()
        .filter_map(|l| l.split_once(' ').map(|(_, c)| c.trim().to_string()))
        .collect())
}

/// Inventory roles when given, else detected ones (an empty host counts as a new app host).
pub async fn roles(r: &RemoteHost, env: &Environment) -> Result<(Vec<Role>, bool), HostError> {
    if !r.host.roles.is_empty() {
        return Ok((r.host.roles.clone(), false));
    }
    let tcp = r
        .script(
            "read /proc/net/tcp",
            &crate::scripts::Script::inline("cat /proc/net/tcp /proc/net/tcp6 2>/dev/null || true"),
            &[],
        )
        .await?;
    let lb = lb_port_programs(r, &tcp)
        .await?
        .iter()
        .any(|c| is_lb_program(c));
    let alive = service::master(r, &env.service, &Layout::of(env))
        .await?
        .is_some();
    let mut found = roles_from(&listening_ports(&tcp), lb, env.service.port, alive);
    if found.is_empty() {
        found.push(Role::App);
    }
    Ok((found, true))
}

#[cfg(test)]
mod tests {
    use super::*;

    const TCP: &str = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1 0000000000000000 100 0 0 10 0
   1: 0100007F:0050 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 2 1 0000000000000000 100 0 0 10 0
   2: 0100007F:1538 0100007F:9C40 01 00000000:00000000 00:00000000 00000000     0        0 3 1 0000000000000000 100 0 0 10 0
";

    #[test]
    fn parses_listening_ports_only() {
        let ports = listening_ports(TCP);
        assert_eq!(ports.into_iter().collect::<Vec<_>>(), vec![80, 8080]);
    }

    #[test]
    fn maps_ports_to_roles() {
        let ports = listening_ports(TCP);
        assert_eq!(
            roles_from(&ports, true, 8080, false),
            vec![Role::Lb, Role::App]
        );
        assert_eq!(
            roles_from(&ports, false, 8080, false),
            vec![Role::App],
            "80 alone is no LB"
        );
        let db: BTreeSet<u16> = [5432].into();
        assert_eq!(roles_from(&db, false, 8080, false), vec![Role::Db]);
        assert_eq!(
            roles_from(&BTreeSet::new(), false, 8080, true),
            vec![Role::App]
        );
        assert_eq!(
            listening(TCP),
            vec![(8080, "1".to_string()), (80, "2".to_string())]
        );
        assert!(is_lb_program("nginx\n") && is_lb_program("haproxy"));
        assert!(!is_lb_program("python3") && !is_lb_program("nginx-proxy"));
    }
}
