use super::*;
use std::fmt::Write as _;

/// `secs` seconds of `rate` req/s of GET /search, 40 clients, half of them gray; gray answers
/// 500 to every `gray_fail_every`th request (0: never). nginx lines, or haproxy lines.
fn log(secs: i64, rate: i64, gray_fail_every: i64, haproxy: bool) -> String {
    let mut o = String::new();
    for i in 0..secs * rate {
        let at_ms = 1_700_000_000_000 + i * 1000 / rate;
        let client = i % 40;
        let gray = client % 2 == 0;
        let pool = if gray {
            "deployctl_gray"
        } else {
            "deployctl_stable"
        };
        let failed = gray && gray_fail_every > 0 && (i / 2) % gray_fail_every == 0;
        let s = if failed { 500 } else { 200 };
        let ms = 5 + i % 7;
        if haproxy {
            let _ = writeln!(
                o,
                r#"{{"t_ms":{at_ms},"pool":"{pool}","up":"a:1","m":"GET","g":"search","s":{s},"rt_ms":{ms},"ut_ms":{ms},"h":"0","c":"c{client}"}}"#
            );
        } else {
            let t = at_ms as f64 / 1000.0;
            let rt = ms as f64 / 1000.0;
            let _ = writeln!(
                o,
                r#"{{"t":{t:.3},"pool":"{pool}","up":"a:1","m":"GET","g":"search","s":{s},"rt":{rt},"ut":"{rt}","h":"0","c":"c{client}"}}"#
            );
        }
    }
    o.push_str("not a line\n");
    o
}

fn settings() -> AnalysisSettings {
    AnalysisSettings {
        tolerable_increase: 0.01,
        min_requests: 100,
        ..Default::default()
    }
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn a_healthy_gray_in_both_lb_kinds_is_promoted() {
    let d = tempfile::tempdir().unwrap();
    let files = [
        write(d.path(), "nginx.json", &log(120, 25, 0, false)),
        write(d.path(), "haproxy.json", &log(120, 25, 0, true)),
    ];
    let r = replay(&files, &settings(), Duration::from_secs(10), &|_| {}).unwrap();
    assert_eq!(
        r.decision,
        Decision::Promote,
        "{:#?}",
        r.windows.last().unwrap().groups[0].reasons
    );
    assert_eq!(r.files[0].records, 3000);
    assert_eq!(r.files[1].skipped, 1);
    assert!(r.files[1]
        .first_error
        .as_deref()
        .unwrap()
        .contains("not JSON"));
    assert!(
        r.windows.len() >= 2 && r.windows.len() < 12,
        "{}",
        r.windows.len()
    );
}

#[test]
fn a_gray_failing_one_request_in_ten_is_aborted() {
    let d = tempfile::tempdir().unwrap();
    let files = [write(d.path(), "nginx.json", &log(120, 50, 10, false))];
    let r = replay(&files, &settings(), Duration::from_secs(10), &|_| {}).unwrap();
    assert_eq!(r.decision, Decision::Abort, "{:#?}", r.windows.last());
    let last = r.windows.last().unwrap();
    let failures = &last.groups[0].checks[0];
    assert_eq!((failures.name, failures.passed), ("failures", Some(false)));
    assert!(r.windows.len() <= 3, "{} windows", r.windows.len());
}

#[test]
fn no_records_and_unreadable_files_are_errors() {
    let d = tempfile::tempdir().unwrap();
    let empty = write(d.path(), "empty.json", "junk\n");
    let t = settings();
    let w = Duration::from_secs(10);
    let e = replay(&[empty], &t, w, &|_| {}).unwrap_err();
    assert!(matches!(e, ReplayError::NoRecords(_)), "{e}");
    let e = replay(&[d.path().join("missing")], &t, w, &|_| {}).unwrap_err();
    assert!(e.to_string().contains("missing"), "{e}");
}
