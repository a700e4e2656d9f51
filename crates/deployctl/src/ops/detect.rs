//! `detect`: the roles of every host (from the inventory, or detected from what runs there).

use crate::fleet::{self, close_all};
use crate::inventory::{Environment, Role};
use serde::Serialize;

/// One host in `detect`.
#[derive(Debug, Clone, Serialize)]
pub struct Detected {
    pub host: String,
    pub roles: Vec<Role>,
    pub detected: bool,
    pub error: Option<String>,
}

/// Roles of every host of `env`.
pub async fn detect(env: &Environment) -> Vec<Detected> {
    let conns = fleet::connect_all(env).await;
    let futs = env.hosts.iter().zip(conns.iter()).map(|(h, c)| async move {
        match c {
            Err(e) => Detected {
                host: h.name.clone(),
                roles: vec![],
                detected: false,
                error: Some(e.to_string()),
            },
            Ok(r) => match crate::detect::roles(r, env).await {
                Ok((roles, detected)) => Detected {
                    host: h.name.clone(),
                    roles,
                    detected,
                    error: None,
                },
                Err(e) => Detected {
                    host: h.name.clone(),
                    roles: vec![],
                    detected: false,
                    error: Some(e.to_string()),
                },
            },
        }
    });
    let out = fleet::futures_join_all(futs).await;
    let hosts: Vec<_> = conns.into_iter().filter_map(Result::ok).collect();
    close_all(&hosts).await;
    out
}
