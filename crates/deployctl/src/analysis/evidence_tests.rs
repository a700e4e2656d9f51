use super::*;

fn split(gx: u64, gn: u64, sx: u64, sn: u64) -> SplitCounts {
    SplitCounts {
        gray_events: gx,
        gray_requests: gn,
        stable_events: sx,
        stable_requests: sn,
        dispersion: 1.0,
    }
}

#[test]
fn one_gray_error_at_a_small_share_is_not_evidence() {
    // The z-test gave p = 6.5e-6 here; the exact conditional bound is 1/r = 20 at most.
    let mut e = SplitEvidence::new(2.0);
    e.add(split(1, 50, 0, 950));
    assert!(e.harm() < 20.0, "{}", e.harm());
    assert!(e.harm() > 1.0, "one event in gray is some evidence");
    // However long it is looked at, one event cannot reach a 1% level over 10 checks.
    assert!(e.harm() < 10.0 / 0.01);
}

#[test]
fn many_gray_errors_are_harm_and_equal_rates_are_not() {
    let mut bad = SplitEvidence::new(2.0);
    let mut same = SplitEvidence::new(2.0);
    for _ in 0..20 {
        bad.add(split(15, 500, 5, 500));
        same.add(split(5, 500, 5, 500));
    }
    assert!(bad.harm() > 1e6, "{}", bad.harm());
    assert!(same.harm() < 1.0, "{}", same.harm());
    assert!(same.no_harm() > 100.0, "equal rates: ratio 2 ruled out");
    assert!(bad.no_harm() < 1.0, "ratio 3: no evidence of no harm");
}

#[test]
fn a_window_without_one_pool_adds_nothing() {
    let mut e = SplitEvidence::new(2.0);
    e.add(split(5, 100, 0, 0));
    e.add(split(0, 0, 5, 100));
    assert_eq!((e.harm(), e.no_harm()), (1.0, 1.0));
    assert_eq!((e.gray_events, e.stable_events), (5, 5));
}

#[test]
fn dispersion_divides_the_evidence() {
    let mut plain = SplitEvidence::new(2.0);
    let mut clustered = SplitEvidence::new(2.0);
    plain.add(split(12, 500, 4, 500));
    clustered.add(SplitCounts {
        dispersion: 4.0,
        ..split(12, 500, 4, 500)
    });
    assert!(
        clustered.harm() < plain.harm().sqrt(),
        "{}",
        clustered.harm()
    );
    assert_eq!(clustered.max_dispersion, 4.0);
}

#[test]
fn rate_bounds_cover_and_tighten() {
    let mut r = RateEvidence::default();
    r.add(0, 10_000, 1.0);
    let u = r.upper(0.01);
    assert!(u > 4.6 / 10_000.0 && u < 20.0 / 10_000.0, "{u}");
    assert_eq!(r.lower(0.01), 0.0);
    let mut r = RateEvidence::default();
    r.add(100, 10_000, 1.0);
    let (lo, hi) = (r.lower(0.01), r.upper(0.01));
    assert!(lo < 0.01 && hi > 0.01, "{lo} {hi}");
    assert!(lo > 0.005 && hi < 0.02, "{lo} {hi}");
    r.add(900, 90_000, 1.0);
    assert!(
        r.upper(0.01) < hi && r.lower(0.01) > lo,
        "more data, tighter"
    );
    assert_eq!(RateEvidence::default().upper(0.01), 1.0);
}

#[test]
fn dispersion_sees_one_client_with_every_failure() {
    let even: Vec<(u64, u64)> = (0..20).map(|i| (100, u64::from(i % 4 == 0))).collect();
    assert!(dispersion(&even) < 1.5, "{}", dispersion(&even));
    let mut one: Vec<(u64, u64)> = (0..20).map(|_| (100, 0)).collect();
    one[3].1 = 20;
    assert!(dispersion(&one) > 5.0, "{}", dispersion(&one));
    assert_eq!(dispersion(&one[..5]), 1.0, "too few clients to say");
}
