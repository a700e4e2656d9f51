//! Conditions the tests impose on bed hosts and wait for: SSH bandwidth limits (nftables in
//! the host's namespace) and bounded polling of a condition.

use crate::bed::Bed;
use std::time::{Duration, Instant};

impl Bed {
    /// Drops host k's inbound SSH traffic above `mbytes` MB/s, so an upload is observable
    /// mid-way.
    pub fn limit_ssh(&self, k: usize, mbytes: u32) {
        let rate = mbytes.to_string();
        self.nft(k, &["add", "table", "inet", "dctl_rate"]);
        self.nft(
            k,
            &[
                "add",
                "chain",
                "inet",
                "dctl_rate",
                "input",
                "{ type filter hook input priority 0; policy accept; }",
            ],
        );
        self.nft(
            k,
            &[
                "add",
                "rule",
                "inet",
                "dctl_rate",
                "input",
                "tcp",
                "dport",
                "22",
                "limit",
                "rate",
                "over",
                &rate,
                "mbytes/second",
                "drop",
            ],
        );
    }
}

/// Polls `cond` every 20 ms until it holds; fails the test after `limit`.
pub fn wait_for(what: &str, limit: Duration, mut cond: impl FnMut() -> bool) {
    let t0 = Instant::now();
    while !cond() {
        assert!(t0.elapsed() < limit, "{what} within {limit:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}
