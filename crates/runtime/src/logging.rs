//! JSON-lines logging on stderr (one object per lifecycle event; `RUST_LOG` filters).

/// Installs the global subscriber. `component` (e.g. `master`, `worker`) is added to every line
/// through the span it opens; keep the returned guard alive.
pub fn init(component: &'static str) -> tracing::span::EnteredSpan {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_current_span(true)
        .with_span_list(false)
        .with_target(false)
        .try_init();
    tracing::info_span!("zdrun", component, pid = std::process::id()).entered()
}
