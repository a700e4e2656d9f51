//! `gatecheck e2e` against real hotel-api processes on loopback.

mod common;

use common::{gatecheck, hotel_api_bin, inventory, repo_root, start};
use serde_json::Value;

fn read_json(path: &std::path::Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The repository's suites pass against a healthy service, including the booking that must
/// survive a graceful restart through the admin endpoint.
#[test]
fn repository_suites_pass_against_a_real_hotel_api() {
    let tmp = tempfile::tempdir().unwrap();
    let bin = hotel_api_bin(tmp.path());
    let svc = start(&bin);
    let generation_before = svc.version()["generation"].as_u64().unwrap();
    let inv = inventory(tmp.path(), "t", &bin, Some(&svc), &[("h1", svc.url())]);
    let reports = tmp.path().join("reports");
    let suites = repo_root().join("e2e");
    let out = gatecheck(&[
        "--inventory",
        inv.to_str().unwrap(),
        "e2e",
        "--env",
        "t",
        "--suites",
        suites.to_str().unwrap(),
        "--reports",
        reports.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "gate must pass");
    let json = read_json(&reports.join("e2e.json"));
    assert_eq!(json["passed"], true);
    let runs = json["hosts"][0]["runs"].as_array().unwrap();
    let names: Vec<&str> = runs.iter().map(|r| r["suite"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "01-health",
            "02-version",
            "03-search",
            "04-booking",
            "05-booking-survives-restart"
        ]
    );
    assert!(runs.iter().all(|r| r["verdict"] == "passed"), "{json}");
    let junit = std::fs::read_to_string(reports.join("junit.xml")).unwrap();
    assert!(
        junit.contains("tests=\"5\" failures=\"0\" errors=\"0\""),
        "{junit}"
    );
    // The restart suite really restarted the service, with the master's token, which no
    // report or output shows.
    assert!(svc.version()["generation"].as_u64().unwrap() > generation_before);
    let token = std::fs::read_to_string(svc.token_file()).unwrap();
    let json_text = std::fs::read_to_string(reports.join("e2e.json")).unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    for (what, text) in [
        ("junit", &junit),
        ("json", &json_text),
        ("stdout", &stdout.to_string()),
    ] {
        assert!(
            !text.contains(token.trim()),
            "admin token in the {what} report"
        );
    }
    assert!(
        stdout.contains("PASS  03-search"),
        "per-suite/per-host lines: {stdout}"
    );
}

/// A failing assertion fails the gate on the live host; a host that is down errors (its
/// remaining suites are not run); the exit status is 1 and both reports say why.
#[test]
fn failing_assertion_and_down_host_fail_the_gate() {
    let tmp = tempfile::tempdir().unwrap();
    let bin = hotel_api_bin(tmp.path());
    let svc = start(&bin);
    let suites = tmp.path().join("suites");
    std::fs::create_dir_all(&suites).unwrap();
    std::fs::write(
        suites.join("01-ping.hurl"),
        "GET {{base_url}}/ping\nHTTP 200\n",
    )
    .unwrap();
    std::fs::write(
        suites.join("02-wrong-service.hurl"),
        "GET {{base_url}}/version\nHTTP 200\n[Asserts]\njsonpath \"$.service\" == \"not-hotel-api\"\n",
    )
    .unwrap();
    // A loopback port held without a listener: connections are refused.
    let down = testkit::net::Reserved::new();
    let inv = inventory(
        tmp.path(),
        "t",
        &bin,
        None,
        &[("up", svc.url()), ("down", down.url())],
    );
    let reports = tmp.path().join("reports");
    let out = gatecheck(&[
        "--inventory",
        inv.to_str().unwrap(),
        "e2e",
        "--env",
        "t",
        "--suites",
        suites.to_str().unwrap(),
        "--reports",
        reports.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1), "gate must block");
    let json = read_json(&reports.join("e2e.json"));
    assert_eq!(json["passed"], false);
    let up = &json["hosts"][0];
    assert_eq!(up["host"], "up");
    assert_eq!(up["runs"][0]["verdict"], "passed");
    assert_eq!(up["runs"][1]["verdict"], "failed");
    let failure = up["runs"][1]["failures"][0].as_str().unwrap();
    assert!(
        failure.contains("not-hotel-api") && failure.contains("hotel-api"),
        "{failure}"
    );
    let down = &json["hosts"][1];
    assert_eq!(down["runs"][0]["verdict"], "error");
    assert_eq!(down["runs"][1]["verdict"], "error");
    assert!(down["runs"][1]["errors"][0]
        .as_str()
        .unwrap()
        .starts_with("not run"));
    let junit = std::fs::read_to_string(reports.join("junit.xml")).unwrap();
    assert!(
        junit.contains("tests=\"4\" failures=\"1\" errors=\"2\""),
        "{junit}"
    );
    assert!(junit.contains("<testsuite name=\"t.down\""), "{junit}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("FAIL  02-wrong-service") && stdout.contains("ERROR 01-ping"),
        "{stdout}"
    );
}

/// An unknown environment or an empty suite directory cannot run: exit status 2.
#[test]
fn unusable_inputs_exit_2() {
    let tmp = tempfile::tempdir().unwrap();
    let bin = hotel_api_bin(tmp.path());
    let inv = inventory(
        tmp.path(),
        "t",
        &bin,
        None,
        &[("h", "http://127.0.0.1:9".into())],
    );
    let out = gatecheck(&["--inventory", inv.to_str().unwrap(), "e2e", "--env", "nope"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown environment"));
    let empty = tmp.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let out = gatecheck(&[
        "--inventory",
        inv.to_str().unwrap(),
        "e2e",
        "--env",
        "t",
        "--suites",
        empty.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no *.hurl suites"));
}

fn make_gate_check(args: &[String]) -> std::process::Output {
    let out = std::process::Command::new("make")
        .current_dir(repo_root())
        .args(["-f", "mk/gates.mk", "deploy-gate-check", "GATE_BUILD=0"])
        // Not a sub-make of an outer `make test`: no inherited jobserver or flags.
        .env_remove("MAKEFLAGS")
        .env_remove("MFLAGS")
        .env_remove("MAKELEVEL")
        .arg(format!("GATECHECK={}", env!("CARGO_BIN_EXE_gatecheck")))
        .args(args)
        .output()
        .expect("run make");
    eprintln!(
        "make {args:?} -> {}\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// `make deploy-gate-check ENV=...` runs the blocking gate; a failing suite blocks it and
/// says so; without ENV it explains its usage.
#[test]
fn make_deploy_gate_check_passes_blocks_and_teaches() {
    let tmp = tempfile::tempdir().unwrap();
    let bin = hotel_api_bin(tmp.path());
    let svc = start(&bin);
    let inv = inventory(tmp.path(), "t", &bin, Some(&svc), &[("h1", svc.url())]);
    let common = [
        format!("INVENTORY={}", inv.display()),
        format!("GATE_REPORTS={}", tmp.path().join("reports").display()),
    ];
    let out = make_gate_check(&[&common[..], &["ENV=t".to_string()]].concat());
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("e2e gate for env t: PASSED"));
    assert!(tmp.path().join("reports/e2e-t/junit.xml").is_file());

    let suites = tmp.path().join("suites");
    std::fs::create_dir_all(&suites).unwrap();
    std::fs::write(
        suites.join("01-teapot.hurl"),
        "GET {{base_url}}/ping\nHTTP 418\n",
    )
    .unwrap();
    let out = make_gate_check(
        &[
            &common[..],
            &[
                "ENV=t".to_string(),
                format!("E2E_SUITES={}", suites.display()),
            ],
        ]
        .concat(),
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("BLOCKED by the E2E gate on env t"));

    let out = make_gate_check(&common);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("usage: make deploy-gate-check ENV="));
}
