//! From the raw `deploy.toml` to validated environments: each environment's sections (its
//! own or the top-level defaults), its hosts (names, addresses, roles, URLs), paths made
//! relative to the inventory file, then [`super::validate`]. Every error names file and line.

use super::raw::{RawEnv, RawFile, RawHost};
use super::{
    canonical_address, line_of, line_of_needle, valid_address, valid_name, validate, Environment,
    Host, InventoryError, Role, Rollout, TransportKind,
};
use std::collections::{BTreeMap, HashSet};
use std::net::IpAddr;
use std::ops::Range;
use std::path::{Path, PathBuf};
use toml::Spanned;

/// The inventory text being resolved, for errors with a line.
struct Source<'a> {
    path: &'a Path,
    text: &'a str,
}

impl Source<'_> {
    fn invalid(&self, span: Option<Range<usize>>, reason: String) -> InventoryError {
        InventoryError::Invalid {
            file: self.path.to_path_buf(),
            line: span.map(|s| line_of(self.text, s.start)).unwrap_or(1),
            reason,
        }
    }
}

/// Parse and validate inventory `text`; `path` names it in errors and anchors relative paths.
pub(super) fn environments(
    path: &Path,
    text: &str,
) -> Result<BTreeMap<String, Environment>, InventoryError> {
    let src = Source { path, text };
    let raw: RawFile =
        toml::from_str(text).map_err(|e| src.invalid(e.span(), e.message().trim().to_string()))?;
    if raw.env.is_empty() {
        return Err(src.invalid(None, "no environment defined (add [env.NAME])".into()));
    }
    let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let mut envs = BTreeMap::new();
    for (name, renv) in &raw.env {
        let env = environment(&src, &raw, name, renv, &base)?;
        if let Err(r) = validate::environment(&env) {
            let start = renv.span().start;
            let at = line_of_needle(text, start, &r.needle).unwrap_or_else(|| line_of(text, start));
            return Err(InventoryError::Invalid {
                file: path.to_path_buf(),
                line: at,
                reason: format!("environment `{}`: {}", env.name, r.reason),
            });
        }
        envs.insert(env.name.clone(), env);
    }
    Ok(envs)
}

/// One environment: its sections (own or top-level), hosts and paths.
fn environment(
    src: &Source<'_>,
    raw: &RawFile,
    name: &str,
    spanned: &Spanned<RawEnv>,
    base: &Path,
) -> Result<Environment, InventoryError> {
    let env_span = spanned.span();
    let renv = spanned.get_ref();
    if !valid_name(name) {
        return Err(src.invalid(
            Some(env_span),
            format!("bad environment name {name:?} (letters, digits, '-', '_', '.')"),
        ));
    }
    let missing = |what: &str| {
        src.invalid(
            Some(env_span.clone()),
            format!("environment `{name}` has no [{what}] (neither its own nor a top-level one)"),
        )
    };
    let mut artifact = or(&renv.artifact, &raw.artifact).ok_or_else(|| missing("artifact"))?;
    let remote = or(&renv.remote, &raw.remote).ok_or_else(|| missing("remote"))?;
    let service = or(&renv.service, &raw.service).ok_or_else(|| missing("service"))?;
    let mut health = or(&renv.health, &raw.health).unwrap_or_default();
    let thresholds = or(&renv.thresholds, &raw.thresholds).unwrap_or_default();
    let rollout: Rollout = or(&renv.rollout, &raw.rollout).unwrap_or_default();
    let lb = or(&renv.lb, &raw.lb).unwrap_or_default();
    let gray = or(&renv.gray, &raw.gray).unwrap_or_default();
    if rollout.batch_size == 0 || rollout.parallelism == 0 {
        return Err(src.invalid(
            Some(env_span.clone()),
            format!(
                "environment `{name}`: rollout.batch_size and rollout.parallelism must be >= 1"
            ),
        ));
    }
    if renv.hosts.is_empty() {
        return Err(src.invalid(Some(env_span), format!("environment `{name}` has no hosts")));
    }
    let hosts = hosts(src, name, renv, (service.port, lb.listen))?;
    let rel = |p: &Option<PathBuf>| p.as_ref().map(|p| base.join(p));
    health.ca_file = rel(&health.ca_file);
    artifact.binary = base.join(&artifact.binary);
    for c in &mut artifact.config {
        c.src = base.join(&c.src);
    }
    Ok(Environment {
        name: name.to_string(),
        transport: renv.transport.unwrap_or(TransportKind::Ssh),
        known_hosts: rel(&renv.known_hosts),
        identity: rel(&renv.identity),
        ssh_config: rel(&renv.ssh_config),
        hosts,
        artifact,
        remote,
        service,
        health,
        thresholds,
        rollout,
        lb,
        gray,
    })
}

/// An environment's own section, else the top-level one.
fn or<T: Clone>(own: &Option<T>, top: &Option<T>) -> Option<T> {
    own.as_ref().or(top.as_ref()).cloned()
}

/// The hosts of environment `env`: valid, unique names and addresses.
fn hosts(
    src: &Source<'_>,
    env: &str,
    renv: &RawEnv,
    ports: (u16, u16),
) -> Result<Vec<Host>, InventoryError> {
    let mut seen = HashSet::new();
    let mut addresses = HashSet::new();
    let mut hosts = Vec::new();
    for rh in &renv.hosts {
        let hname = rh.name.get_ref().clone();
        if !valid_name(&hname) {
            return Err(src.invalid(
                Some(rh.name.span()),
                format!("bad host name `{hname}` (letters, digits, '-', '_', '.')"),
            ));
        }
        if !seen.insert(hname.clone()) {
            return Err(src.invalid(
                Some(rh.name.span()),
                format!("duplicate host `{hname}` in environment `{env}`"),
            ));
        }
        let address = rh.address.get_ref();
        if !valid_address(address) {
            return Err(src.invalid(
                Some(rh.address.span()),
                format!("bad address `{address}` for host `{hname}` (expected an IP address or a DNS name)"),
            ));
        }
        if !addresses.insert(canonical_address(address)) {
            return Err(src.invalid(
                Some(rh.address.span()),
                format!("duplicate address `{address}` (host `{hname}`) in environment `{env}`: one machine would be deployed twice at once"),
            ));
        }
        hosts.push(host(rh, renv, ports));
    }
    Ok(hosts)
}

/// One host with its defaults: user and port from the environment, roles `auto` = detect,
/// external URL from the address and the service port, or for a load balancer (roles `lb`
/// without `app`) the `[lb] listen` port: what its clients use.
fn host(rh: &RawHost, renv: &RawEnv, (service_port, lb_port): (u16, u16)) -> Host {
    let address = rh.address.get_ref().clone();
    let roles = match &rh.roles {
        None => vec![],
        Some(r) if r.contains(&Role::Auto) => vec![],
        Some(r) => r.clone(),
    };
    let url_host = match address.parse::<IpAddr>() {
        Ok(IpAddr::V6(_)) => format!("[{address}]"),
        _ => address.clone(),
    };
    let lb_only = roles.contains(&Role::Lb) && !roles.contains(&Role::App);
    let port = if lb_only { lb_port } else { service_port };
    Host {
        external_url: rh
            .external_url
            .clone()
            .unwrap_or_else(|| format!("http://{url_host}:{port}"))
            .trim_end_matches('/')
            .to_string(),
        name: rh.name.get_ref().clone(),
        address,
        user: rh
            .user
            .clone()
            .or(renv.user.clone())
            .unwrap_or_else(|| "root".into()),
        port: rh.port.or(renv.port).unwrap_or(22),
        roles,
        dr: rh.dr,
        gray: rh.gray,
    }
}
