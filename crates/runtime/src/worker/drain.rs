//! Serving an axum app on the worker's listeners with a drain that loses nothing:
//! the private listener answers at once (readiness checks see 503 while warming up), public
//! listeners are accepted from only once the service is ready, and on the stop signal:
//! `/ready` turns 503, accepting stops (queued connections stay in the shared kernel queue
//! for the next worker), every response carries `Connection: close`, idle keep-alive
//! connections are closed after a short linger, in-flight requests finish, and a hard
//! deadline bounds it all.

use std::convert::Infallible;
use std::future::Future;
use std::time::{Duration, Instant};

use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONNECTION};
use hyper_util::rt::{TokioIo, TokioTimer};
use std::sync::Arc;

use tokio::sync::{watch, Notify};

use crate::worker::{notify_ready, AnyListener, Lifecycle, Listeners};

/// Drain timing.
#[derive(Clone, Copy, Debug)]
pub struct DrainConfig {
    /// Hard deadline for the whole drain (the master SIGKILLs at its own grace period).
    pub grace: Duration,
    /// How long idle keep-alive connections stay open after the stop signal, so a request
    /// already on the wire is answered (with `Connection: close`) rather than cut.
    pub linger: Duration,
}

impl Default for DrainConfig {
    fn default() -> Self {
        DrainConfig {
            grace: Duration::from_secs(30),
            linger: Duration::from_millis(1000),
        }
    }
}

/// What happened during the drain.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DrainReport {
    /// Connections open when the stop signal came.
    pub open_at_stop: usize,
    /// Connections still open at the hard deadline (abandoned).
    pub abandoned: usize,
    /// Time from the stop signal to the end of the drain.
    pub drain_ms: u64,
}

/// Serves `app` until `shutdown` resolves, then drains. See the module docs for the sequence.
pub async fn serve(
    app: axum::Router,
    listeners: Listeners,
    lifecycle: Lifecycle,
    cfg: DrainConfig,
    shutdown: impl Future<Output = ()>,
) -> DrainReport {
    crate::worker::die_with_master();
    let (stop_accept, _) = watch::channel(false);
    let (close_idle, _) = watch::channel(false);
    let conns = Conns {
        app,
        lifecycle: lifecycle.clone(),
        close_idle: close_idle.clone(),
        closed: Arc::new(Notify::new()),
    };
    tokio::pin!(shutdown);

    if let Some(p) = listeners.private {
        // The private listener serves until the process ends; it is not part of the drain.
        let _private = spawn_accept(AnyListener::Tcp(p), conns.clone(), watch::channel(false).1);
    }
    let stopped_early = tokio::select! {
        _ = lifecycle.started() => false,
        _ = &mut shutdown => true,
    };
    let mut accepting = Vec::new();
    if !stopped_early {
        for l in listeners.public {
            if let Err(e) = l.start_listening() {
                tracing::error!(event = "listen_failed", name = %l.name, error = %e, "cannot listen on a public socket");
            }
            accepting.push(spawn_accept(
                l.listener,
                conns.clone(),
                stop_accept.subscribe(),
            ));
        }
        notify_ready();
        tracing::info!(
            event = "worker_accepting",
            "service ready; accepting on the public listeners"
        );
        shutdown.await;
    }
    let stop_at = Instant::now();
    lifecycle.begin_drain();
    let _ = stop_accept.send(true);
    // A connection an accept task has just taken is registered before that task ends: count
    // only once every accept task has stopped.
    for task in accepting {
        let _ = task.await;
    }
    let open_at_stop = conns.count();
    tracing::info!(
        event = "drain_begin",
        open_connections = open_at_stop,
        linger_ms = cfg.linger.as_millis() as u64,
        "stop signal: no longer accepting, draining"
    );
    let deadline =
        tokio::time::Instant::now() + cfg.grace.saturating_sub(Duration::from_millis(250));
    let lingered = tokio::select! {
        _ = tokio::time::sleep(cfg.linger) => true,
        _ = conns.all_closed() => false,
    };
    if lingered {
        let _ = close_idle.send(true);
        if tokio::time::timeout_at(deadline, conns.all_closed())
            .await
            .is_err()
        {
            let abandoned = close_idle.receiver_count();
            tracing::warn!(
                event = "drain_deadline",
                abandoned,
                "hard deadline reached with connections still open"
            );
            return DrainReport {
                open_at_stop,
                abandoned,
                drain_ms: stop_at.elapsed().as_millis() as u64,
            };
        }
    }
    let report = DrainReport {
        open_at_stop,
        abandoned: 0,
        drain_ms: stop_at.elapsed().as_millis() as u64,
    };
    tracing::info!(
        event = "drain_complete",
        drain_ms = report.drain_ms,
        "all connections finished"
    );
    report
}

#[derive(Clone)]
struct Conns {
    app: axum::Router,
    lifecycle: Lifecycle,
    close_idle: watch::Sender<bool>,
    closed: Arc<Notify>,
}

impl Conns {
    /// Open connections (each connection task, and only those, holds one subscription to
    /// `close_idle`).
    fn count(&self) -> usize {
        self.close_idle.receiver_count()
    }

    /// Resolves when no connection is open.
    async fn all_closed(&self) {
        loop {
            let notified = self.closed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.count() == 0 {
                return;
            }
            notified.await;
        }
    }

    fn spawn<S>(&self, stream: S)
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let app = self.app.clone();
        let lifecycle = self.lifecycle.clone();
        let mut close = self.close_idle.subscribe();
        let closed = self.closed.clone();
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
                let mut app = app.clone();
                let lifecycle = lifecycle.clone();
                async move {
                    let mut resp = match tower_service::Service::call(&mut app, req).await {
                        Ok(r) => r,
                        Err(never) => match never {},
                    };
                    if lifecycle.is_draining() {
                        resp.headers_mut()
                            .insert(CONNECTION, HeaderValue::from_static("close"));
                    }
                    Ok::<_, Infallible>(resp)
                }
            });
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(Duration::from_secs(30))
                .serve_connection(TokioIo::new(stream), svc);
            tokio::pin!(conn);
            tokio::select! {
                _ = conn.as_mut() => {}
                _ = raised(&mut close) => {
                    conn.as_mut().graceful_shutdown();
                    let _ = conn.await;
                }
            }
            drop(close);
            closed.notify_waiters();
        });
    }
}

fn spawn_accept(
    listener: AnyListener,
    conns: Conns,
    mut stop: watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        match listener {
            AnyListener::Tcp(l) => {
                let Ok(l) = l
                    .set_nonblocking(true)
                    .and_then(|_| tokio::net::TcpListener::from_std(l))
                else {
                    tracing::error!(
                        event = "accept_setup_failed",
                        "cannot register TCP listener"
                    );
                    return;
                };
                loop {
                    tokio::select! {
                        _ = raised(&mut stop) => return,
                        r = l.accept() => match r {
                            Ok((s, _)) => {
                                let _ = s.set_nodelay(true);
                                conns.spawn(s);
                            }
                            Err(e) => accept_error(e).await,
                        },
                    }
                }
            }
            #[cfg(unix)]
            AnyListener::Unix(l) => {
                let Ok(l) = l
                    .set_nonblocking(true)
                    .and_then(|_| tokio::net::UnixListener::from_std(l))
                else {
                    tracing::error!(
                        event = "accept_setup_failed",
                        "cannot register Unix listener"
                    );
                    return;
                };
                loop {
                    tokio::select! {
                        _ = raised(&mut stop) => return,
                        r = l.accept() => match r {
                            Ok((s, _)) => conns.spawn(s),
                            Err(e) => accept_error(e).await,
                        },
                    }
                }
            }
        }
    })
}

/// Transient accept errors (EMFILE, ECONNABORTED) must not spin the loop.
async fn accept_error(e: std::io::Error) {
    tracing::warn!(event = "accept_error", error = %e, "accept failed");
    tokio::time::sleep(Duration::from_millis(20)).await;
}

/// Resolves once the flag is raised; never, if its sender is gone without raising it.
async fn raised(flag: &mut watch::Receiver<bool>) {
    if flag.wait_for(|f| *f).await.map(|_| ()).is_err() {
        std::future::pending::<()>().await;
    }
}
