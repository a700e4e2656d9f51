//! Prometheus metrics of the master: worker exits by reason, restarts by action, and gauges
//! for the current worker. Counter names get the `_total` suffix from the exposition format,
//! so they are registered without it.

use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::master::exit_reason::ExitReason;

/// Label set `{reason="..."}`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabel {
    /// `graceful`, `exit_code`, `signal` or `wait_error`.
    pub reason: String,
}

/// Label set `{action="..."}`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ActionLabel {
    /// One of [`RestartAction`]'s labels.
    pub action: String,
}

/// What the master did to get a serving worker back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RestartAction {
    /// A graceful restart completed: the new worker is ready, the old one drains.
    GracefulOk,
    /// A graceful restart was abandoned; the old worker kept serving.
    GracefulAborted,
    /// A crashed worker was replaced and the replacement is ready.
    CrashRecovered,
    /// A worker that stopped answering its liveness probe was replaced.
    HealthRecovered,
}

impl RestartAction {
    /// The metric label.
    pub fn label(self) -> &'static str {
        match self {
            RestartAction::GracefulOk => "graceful_ok",
            RestartAction::GracefulAborted => "graceful_aborted",
            RestartAction::CrashRecovered => "crash_recovered",
            RestartAction::HealthRecovered => "health_recovered",
        }
    }

    const ALL: [RestartAction; 4] = [
        RestartAction::GracefulOk,
        RestartAction::GracefulAborted,
        RestartAction::CrashRecovered,
        RestartAction::HealthRecovered,
    ];
}

/// The master's metrics registry.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    exits: Family<ReasonLabel, Counter>,
    restarts: Family<ActionLabel, Counter>,
    /// Generation of the current worker.
    pub generation: Gauge,
    /// Pid of the current worker (0 when none).
    pub worker_pid: Gauge,
    /// Seconds since the current worker started.
    pub uptime: Gauge<f64, AtomicU64>,
    /// 1 while a graceful restart is in progress.
    pub restart_in_progress: Gauge,
    /// 1 when the current worker's readiness is confirmed.
    pub worker_ready: Gauge,
    /// Descendants of workers that outlived their parent and were reaped by the master.
    pub orphans_reaped: Counter,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Registers every series (all label values start at zero, so dashboards see them).
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let exits = Family::<ReasonLabel, Counter>::default();
        let restarts = Family::<ActionLabel, Counter>::default();
        for reason in ExitReason::LABELS {
            let _ = exits.get_or_create(&ReasonLabel {
                reason: reason.into(),
            });
        }
        for a in RestartAction::ALL {
            let _ = restarts.get_or_create(&ActionLabel {
                action: a.label().into(),
            });
        }
        let generation = Gauge::default();
        let worker_pid = Gauge::default();
        let uptime = Gauge::<f64, AtomicU64>::default();
        let restart_in_progress = Gauge::default();
        let worker_ready = Gauge::default();
        let orphans_reaped = Counter::default();
        registry.register(
            "hotel_be_orphans_reaped",
            "Descendants of workers re-parented to the master (child subreaper) and reaped",
            orphans_reaped.clone(),
        );
        registry.register(
            "hotel_be_worker_exit",
            "Worker exits by reason",
            exits.clone(),
        );
        registry.register(
            "hotel_be_worker_restart",
            "Worker restarts by action",
            restarts.clone(),
        );
        registry.register(
            "hotel_be_worker_generation",
            "Generation of the current worker",
            generation.clone(),
        );
        registry.register(
            "hotel_be_worker_pid",
            "Pid of the current worker (0 if none)",
            worker_pid.clone(),
        );
        registry.register(
            "hotel_be_worker_uptime_seconds",
            "Seconds since the current worker started",
            uptime.clone(),
        );
        registry.register(
            "hotel_be_restart_in_progress",
            "1 while a graceful restart is in progress",
            restart_in_progress.clone(),
        );
        registry.register(
            "hotel_be_worker_ready",
            "1 when the current worker is confirmed ready",
            worker_ready.clone(),
        );
        Metrics {
            worker_ready,
            orphans_reaped,
            registry,
            exits,
            restarts,
            generation,
            worker_pid,
            uptime,
            restart_in_progress,
        }
    }

    /// Counts one worker exit.
    pub fn exit(&self, reason: &ExitReason) {
        self.exits
            .get_or_create(&ReasonLabel {
                reason: reason.label().into(),
            })
            .inc();
    }

    /// Counts one restart action.
    pub fn restart(&self, action: RestartAction) {
        self.restarts
            .get_or_create(&ActionLabel {
                action: action.label().into(),
            })
            .inc();
    }

    /// The current value of `hotel_be_worker_exit_total{reason}`.
    pub fn exit_count(&self, reason: &str) -> u64 {
        self.exits
            .get_or_create(&ReasonLabel {
                reason: reason.into(),
            })
            .get()
    }

    /// The current value of `hotel_be_worker_restart_total{action}`.
    pub fn restart_count(&self, action: RestartAction) -> u64 {
        self.restarts
            .get_or_create(&ActionLabel {
                action: action.label().into(),
            })
            .get()
    }

    /// Prometheus text exposition.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_come_out_exactly() {
        let m = Metrics::new();
        m.exit(&ExitReason::Signal(9));
        m.restart(RestartAction::CrashRecovered);
        let text = m.encode();
        assert!(
            text.contains("hotel_be_worker_exit_total{reason=\"signal\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("hotel_be_worker_exit_total{reason=\"graceful\"} 0"),
            "{text}"
        );
        assert!(
            text.contains("hotel_be_worker_restart_total{action=\"crash_recovered\"} 1"),
            "{text}"
        );
        assert!(text.contains("hotel_be_worker_generation 0"), "{text}");
    }
}
