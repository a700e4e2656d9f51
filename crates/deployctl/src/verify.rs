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

/// Both answers for `path`: through the tunnel, then through the external URL (at once).
async fn both(
    r: &RemoteHost,
    env: &Environment,
    path: &str,
) -> Result<(Response, Response), String> {
    let external = async {
        probe::get_url_ca(
            &r.host.external_url,
            path,
            PROBE_TIMEOUT,
            env.health.ca_file.as_deref(),
        )
        .await
        .map_err(|e| e.to_string())
    };
    let (t, e) = tokio::join!(via_tunnel(r, env.service.port, path), external);
    Ok((t?, e?))
}

/// One round of every check, all requests at once; `Err` names the first that failed, in
/// the order ready, ping, version (tunnel before external).
pub async fn check_once(
    r: &RemoteHost,
    env: &Environment,
    expected: &str,
) -> Result<BuildInfo, String> {
    let h = &env.health;
    let mut served = None;
    let paths = [&h.ready, &h.ping, &h.version];
    let answers = crate::fleet::futures_join_all(paths.map(|p| both(r, env, p))).await;
    for (path, answer) in paths.into_iter().zip(answers) {
        let (t, e) = answer?;
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

/// The pause after failed attempt `n` (from 1): 20 ms, doubling up to `interval_ms`. Right after
/// a restart the old worker may still answer a connection or two while it drains (its build
/// is then seen once): a short first pause keeps that from costing a whole interval.
fn pause(n: u32, interval_ms: u64) -> Duration {
    let ms = 20u64.saturating_mul(1 << (n - 1).min(16));
    Duration::from_millis(ms.min(interval_ms))
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
            Err(_) => tokio::time::sleep(pause(attempts, env.health.interval_ms)).await,
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

#[cfg(test)]
mod tests {
    #[test]
    fn pauses_double_from_20_ms_up_to_the_interval() {
        let p = |n| super::pause(n, 200).as_millis();
        assert_eq!(
            [p(1), p(2), p(3), p(4), p(5), p(40)],
            [20, 40, 80, 160, 200, 200]
        );
        assert_eq!(
            super::pause(1, 5).as_millis(),
            5,
            "never above the interval"
        );
    }
}
