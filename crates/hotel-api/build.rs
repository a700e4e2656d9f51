//! Records the git commit (full hash), whether the work tree was dirty, and the build time in
//! the binary (shown by `/version`). A build from a tree with uncommitted changes to tracked
//! files is marked dirty: its version carries `-dirty` and it never passes parity.
use std::path::Path;
use std::process::Command;

fn git(dir: &str, args: &[&str]) -> Option<String> {
    Command::new("git")
        .args(args)
        .current_dir(dir)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
}

fn main() {
    println!("cargo:rerun-if-env-changed=HOTEL_API_RELEASE");
    println!("cargo:rerun-if-env-changed=SOURCE_DATE_EPOCH");
    let manifest = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default();
    let root = Path::new(&manifest).join("../..");
    // Rerun when HEAD moves, something is staged or committed, or a source this binary is
    // built from changes (the dirty flag follows the tree).
    for args in [
        ["rev-parse", "--git-dir"],
        ["rev-parse", "--git-common-dir"],
    ] {
        if let Some(dir) = git(&manifest, &args) {
            let dir = Path::new(&manifest).join(dir);
            // Only paths that exist: a missing one would rerun this script on every build.
            for f in ["HEAD", "index", "refs/heads", "packed-refs"] {
                let path = dir.join(f);
                if path.exists() {
                    println!("cargo:rerun-if-changed={}", path.display());
                }
            }
        }
    }
    for p in [
        "crates/hotel-api",
        "crates/runtime",
        "Cargo.toml",
        "Cargo.lock",
    ] {
        println!("cargo:rerun-if-changed={}", root.join(p).display());
    }
    let commit = git(&manifest, &["rev-parse", "HEAD"]).unwrap_or_else(|| "unknown".into());
    let dirty = git(
        &manifest,
        // --no-optional-locks: do not refresh the index (that would rerun this script).
        &[
            "--no-optional-locks",
            "status",
            "--porcelain",
            "--untracked-files=no",
        ],
    )
    .is_some_and(|s| !s.is_empty());
    let now = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|s| s.parse::<i64>().ok())
        .and_then(|s| chrono::DateTime::from_timestamp(s, 0))
        .unwrap_or_else(chrono::Utc::now);
    println!("cargo:rustc-env=HOTEL_API_COMMIT={commit}");
    println!("cargo:rustc-env=HOTEL_API_DIRTY={}", u8::from(dirty));
    println!(
        "cargo:rustc-env=HOTEL_API_BUILD_TIME={}",
        now.format("%Y-%m-%dT%H:%M:%SZ")
    );
    println!("cargo:rustc-env=HOTEL_API_BUILD_EPOCH={}", now.timestamp());
}
