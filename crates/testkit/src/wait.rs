//! The one bounded wait of the tests: poll a condition, fail the test past a limit.

use std::time::{Duration, Instant};

/// Default bound of [`wait_until`].
pub const WAIT: Duration = Duration::from_secs(30);

/// Polls `cond` every 20 ms until it holds; fails the test after `limit`.
pub fn wait_for(what: &str, limit: Duration, mut cond: impl FnMut() -> bool) {
    let t0 = Instant::now();
    while !cond() {
        assert!(
            t0.elapsed() < limit,
            "timed out after {limit:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// [`wait_for`] bounded by [`WAIT`].
pub fn wait_until(what: &str, cond: impl FnMut() -> bool) {
    wait_for(what, WAIT, cond)
}

/// Polls `f` until it returns `Some`, bounded like [`wait_for`]; returns the value.
pub fn wait_some<T>(what: &str, limit: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let mut found = None;
    wait_for(what, limit, || {
        found = f();
        found.is_some()
    });
    found.expect("wait_for returned, so the value is there")
}

/// Runs a future on a fresh current-thread runtime.
pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}
