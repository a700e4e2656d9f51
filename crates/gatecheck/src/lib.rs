//! gatecheck: the release gates that run against a live environment.
//!
//! Module map:
//! - [`suite`]: E2E suites (`e2e/*.hurl`), discovered and run one at a time against one host
//!   through the `hurl` library (blocking; kept off async tasks).
//! - [`e2e`]: the blocking E2E gate: every suite x every target of an environment from
//!   `deploy.toml` (read with [`deployctl::inventory`]), with `admin_url` tunnelled per host.
//! - [`admin_tunnel`]: local forwarder to a master's loopback admin endpoint through
//!   deployctl's public host access ([`deployctl::access::HostLink`]).
//! - [`report`]: console table, JUnit XML and JSON for the E2E gate.
//! - [`version`]: `/version` of a host and `version --json` of an artifact; commit matching.
//! - [`parity`]: UAT version parity with a commit, and `--sync` through `deployctl rollout`.
//! - [`targets`]: what the gates probe: app hosts directly, each LB external URL once, never
//!   an LB or database host as an app host.

pub mod admin_tunnel;
pub mod e2e;
pub mod parity;
pub mod report;
pub mod suite;
pub mod targets;
pub mod version;
