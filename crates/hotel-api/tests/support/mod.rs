//! Test harness: the real `hotel-api` binary under its master (the test kit's [`Master`]:
//! listeners on port 0, addresses read from its log, every process stopped by pid).
#![allow(dead_code, unused_imports)]

pub use testkit::procs::{accepted_by, alive, children_of, listening_on, running};
pub use testkit::{block_on, build_id, wait_until, HotelApi, Master, ADMIN_TOKEN, WAIT};

/// hotel-api (a private copy, so a test may replace it) with `config` as its config file and
/// `extra` arguments, serving.
pub fn start(config: &str, extra: &[&str]) -> Master {
    HotelApi::new(None).config(config).args(extra).start()
}

/// [`start`] without waiting until it serves.
pub fn spawn(config: &str, extra: &[&str]) -> Master {
    HotelApi::new(None).config(config).args(extra).spawn()
}
