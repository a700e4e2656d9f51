//! `make deploy-prod-gated` end to end on the test bed: a UAT host set and a prod host set,
//! each a set of network namespaces with their own OpenSSH server (scripts/testbed.sh), real
//! deployctl rollouts over SSH, the E2E suites through an SSH tunnel to the admin endpoint.
//! Needs root (network namespaces), like the rest of the deployment tests.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::{gatecheck, hotel_api_bin, http_get_at, repo_root};
use testkit::inv::bed_remote;
use testkit::inventory::{master_args, Service, Thresholds};
use testkit::{Bed, Inventory, Role, Transport};

/// Environment `env` over every host of `bed`, hosts named `{env}-1`, ..., app role.
fn env(bed: &Bed, env: &str) -> testkit::Env {
    let mut e = bed.env(env, Transport::Ssh, Some(env));
    for h in &mut e.hosts {
        h.roles = vec![Role::App];
    }
    e
}

fn build_id_at(addr: &str) -> String {
    let (status, body) = http_get_at(&format!("{addr}:8080"), "/version").expect("GET /version");
    assert_eq!(status, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    v["build_id"].as_str().unwrap().to_string()
}

fn artifact_version(bin: &Path) -> serde_json::Value {
    testkit::builds::version(bin)
}

fn make(tmp: &Path, inventory: &Path, extra: &[String]) -> Output {
    let mut cmd = Command::new("make");
    cmd.current_dir(repo_root())
        .args(["-f", "mk/gates.mk", "deploy-prod-gated", "GATE_BUILD=0"])
        // Not a sub-make of an outer `make test`: no inherited jobserver or flags.
        .env_remove("MAKEFLAGS")
        .env_remove("MFLAGS")
        .env_remove("MAKELEVEL")
        .arg(format!("INVENTORY={}", inventory.display()))
        .arg(format!("GATECHECK={}", env!("CARGO_BIN_EXE_gatecheck")))
        .arg(format!(
            "DEPLOYCTL={}",
            testkit::bins::deployctl().display()
        ))
        .arg(format!("GATE_REPORTS={}", tmp.join("reports").display()))
        .args(extra)
        .env("DEPLOYCTL_STATE_DIR", tmp.join("state"));
    let out = cmd.output().expect("run make");
    eprintln!(
        "make deploy-prod-gated {extra:?} -> {}\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

#[test]
fn deploy_prod_gated_promotes_through_every_gate_and_stops_at_the_failing_gate() {
    let tmp = tempfile::tempdir().unwrap();
    let beds = tmp.path().join("beds");
    let uat = Bed::up_in(&beds, 1);
    let prod = Bed::up_in(&beds, 2);
    let v1 = hotel_api_bin(tmp.path());
    let v1_info = artifact_version(&v1);
    let commit = common::clean_commit(&v1_info);
    let admin = "127.0.0.1:9180";
    let token = "/srv/admin.token";
    let inventory = Inventory {
        binary: v1.clone(),
        config: vec![],
        remote: bed_remote(None, None),
        service: Service {
            pid_file: "/srv/hotel/run/hotel-api.pid".into(),
            port: 8080,
            admin: Some((admin.into(), token.into())),
            args: master_args(&["--admin", admin, "--admin-token-file", token]),
        },
        health: None,
        thresholds: Some(Thresholds {
            failure_tolerance: 0,
            max_loss_pct: None,
            max_latency_ms: None,
            on_network: None,
        }),
        rollout: None,
        envs: vec![env(&uat, "uat"), env(&prod, "prod")],
    }
    .write(tmp.path());

    // 1. Nothing runs anywhere yet: parity syncs UAT, the suites pass there, prod is rolled out.
    let out = make(tmp.path(), &inventory, &[format!("COMMIT={commit}")]);
    assert!(out.status.success(), "the gated promotion must pass");
    let text = String::from_utf8_lossy(&out.stdout);
    for step in [
        "gate 1/3",
        "gate 2/3",
        "step 3/3",
        "PASS  05-booking-survives-restart",
        "promoted commit",
    ] {
        assert!(text.contains(step), "missing {step:?}");
    }
    let v1_build = v1_info["build_id"].as_str().unwrap();
    for addr in uat.addresses().iter().chain(prod.addresses().iter()) {
        assert_eq!(build_id_at(addr), v1_build, "{addr} serves v1");
    }

    // 2. A new build whose UAT suites fail: UAT is synced to it, the E2E gate stops the
    //    promotion, prod keeps serving v1.
    let v2 = tmp.path().join("hotel-api-v2");
    assert!(Command::new(&v1)
        .args(["stamp", "--label", "v2", "--out"])
        .arg(&v2)
        .status()
        .unwrap()
        .success());
    let suites = tmp.path().join("suites");
    std::fs::create_dir_all(&suites).unwrap();
    std::fs::copy(
        repo_root().join("e2e/02-version.hurl"),
        suites.join("01-version.hurl"),
    )
    .unwrap();
    std::fs::write(
        suites.join("02-label.hurl"),
        "GET {{base_url}}/version\nHTTP 200\n[Asserts]\njsonpath \"$.label\" == \"release\"\n",
    )
    .unwrap();
    let out = make(
        tmp.path(),
        &inventory,
        &[
            format!("COMMIT={commit}"),
            format!("ARTIFACT={}", v2.display()),
            format!("E2E_SUITES={}", suites.display()),
        ],
    );
    assert!(
        !out.status.success(),
        "a UAT suite failure must stop the promotion"
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("STOPPED at gate 2/3 (E2E on uat): prod untouched"),
        "{err}"
    );
    assert!(!String::from_utf8_lossy(&out.stdout).contains("step 3/3"));
    let v2_build = artifact_version(&v2)["build_id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        build_id_at(&uat.addresses()[0]),
        v2_build,
        "UAT was synced to v2"
    );
    for addr in prod.addresses() {
        assert_eq!(build_id_at(&addr), v1_build, "prod host {addr} untouched");
    }
    let junit = std::fs::read_to_string(tmp.path().join("reports/e2e-uat/junit.xml")).unwrap();
    assert!(junit.contains("failures=\"1\""), "{junit}");

    // 3. A commit that the artifact is not: parity refuses to sync, the promotion stops at
    //    gate 1 and nothing moves anywhere.
    let out = make(
        tmp.path(),
        &inventory,
        &["COMMIT=0123456789abcdef0123456789abcdef01234567".to_string()],
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("refusing to sync") && err.contains("STOPPED at gate 1/3"),
        "{err}"
    );
    assert!(!String::from_utf8_lossy(&out.stdout).contains("gate 2/3"));
    assert_eq!(build_id_at(&uat.addresses()[0]), v2_build);
    for addr in prod.addresses() {
        assert_eq!(build_id_at(&addr), v1_build, "prod host {addr} untouched");
    }

    // 4. Parity alone (no sync) now reports UAT running v2's build, not v1's.
    let out = gatecheck(&[
        "--inventory",
        inventory.to_str().unwrap(),
        "parity",
        "--env",
        "uat",
        "--commit",
        &commit,
        "--artifact",
        v1.to_str().unwrap(),
        "--report",
        tmp.path().join("p.json").to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    drop(prod);
    drop(uat);
}
