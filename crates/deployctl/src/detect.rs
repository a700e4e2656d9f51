//! Role detection from what runs on a host: listening TCP ports read from `/proc/net/tcp*`
//! (per network namespace, so correct on shared-kernel test hosts) plus our master's pid file.
//! nginx on 80/443 => load balancer; our service port or a live master => app;
//! PostgreSQL/MySQL/Redis/MongoDB ports => database.

use crate::inventory::{Environment, Role};
use crate::remote::{HostError, Layout, RemoteHost};
use crate::service;
use std::collections::BTreeSet;

/// Listening ports in `/proc/net/tcp` / `tcp6` text (state 0A).
pub fn listening_ports(proc_net_tcp: &str) -> BTreeSet<u16> {
    proc_net_tcp
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            if f.len() > 3 && f[3] == "0A" {
                let port = f[1].rsplit_once(':')?.1;
                u16::from_str_radix(port, 16).ok()
            } else {
                None
            }
        })
        .collect()
}

/// Roles implied by listening ports and whether our master runs.
pub fn roles_from(ports: &BTreeSet<u16>, service_port: u16, master_alive: bool) -> Vec<Role> {
    let mut roles = Vec::new();
    if ports.contains(&80) || ports.contains(&443) {
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

/// Inventory roles when given, else detected ones (an empty host counts as a new app host).
pub async fn roles(r: &RemoteHost, env: &Environment) -> Result<(Vec<Role>, bool), HostError> {
    if !r.host.roles.is_empty() {
        return Ok((r.host.roles.clone(), false));
    }
    let tcp = r
        .script(
            "read /proc/net/tcp",
            "cat /proc/net/tcp /proc/net/tcp6 2>/dev/null; true",
            &[],
        )
        .await?;
    let alive = service::master(r, &env.service, &Layout::of(env))
        .await?
        .is_some();
    let mut found = roles_from(&listening_ports(&tcp), env.service.port, alive);
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
        assert_eq!(roles_from(&ports, 8080, false), vec![Role::Lb, Role::App]);
        let db: BTreeSet<u16> = [5432].into();
        assert_eq!(roles_from(&db, 8080, false), vec![Role::Db]);
        assert_eq!(roles_from(&BTreeSet::new(), 8080, true), vec![Role::App]);
    }
}
