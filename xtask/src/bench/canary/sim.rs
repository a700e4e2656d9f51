//! The simulated fleet behind the canary bench: a seeded generator, the samplers it needs, and
//! one analysis run's world (clients, the sticky split, each pool's failure rate and latency
//! law), which yields a window's counts as an LB access log would give them to the judge.

use deployctl::analysis::counts::{
    Dispersion, GroupCounts, PoolCounts, Thresholds, WindowCounts, SAMPLE_PER_WINDOW,
};
use deployctl::analysis::Group;

/// xoshiro256** seeded by splitmix64 (Blackman and Vigna): fast, and the same stream for
/// the same seed on every machine.
pub struct Rng([u64; 4]);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        let mut x = seed;
        let mut next = || {
            x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = x;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        };
        Rng([next(), next(), next(), next()])
    }

    pub fn u64(&mut self) -> u64 {
        let s = &mut self.0;
        let out = s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        out
    }

    /// Uniform in (0, 1).
    pub fn unit(&mut self) -> f64 {
        ((self.u64() >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }

    pub fn normal(&mut self) -> f64 {
        let (u, v) = (self.unit(), self.unit());
        (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
    }

    /// Poisson(mean): exact (Knuth) below 30, rounded normal above (request counts only).
    pub fn poisson(&mut self, mean: f64) -> u64 {
        if mean <= 0.0 {
            return 0;
        }
        if mean > 30.0 {
            return (mean + mean.sqrt() * self.normal()).round().max(0.0) as u64;
        }
        let limit = (-mean).exp();
        let (mut k, mut p) = (0, self.unit());
        while p > limit {
            k += 1;
            p *= self.unit();
        }
        k
    }

    /// Binomial(n, p): exact by geometric skips while n·min(p, 1-p) < 30, else rounded
    /// normal (then hundreds of events: no handful decides).
    pub fn binomial(&mut self, n: u64, p: f64) -> u64 {
        if n == 0 || p <= 0.0 {
            return 0;
        }
        if p >= 1.0 {
            return n;
        }
        if p > 0.5 {
            return n - self.binomial(n, 1.0 - p);
        }
        let mean = n as f64 * p;
        if mean >= 30.0 {
            let sd = (mean * (1.0 - p)).sqrt();
            return (mean + sd * self.normal()).round().clamp(0.0, n as f64) as u64;
        }
        let log_q = (1.0 - p).ln();
        let (mut hits, mut pos) = (0u64, 0u64);
        loop {
            pos += (self.unit().ln() / log_q).floor() as u64 + 1;
            if pos > n {
                return hits;
            }
            hits += 1;
        }
    }
}

/// What the gray build does differently.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Effect {
    Identical,
    /// Failure rate times this.
    Failures(f64),
    /// Every request this many ms slower (p50 and everything above moves).
    LatencyP50(f64),
    /// Only the slowest 2% of requests this many ms slower (p99 moves, p50 does not).
    LatencyP99(f64),
}

/// One bench cell's traffic and gray build.
#[derive(Debug, Clone, Copy)]
pub struct Cell {
    pub effect: Effect,
    /// Stable's failure rate.
    pub baseline: f64,
    /// Share of clients sent to gray.
    pub share: f64,
    /// Requests per second through the LB, both pools.
    pub rate: f64,
}

/// Clients per run; their request rates are log-normal (sigma 1): a few heavy partners.
const CLIENTS: usize = 400;
/// Latency law: log-normal, median 20 ms, sigma 0.6 (p99 ~ 81 ms).
const MEDIAN_MS: f64 = 20.0;
const SIGMA: f64 = 0.6;
/// Route groups and their share of requests; half of the bookings are `POST /bookings`.
const GROUPS: [(Group, f64); 3] = [
    (Group::Search, 0.6),
    (Group::Bookings, 0.3),
    (Group::Other, 0.1),
];

fn std_normal_cdf(z: f64) -> f64 {
    deployctl::analysis::stats::normal_cdf(z)
}

/// P(X >= x) for the stable latency law.
fn tail(x: f64) -> f64 {
    if x <= 0.0 {
        return 1.0;
    }
    1.0 - std_normal_cdf((x / MEDIAN_MS).ln() / SIGMA)
}

/// The latency at quantile `q` of the stable law.
fn quantile(q: f64) -> f64 {
    // Bisection on the CDF (called once per run).
    let (mut lo, mut hi) = (-10.0f64, 10.0f64);
    for _ in 0..80 {
        let mid = (lo + hi) / 2.0;
        if std_normal_cdf(mid) < q {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    MEDIAN_MS * (SIGMA * lo).exp()
}

/// One analysis run's world.
pub struct World {
    cell: Cell,
    /// Gray's share of the requests (the clients' rates decide it, not the client share).
    gray_traffic: f64,
    /// Stable's 98th percentile (where `LatencyP99` starts).
    q98: f64,
    pub rng: Rng,
}

impl World {
    pub fn new(cell: Cell, seed: u64) -> World {
        let mut rng = Rng::new(seed);
        let rates: Vec<f64> = (0..CLIENTS).map(|_| rng.normal().exp()).collect();
        let gray_n = ((cell.share * CLIENTS as f64).round() as usize).max(1);
        // A random set of gray clients: the LB hashes the split key.
        let mut idx: Vec<usize> = (0..CLIENTS).collect();
        for i in 0..gray_n {
            let j = i + (rng.u64() % (CLIENTS - i) as u64) as usize;
            idx.swap(i, j);
        }
        let gray: f64 = idx[..gray_n].iter().map(|&i| rates[i]).sum();
        let all: f64 = rates.iter().sum();
        World {
            cell,
            gray_traffic: gray / all,
            q98: quantile(0.98),
            rng,
        }
    }

    /// P(gray latency - tolerance >= t).
    fn gray_tail(&self, t: f64, tol: f64) -> f64 {
        match self.cell.effect {
            Effect::LatencyP50(d) => tail(t + tol - d),
            Effect::LatencyP99(d) => {
                // Slow part: X > q98 shifted by d; the rest unchanged.
                let x = t + tol;
                let fast = (tail(x) - tail(self.q98.max(x))).max(0.0);
                fast + tail(self.q98.max(x - d))
            }
            _ => tail(t + tol),
        }
    }

    fn gray_failure_rate(&self) -> f64 {
        match self.cell.effect {
            Effect::Failures(m) => (self.cell.baseline * m).min(1.0),
            _ => self.cell.baseline,
        }
    }

    /// A pool's counts: `n` requests failing at `p`, above the thresholds with the
    /// probabilities `tails` (none: no threshold in force).
    fn pool(&mut self, n: u64, p: f64, posts_of: bool, tails: [Option<f64>; 2]) -> PoolCounts {
        let posts = if posts_of {
            self.rng.binomial(n, 0.5)
        } else {
            0
        };
        let post_failures = self.rng.binomial(posts, p);
        let failures = post_failures + self.rng.binomial(n - posts, p);
        let mut over = |t: Option<f64>| t.map_or(0, |q| self.rng.binomial(n, q));
        let (over_p50, over_p99) = (over(tails[0]), over(tails[1]));
        PoolCounts {
            requests: n,
            failures,
            posts,
            post_failures,
            over_p50,
            over_p99,
            p50_ms: None,
            p99_ms: None,
        }
    }

    /// Stable latencies for the judge to learn thresholds from (at most one window's sample).
    fn stable_sample(&mut self, n: u64) -> Vec<f64> {
        let k = (n as usize).min(SAMPLE_PER_WINDOW);
        (0..k)
            .map(|_| MEDIAN_MS * (SIGMA * self.rng.normal()).exp())
            .collect()
    }

    /// One window of `window_s` seconds against the thresholds in force.
    pub fn window(
        &mut self,
        index: u32,
        window_s: f64,
        tolerance_ms: f64,
        thresholds: impl Fn(Group) -> Thresholds,
    ) -> WindowCounts {
        let mut groups = vec![];
        for (g, frac) in GROUPS {
            let mean = self.cell.rate * frac * window_s;
            let ng = self.rng.poisson(mean * self.gray_traffic);
            let ns = self.rng.poisson(mean * (1.0 - self.gray_traffic));
            let th = thresholds(g);
            let posts = g == Group::Bookings;
            let (pg, ps) = (self.gray_failure_rate(), self.cell.baseline);
            let levels = [th.p50_ms, th.p99_ms];
            let gray_tails = levels.map(|t| t.map(|t| self.gray_tail(t, tolerance_ms)));
            let gray = self.pool(ng, pg, posts, gray_tails);
            let stable = self.pool(ns, ps, posts, levels.map(|t| t.map(tail)));
            groups.push(GroupCounts {
                group: g,
                gray,
                stable,
                dispersion: Dispersion::default(),
                thresholds: th,
                stable_sample: self.stable_sample(ns),
            });
        }
        WindowCounts {
            index,
            start_ms: 0,
            end_ms: 0,
            excluded_by_header: 0,
            groups,
        }
    }

    /// For the old judge: up to `cap` latencies of each pool in a group's window.
    pub fn latencies(&mut self, n: u64, cap: usize, gray: bool) -> Vec<f64> {
        (0..(n as usize).min(cap))
            .map(|_| {
                let x = MEDIAN_MS * (SIGMA * self.rng.normal()).exp();
                match (gray, self.cell.effect) {
                    (true, Effect::LatencyP50(d)) => x + d,
                    (true, Effect::LatencyP99(d)) if x > self.q98 => x + d,
                    _ => x,
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mean(n: usize, mut f: impl FnMut() -> u64) -> f64 {
        (0..n).map(|_| f() as f64).sum::<f64>() / n as f64
    }

    #[test]
    fn samplers_have_their_means_at_small_and_large_counts() {
        let mut r = Rng::new(7);
        for m in [0.3, 4.0, 29.0, 500.0] {
            let got = mean(20_000, || r.poisson(m));
            assert!((got - m).abs() < 0.05 * m + 0.02, "poisson {m}: {got}");
        }
        for (n, p) in [(1000, 0.002), (50, 0.3), (10_000, 0.5), (10_000, 0.97)] {
            let want = n as f64 * p;
            let got = mean(20_000, || r.binomial(n, p));
            assert!(
                (got - want).abs() < 0.03 * want + 0.02,
                "binomial {n} {p}: {got}"
            );
        }
        assert_eq!(
            (r.binomial(0, 0.5), r.binomial(9, 0.0), r.binomial(9, 1.0)),
            (0, 0, 9)
        );
    }

    #[test]
    fn the_same_seed_gives_the_same_world() {
        let cell = Cell {
            effect: Effect::Identical,
            baseline: 0.002,
            share: 0.05,
            rate: 200.0,
        };
        let w = |seed| World::new(cell, seed).window(0, 60.0, 20.0, |_| Thresholds::default());
        assert_eq!(w(3), w(3));
        assert_ne!(w(3), w(4));
        let g = &w(3).groups[0];
        assert!(
            g.gray.requests > 0 && g.stable.requests > g.gray.requests,
            "{g:?}"
        );
    }
}
