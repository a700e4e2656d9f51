//! The statistics of the canary judge, written for this crate: the standard normal CDF, a
//! one-sided two-proportion z-test and a one-sided Mann-Whitney U test (normal approximation
//! with tie correction and continuity correction), and nearest-rank percentiles.

/// erfc(x) for x >= 0: the published Chebyshev-fitted approximation
/// `t·exp(-x² + P(t))`, t = 1/(1 + x/2) (Press et al., Numerical Recipes, `erfcc`; fractional
/// error below 1.2e-7 everywhere).
fn erfc_nonneg(x: f64) -> f64 {
    let t = 1.0 / (1.0 + 0.5 * x);
    let poly = -x * x - 1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_203_98
                                + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    t * poly.exp()
}

/// P(Z <= z) for a standard normal Z.
pub fn normal_cdf(z: f64) -> f64 {
    let x = z / std::f64::consts::SQRT_2;
    if x >= 0.0 {
        1.0 - 0.5 * erfc_nonneg(x)
    } else {
        0.5 * erfc_nonneg(-x)
    }
}

/// Result of a one-sided test: the statistic and its p-value.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Test {
    pub z: f64,
    pub p: f64,
}

/// H1: the failure rate of `a` (`xa` of `na`) is above that of `b`. `None` when a pool has
/// no requests. With no failure (or only failures) in both pools there is no evidence: p = 1.
pub fn two_proportion_greater(xa: u64, na: u64, xb: u64, nb: u64) -> Option<Test> {
    if na == 0 || nb == 0 {
        return None;
    }
    let (na_f, nb_f) = (na as f64, nb as f64);
    let (pa, pb) = (xa as f64 / na_f, xb as f64 / nb_f);
    let pooled = (xa + xb) as f64 / (na_f + nb_f);
    let se = (pooled * (1.0 - pooled) * (1.0 / na_f + 1.0 / nb_f)).sqrt();
    if se == 0.0 {
        return Some(Test { z: 0.0, p: 1.0 });
    }
    let z = (pa - pb) / se;
    Some(Test {
        z,
        p: 1.0 - normal_cdf(z),
    })
}

/// Average ranks (1-based) of `v` (any order) and the tie term sum(t^3 - t).
fn ranks(v: &[f64]) -> (Vec<f64>, f64) {
    let mut idx: Vec<usize> = (0..v.len()).collect();
    idx.sort_by(|&i, &j| v[i].total_cmp(&v[j]));
    let mut r = vec![0.0; v.len()];
    let mut ties = 0.0;
    let mut i = 0;
    while i < idx.len() {
        let mut j = i;
        while j + 1 < idx.len() && v[idx[j + 1]] == v[idx[i]] {
            j += 1;
        }
        let avg = (i + j) as f64 / 2.0 + 1.0;
        for &k in &idx[i..=j] {
            r[k] = avg;
        }
        let t = (j - i + 1) as f64;
        ties += t * t * t - t;
        i = j + 1;
    }
    (r, ties)
}

/// Mann-Whitney U, H1: `a` shifted down by `shift` is still stochastically greater than `b`
/// (e.g. gray latency more than `shift` ms above stable's). Normal approximation with tie and
/// continuity correction. `None` when a sample is empty; p = 1 when every value ties.
pub fn mann_whitney_greater(a: &[f64], b: &[f64], shift: f64) -> Option<Test> {
    if a.is_empty() || b.is_empty() {
        return None;
    }
    let (n1, n2) = (a.len() as f64, b.len() as f64);
    let all: Vec<f64> = a
        .iter()
        .map(|x| x - shift)
        .chain(b.iter().copied())
        .collect();
    let (r, ties) = ranks(&all);
    let r1: f64 = r[..a.len()].iter().sum();
    let u1 = r1 - n1 * (n1 + 1.0) / 2.0;
    let n = n1 + n2;
    let var = n1 * n2 / 12.0 * ((n + 1.0) - ties / (n * (n - 1.0)));
    if var <= 0.0 {
        return Some(Test { z: 0.0, p: 1.0 });
    }
    let z = (u1 - n1 * n2 / 2.0 - 0.5) / var.sqrt();
    Some(Test {
        z,
        p: 1.0 - normal_cdf(z),
    })
}

/// Nearest-rank percentile (0..=100) of `v`; `None` when empty.
pub fn percentile(v: &[f64], p: f64) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let rank = ((p / 100.0) * s.len() as f64).ceil() as usize;
    Some(s[rank.clamp(1, s.len()) - 1])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, eps: f64) -> bool {
        (a - b).abs() <= eps
    }

    #[test]
    fn normal_cdf_matches_tables() {
        for (z, want) in [
            (0.0, 0.5),
            (1.0, 0.841_344_7),
            (1.644_853_6, 0.95),
            (1.959_964, 0.975),
            (-1.959_964, 0.025),
            (2.326_347_9, 0.99),
            (-3.0, 0.001_349_9),
        ] {
            assert!(close(normal_cdf(z), want, 2e-7), "{z}: {}", normal_cdf(z));
        }
        assert!(normal_cdf(40.0) <= 1.0 && normal_cdf(-40.0) >= 0.0);
    }

    #[test]
    fn two_proportion_against_a_worked_example() {
        // 30/200 vs 15/200: pooled 0.1125, se = sqrt(.1125*.8875*.01) = 0.031598, z = 2.3735.
        let t = two_proportion_greater(30, 200, 15, 200).unwrap();
        assert!(close(t.z, 2.373_5, 1e-3), "{t:?}");
        assert!(close(t.p, 0.008_81, 2e-4), "{t:?}");
        let rev = two_proportion_greater(15, 200, 30, 200).unwrap();
        assert!(rev.p > 0.99, "one-sided: lower is not worse");
    }

    #[test]
    fn two_proportion_edges() {
        assert_eq!(two_proportion_greater(0, 0, 1, 10), None);
        assert_eq!(two_proportion_greater(0, 50, 0, 50).unwrap().p, 1.0);
        assert_eq!(two_proportion_greater(5, 5, 9, 9).unwrap().p, 1.0);
        // 5 failures in 100 against 0 in 100: z = 2.2646, p = 0.0118 (significant at 5%, not
        // at 1%: small samples are why the absolute guardrails exist too).
        let t = two_proportion_greater(5, 100, 0, 100).unwrap();
        assert!(
            close(t.z, 2.264_6, 1e-3) && close(t.p, 0.011_77, 2e-4),
            "{t:?}"
        );
    }

    #[test]
    fn ranks_average_ties() {
        let (r, ties) = ranks(&[3.0, 1.0, 3.0, 2.0, 3.0]);
        assert_eq!(r, vec![4.0, 1.0, 4.0, 2.0, 4.0]);
        assert_eq!(ties, 24.0);
    }

    #[test]
    fn mann_whitney_against_a_hand_computed_case() {
        // a = [4,5,6], b = [1,2,3]: U1 = 9, mean 4.5, var = 9/12*7 = 5.25,
        // z = (9 - 4.5 - 0.5)/sqrt(5.25) = 1.7457, p = 0.04043.
        let t = mann_whitney_greater(&[4.0, 5.0, 6.0], &[1.0, 2.0, 3.0], 0.0).unwrap();
        assert!(close(t.z, 1.745_7, 1e-3), "{t:?}");
        assert!(close(t.p, 0.040_43, 2e-4), "{t:?}");
    }

    #[test]
    fn mann_whitney_ties_and_tolerance() {
        // With ties: a = [2,2,3], b = [1,2,2]: ranks 1:1, 2:(2..5)->3.5, 3:6.
        // R1 = 3.5+3.5+6 = 13, U1 = 7, tie term 4^3-4 = 60,
        // var = 9/12*(7 - 60/30) = 3.75, z = (7-4.5-0.5)/1.9365 = 1.0328.
        let t = mann_whitney_greater(&[2.0, 2.0, 3.0], &[1.0, 2.0, 2.0], 0.0).unwrap();
        assert!(close(t.z, 1.032_8, 1e-3), "{t:?}");
        assert_eq!(
            mann_whitney_greater(&[1.0; 5], &[1.0; 7], 0.0).unwrap().p,
            1.0
        );
        assert_eq!(mann_whitney_greater(&[], &[1.0], 0.0), None);
        // A 50 ms shift is detected; inside a 60 ms tolerance it is not.
        let b: Vec<f64> = (0..200).map(|i| 5.0 + (i % 20) as f64).collect();
        let a: Vec<f64> = b.iter().map(|x| x + 50.0).collect();
        assert!(mann_whitney_greater(&a, &b, 20.0).unwrap().p < 1e-6);
        assert!(mann_whitney_greater(&a, &b, 60.0).unwrap().p > 0.5);
        assert!(
            mann_whitney_greater(&b, &b, 0.0).unwrap().p > 0.4,
            "same data: no evidence"
        );
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 50.0), Some(50.0));
        assert_eq!(percentile(&v, 99.0), Some(99.0));
        assert_eq!(percentile(&v, 0.0), Some(1.0));
        assert_eq!(percentile(&[7.0], 99.0), Some(7.0));
        assert_eq!(percentile(&[], 50.0), None);
    }
}
