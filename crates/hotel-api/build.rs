//! Records the git commit and build time in the binary (shown by `/version`).
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=HOTEL_API_RELEASE");
    println!("cargo:rerun-if-env-changed=SOURCE_DATE_EPOCH");
    let manifest = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default();
    let git_dir = Command::new("git")
        .args(["rev-parse", "--git-dir"])
        .current_dir(&manifest)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    if let Some(dir) = &git_dir {
        let dir = std::path::Path::new(&manifest).join(dir);
        println!("cargo:rerun-if-changed={}", dir.join("HEAD").display());
        println!(
            "cargo:rerun-if-changed={}",
            dir.join("refs/heads").display()
        );
    }
    let commit = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(&manifest)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "unknown".into());
    let now = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|s| s.parse::<i64>().ok())
        .and_then(|s| chrono::DateTime::from_timestamp(s, 0))
        .unwrap_or_else(chrono::Utc::now);
    println!("cargo:rustc-env=HOTEL_API_COMMIT={commit}");
    println!(
        "cargo:rustc-env=HOTEL_API_BUILD_TIME={}",
        now.format("%Y-%m-%dT%H:%M:%SZ")
    );
    println!("cargo:rustc-env=HOTEL_API_BUILD_EPOCH={}", now.timestamp());
}
