//! Role detection from what runs on a host: listening TCP sockets read from `/proc/net/tcp*`
//! (per network namespace, so correct on shared-kernel test hosts), the processes that own
//! them (found by socket inode under `/proc/PID/fd`; for a login user who cannot read another
//! user's fds, the LB's pid file naming a live process whose network namespace lists the
//! socket), plus our master's pid file.
//! nginx or haproxy listening on 80/443 or on `[lb] listen` => load balancer (any other program
//! on those ports is not one); our service port or a live master => app; PostgreSQL/MySQL/Redis/MongoDB ports
//! => database.

use crate::inventory::{Environment, Role};
use crate::remote::{HostError, Layout, RemoteHost};
use crate::scripts::detect as sh;
use crate::service;
use std::collections::BTreeSet;

/// Ports a load balancer serves on, besides `[lb] listen`.
pub const LB_PORTS: [u16; 2] = [80, 443];

/// The ports an LB of this environment may listen on: 80, 443 and `[lb] listen`.
pub fn lb_ports(listen: u16) -> Vec<u16> {
    let mut v = LB_PORTS.to_vec();
    if !v.contains(&listen) {
        v.push(listen);
    }
    v
}

/// Listening ports of (port, socket inode) pairs.
pub fn listening_ports(socks: &[(u16, String)]) -> BTreeSet<u16> {
    socks.iter().map(|(p, _)| *p).collect()
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

/// Programs listening on the LB ports `ports` (by name; unknown owners are not listed). A
/// login user who cannot see the owner's file descriptors (an LB run by root) gets the
/// process `lb_pid_file` names when its network namespace lists the socket
/// (detect_owners.sh).
async fn lb_port_programs(
    r: &RemoteHost,
    socks: &[(u16, String)],
    ports: &[u16],
    lb_pid_file: &str,
) -> Result<Vec<String>, HostError> {
    let inodes: Vec<String> = socks
        .iter()
        .filter(|(p, _)| ports.contains(p))
        .map(|(_, i)| i.clone())
        .collect();
    if inodes.is_empty() {
        return Ok(vec![]);
    }
    let args: Vec<&str> = std::iter::once(lb_pid_file)
        .chain(inodes.iter().map(String::as_str))
        .collect();
    let out = r
        .script("owners of the LB ports", &sh::OWNERS, &args)
        .await?;
    Ok(sh::parse_owners(&out)?
        .into_iter()
        .filter_map(|(_, comm)| comm)
        .collect())
}

/// Inventory roles when given, else detected ones (an empty host counts as a new app host).
pub async fn roles(r: &RemoteHost, env: &Environment) -> Result<(Vec<Role>, bool), HostError> {
    if !r.host.roles.is_empty() {
        return Ok((r.host.roles.clone(), false));
    }
    let out = r
        .script("read /proc/net/tcp", &sh::LISTEN, &sh::PROC_NET_TCP)
        .await?;
    let socks = sh::parse_listen(&out)?;
    let lb_pid = env.lb.pid_file();
    let lb = lb_port_programs(r, &socks, &lb_ports(env.lb.listen), &lb_pid)
        .await?
        .iter()
        .any(|c| is_lb_program(c));
    let alive = service::master(r, &env.service, &Layout::of(env))
        .await?
        .is_some();
    let mut found = roles_from(&listening_ports(&socks), lb, env.service.port, alive);
    if found.is_empty() {
        found.push(Role::App);
    }
    Ok((found, true))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sockets as the listen script reports them (its own test reads real /proc text).
    fn socks() -> Vec<(u16, String)> {
        vec![(8080, "1".to_string()), (80, "2".to_string())]
    }

    #[test]
    fn parses_listening_ports_only() {
        let ports = listening_ports(&socks());
        assert_eq!(ports.into_iter().collect::<Vec<_>>(), vec![80, 8080]);
    }

    #[test]
    fn maps_ports_to_roles() {
        let ports = listening_ports(&socks());
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
        assert!(is_lb_program("nginx\n") && is_lb_program("haproxy"));
        assert!(!is_lb_program("python3") && !is_lb_program("nginx-proxy"));
    }
}
