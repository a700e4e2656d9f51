//! `status`: per host, roles, the build served, master pid and generation, backups, and on
//! load balancers the routing in force.

use crate::backup;
use crate::fleet::{self, close_all};
use crate::inventory::{Environment, Role};
use crate::remote::{HostError, Layout};
use crate::service;
use crate::verify;
use serde::Serialize;

/// One host in `status`.
#[derive(Debug, Clone, Serialize)]
pub struct HostStatus {
    pub host: String,
    pub address: String,
    pub reachable: bool,
    pub error: Option<String>,
    pub roles: Vec<Role>,
    pub master_pid: Option<u32>,
    pub build_id: Option<String>,
    pub label: Option<String>,
    pub generation: Option<u64>,
    pub backups: Vec<String>,
    /// On load balancers: the routing in force.
    pub lb: Option<LbStatus>,
}

pub use crate::lbview::LbStatus;

/// Per host: roles, build served, master pid and generation, backups.
pub async fn status(env: &Environment) -> Vec<HostStatus> {
    let conns = fleet::connect_all(env).await;
    let l = Layout::of(env);
    let futs = env.hosts.iter().zip(conns.iter()).map(|(h, c)| {
        let l = &l;
        async move {
            let mut st = HostStatus {
                host: h.name.clone(),
                address: h.address.clone(),
                reachable: false,
                error: None,
                roles: vec![],
                master_pid: None,
                build_id: None,
                label: None,
                generation: None,
                backups: vec![],
                lb: None,
            };
            let r = match c {
                Ok(r) => r,
                Err(e) => {
                    st.error = Some(e.to_string());
                    return st;
                }
            };
            st.reachable = true;
            let inner = async {
                st.roles = crate::detect::roles(r, env).await?.0;
                st.master_pid = service::master(r, &env.service, l).await?.map(|m| m.pid);
                if st.roles.contains(&Role::Lb) {
                    st.lb = Some(crate::lbview::status(r, &env.lb).await?);
                }
                st.backups = backup::list(r, l)
                    .await?
                    .into_iter()
                    .map(|b| b.id)
                    .collect();
                Ok::<_, HostError>(())
            };
            if let Err(e) = inner.await {
                st.error = Some(e.to_string());
            }
            if let Some(b) = verify::served(Some(r), h, env).await {
                st.build_id = Some(b.build_id);
                st.label = Some(b.label);
                st.generation = b.generation;
            }
            st
        }
    });
    let out = fleet::futures_join_all(futs).await;
    let hosts: Vec<_> = conns.into_iter().filter_map(Result::ok).collect();
    close_all(&hosts).await;
    out
}
