//! `gatecheck parity` against real hotel-api processes (a second build made with `stamp`).

mod common;

use std::process::Command;

use common::{clean_commit, gatecheck, hotel_api_bin, inventory, start, static_json_server};

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn parity_matches_the_served_commit_and_build() {
    let tmp = tempfile::tempdir().unwrap();
    let bin = hotel_api_bin(tmp.path());
    let svc = start(&bin);
    let commit = clean_commit(&svc.version());
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

    // A 12-digit abbreviation names the commit; a 7-digit one is too ambiguous.
    let out = gatecheck(&[&base[..], &["--commit", &commit[..12]]].concat());
    assert_eq!(out.status.code(), Some(0));
    let out = gatecheck(&[&base[..], &["--commit", &commit[..7]]].concat());
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn parity_refuses_a_build_from_a_dirty_tree() {
    let tmp = tempfile::tempdir().unwrap();
    let commit = "0123456789abcdef0123456789abcdef01234567";
    let doc = |version: &str, dirty: bool| {
        format!(
            r#"{{"service":"hotel-api","version":"{version}","commit":"{commit}","dirty":{dirty},"build_time":"t","label":"","build_id":"{version}-0123456789ab-1"}}"#
        )
    };
    let clean = static_json_server(doc("0.1.0", false));
    let flagged = static_json_server(doc("0.1.0-dirty", true));
    let bin = tmp.path().join("unused");
    for (hosts, code) in [
        (vec![("uat-1", clean.clone())], 0),
        (vec![("uat-1", clean), ("uat-2", flagged)], 1),
    ] {
        let inv = inventory(tmp.path(), "uat", &bin, None, &hosts);
        let report = tmp.path().join("parity.json");
        let out = gatecheck(&[
            "--inventory",
            inv.to_str().unwrap(),
            "parity",
            "--env",
            "uat",
            "--commit",
            commit,
            "--report",
            report.to_str().unwrap(),
        ]);
        assert_eq!(out.status.code(), Some(code), "{}", stdout(&out));
        if code == 1 {
            let text = stdout(&out);
            assert!(
                text.contains("OK        uat-1")
                    && text.contains("MISMATCH  uat-2")
                    && text.contains("dirty tree"),
                "{text}"
            );
            let json: serde_json::Value =
                serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
            assert_eq!(json["hosts"][1]["dirty"], true);
        }
    }
}

#[test]
fn parity_mismatch_lists_each_host_and_what_it_runs() {
    let tmp = tempfile::tempdir().unwrap();
    let bin = hotel_api_bin(tmp.path());
    let svc = start(&bin);
    let commit = svc.version()["commit"].as_str().unwrap().to_string();
    // A loopback port held without a listener: connections are refused.
    let down = testkit::net::Reserved::new();
    let inv = inventory(
        tmp.path(),
        "uat",
        &bin,
        None,
        &[("uat-1", svc.url()), ("uat-2", down.url())],
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
    let svc = start(&bin);
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
