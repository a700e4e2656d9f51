//! Proof that a host serves a given build: `/ready` and `/ping` answer 200 through an SSH
//! tunnel to the host's loopback AND through the external URL, and `/version` reports the
//! expected `build_id` on both paths. Retried until the inventory's timeout (120 s default).

use crate::inventory::{Environment, Host};
use crate::probe::{self, BuildInfo, Response};
use crate::remote::{HostError, RemoteHost};
use std::time::{Duration, Instant};

const PROBE_TIMEOUT: Duration = Duration::from_secs(3);

/// What the host served once verified.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Verified {
    pub build: BuildInfo,
    pub attempts: u32,
    pub elapsed_ms: u128,
}

async fn via_tunnel(r: &RemoteHost, port: u16, path: &str) -> Result<Response, String> {
    let what = format!("{path} via tunnel");
    let fut = async {
        let s = r.t.tunnel(port).await.map_err(|e| e.to_string())?;
        probe::request(s, "GET", "localhost", path, &what)
            .await
            .map_err(|e| e.to_string())
    };
    tokio::time::timeout(PROBE_TIMEOUT, fut)
        .await
        .map_err(|_| format!("{what}: timed out"))?
}

/// One round of every check; `Err` names the first that failed.
pub async fn check_once(
    r: &RemoteHost,
    env: &Environment,
    expected: &str,
) -> Result<BuildInfo, String> {
    let h = &env.health;
    let port = env.service.port;
    let mut served = None;
    for path in [&h.ready, &h.ping, &h.version] {
        let t = via_tunnel(r, port, path).await?;
        let e = probe::get_url_ca(
            &r.host.external_url,
            path,
            PROBE_TIMEOUT,
            h.ca_file.as_deref(),
        )
        .await
        .map_err(|e| e.to_string())?;
        for (how, resp) in [("tunnel", &t), ("external", &e)] {
            if resp.status != 200 {
                return Err(format!(
                    "{path} via {how} -> {} {}",
                    resp.status,
                    resp.body.trim()
                ));
            }
        }
        if path == &h.version {
            for (how, resp) in [("tunnel", &t), ("external", &e)] {
                let b: BuildInfo = serde_json::from_str(&resp.body)
                    .map_err(|err| format!("{path} via {how}: not build JSON: {err}"))?;
                if b.build_id != expected {
                    return Err(format!(
                        "{path} via {how} serves build {} (label `{}`), expected {expected}",
                        b.build_id, b.label
                    ));
                }
                served = Some(b);
            }
        }
    }
    served.ok_or_else(|| "no /version answer".to_string())
}

/// Retry [`check_once`] until it passes or `env.health.timeout_s` elapses.
pub async fn verify(
    r: &RemoteHost,
    env: &Environment,
    expected: &str,
) -> Result<Verified, HostError> {
    let start = Instant::now();
    let limit = Duration::from_secs(env.health.timeout_s);
    let mut attempts = 0;
    loop {
        attempts += 1;
        match check_once(r, env, expected).await {
            Ok(build) => {
                return Ok(Verified {
                    build,
                    attempts,
                    elapsed_ms: start.elapsed().as_millis(),
                })
            }
            Err(last) if start.elapsed() >= limit => {
                return Err(HostError::Check(format!(
                    "not verified after {}s ({attempts} attempts); last: {last}",
                    limit.as_secs()
                )))
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(env.health.interval_ms)).await,
        }
    }
}

/// Build currently served by `host` (tunnel first, external URL as fallback); for status.
pub async fn served(r: Option<&RemoteHost>, host: &Host, env: &Environment) -> Option<BuildInfo> {
    let path = &env.health.version;
    let resp = match r {
        Some(r) => via_tunnel(r, env.service.port, path).await.ok(),
        None => None,
    };
    let resp = match resp {
        Some(x) => Some(x),
        None => probe::get_url(&host.external_url, path, PROBE_TIMEOUT)
            .await
            .ok(),
    }?;
    serde_json::from_str(&resp.body).ok()
}
