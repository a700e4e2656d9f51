//! `gatecheck parity` against real hotel-api processes (a second build made with `stamp`).

mod common;

use std::process::Command;

use common::{free_port, gatecheck, hotel_api_bin, inventory, Service};

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn parity_matches_the_served_commit_and_build() {
    let tmp = tempfile::tempdir().unwrap();
    let bin = hotel_api_bin(tmp.path());
    let svc = Service::start(&bin);
    let commit = svc.version()["commit"].as_str().unwrap().to_string();
    let inv = inventory(tmp.path(), "uat", &bin, None, &[("uat-1", svc.url())]);
    let report = tmp.path().join("parity.json");
    let base = [
        "--inventory",
        inv.to_str().unwrap(),
        "parity",
        "--env",
        "uat",
        "--report",
        report.to_str().unwrap(),
    ];

    let out = gatecheck(&[&base[..], &["--commit", &commit]].concat());
    assert_eq!(out.status.code(), Some(0));
    assert!(stdout(&out).contains("OK        uat-1"), "{}", stdout(&out));
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    assert_eq!(json["passed"], true);
    assert_eq!(json["hosts"][0]["commit"], commit.as_str());

    // The exact build: the running binary matches, a stamped copy of it does not.
    let out = gatecheck(
        &[
            &base[..],
            &["--commit", &commit, "--artifact", bin.to_str().unwrap()],
        ]
        .concat(),
    );
    assert_eq!(out.status.code(), Some(0));
    let v2 = tmp.path().join("hotel-api-v2");
    let st = Command::new(&bin)
        .args(["stamp", "--label", "v2", "--out"])
        .arg(&v2)
        .status()
        .unwrap();
    assert!(st.success());
    let out = gatecheck(
        &[
            &base[..],
            &["--commit", &commit, "--artifact", v2.to_str().unwrap()],
        ]
        .concat(),
    );
    assert_eq!(
        out.status.code(),
        Some(1),
        "same commit, different build: mismatch"
    );
    assert!(stdout(&out).contains("MISMATCH  uat-1"));
}

#[test]
fn parity_mismatch_lists_each_host_and_what_it_runs() {
    let tmp = tempfile::tempdir().unwrap();
    let bin = hotel_api_bin(tmp.path());
    let svc = Service::start(&bin);
    let commit = svc.version()["commit"].as_str().unwrap().to_string();
    let down = format!("http://127.0.0.1:{}", free_port());
    let inv = inventory(
        tmp.path(),
        "uat",
        &bin,
        None,
        &[("uat-1", svc.url()), ("uat-2", down)],
    );
    let report = tmp.path().join("parity.json");
    let wanted = "0123456789abcdef0123456789abcdef01234567";
    let out = gatecheck(&[
        "--inventory",
        inv.to_str().unwrap(),
        "parity",
        "--env",
        "uat",
        "--commit",
        wanted,
        "--report",
        report.to_str().unwrap(),
        "--timeout-s",
        "3",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    assert!(
        text.contains("MISMATCH  uat-1") && text.contains(&format!("runs commit {commit}")),
        "{text}"
    );
    assert!(
        text.contains("MISMATCH  uat-2") && text.contains("unreadable"),
        "{text}"
    );
    assert!(text.contains("FAILED"), "{text}");

    // Even with the commit served, a host that is down fails parity.
    let out = gatecheck(&[
        "--inventory",
        inv.to_str().unwrap(),
        "parity",
        "--env",
        "uat",
        "--commit",
        &commit,
        "--report",
        report.to_str().unwrap(),
        "--timeout-s",
        "3",
    ]);
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn sync_refuses_an_artifact_of_another_commit() {
    let tmp = tempfile::tempdir().unwrap();
    let bin = hotel_api_bin(tmp.path());
    let svc = Service::start(&bin);
    let inv = inventory(tmp.path(), "uat", &bin, None, &[("uat-1", svc.url())]);
    let wanted = "0123456789abcdef0123456789abcdef01234567";
    let out = gatecheck(&[
        "--inventory",
        inv.to_str().unwrap(),
        "parity",
        "--env",
        "uat",
        "--commit",
        wanted,
        "--sync",
        "--deployctl",
        "/nonexistent/deployctl",
        "--report",
        tmp.path().join("p.json").to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2), "cannot sync: exit 2");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("refusing to sync") && err.contains(wanted),
        "{err}"
    );
}
