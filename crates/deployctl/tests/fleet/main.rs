//! Integration tests of deployctl against the real test bed: network namespaces as hosts,
//! real OpenSSH servers, real hotel-api masters, real signals. Run as root
//! (`cargo nextest run -p deployctl`); scripts/testbed.sh installs openssh-server and nftables.
//! The bed, builds, inventories and fixtures come from the `testkit` crate.

mod bytes;
mod canary;
mod canary_abort;
mod canary_decide;
mod deployuser;
mod durable;
mod failures;
pub mod gray;
mod graysafe;
mod hostcheck;
mod https;
mod interrupt;
mod lbbound;
mod lbgray;
mod lbkinds;
mod lblive;
mod lbload;
mod lblog;
mod lbpid;
mod lbreload;
mod lbrestore;
mod lbsnapshot;
mod lbstate;
mod lease;
mod local;
mod names;
mod network;
mod recheck;
mod releases;
mod reportview;
mod rollback;
mod rollout;
mod safety;
mod secrets;
mod signals;
mod status;
