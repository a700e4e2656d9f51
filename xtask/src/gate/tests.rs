//! Gate logic against small real git repositories made per test.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::checks::{change_size_in, diff_coverage_in, file_size_in, Status};
use super::{run_in, GateArgs, GateName};

struct Repo {
    dir: tempfile::TempDir,
}

impl Repo {
    fn new() -> Repo {
        let repo = Repo {
            dir: tempfile::tempdir().expect("tempdir"),
        };
        repo.git(&["init", "-q", "-b", "main"]);
        repo.git(&["config", "user.email", "gate@test.invalid"]);
        repo.git(&["config", "user.name", "gate test"]);
        repo.git(&["config", "commit.gpgsign", "false"]);
        repo
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn git(&self, args: &[&str]) -> String {
        let out = Command::new("git")
            .arg("-C")
            .arg(self.path())
            .args(args)
            .output()
            .expect("git runs");
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn write(&self, rel: &str, text: &str) {
        let p = self.path().join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    fn commit(&self, msg: &str) {
        self.git(&["add", "-A"]);
        self.git(&["commit", "-q", "--allow-empty", "-m", msg]);
    }

    /// Base commit on `main`, then a `feature` branch checked out.
    fn branch(&self) {
        self.commit("base");
        self.git(&["checkout", "-q", "-b", "feature"]);
    }

    fn abs(&self, rel: &str) -> PathBuf {
        self.path().join(rel)
    }
}

fn numbered(prefix: &str, n: usize) -> String {
    (1..=n).map(|i| format!("{prefix} {i}\n")).collect()
}

/// An LCOV record for `path` with `(line, hits)` pairs.
fn lcov_record(path: &Path, lines: &[(u32, u64)]) -> String {
    let mut s = format!("SF:{}\n", path.display());
    for (l, h) in lines {
        s.push_str(&format!("DA:{l},{h}\n"));
    }
    s + "end_of_record\n"
}

#[test]
fn known_covered_and_uncovered_added_lines() {
    let repo = Repo::new();
    repo.write("src/lib.rs", &numbered("line", 5));
    repo.branch();
    // Append lines 6..=9.
    repo.write("src/lib.rs", &numbered("line", 9));
    repo.commit("grow");
    let lcov = lcov_record(
        &repo.abs("src/lib.rs"),
        &[(1, 1), (6, 3), (7, 0), (8, 0), (9, 1)],
    ) + &lcov_record(Path::new("/rustc/abc/library/core/src/x.rs"), &[(6, 0)]);
    let (_, cov) = diff_coverage_in(repo.path(), "main", &lcov).unwrap();
    assert_eq!((cov.covered, cov.executable, cov.added), (2, 4, 4));
    assert_eq!(cov.percent, Some(50.0));
    assert!(cov.passes(50.0), "50% meets a 50% threshold");
    assert_eq!(cov.files[0].uncovered_lines, vec![7, 8]);
    let lcov = lcov_record(&repo.abs("src/lib.rs"), &[(6, 3), (7, 0), (8, 0), (9, 0)]);
    let (_, cov) = diff_coverage_in(repo.path(), "main", &lcov).unwrap();
    assert_eq!(cov.percent, Some(25.0));
    assert!(!cov.passes(50.0));
}

#[test]
fn renamed_file_is_measured_under_its_new_path() {
    let repo = Repo::new();
    repo.write("src/old.rs", &numbered("stable line", 20));
    repo.branch();
    repo.git(&["mv", "src/old.rs", "src/new.rs"]);
    repo.write(
        "src/new.rs",
        &(numbered("stable line", 20) + "added 21\nadded 22\n"),
    );
    repo.commit("rename and grow");
    // Old path lines must not count; only the two added lines of the new path do.
    let lcov = lcov_record(&repo.abs("src/old.rs"), &[(21, 0), (22, 0)])
        + &lcov_record(&repo.abs("src/new.rs"), &[(1, 0), (21, 1), (22, 0)]);
    let (_, cov) = diff_coverage_in(repo.path(), "main", &lcov).unwrap();
    assert_eq!(
        (cov.covered, cov.executable, cov.added),
        (1, 2, 2),
        "{cov:?}"
    );
    assert_eq!(cov.files[0].path, "src/new.rs");
    let (_, size) = change_size_in(repo.path(), "main", 400).unwrap();
    assert_eq!(
        size.total, 2,
        "a rename counts only its edited lines: {size:?}"
    );
}

#[test]
fn deleted_lines_only_pass_coverage_and_count_in_size() {
    let repo = Repo::new();
    repo.write("src/lib.rs", &numbered("line", 10));
    repo.branch();
    repo.write("src/lib.rs", &numbered("line", 4));
    repo.commit("shrink");
    let lcov = lcov_record(&repo.abs("src/lib.rs"), &[(1, 0), (2, 0), (3, 0), (4, 0)]);
    let (_, cov) = diff_coverage_in(repo.path(), "main", &lcov).unwrap();
    assert_eq!((cov.executable, cov.added, cov.percent), (0, 0, None));
    assert!(cov.passes(50.0));
    let (_, size) = change_size_in(repo.path(), "main", 400).unwrap();
    assert_eq!(size.total, 6);
}

#[test]
fn no_executable_added_lines_pass() {
    let repo = Repo::new();
    repo.write("src/lib.rs", "fn a() {}\n");
    repo.branch();
    repo.write("src/lib.rs", "fn a() {}\n// a comment\n// another\n");
    repo.write("README.md", "# docs\n");
    repo.commit("comments and docs");
    let lcov = lcov_record(&repo.abs("src/lib.rs"), &[(1, 0)]);
    let (_, cov) = diff_coverage_in(repo.path(), "main", &lcov).unwrap();
    assert_eq!((cov.added, cov.executable, cov.percent), (3, 0, None));
    assert!(cov.passes(50.0));
}

#[test]
fn missing_base_is_an_error_not_a_pass() {
    let repo = Repo::new();
    repo.write("a.rs", "x\n");
    repo.commit("only");
    let err = diff_coverage_in(repo.path(), "origin/nope", "").unwrap_err();
    assert!(
        format!("{err:#}").contains("a missing base is an error"),
        "{err:#}"
    );
    let err = change_size_in(repo.path(), "refs/heads/absent", 400).unwrap_err();
    assert!(
        format!("{err:#}").contains("does not name a commit"),
        "{err:#}"
    );
}

#[test]
fn change_size_limit_at_400_and_401_lines() {
    let repo = Repo::new();
    repo.write("src/a.rs", &numbered("old", 100));
    repo.write("change-size-exclude.txt", "# listed\nCargo.lock\n");
    repo.branch();
    // 300 added + 100 deleted = 400.
    repo.write("src/a.rs", &numbered("new", 300));
    repo.write("Cargo.lock", &numbered("lock", 999));
    repo.commit("400 lines");
    let (_, size) = change_size_in(repo.path(), "main", 400).unwrap();
    assert_eq!(size.total, 400, "{size:?}");
    assert!(size.passed);
    let excluded: Vec<&str> = size.excluded.iter().map(|e| e.path.as_str()).collect();
    assert_eq!(excluded, ["Cargo.lock"]);
    repo.write("src/b.rs", "one more\n");
    repo.commit("401 lines");
    let (_, size) = change_size_in(repo.path(), "main", 400).unwrap();
    assert_eq!(size.total, 401);
    assert!(!size.passed);
}

/// An author's marker or a directory name excludes nothing, and a change cannot extend the
/// exclusion list for itself: the list is read at the merge base.
#[test]
fn exclusions_come_only_from_the_list_at_the_merge_base() {
    let repo = Repo::new();
    repo.write("change-size-exclude.txt", "Cargo.lock\n");
    repo.branch();
    repo.write(
        "src/generated/schema.rs",
        &("// @generated by a tool\n".to_string() + &numbered("gen", 49)),
    );
    repo.write("change-size-exclude.txt", "Cargo.lock\nsrc/generated/**\n");
    repo.commit("generated code and a new exclusion");
    let (_, size) = change_size_in(repo.path(), "main", 400).unwrap();
    assert_eq!(size.total, 51, "50 generated lines + 1 list line: {size:?}");
    assert!(size.excluded.is_empty());
}

#[test]
fn only_changes_since_the_merge_base_count() {
    let repo = Repo::new();
    repo.write("a.rs", "a\n");
    repo.branch();
    repo.write("b.rs", "b\n");
    repo.commit("feature work");
    repo.git(&["checkout", "-q", "main"]);
    repo.write("c.rs", &numbered("main moved on", 50));
    repo.commit("main work");
    repo.git(&["checkout", "-q", "feature"]);
    let (base, size) = change_size_in(repo.path(), "main", 400).unwrap();
    assert_eq!(size.total, 1, "{size:?}");
    assert_ne!(base.commit, base.merge_base);
}

#[test]
fn file_size_reads_tracked_sources_only() {
    let repo = Repo::new();
    repo.write("src/big.rs", &numbered("x", 12));
    repo.write("src/small.rs", &numbered("x", 3));
    repo.write("notes.txt", &numbered("x", 100));
    repo.commit("files");
    repo.write("src/untracked.rs", &numbered("x", 100));
    let report = file_size_in(repo.path(), 10).unwrap();
    assert_eq!(report.checked, 2);
    assert_eq!(report.over_limit.len(), 1);
    assert_eq!(report.over_limit[0].path, "src/big.rs");
}

const TINY_LIB: &str = "pub fn one() -> u32 {\n    1\n}\n\npub fn used(x: u32) -> u32 {\n    x + 1\n}\n\npub fn unused(x: u32) -> u32 {\n    x * 2\n}\n\n#[test]\nfn t() {\n    assert_eq!(used(1), 2);\n}\n";

/// A tiny crate: `main` has `one()`, the checked-out `feature` branch adds two functions
/// (one exercised by a test, one not).
fn tiny_crate() -> Repo {
    let repo = Repo::new();
    repo.write(
        "Cargo.toml",
        "[package]\nname = \"tiny\"\nversion = \"0.1.0\"\nedition = \"2021\"\n[workspace]\n",
    );
    repo.write("src/lib.rs", "pub fn one() -> u32 {\n    1\n}\n");
    repo.write(".gitignore", "target/\nlcov.info\n");
    repo.branch();
    repo.write("src/lib.rs", TINY_LIB);
    repo.commit("add functions");
    repo
}

#[test]
fn empty_and_foreign_tracefiles_are_errors() {
    let repo = Repo::new();
    repo.write("src/lib.rs", &numbered("line", 2));
    repo.branch();
    repo.write("src/lib.rs", &numbered("line", 4));
    repo.commit("grow");
    let err = diff_coverage_in(repo.path(), "main", "").unwrap_err();
    assert!(
        format!("{err:#}").contains("lists no source file"),
        "{err:#}"
    );
    let foreign = lcov_record(Path::new("/elsewhere/checkout/src/lib.rs"), &[(3, 1)]);
    let err = diff_coverage_in(repo.path(), "main", &foreign).unwrap_err();
    assert!(format!("{err:#}").contains("another checkout"), "{err:#}");
}

#[test]
fn a_changed_source_missing_from_the_tracefile_counts_as_uncovered() {
    let repo = Repo::new();
    repo.write("src/lib.rs", &numbered("line", 2));
    repo.branch();
    repo.write("src/lib.rs", &numbered("line", 4));
    repo.write("src/new.rs", "fn a() {}\n\n// why\nfn b() {}\n");
    repo.commit("grow and add a file");
    let lcov = lcov_record(&repo.abs("src/lib.rs"), &[(3, 1), (4, 1)]);
    let (_, cov) = diff_coverage_in(repo.path(), "main", &lcov).unwrap();
    assert_eq!(cov.missing_from_lcov, ["src/new.rs"]);
    assert_eq!((cov.covered, cov.executable), (2, 4), "{cov:?}");
    assert_eq!(cov.percent, Some(50.0));
}

/// Coverage is of HEAD: a dirty work tree, a tracefile without the commit it was measured
/// at, or one measured at another commit is an error, before any test run.
#[test]
fn coverage_not_of_head_is_an_error() {
    let repo = Repo::new();
    repo.write("src/lib.rs", &numbered("line", 2));
    repo.branch();
    repo.write("src/lib.rs", &numbered("line", 4));
    repo.commit("grow");
    let out = repo.abs("gate-out");
    let mut a = args(&out, None);
    a.only = Some(GateName::DiffCoverage);
    repo.write("src/lib.rs", &numbered("line", 5));
    let o = run_in(repo.path(), &a).unwrap();
    assert_eq!(o[0].status, Status::Error);
    assert!(o[0].detail.contains("differs from HEAD"), "{o:?}");
    repo.git(&["checkout", "--", "src/lib.rs"]);
    let lcov = repo.abs("given.info");
    std::fs::write(&lcov, lcov_record(&repo.abs("src/lib.rs"), &[(3, 1)])).unwrap();
    a.lcov = Some(lcov.clone());
    let o = run_in(repo.path(), &a).unwrap();
    assert_eq!(o[0].status, Status::Error);
    assert!(o[0].detail.contains("names no commit"), "{o:?}");
    std::fs::write(
        repo.abs("given.info.commit"),
        repo.git(&["rev-parse", "main"]),
    )
    .unwrap();
    let o = run_in(repo.path(), &a).unwrap();
    assert_eq!(o[0].status, Status::Error);
    assert!(o[0].detail.contains("not at HEAD"), "{o:?}");
    std::fs::write(
        repo.abs("given.info.commit"),
        repo.git(&["rev-parse", "HEAD"]),
    )
    .unwrap();
    let o = run_in(repo.path(), &a).unwrap();
    assert_eq!(o[0].status, Status::Pass, "{o:?}");
}

/// Runs the real cargo-llvm-cov on `repo` (without an outer coverage run's settings).
fn llvm_cov(repo: &Repo) -> PathBuf {
    let lcov_path = repo.abs("lcov.info");
    let mut cmd = Command::new("cargo");
    cmd.args(["llvm-cov", "--lcov", "--output-path"])
        .arg(&lcov_path)
        .current_dir(repo.path())
        .env("CARGO_TARGET_DIR", repo.abs("target"));
    for (key, _) in std::env::vars() {
        let inherited_instrumentation = key.starts_with("CARGO_LLVM_COV")
            || key.starts_with("LLVM_PROFILE")
            || key.contains("RUSTFLAGS")
            || key == "RUSTC_WRAPPER";
        if inherited_instrumentation {
            cmd.env_remove(key);
        }
    }
    let out = cmd
        .output()
        .expect("cargo llvm-cov runs (scripts/install-gate-tools.sh)");
    assert!(
        out.status.success(),
        "cargo llvm-cov: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::write(
        super::checks::commit_sidecar(&lcov_path),
        repo.git(&["rev-parse", "HEAD"]),
    )
    .unwrap();
    lcov_path
}

/// Real cargo-llvm-cov output on a tiny crate: absolute SF paths become repo-relative and
/// the covered/uncovered split matches what the test exercises.
#[test]
fn real_llvm_cov_tracefile_on_a_tiny_crate() {
    let repo = tiny_crate();
    let text = std::fs::read_to_string(llvm_cov(&repo)).unwrap();
    let (_, cov) = diff_coverage_in(repo.path(), "main", &text).unwrap();
    let file = cov
        .files
        .iter()
        .find(|f| f.path == "src/lib.rs")
        .expect("src/lib.rs measured");
    assert!(file.covered_lines.contains(&6), "x + 1 ran: {file:?}");
    assert!(
        file.uncovered_lines.contains(&10),
        "x * 2 never ran: {file:?}"
    );
    assert!(cov.percent.is_some_and(|p| p > 0.0 && p < 100.0), "{cov:?}");
}

fn args(out_dir: &Path, lcov: Option<PathBuf>) -> GateArgs {
    GateArgs {
        base: Some("main".into()),
        only: None,
        out_dir: out_dir.to_path_buf(),
        lcov,
        max_changed_lines: 400,
        min_diff_coverage: 50.0,
        max_file_lines: 500,
    }
}

/// The whole command on a tiny crate: real rustfmt, clippy, file size, change size and
/// coverage; every verdict and the evidence files; then failing and erroring gates.
#[test]
fn gate_command_on_a_tiny_crate() {
    let repo = tiny_crate();
    let lcov = llvm_cov(&repo);
    let out = repo.abs("target/gate-out");
    let outcomes = run_in(repo.path(), &args(&out, Some(lcov))).unwrap();
    let verdicts: Vec<(&str, Status)> = outcomes.iter().map(|o| (o.gate, o.status)).collect();
    assert_eq!(
        verdicts,
        [
            ("fmt", Status::Pass),
            ("clippy", Status::Pass),
            ("file-size", Status::Pass),
            ("change-size", Status::Pass),
            ("diff-coverage", Status::Pass),
        ],
        "{outcomes:#?}"
    );
    for f in [
        "gate-report.json",
        "lcov.info",
        "diff-coverage.json",
        "change-size.json",
        "file-size.json",
    ] {
        assert!(out.join(f).is_file(), "{f} written");
    }
    let cov: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("diff-coverage.json")).unwrap())
            .unwrap();
    assert_eq!(cov["passed"], true);
    assert!(cov["result"]["executable"].as_u64().unwrap() > 0);

    // Badly formatted code fails fmt; a tight change limit fails change-size.
    repo.write("src/lib.rs", &format!("{TINY_LIB}pub fn  f( )->u8{{1}}\n"));
    repo.commit("unformatted");
    let mut a = args(&out, None);
    a.only = Some(GateName::Fmt);
    assert_eq!(run_in(repo.path(), &a).unwrap()[0].status, Status::Fail);
    a.only = Some(GateName::ChangeSize);
    a.max_changed_lines = 5;
    let o = run_in(repo.path(), &a).unwrap();
    assert_eq!(o[0].status, Status::Fail);
    assert!(o[0].detail.contains("over the limit of 5"), "{o:?}");
    // A missing base errors before any test run.
    a.only = Some(GateName::DiffCoverage);
    a.base = Some("origin/absent".into());
    let o = run_in(repo.path(), &a).unwrap();
    assert_eq!(o[0].status, Status::Error);
    assert!(o[0].detail.contains("a missing base is an error"), "{o:?}");
}

/// A change without added Rust lines passes diff coverage without running the tests.
#[test]
fn docs_only_change_passes_coverage_without_a_test_run() {
    let repo = Repo::new();
    repo.write("src/lib.rs", "pub fn a() {}\n");
    repo.branch();
    repo.write("README.md", "# docs\n");
    repo.write("src/lib.rs", "");
    repo.commit("docs, and a deletion");
    let out = repo.abs("gate-out");
    let mut a = args(&out, None);
    a.only = Some(GateName::DiffCoverage);
    let o = run_in(repo.path(), &a).unwrap();
    assert_eq!(o[0].status, Status::Pass, "{o:?}");
    assert!(o[0].detail.contains("no executable lines"), "{o:?}");
    assert!(
        !out.join("lcov.info").exists(),
        "cargo llvm-cov was not run"
    );
    assert!(out.join("diff-coverage.json").is_file());
}
