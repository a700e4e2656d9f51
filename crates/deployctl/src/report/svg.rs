//! Inline SVG: a per-host timeline and line charts (no script; `<title>` tooltips).

use std::fmt::Write;

/// Text safe inside HTML/SVG elements and attributes.
pub fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

const W: f64 = 900.0;
const LEFT: f64 = 150.0;
const RIGHT: f64 = 20.0;

fn x_of(t: f64, t0: f64, t1: f64) -> f64 {
    let span = (t1 - t0).max(1.0);
    LEFT + (t - t0) / span * (W - LEFT - RIGHT)
}

/// Colour of an audit step.
pub fn colour(step: &str) -> &'static str {
    match step {
        s if s.starts_with("lb") => "#7b3fb5",
        s if s.starts_with("analysis") => "#d08800",
        "backup" | "before" => "#5577aa",
        "upload" | "checksum" => "#2a9d8f",
        "restart" | "start master" | "signal" => "#e76f51",
        "serving" | "verify" | "running image" => "#2e7d32",
        "outcome" => "#222222",
        _ => "#888888",
    }
}

/// One marker: time (ms), step, result, tooltip.
pub struct Mark {
    pub t: f64,
    pub step: String,
    pub failed: bool,
    pub tip: String,
}

/// Rows of markers on a shared time axis from `t0` to `t1` (ms).
pub fn timeline(rows: &[(String, Vec<Mark>)], t0: f64, t1: f64) -> String {
    let h = 40.0 + rows.len() as f64 * 28.0;
    let mut o = format!("<svg xmlns=\"http://www.w3.org/2000/svg\" id=\"timeline-svg\" width=\"{W}\" height=\"{h}\" viewBox=\"0 0 {W} {h}\" role=\"img\" aria-label=\"timeline\">\n<rect width=\"{W}\" height=\"{h}\" fill=\"#ffffff\"/>\n");
    for (i, (label, marks)) in rows.iter().enumerate() {
        let y = 30.0 + i as f64 * 28.0;
        let _ = writeln!(o, "<text x=\"4\" y=\"{:.1}\" font-size=\"12\" font-family=\"sans-serif\">{}</text><line x1=\"{LEFT}\" x2=\"{:.1}\" y1=\"{y:.1}\" y2=\"{y:.1}\" stroke=\"#dddddd\"/>", y + 4.0, esc(label), W - RIGHT);
        for m in marks {
            let x = x_of(m.t, t0, t1);
            let stroke = if m.failed { "#d00000" } else { "#ffffff" };
            let _ = writeln!(o, "<circle cx=\"{x:.1}\" cy=\"{y:.1}\" r=\"6\" fill=\"{}\" stroke=\"{stroke}\" stroke-width=\"2\"><title>{}</title></circle>", colour(&m.step), esc(&m.tip));
        }
    }
    let secs = (t1 - t0) / 1000.0;
    let _ = writeln!(o, "<text x=\"{LEFT}\" y=\"{:.1}\" font-size=\"11\" font-family=\"sans-serif\">0 s</text><text x=\"{:.1}\" y=\"{:.1}\" font-size=\"11\" font-family=\"sans-serif\" text-anchor=\"end\">{secs:.1} s</text>", h - 4.0, W - RIGHT, h - 4.0);
    o.push_str("</svg>\n");
    o
}

/// A series: name, colour, points (x, y); a `None` y is a gap (no data, not zero).
pub type Series = (String, &'static str, Vec<(f64, Option<f64>)>);

/// A line chart of `series` over x in `[x0, x1]`.
pub fn line_chart(
    id: &str,
    title: &str,
    unit: &str,
    series: &[Series],
    x0: f64,
    x1: f64,
) -> String {
    let h = 220.0;
    let (top, bottom) = (30.0, h - 30.0);
    let ymax = series
        .iter()
        .flat_map(|s| s.2.iter().filter_map(|p| p.1))
        .fold(0.0_f64, f64::max)
        .max(1e-9)
        * 1.1;
    let y_of = |v: f64| bottom - v / ymax * (bottom - top);
    let mut o = format!("<svg xmlns=\"http://www.w3.org/2000/svg\" id=\"{id}\" width=\"{W}\" height=\"{h}\" viewBox=\"0 0 {W} {h}\" role=\"img\" aria-label=\"{}\">\n<rect width=\"{W}\" height=\"{h}\" fill=\"#ffffff\"/>\n", esc(title));
    let _ = writeln!(o, "<text x=\"4\" y=\"16\" font-size=\"13\" font-family=\"sans-serif\" font-weight=\"bold\">{}</text><text x=\"4\" y=\"{:.1}\" font-size=\"11\" font-family=\"sans-serif\">0</text><text x=\"4\" y=\"{:.1}\" font-size=\"11\" font-family=\"sans-serif\">{:.3} {}</text>", esc(title), bottom, top + 4.0, ymax, esc(unit));
    let _ = writeln!(o, "<line x1=\"{LEFT}\" x2=\"{:.1}\" y1=\"{bottom}\" y2=\"{bottom}\" stroke=\"#999999\"/><line x1=\"{LEFT}\" x2=\"{LEFT}\" y1=\"{top}\" y2=\"{bottom}\" stroke=\"#999999\"/>", W - RIGHT);
    for (k, (name, colour, pts)) in series.iter().enumerate() {
        let mut path = String::new();
        let mut pen_up = true;
        for (x, y) in pts {
            match y {
                Some(v) => {
                    let _ = write!(
                        path,
                        "{}{:.1},{:.1} ",
                        if pen_up { "M" } else { "L" },
                        x_of(*x, x0, x1),
                        y_of(*v)
                    );
                    let _ = write!(o, "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"3\" fill=\"{colour}\"><title>{} {v:.4} {}</title></circle>", x_of(*x, x0, x1), y_of(*v), esc(name), esc(unit));
                    pen_up = false;
                }
                None => pen_up = true,
            }
        }
        let _ = writeln!(o, "\n<path d=\"{}\" fill=\"none\" stroke=\"{colour}\" stroke-width=\"2\"/><text x=\"{:.1}\" y=\"16\" font-size=\"12\" font-family=\"sans-serif\" fill=\"{colour}\">{}</text>", path.trim(), W - 200.0 + k as f64 * 90.0, esc(name));
    }
    o.push_str("</svg>\n");
    o
}
