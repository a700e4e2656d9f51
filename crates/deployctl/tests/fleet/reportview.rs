//! `deployctl report` of a bed run, rendered by headless Chromium (the Debian package): the
//! DOM has the timeline, the verdict table and each host's master lifecycle lines, and the
//! screenshot is not blank (decoded; many colours, a real share of non-white pixels).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;
use testkit::*;

fn chromium(profile: &Path, args: &[&str]) -> std::process::Output {
    let child = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("chromium (scripts/install-deps.sh installs it)");
    output_within(child, Duration::from_secs(90), "chromium")
}

/// Distinct colours and the share of non-white pixels of a PNG.
pub fn pixel_variety(png_path: &Path) -> (usize, f64) {
    let dec = png::Decoder::new(std::io::BufReader::new(
        std::fs::File::open(png_path).unwrap(),
    ));
    let mut reader = dec.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    let px = info.color_type.samples();
    let mut colours = std::collections::HashSet::new();
    let mut non_white = 0usize;
    let pixels = buf[..info.buffer_size()].chunks(px);
    let total = pixels.len();
    for p in pixels {
        let rgb = (
            p[0],
            p.get(1).copied().unwrap_or(p[0]),
            p.get(2).copied().unwrap_or(p[0]),
        );
        colours.insert(rgb);
        non_white += usize::from(rgb != (255, 255, 255));
    }
    (colours.len(), non_white as f64 / total as f64)
}

/// Render the report of `run_id`, check DOM and screenshot; returns the screenshot's path.
pub fn check_report(inv: &Path, state: &Path, run_id: &str, verdict: &str, name: &str) -> PathBuf {
    let dir = state.with_file_name(format!("report-{name}"));
    std::fs::create_dir_all(&dir).unwrap();
    let html = dir.join("report.html");
    let r = deployctl(
        inv,
        state,
        &["report", run_id, "--out", html.to_str().unwrap()],
    );
    assert_eq!(r.code, 0, "report: {}", r.stderr);
    let url = format!("file://{}", html.display());
    let dom = chromium(&dir.join("profile"), &["--dump-dom", &url]);
    let dom = String::from_utf8_lossy(&dom.stdout).to_string();
    assert!(
        dom.contains("id=\"timeline-svg\"") && dom.contains("<circle"),
        "timeline in the DOM"
    );
    assert!(dom.contains("id=\"verdicts\""), "verdict table in the DOM");
    assert!(
        dom.contains(&format!("<td>{verdict}</td>")),
        "a {verdict} window row"
    );
    assert!(
        dom.contains("restart_outcome"),
        "master lifecycle lines of the run's span"
    );
    assert!(dom.contains("id=\"checksums\"") && dom.contains(&sha_hint(state, run_id)));
    let png = dir.join("report.png");
    let shot = format!("--screenshot={}", png.display());
    let out = chromium(
        &dir.join("profile"),
        &[&shot, "--window-size=1000,1600", &url],
    );
    assert!(
        png.exists(),
        "screenshot: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (colours, ink) = pixel_variety(&png);
    assert!(
        colours >= 16 && ink > 0.02,
        "blank screenshot? {colours} colours, {ink:.3} ink"
    );
    if let Some(keep) = std::env::var_os("DEPLOYCTL_TEST_KEEP") {
        let _ = std::fs::copy(&png, Path::new(&keep).join(format!("report-{name}.png")));
        let _ = std::fs::copy(&html, Path::new(&keep).join(format!("report-{name}.html")));
    }
    png
}

/// The sha256 the run's start record carries (shown in the checksum table). `gray --analyze`
/// records its operator and the leases it holds before the gray run starts.
fn sha_hint(state: &Path, run_id: &str) -> String {
    let log = std::fs::read_to_string(state.join(format!("audit/{run_id}.jsonl"))).unwrap();
    let start: serde_json::Value = log
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|e| e["step"] == "start")
        .unwrap();
    start["sha256"].as_str().unwrap().to_string()
}
