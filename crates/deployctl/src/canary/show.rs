//! How a window's verdict is shown to people: one line per route group (this window's figures
//! of each pool, and why it is not a pass), a line per fleet check that shows harm, then the
//! window's verdict. Used by `gray --analyze` and `canary replay`.

use crate::analysis::WindowVerdict;
use crate::ui::Ui;

/// Progress line(s) of one window.
pub fn print_window(ui: &Ui, w: &WindowVerdict) {
    for g in &w.groups {
        let f = |p: &crate::analysis::PoolStats| {
            let ms = |v: Option<f64>| v.map_or("-".into(), |x| format!("{x:.1}ms"));
            let rate = p
                .error_rate
                .map_or("-".into(), |r| format!("{:.2}%", r * 100.0));
            format!(
                "n={} 5xx {} p50 {} p99 {}",
                p.n,
                rate,
                ms(p.p50_ms),
                ms(p.p99_ms)
            )
        };
        ui.info(&format!(
            "window {} {:<8} {:<12} gray {} | stable {}{}",
            w.index + 1,
            g.group.name(),
            g.verdict.name(),
            f(&g.gray),
            f(&g.stable),
            if g.reasons.is_empty() {
                String::new()
            } else {
                format!(" ({})", g.reasons.join("; "))
            }
        ));
    }
    for c in w.fleet.iter().filter(|c| c.passed == Some(false)) {
        let why = c.reason().unwrap_or_default();
        ui.info(&format!("window {} fleet    {why}", w.index + 1));
    }
    ui.info(&format!(
        "window {} verdict {}",
        w.index + 1,
        w.verdict.name()
    ));
}
