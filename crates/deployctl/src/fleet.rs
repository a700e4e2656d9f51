//! Before anything changes: connect to every host (bounded parallelism), detect roles and
//! measure the network. Shared by `rollout`, `rollback`, `status`, `detect` and `netcheck`.

use crate::inventory::{Environment, Role, TransportKind};
use crate::netcheck::{self, NetStats, NetVerdict};
use crate::remote::RemoteHost;
use crate::transport::{self, ConnectOptions, TransportError};
use serde::Serialize;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Connections opened at the same time (at least; more when the rollout's parallelism is
/// higher): a bound on the controller's handshakes in flight, not on any one host.
pub const CONNECT_AT_ONCE: usize = 32;

/// Connect to every host of `env`; the first error per host is returned in place.
pub async fn connect_all(env: &Environment) -> Vec<Result<RemoteHost, TransportError>> {
    let opts = ConnectOptions::for_env(env);
    let sem = Arc::new(tokio::sync::Semaphore::new(
        env.rollout.parallelism.max(CONNECT_AT_ONCE),
    ));
    let futs = env.hosts.iter().map(|h| {
        let opts = opts.clone();
        let sem = sem.clone();
        async move {
            let _permit = sem.acquire().await.expect("semaphore");
            let t = transport::connect(&opts, h).await?;
            Ok(RemoteHost::new(h.clone(), t)
                .with_step_timeout(Duration::from_secs(env.remote.step_timeout_s)))
        }
    });
    futures_join_all(futs).await
}

/// Close every connection (each transport's master or session).
pub async fn close_all(hosts: &[RemoteHost]) {
    futures_join_all(hosts.iter().map(|r| r.t.close())).await;
}

/// Run `f` on every item, at most `limit` at once (the fan-out of batches and restores);
/// the outputs in the order of the items.
pub async fn bounded<I, F, Fut>(limit: usize, items: I, f: F) -> Vec<Fut::Output>
where
    I: IntoIterator,
    F: Fn(I::Item) -> Fut,
    Fut: std::future::Future,
{
    let sem = tokio::sync::Semaphore::new(limit);
    let (sem, f) = (&sem, &f);
    futures_join_all(items.into_iter().map(|x| async move {
        let _permit = sem.acquire().await.expect("semaphore");
        f(x).await
    }))
    .await
}

/// Await all futures concurrently, keeping order.
pub async fn futures_join_all<F: std::future::Future>(
    futs: impl IntoIterator<Item = F>,
) -> Vec<F::Output> {
    let futs: Vec<_> = futs.into_iter().map(Box::pin).collect();
    let mut out = Vec::with_capacity(futs.len());
    // Poll them together: a JoinSet would need 'static futures.
    let mut pending: Vec<_> = futs
        .into_iter()
        .enumerate()
        .map(|(i, f)| (i, Some(f)))
        .collect();
    let mut results: Vec<Option<F::Output>> = (0..pending.len()).map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut all_done = true;
        for (i, slot) in pending.iter_mut() {
            if let Some(f) = slot {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => {
                        results[*i] = Some(v);
                        *slot = None;
                    }
                    std::task::Poll::Pending => all_done = false,
                }
            }
        }
        if all_done {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    })
    .await;
    out.extend(results.into_iter().map(|r| r.expect("future completed")));
    out
}

/// Network figures and verdict of one host.
#[derive(Debug, Clone, Serialize)]
pub struct HostNet {
    pub host: String,
    pub stats: Option<NetStats>,
    pub verdict: NetVerdict,
    /// How long this host's probes took (name resolution, TCP and ICMP together).
    pub elapsed_ms: u128,
}

/// TCP connect probes per host: few, because each is a pre-authentication sshd process on
/// the host (a fleet's `MaxStartups` counts them); the loss figure comes mainly from ICMP.
pub const TCP_PROBES: u32 = 4;
/// Time between two TCP probes of one host.
pub const TCP_GAP: Duration = Duration::from_millis(50);
/// ICMP echoes per host (no cost on the host's sshd).
pub const ICMP_PROBES: u32 = 16;

/// Probe every host's SSH port ([`TCP_PROBES`] sequential TCP connects, [`TCP_GAP`] apart,
/// 600 ms bound: under the kernel's 1 s SYN retry, so a dropped SYN counts as lost) and, at
/// the same time, ping it ([`ICMP_PROBES`] echoes, see [`netcheck::ping`], where `ping` is
/// available). Host names
/// are resolved (with the ssh transport, through `ssh -G`, so ssh_config aliases work). Hosts
/// are probed concurrently; local hosts are skipped.
pub async fn netcheck_all(env: &Environment) -> Vec<HostNet> {
    let opts = ConnectOptions::for_env(env);
    let futs = env.hosts.iter().map(|h| {
        let opts = &opts;
        async move {
            let t0 = Instant::now();
            if env.transport == TransportKind::Local {
                return HostNet {
                    host: h.name.clone(),
                    stats: None,
                    verdict: NetVerdict {
                        ok: true,
                        reasons: vec!["local transport: no network".into()],
                    },
                    elapsed_ms: t0.elapsed().as_millis(),
                };
            }
            let (addr, port) = if env.transport == TransportKind::Ssh {
                transport::ssh::effective_target(opts, h).await
            } else {
                (h.address.clone(), h.port)
            };
            let (mut s, icmp) = tokio::join!(
                netcheck::probe(&addr, port, TCP_PROBES, TCP_GAP, Duration::from_millis(600),),
                netcheck::ping(&addr, ICMP_PROBES)
            );
            s.icmp = icmp;
            let verdict = netcheck::judge(&s, &env.thresholds);
            HostNet {
                host: h.name.clone(),
                stats: Some(s),
                verdict,
                elapsed_ms: t0.elapsed().as_millis(),
            }
        }
    });
    futures_join_all(futs).await
}

/// Roles of every connected host (inventory roles or detected).
pub async fn detect_all(
    env: &Environment,
    hosts: &[RemoteHost],
) -> Vec<Result<(Vec<Role>, bool), String>> {
    futures_join_all(hosts.iter().map(|r| async move {
        crate::detect::roles(r, env)
            .await
            .map_err(|e| e.to_string())
    }))
    .await
}

/// Canary alone first (when enabled), then batches of `batch_size`: indices into `hosts`.
pub fn plan_batches(n: usize, batch_size: usize, canary: bool) -> Vec<Vec<usize>> {
    let mut batches = Vec::new();
    let mut start = 0;
    if canary && n > 0 {
        batches.push(vec![0]);
        start = 1;
    }
    let idx: Vec<usize> = (start..n).collect();
    for chunk in idx.chunks(batch_size.max(1)) {
        batches.push(chunk.to_vec());
    }
    batches
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canary_then_batches() {
        assert_eq!(
            plan_batches(5, 2, true),
            vec![vec![0], vec![1, 2], vec![3, 4]]
        );
        assert_eq!(plan_batches(3, 5, false), vec![vec![0, 1, 2]]);
        assert_eq!(plan_batches(1, 2, true), vec![vec![0]]);
        assert!(plan_batches(0, 2, true).is_empty());
    }

    #[tokio::test]
    async fn join_all_keeps_order() {
        let v = futures_join_all((0..4u64).map(|i| async move {
            tokio::time::sleep(Duration::from_millis(40 - i * 10)).await;
            i
        }))
        .await;
        assert_eq!(v, vec![0, 1, 2, 3]);
    }

    #[tokio::test]
    async fn bounded_keeps_order_and_never_exceeds_its_limit() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let (running, most) = (AtomicUsize::new(0), AtomicUsize::new(0));
        let mut items: Vec<u64> = (0..7).collect();
        let out = bounded(3, items.iter_mut(), |x| {
            let (running, most) = (&running, &most);
            async move {
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(now, Ordering::SeqCst);
                // Yield so the others get polled while this one holds its permit.
                for _ in 0..3 {
                    tokio::task::yield_now().await;
                }
                *x *= 10;
                running.fetch_sub(1, Ordering::SeqCst);
                *x
            }
        })
        .await;
        assert_eq!(out, vec![0, 10, 20, 30, 40, 50, 60]);
        assert_eq!(items, out, "each item updated in place");
        assert_eq!(
            most.load(Ordering::SeqCst),
            3,
            "exactly the limit ran at once"
        );
    }
}
