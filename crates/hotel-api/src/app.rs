//! HTTP routes of the hotel API.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use runtime::worker::{Lifecycle, Phase};
use serde::Deserialize;

use crate::config::{Config, Fault};
use crate::faults::{self, FaultState};
use crate::search;
use crate::store::{NewBooking, Store, StoreError};

/// Shared state of the handlers.
#[derive(Clone, Debug)]
pub struct AppState {
    /// Configuration of this worker.
    pub config: Arc<Config>,
    /// Bookings.
    pub store: Store,
    /// Starting / ready / draining.
    pub lifecycle: Lifecycle,
    /// This build.
    pub build: Arc<protocol::Version>,
    /// Worker generation (0 when bare).
    pub generation: u64,
    /// Response faults (canary-analysis tests), from the configuration at worker start.
    pub faults: FaultState,
}

/// The router.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/ready", get(ready))
        .route("/ping", get(ping))
        .route("/version", get(version))
        .route("/search", get(search_handler))
        .route("/bookings", post(create_booking))
        .route("/bookings/{id}", get(get_booking))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            identity_layer,
        ))
        .with_state(state)
}

/// Tags every response with the build and worker generation that served it (what load tests
/// and deploy verification count), and applies the `hang` fault and the response faults.
async fn identity_layer(
    State(s): State<AppState>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    // The `hang` fault: a deadlock that leaves the readiness endpoint answering.
    if s.config.fault == Fault::Hang
        && s.lifecycle.phase() != Phase::Starting
        && req.uri().path() != "/ready"
    {
        std::future::pending::<()>().await;
    }
    if let Some(d) = s.faults.delay(req.uri().path()) {
        tokio::time::sleep(d).await;
    }
    let mut resp = if s.faults.should_fail(req.method(), req.uri().path()) {
        faults::injected_failure()
    } else {
        next.run(req).await
    };
    let h = resp.headers_mut();
    if let Ok(v) = axum::http::HeaderValue::from_str(&s.build.build_id) {
        h.insert("x-build-id", v);
    }
    h.insert(
        "x-worker-generation",
        axum::http::HeaderValue::from(s.generation),
    );
    resp
}

async fn ready(State(s): State<AppState>) -> (StatusCode, &'static str) {
    match s.lifecycle.phase() {
        Phase::Ready => (StatusCode::OK, "ready\n"),
        Phase::Starting => (StatusCode::SERVICE_UNAVAILABLE, "warming up\n"),
        Phase::Draining => (StatusCode::SERVICE_UNAVAILABLE, "draining\n"),
    }
}

async fn ping() -> &'static str {
    "pong\n"
}

async fn version(State(s): State<AppState>) -> Json<protocol::Version> {
    Json(protocol::Version {
        pid: Some(u64::from(std::process::id())),
        generation: Some(s.generation),
        ..(*s.build).clone()
    })
}

#[derive(Deserialize)]
struct SearchQuery {
    city: Option<String>,
    nights: Option<u32>,
    /// Per-request override of the simulated supplier latency (at most 10 s).
    latency_ms: Option<u64>,
    /// Per-request deadline (at most 10 s).
    deadline_ms: Option<u64>,
}

async fn search_handler(State(s): State<AppState>, Query(q): Query<SearchQuery>) -> Response {
    let Some(city) = q.city.filter(|c| !c.trim().is_empty() && c.len() <= 64) else {
        return error(
            StatusCode::BAD_REQUEST,
            "query parameter `city` is required (1 to 64 characters)",
        );
    };
    let nights = q.nights.unwrap_or(1);
    if !(1..=30).contains(&nights) {
        return error(StatusCode::BAD_REQUEST, "`nights` must be 1 to 30");
    }
    let latency = Duration::from_millis(
        q.latency_ms
            .unwrap_or(s.config.search_latency_ms)
            .min(10_000),
    );
    let deadline = Duration::from_millis(
        q.deadline_ms
            .unwrap_or(s.config.search_deadline_ms)
            .clamp(1, 10_000),
    );
    Json(search::search(&city, nights, latency, deadline).await).into_response()
}

async fn create_booking(
    State(s): State<AppState>,
    body: Result<Json<NewBooking>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let Json(b) = match body {
        Ok(b) => b,
        Err(e) => return error(StatusCode::BAD_REQUEST, &e.body_text()),
    };
    let store = s.store.clone();
    match tokio::task::spawn_blocking(move || store.create(&b)).await {
        Ok(Ok(booking)) => (StatusCode::CREATED, Json(booking)).into_response(),
        Ok(Err(StoreError::Invalid(m))) => error(StatusCode::BAD_REQUEST, &m),
        Ok(Err(e)) => internal(e),
        Err(e) => internal(e),
    }
}

async fn get_booking(State(s): State<AppState>, Path(id): Path<String>) -> Response {
    let store = s.store.clone();
    let lookup = id.clone();
    match tokio::task::spawn_blocking(move || store.get(&lookup)).await {
        Ok(Ok(Some(b))) => Json(b).into_response(),
        Ok(Ok(None)) => error(StatusCode::NOT_FOUND, &format!("no booking {id}")),
        Ok(Err(e)) => internal(e),
        Err(e) => internal(e),
    }
}

fn error(code: StatusCode, message: &str) -> Response {
    (code, Json(serde_json::json!({ "error": message }))).into_response()
}

fn internal(e: impl std::fmt::Display) -> Response {
    tracing::error!(event = "request_failed", error = %e, "internal error");
    error(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
}
