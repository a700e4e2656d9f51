use super::*;
use crate::audit::{Audit, Command, Step, Verdict};
use crate::outcome::Outcome;

fn run_with_analysis(dir: &Path) -> String {
    let a = Audit::open(dir, "r1", "bed", Command::Gray).unwrap();
    let mut s = a.event(None, Step::Start, Verdict::Info);
    s.sha256 = Some("abc123".into());
    s.build_id = Some("b2".into());
    a.record(s);
    let mut op = a.event(None, Step::Operator, Verdict::Info);
    op.detail = Some("alice@controller in /home/alice <script>".into());
    a.record(op);
    a.record(a.event(Some("h1"), Step::Upload, Verdict::Ok));
    a.record(a.event(Some("h1"), Step::Serving, Verdict::Ok));
    a.record(a.event(Some("lb"), Step::LbConfig, Verdict::Ok));
    let w = r#"{"index":0,"start_ms":1000,"end_ms":4000,"verdict":"FAIL","excluded_by_header":0,"groups":[{"group":"bookings","verdict":"FAIL","gray":{"n":60,"failures":3,"error_rate":0.05,"p50_ms":3.0,"p99_ms":9.0,"posts":60,"post_failures":3},"stable":{"n":60,"failures":0,"error_rate":0.0,"p50_ms":3.0,"p99_ms":8.0,"posts":60,"post_failures":0},"checks":[],"reasons":["failures: harm"]}],"thresholds":{"min_requests":30}}"#;
    let mut e = a.event(None, Step::AnalysisWindow, Verdict::Fail);
    e.detail = Some(w.into());
    a.record(e);
    let mut out = a.event(None, Step::AnalysisOutcome, Verdict::Warn);
    out.detail = Some("ABORTED_BY_ANALYSIS: decision Abort; action run r2".into());
    a.record(out);
    let b = Audit::open(dir, "r2", "bed", Command::GrayAbort).unwrap();
    let mut o = b.event(None, Step::Outcome, Verdict::Ok);
    o.outcome = Some(Outcome::Success);
    b.record(o);
    "r1".into()
}

#[test]
fn gather_follows_the_action_run_and_reads_the_windows() {
    let d = tempfile::tempdir().unwrap();
    let id = run_with_analysis(d.path());
    let data = gather(d.path(), &id).unwrap();
    assert_eq!(data.env, "bed");
    assert_eq!(data.windows.len(), 1);
    assert!(data.events.iter().any(|e| e.command == Command::GrayAbort));
    assert!(matches!(
        gather(d.path(), "nope"),
        Err(ReportError::NoRun(..))
    ));
}

#[test]
fn the_html_is_self_contained_and_has_every_section() {
    let d = tempfile::tempdir().unwrap();
    let id = run_with_analysis(d.path());
    let mut data = gather(d.path(), &id).unwrap();
    data.master_logs.insert(
        "h1".into(),
        Ok(vec!["{\"event\":\"restart_outcome\"}".into()]),
    );
    data.master_logs
        .insert("h2".into(), Err("host unreachable".into()));
    let html = html::render(&data);
    for id in [
        "summary",
        "timeline",
        "timeline-svg",
        "lb-changes",
        "chart-errors",
        "chart-p99",
        "verdicts",
        "master-logs",
        "checksums",
        "audit",
    ] {
        assert!(html.contains(&format!("id=\"{id}\"")), "section {id}");
    }
    assert!(html.contains("ABORTED_BY_ANALYSIS") && html.contains("gray-abort"));
    assert!(html.contains("<td>3/60</td>"), "failed bookings shown");
    assert!(html.contains("abc123"));
    assert!(html.contains("restart_outcome") && html.contains("host unreachable"));
    // Escaped, and nothing fetched from elsewhere.
    assert!(!html.contains("<script"), "no script, even from the data");
    assert!(html.contains("&lt;script&gt;"));
    for external in ["src=", "href=", "<link", "@import", "url(", "https://"] {
        assert!(!html.contains(external), "external reference {external}");
    }
    let svg_ns = html.matches("http://www.w3.org/2000/svg").count();
    assert_eq!(
        html.matches("http://").count(),
        svg_ns,
        "only the SVG namespace name"
    );
}

#[test]
fn master_lines_keep_the_masters_lines_of_the_span() {
    let log = [
        r#"{"timestamp":"2026-12-05T05:00:00.000Z","fields":{"event":"worker_started"},"span":{"component":"master"}}"#,
        r#"{"timestamp":"2026-12-05T05:00:01.000Z","fields":{"event":"x"},"span":{"component":"worker"}}"#,
        r#"{"timestamp":"2026-12-05T06:00:00.000Z","fields":{"event":"late"},"span":{"component":"master"}}"#,
        "not json",
    ]
    .join("\n");
    let got = master_lines(&log, "2026-12-05T04:59:59Z", "2026-12-05T05:30:00+00:00");
    assert_eq!(got.len(), 1);
    assert!(got[0].contains("worker_started"));
    assert!(master_lines(&log, "bad", "bad").is_empty());
}

#[test]
fn a_window_verdict_is_escaped_in_the_html() {
    let d = tempfile::tempdir().unwrap();
    let a = Audit::open(d.path(), "r1", "bed", Command::Gray).unwrap();
    let w = r#"{"index":0,"verdict":"FAIL\"><img src=x onerror=alert(1)>","groups":[]}"#;
    let mut e = a.event(None, Step::AnalysisWindow, Verdict::Fail);
    e.detail = Some(w.into());
    a.record(e);
    let html = html::render(&gather(d.path(), "r1").unwrap());
    assert!(!html.contains("<img"), "{html}");
    assert!(html.contains("&lt;img src=x"), "{html}");
}
