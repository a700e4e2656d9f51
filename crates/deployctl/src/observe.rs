//! What deployctl leaves on a fleet, read from outside: for the test kit and the integration
//! tests that check a fleet's final state without going through deployctl's internals.
//!
//! - [`get_url`], [`parse`], [`Response`], [`ProbeError`]: the small HTTP/1.1 client deployctl
//!   verifies hosts with, and its response parser.
//! - [`parse_serial`]: the serial of an nginx upstream file deployctl rendered.
//! - [`server_name`]: the haproxy server name deployctl gives a host.
//! - [`parse_stat`], [`LiveServer`]: haproxy's `show stat` read against the rendered config.
//! - [`sha256_hex`]: the checksum deployctl compares on hosts.

pub use crate::haproxy::server_name;
pub use crate::lb::parse_serial;
pub use crate::lbview::{parse_stat, LiveServer};
pub use crate::probe::{get_url, parse, ProbeError, Response};
pub use crate::upload::sha256_hex;
