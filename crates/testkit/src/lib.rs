//! The workspace's test kit: what the integration tests of deployctl, gatecheck, hotel-api
//! and runtime share, so each test states only what it is about. A dev-dependency only; it
//! depends on no crate of the workspace (it talks HTTP and reads /proc itself).
//!
//! Map:
//! - [`bins`]: the one way to find a workspace binary (hotel-api, deployctl, zdrun).
//! - [`wait`]: the one bounded wait ([`wait_for`], [`wait_until`]) and [`block_on`].
//! - [`http`]: a blocking HTTP/1.1 client over TCP or a Unix socket.
//! - [`net`]: [`net::Reserved`], a loopback port held without a listener (no free_port race).
//! - [`procs`]: processes and sockets from /proc: children (zombies included), liveness,
//!   signals by pid, TCP sockets of a port.
//! - [`master`]: [`Master`], the one process type of a master under test (hotel-api, zdrun):
//!   addresses from its log (port 0), pid, events, admin calls, stop by pid; [`hotel`]:
//!   [`HotelApi`], how to start hotel-api under it.
//! - [`builds`]: stamped hotel-api builds ([`Builds`]: v1, v2, broken on named hosts),
//!   [`build_id`], [`sha256_file`].
//! - [`bed`]: the test bed ([`Bed`]): namespaces as hosts with real sshd, conditions imposed on
//!   them (packet loss, SSH rate limit, login shell), what they served and logged.
//! - [`inventory`]: `deploy.toml` as typed values ([`Inventory`], [`Env`], [`Host`], enums
//!   [`Transport`], [`OnNetwork`], [`Role`]), written in one place.
//! - [`inv`]: [`Inv`], the knobs of a bed inventory, and [`Bed::inventory`].
//! - [`runner`]: bounded runs of the real deployctl binary ([`Run`]).
//! - [`state`]: the final state of a fleet per host (installed sha256, running image, served
//!   build, LB membership): [`state::assert_fleet_on`], [`Fleet::assert_on`].
//! - [`fixture`]: [`Fleet`]: a bed with builds, inventory and state dir; [`Fleet::on_v1`] the
//!   same already on v1.

pub mod bed;
pub mod bins;
pub mod builds;
pub mod fixture;
pub mod hotel;
pub mod http;
pub mod inv;
pub mod inventory;
pub mod master;
pub mod net;
pub mod procs;
pub mod runner;
pub mod state;
pub mod wait;

pub use bed::{served_build, Bed, BedHost};
pub use builds::{build_id, sha256_file, Builds};
pub use fixture::Fleet;
pub use hotel::HotelApi;
pub use inv::Inv;
pub use inventory::{ConfigFile, Env, Host, Inventory, OnNetwork, Role, Transport};
pub use master::{Master, ADMIN_TOKEN};
pub use runner::{deployctl, finish, output_within, spawn, spawn_env, Run};
pub use state::{assert_fleet_on, fleet_state, running_sha, HostFinal};
pub use wait::{block_on, wait_for, wait_some, wait_until, WAIT};

use std::path::Path;

/// Files in `dir` (names), sorted; empty when missing.
pub fn ls(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}
