//! The report's HTML (pure): inline style, inline SVG, no script, no external reference.

use super::svg::{self, esc, Mark, Series};
use super::RunData;
use crate::audit::{Event, Step, Verdict};
use serde_json::Value;
use std::fmt::Write;

const STYLE: &str = "body{font-family:sans-serif;margin:24px;color:#222}table{border-collapse:collapse;margin:8px 0}\
td,th{border:1px solid #ccc;padding:3px 6px;font-size:12px;text-align:left}th{background:#f0f0f0}\
.PASS{background:#c8f0c8}.FAIL{background:#f6c0c0}.INCONCLUSIVE{background:#f6e7b0}\
pre{background:#f7f7f7;padding:8px;font-size:11px;overflow-x:auto}h2{margin-top:28px}";

fn ms(ts: &str) -> Option<f64> {
    chrono::DateTime::parse_from_rfc3339(ts)
        .ok()
        .map(|t| t.timestamp_millis() as f64)
}

fn opt(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::Number(n) if n.is_u64() || n.is_i64() => n.to_string(),
        Value::Number(n) => n.as_f64().map_or(n.to_string(), |f| format!("{f:.3}")),
        Value::String(s) => esc(s),
        other => esc(&other.to_string()),
    }
}

fn summary(d: &RunData, o: &mut String) {
    let find = |step: Step| {
        d.events
            .iter()
            .rev()
            .find(|e| e.step == step && e.host.is_none())
    };
    let outcomes: Vec<String> = d
        .events
        .iter()
        .filter(|e| e.host.is_none())
        .filter_map(|e| {
            let what = match e.step {
                Step::Outcome => e.outcome.map(|o| o.as_str().to_string()),
                Step::AnalysisOutcome => e.detail.clone(),
                _ => None,
            }?;
            Some(format!("{} {}: {}", e.command, e.step, esc(&what)))
        })
        .collect();
    let who = find(Step::Operator)
        .and_then(|e| e.detail.clone())
        .unwrap_or_else(|| "not recorded".into());
    let span = match (d.events.first(), d.events.last()) {
        (Some(a), Some(b)) => format!("{} .. {}", esc(&a.ts), esc(&b.ts)),
        _ => "-".into(),
    };
    let _ = write!(
        o,
        "<h1>deployctl run {}</h1>\n<table id=\"summary\"><tr><th>environment</th><td>{}</td></tr><tr><th>commands</th><td>{}</td></tr><tr><th>span</th><td>{span}</td></tr><tr><th>who / where</th><td>{}</td></tr><tr><th>outcome</th><td id=\"outcome\">{}</td></tr></table>\n",
        esc(&d.run_id),
        esc(&d.env),
        esc(&{
            let mut c: Vec<&str> = vec![];
            for e in &d.events {
                if !c.contains(&e.command.as_str()) {
                    c.push(e.command.as_str());
                }
            }
            c.join(" -> ")
        }),
        esc(&who),
        outcomes.join("<br>")
    );
}

fn timeline(d: &RunData, o: &mut String) {
    let t: Vec<f64> = d.events.iter().filter_map(|e| ms(&e.ts)).collect();
    let (t0, t1) = (
        t.iter().copied().fold(f64::MAX, f64::min),
        t.iter().copied().fold(f64::MIN, f64::max),
    );
    let mut rows: Vec<(String, Vec<Mark>)> = vec![];
    for e in &d.events {
        let Some(at) = ms(&e.ts) else { continue };
        let row = match (&e.host, e.step.as_str().starts_with("lb")) {
            (_, true) => "load balancer".to_string(),
            (Some(h), _) => h.clone(),
            (None, _) => format!("run ({})", e.command),
        };
        let tip = format!(
            "{} {} {} {}: {}",
            e.ts,
            row,
            e.step,
            e.result,
            e.detail
                .as_deref()
                .unwrap_or("")
                .chars()
                .take(200)
                .collect::<String>()
        );
        let mark = Mark {
            t: at,
            step: e.step.as_str().to_string(),
            failed: e.result == Verdict::Fail,
            tip,
        };
        match rows.iter_mut().find(|r| r.0 == row) {
            Some(r) => r.1.push(mark),
            None => rows.push((row, vec![mark])),
        }
    }
    o.push_str("<h2>Timeline</h2>\n<div id=\"timeline\">\n");
    if rows.is_empty() {
        o.push_str("<p>no events</p>");
    } else {
        o.push_str(&svg::timeline(&rows, t0, t1));
    }
    o.push_str("<p>colours: <span style=\"color:#5577aa\">backup</span>, <span style=\"color:#2a9d8f\">upload/checksum</span>, <span style=\"color:#e76f51\">restart</span>, <span style=\"color:#2e7d32\">verify/serving</span>, <span style=\"color:#7b3fb5\">LB</span>, <span style=\"color:#d08800\">analysis</span>; red ring: failed step.</p>\n</div>\n");
    let _ = writeln!(o, "<h2>Load balancer membership and share</h2>\n<table id=\"lb-changes\"><tr><th>time</th><th>command</th><th>host</th><th>step</th><th>result</th><th>detail</th></tr>");
    for e in d
        .events
        .iter()
        .filter(|e| e.step.as_str().starts_with("lb"))
    {
        let _ = writeln!(
            o,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&e.ts),
            e.command,
            esc(e.host.as_deref().unwrap_or("-")),
            e.step,
            e.result,
            esc(e.detail.as_deref().unwrap_or(""))
        );
    }
    o.push_str("</table>\n");
}

/// Per pool and window: 5xx rate over every group, and the worst group p99.
fn pool_series(d: &RunData, pool: &str, colour: &'static str) -> (Series, Series) {
    let mut err = vec![];
    let mut p99 = vec![];
    for w in &d.windows {
        // A window without its end time has no place on the time axis: left out, not put at 0.
        let Some(x) = w["end_ms"].as_f64() else {
            continue;
        };
        let groups = w["groups"].as_array().cloned().unwrap_or_default();
        let n: f64 = groups.iter().filter_map(|g| g[pool]["n"].as_f64()).sum();
        let e: f64 = groups
            .iter()
            .filter_map(|g| g[pool]["errors_5xx"].as_f64())
            .sum();
        err.push((x, (n > 0.0).then(|| e / n)));
        let worst = groups
            .iter()
            .filter_map(|g| g[pool]["p99_ms"].as_f64())
            .fold(None, |a: Option<f64>, v| Some(a.map_or(v, |a| a.max(v))));
        p99.push((x, worst));
    }
    (
        (pool.to_string(), colour, err),
        (pool.to_string(), colour, p99),
    )
}

fn charts(d: &RunData, o: &mut String) {
    o.push_str("<h2>Error rate and latency per pool (LB access logs, per window)</h2>\n<div id=\"charts\">\n");
    if d.windows.is_empty() {
        o.push_str("<p>no analysis windows in this run</p></div>\n");
        return;
    }
    // The time axis spans the windows that recorded both ends (a window without them is left
    // out of the series too); none means nothing to plot, not an axis from 0.
    let spans: Vec<(f64, f64)> = d
        .windows
        .iter()
        .filter_map(|w| Some((w["start_ms"].as_f64()?, w["end_ms"].as_f64()?)))
        .collect();
    let (Some(x0), Some(x1)) = (
        spans.iter().map(|s| s.0).reduce(f64::min),
        spans.iter().map(|s| s.1).reduce(f64::max),
    ) else {
        o.push_str("<p>no analysis window recorded its start and end</p></div>\n");
        return;
    };
    let (ge, gp) = pool_series(d, "gray", "#d62828");
    let (se, sp) = pool_series(d, "stable", "#1d3557");
    o.push_str(&svg::line_chart(
        "chart-errors",
        "5xx rate",
        "share",
        &[ge, se],
        x0,
        x1,
    ));
    o.push_str(&svg::line_chart(
        "chart-p99",
        "p99 latency (worst route group)",
        "ms",
        &[gp, sp],
        x0,
        x1,
    ));
    o.push_str("</div>\n");
}

/// A window's number as shown (from 1), or "-" when the record has no index.
fn window_no(w: &serde_json::Value) -> String {
    w["index"]
        .as_u64()
        .map_or_else(|| "-".to_string(), |i| (i + 1).to_string())
}

fn verdicts(d: &RunData, o: &mut String) {
    o.push_str("<h2>Analysis windows</h2>\n<table id=\"verdicts\"><tr><th>window</th><th>verdict</th><th>group</th><th>group verdict</th><th>gray n</th><th>stable n</th><th>gray 5xx</th><th>stable 5xx</th><th>gray p50/p99 ms</th><th>stable p50/p99 ms</th><th>gray POST /bookings failed</th><th>failed checks / reasons</th></tr>\n");
    for w in &d.windows {
        let v = esc(w["verdict"].as_str().unwrap_or("-"));
        let groups = w["groups"].as_array().cloned().unwrap_or_default();
        if groups.is_empty() {
            let _ = writeln!(
                o,
                "<tr class=\"{v}\"><td>{}</td><td>{v}</td><td colspan=\"10\">no traffic</td></tr>",
                window_no(w)
            );
        }
        for g in groups {
            let reasons: Vec<String> = g["reasons"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|r| r.as_str())
                .map(esc)
                .collect();
            let bookings = format!(
                "{}/{}",
                opt(&g["gray"]["post_failures"]),
                opt(&g["gray"]["posts"])
            );
            let _ = writeln!(
                o,
                "<tr class=\"{v}\"><td>{}</td><td>{v}</td><td>{}</td><td class=\"{}\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}/{}</td><td>{}/{}</td><td>{}</td><td>{}</td></tr>",
                window_no(w), opt(&g["group"]), opt(&g["verdict"]), opt(&g["verdict"]),
                opt(&g["gray"]["n"]), opt(&g["stable"]["n"]), opt(&g["gray"]["error_rate"]), opt(&g["stable"]["error_rate"]),
                opt(&g["gray"]["p50_ms"]), opt(&g["gray"]["p99_ms"]), opt(&g["stable"]["p50_ms"]), opt(&g["stable"]["p99_ms"]),
                bookings, reasons.join("<br>")
            );
        }
    }
    o.push_str("</table>\n");
    if let Some(t) = d.windows.first().map(|w| &w["thresholds"]) {
        let _ = writeln!(o, "<p>thresholds: <code>{}</code></p>", esc(&t.to_string()));
    }
}

fn logs_and_checksums(d: &RunData, o: &mut String) {
    o.push_str("<h2>Master lifecycle log per host (run span)</h2>\n<div id=\"master-logs\">\n");
    for (host, lines) in &d.master_logs {
        let _ = writeln!(o, "<h3>{}</h3>", esc(host));
        match lines {
            Ok(l) if l.is_empty() => o.push_str("<p>no master line in the span</p>\n"),
            Ok(l) => {
                let _ = writeln!(o, "<pre>{}</pre>", esc(&l.join("\n")));
            }
            Err(e) => {
                let _ = writeln!(o, "<p>not available: {}</p>", esc(e));
            }
        }
    }
    o.push_str("</div>\n<h2>Checksums of what was shipped</h2>\n<table id=\"checksums\"><tr><th>time</th><th>command</th><th>host</th><th>step</th><th>sha256</th><th>build id</th></tr>\n");
    for e in d.events.iter().filter(|e| e.sha256.is_some()) {
        let _ = writeln!(o, "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td><code>{}</code></td><td>{}</td></tr>", esc(&e.ts), e.command, esc(e.host.as_deref().unwrap_or("-")), e.step, esc(e.sha256.as_deref().unwrap_or("")), esc(e.build_id.as_deref().unwrap_or("-")));
    }
    o.push_str("</table>\n");
}

fn audit_table(events: &[Event], o: &mut String) {
    o.push_str("<h2>Audit log</h2>\n<details><summary>every record</summary><table id=\"audit\"><tr><th>time</th><th>command</th><th>host</th><th>step</th><th>result</th><th>ms</th><th>detail</th></tr>\n");
    for e in events {
        let detail: String = e
            .detail
            .as_deref()
            .unwrap_or("")
            .chars()
            .take(300)
            .collect();
        let _ = writeln!(o, "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>", esc(&e.ts), e.command, esc(e.host.as_deref().unwrap_or("-")), e.step, e.result, e.duration_ms.map_or("-".into(), |d| d.to_string()), esc(&detail));
    }
    o.push_str("</table></details>\n");
}

/// The whole document.
pub fn render(d: &RunData) -> String {
    let mut o = format!("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>deployctl run {}</title><style>{STYLE}</style></head><body>\n", esc(&d.run_id));
    summary(d, &mut o);
    timeline(d, &mut o);
    charts(d, &mut o);
    verdicts(d, &mut o);
    logs_and_checksums(d, &mut o);
    audit_table(&d.events, &mut o);
    o.push_str("</body></html>\n");
    o
}
