//! Raw serde shapes of `deploy.toml` (before validation) and the defaults of optional keys.

use super::{
    Artifact, Health, NetworkPolicy, Remote, Role, Rollout, Service, Thresholds, TransportKind,
};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::PathBuf;
use toml::Spanned;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawFile {
    pub(super) artifact: Option<Artifact>,
    pub(super) remote: Option<Remote>,
    pub(super) service: Option<Service>,
    pub(super) health: Option<Health>,
    pub(super) thresholds: Option<Thresholds>,
    pub(super) rollout: Option<Rollout>,
    pub(super) lb: Option<crate::lb::LbSettings>,
    pub(super) gray: Option<crate::analysis::GraySettings>,
    #[serde(default)]
    pub(super) env: BTreeMap<String, Spanned<RawEnv>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawEnv {
    pub(super) transport: Option<TransportKind>,
    pub(super) user: Option<String>,
    pub(super) port: Option<u16>,
    pub(super) known_hosts: Option<PathBuf>,
    pub(super) identity: Option<PathBuf>,
    pub(super) ssh_config: Option<PathBuf>,
    pub(super) artifact: Option<Artifact>,
    pub(super) remote: Option<Remote>,
    pub(super) service: Option<Service>,
    pub(super) health: Option<Health>,
    pub(super) thresholds: Option<Thresholds>,
    pub(super) rollout: Option<Rollout>,
    pub(super) lb: Option<crate::lb::LbSettings>,
    pub(super) gray: Option<crate::analysis::GraySettings>,
    #[serde(default)]
    pub(super) hosts: Vec<RawHost>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawHost {
    pub(super) name: Spanned<String>,
    pub(super) address: Spanned<String>,
    pub(super) user: Option<String>,
    pub(super) port: Option<u16>,
    pub(super) roles: Option<Vec<Role>>,
    #[serde(default)]
    pub(super) dr: bool,
    #[serde(default)]
    pub(super) gray: bool,
    pub(super) external_url: Option<String>,
}

pub(super) fn default_keep() -> usize {
    3
}
pub(super) fn default_step_timeout() -> u64 {
    120
}
pub(super) fn default_lease_ttl() -> u64 {
    120
}
pub(super) fn default_host_deadline() -> u64 {
    900
}
pub(super) fn default_ready() -> String {
    "/ready".into()
}
pub(super) fn default_ping() -> String {
    "/ping".into()
}
pub(super) fn default_version() -> String {
    "/version".into()
}
pub(super) fn default_verify_timeout() -> u64 {
    120
}
pub(super) fn default_interval() -> u64 {
    200
}
pub(super) fn default_loss() -> f64 {
    5.0
}
pub(super) fn default_latency() -> f64 {
    250.0
}
pub(super) fn default_on_network() -> NetworkPolicy {
    NetworkPolicy::Stop
}
pub(super) fn default_batch() -> usize {
    2
}
pub(super) fn default_parallelism() -> usize {
    4
}
pub(super) fn default_true() -> bool {
    true
}

impl Default for Health {
    fn default() -> Self {
        toml::from_str("").expect("health defaults")
    }
}
impl Default for Thresholds {
    fn default() -> Self {
        toml::from_str("").expect("threshold defaults")
    }
}
impl Default for Rollout {
    fn default() -> Self {
        toml::from_str("").expect("rollout defaults")
    }
}
