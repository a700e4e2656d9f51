//! The fleet's final state, per host: installed binary sha256, running worker image sha256
//! (admin `/status`), served build (`/version`), load balancer membership. Failure-path tests
//! assert this, not only the exit code.

use crate::bed::{served_build, Bed};
use crate::builds::{build_id, sha256_file};
use crate::runner::deployctl;
use serde_json::Value;
use std::path::Path;

/// What one host is left with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostFinal {
    pub host: String,
    pub installed: Option<String>,
    /// `None` when the admin endpoint does not answer (or is not configured).
    pub running: Option<String>,
    pub served: Option<String>,
    /// `None` without load balancers; else in every LB's pools and not marked down.
    pub in_lb: Option<bool>,
}

/// sha256 of the running worker's image, from the admin `/status` inside the host's netns.
pub fn running_sha(bed: &Bed, k: usize) -> Option<String> {
    bed.admin_status(k)["current"]["sha256"]
        .as_str()
        .map(str::to_string)
}

/// Hosts marked down on any LB, from `deployctl status` (None: no LB in the inventory).
fn lb_down(inv: &Path, state: &Path) -> Option<Vec<String>> {
    let st = deployctl(inv, state, &["status", "--env", "bed"]);
    let lbs: Vec<&Value> = st
        .json
        .as_array()?
        .iter()
        .filter(|h| !h["lb"].is_null())
        .collect();
    if lbs.is_empty() {
        return None;
    }
    let mut down = vec![];
    for lb in lbs {
        assert_eq!(lb["lb"]["in_sync"], true, "LB on disk and live agree: {lb}");
        for d in lb["lb"]["down"].as_array().unwrap() {
            down.push(d.as_str().unwrap().to_string());
        }
    }
    Some(down)
}

/// The final state of the app hosts `ks`.
pub fn fleet_state(bed: &Bed, inv: &Path, state: &Path, ks: &[usize]) -> Vec<HostFinal> {
    let down = lb_down(inv, state);
    ks.iter()
        .map(|&k| {
            let bin = bed.srv(k).join("hotel/hotel-api");
            HostFinal {
                host: bed.hosts[k].name.clone(),
                installed: bin.exists().then(|| sha256_file(&bin)),
                running: running_sha(bed, k),
                served: served_build(&bed.hosts[k].address),
                in_lb: down.as_ref().map(|d| !d.contains(&bed.hosts[k].name)),
            }
        })
        .collect()
}

/// Every host of `ks` has `bin` installed, running (when `admin`) and served, and is in
/// the LB pools as `in_lb` says.
pub fn assert_fleet_on(
    bed: &Bed,
    inv: &Path,
    state: &Path,
    ks: &[usize],
    bin: &Path,
    admin: bool,
    in_lb: Option<bool>,
) {
    let (sha, build) = (sha256_file(bin), build_id(bin));
    for h in fleet_state(bed, inv, state, ks) {
        let want = HostFinal {
            host: h.host.clone(),
            installed: Some(sha.clone()),
            running: admin.then(|| sha.clone()).or(h.running.clone()),
            served: Some(build.clone()),
            in_lb,
        };
        assert_eq!(h, want, "final state of {}", h.host);
    }
}

impl crate::Fleet {
    /// [`assert_fleet_on`] with this fleet's bed, inventory and state dir.
    pub fn assert_on(&self, ks: &[usize], bin: &Path, admin: bool, in_lb: Option<bool>) {
        assert_fleet_on(&self.bed, &self.inv, &self.state, ks, bin, admin, in_lb);
    }
}
