//! Bounded exponential backoff for crash recovery: the first crash is repaired at once,
//! consecutive crashes wait longer (capped), and a worker that stayed up for the stable
//! period resets the count.

use std::time::Duration;

/// Backoff settings.
#[derive(Clone, Copy, Debug)]
pub struct BackoffConfig {
    /// Delay after the second consecutive crash; doubles each time after that.
    pub base: Duration,
    /// Upper bound of the delay.
    pub max: Duration,
    /// A worker that ran at least this long resets the crash count.
    pub stable_after: Duration,
}

impl Default for BackoffConfig {
    fn default() -> Self {
        BackoffConfig {
            base: Duration::from_millis(100),
            max: Duration::from_secs(10),
            stable_after: Duration::from_secs(30),
        }
    }
}

/// Crash counter that yields the delay before the next replacement.
#[derive(Debug)]
pub struct Backoff {
    config: BackoffConfig,
    consecutive: u32,
}

impl Backoff {
    /// A counter with no crashes recorded.
    pub fn new(config: BackoffConfig) -> Self {
        Backoff {
            config,
            consecutive: 0,
        }
    }

    /// Records a crash of a worker that had been up for `uptime` and returns how long to wait
    /// before starting its replacement.
    pub fn on_crash(&mut self, uptime: Duration) -> Duration {
        if uptime >= self.config.stable_after {
            self.consecutive = 0;
        }
        let delay = match self.consecutive {
            0 => Duration::ZERO,
            n => {
                let factor = 1u32.checked_shl(n - 1).unwrap_or(u32::MAX);
                self.config.base.saturating_mul(factor).min(self.config.max)
            }
        };
        self.consecutive = self.consecutive.saturating_add(1);
        delay
    }

    /// How many crashes in a row have been recorded.
    pub fn consecutive(&self) -> u32 {
        self.consecutive
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_caps_and_resets() {
        let mut b = Backoff::new(BackoffConfig {
            base: Duration::from_millis(100),
            max: Duration::from_millis(500),
            stable_after: Duration::from_secs(5),
        });
        let short = Duration::from_millis(10);
        let delays: Vec<u64> = (0..6)
            .map(|_| b.on_crash(short).as_millis() as u64)
            .collect();
        assert_eq!(delays, vec![0, 100, 200, 400, 500, 500]);
        assert_eq!(b.on_crash(Duration::from_secs(6)), Duration::ZERO);
        assert_eq!(b.on_crash(short), Duration::from_millis(100));
    }

    #[test]
    fn huge_counts_do_not_overflow() {
        let mut b = Backoff::new(BackoffConfig::default());
        for _ in 0..200 {
            assert!(b.on_crash(Duration::ZERO) <= Duration::from_secs(10));
        }
    }
}
