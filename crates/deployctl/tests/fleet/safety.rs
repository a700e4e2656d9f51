//! Refusals: unknown or changed host keys, a held environment lock (and a stale one taken
//! over), invalid inventories. In every case nothing changes on the hosts.

use crate::bed::*;
use std::process::Command;
use std::time::{Duration, Instant};

fn host_key_refused(transport: &'static str) {
    let bed = Bed::up(1);
    let builds = Builds::new();
    let work = tempfile::tempdir().unwrap();
    let state = work.path().join("state");
    let logins = bed.logins(0);
    // Unknown: an empty known_hosts file.
    let empty = work.path().join("kh-empty");
    std::fs::write(&empty, "").unwrap();
    let inv = bed.inventory(
        work.path(),
        &builds.v1,
        &Inv {
            transport,
            known_hosts: Some(empty),
            ..Inv::default()
        },
    );
    let r = deployctl(&inv, &state, &["rollout", "--env", "bed"]);
    assert_eq!(r.code, 5, "{} {}", r.stderr, r.json);
    let reason = r.json["reason"].as_str().unwrap();
    assert!(
        reason.contains("host key is not in the known_hosts file"),
        "{reason}"
    );
    // Changed: the host's address with another key.
    let other = work.path().join("other_key");
    let st = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&other)
        .status()
        .unwrap();
    assert!(st.success());
    let pubkey = std::fs::read_to_string(other.with_extension("pub")).unwrap();
    let key: Vec<&str> = pubkey.split_whitespace().take(2).collect();
    let changed = work.path().join("kh-changed");
    std::fs::write(
        &changed,
        format!("{} {}\n", bed.hosts[0].address, key.join(" ")),
    )
    .unwrap();
    let inv = bed.inventory(
        work.path(),
        &builds.v1,
        &Inv {
            transport,
            known_hosts: Some(changed),
            ..Inv::default()
        },
    );
    let r = deployctl(&inv, &state, &["rollout", "--env", "bed"]);
    assert_eq!(r.code, 5, "{} {}", r.stderr, r.json);
    let reason = r.json["reason"].as_str().unwrap();
    assert!(reason.contains("HOST KEY CHANGED"), "{reason}");
    assert_eq!(bed.logins(0), logins, "no login happened");
    assert!(ls(&bed.srv(0)).is_empty(), "nothing changed on the host");
}

#[test]
fn unknown_or_changed_host_key_is_refused_over_openssh() {
    host_key_refused("ssh");
}

#[test]
fn unknown_or_changed_host_key_is_refused_over_native_russh() {
    host_key_refused("native");
}

#[test]
fn concurrent_rollout_is_refused_and_a_killed_runs_lock_is_stale() {
    let bed = Bed::up(1);
    let builds = Builds::new();
    let work = tempfile::tempdir().unwrap();
    let state = work.path().join("state");
    let inv = bed.inventory(
        work.path(),
        &builds.v1,
        &Inv {
            admin: false,
            timeout_s: 60,
            ..Inv::default()
        },
    );
    assert_eq!(
        deployctl(&inv, &state, &["rollout", "--env", "bed"]).code,
        0
    );
    // A: a build that never becomes ready keeps A verifying (holding the lock) for 60 s.
    let broken = builds.broken_on(&[&bed.hosts[0].name]);
    let a = spawn(
        &inv,
        &state,
        &[
            "rollout",
            "--env",
            "bed",
            "--artifact",
            broken.to_str().unwrap(),
        ],
    );
    let lock = state.join("locks/bed.lock");
    let t0 = Instant::now();
    while !lock.exists() {
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "run A never took the lock"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let b = deployctl(
        &inv,
        &state,
        &[
            "rollout",
            "--env",
            "bed",
            "--artifact",
            builds.v2.to_str().unwrap(),
        ],
    );
    assert_eq!(b.code, 5, "{} {}", b.stderr, b.json);
    assert!(b.stderr.contains("is locked by run"), "{}", b.stderr);
    assert!(
        b.stderr.contains(&format!("pid {}", a.id())),
        "{}",
        b.stderr
    );
    // Kill A hard (SIGKILL by its pid): its lock stays behind, stale.
    let a_pid = a.id();
    let st = Command::new("kill")
        .args(["-KILL", &a_pid.to_string()])
        .status()
        .unwrap();
    assert!(st.success());
    let _ = finish(a, Duration::from_secs(10));
    assert!(lock.exists(), "a killed run cannot remove its lock");
    let c = deployctl(
        &inv,
        &state,
        &[
            "rollout",
            "--env",
            "bed",
            "--artifact",
            builds.v2.to_str().unwrap(),
        ],
    );
    assert_eq!(c.code, 0, "{} {}", c.stderr, c.json);
    let audit = std::fs::read_to_string(c.json["audit_log"].as_str().unwrap()).unwrap();
    assert!(audit.contains("stale lock of run"), "{audit}");
    assert!(!lock.exists(), "released at the end of the run");
    assert_eq!(
        served_build(&bed.hosts[0].address),
        Some(build_id(&builds.v2))
    );
    // Ctrl-C (SIGINT) in the middle of a run: exit 130 and the lock is released.
    let d = spawn(
        &inv,
        &state,
        &[
            "rollout",
            "--env",
            "bed",
            "--artifact",
            broken.to_str().unwrap(),
        ],
    );
    let t0 = Instant::now();
    while !lock.exists() {
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "run D never took the lock"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let st = Command::new("kill")
        .args(["-INT", &d.id().to_string()])
        .status()
        .unwrap();
    assert!(st.success());
    let d = finish(d, Duration::from_secs(20));
    assert_eq!(d.code, 130, "{}", d.stderr);
    assert!(d.stderr.contains("interrupted"), "{}", d.stderr);
    assert!(!lock.exists(), "Ctrl-C released the lock");
}

#[test]
fn invalid_inventories_fail_with_file_line_and_reason_touching_nothing() {
    let bed = Bed::up(1);
    let builds = Builds::new();
    let work = tempfile::tempdir().unwrap();
    let state = work.path().join("state");
    let good =
        std::fs::read_to_string(bed.inventory(work.path(), &builds.v1, &Inv::default())).unwrap();
    let addr = &bed.hosts[0].address;
    let host_line = good
        .lines()
        .position(|l| l.contains(addr.as_str()))
        .unwrap()
        + 1;
    let dup = good.replace(
        &format!("  {{ name = \"{}\"", bed.hosts[0].name),
        &format!("  {{ name = \"x\", address = \"{addr}\" }},\n  {{ name = \"x\""),
    );
    let cases: Vec<(&str, String, &str, String)> = vec![
        (
            "missing field",
            good.replace(&format!("address = \"{addr}\", "), ""),
            "bed",
            format!(":{host_line}: missing field `address`"),
        ),
        (
            "bad address",
            good.replace(addr.as_str(), "198.18.999.1"),
            "bed",
            format!(":{host_line}: bad address `198.18.999.1`"),
        ),
        (
            "unknown env",
            good.clone(),
            "nope",
            "unknown environment `nope` (known: bed)".to_string(),
        ),
        (
            "duplicate host",
            dup,
            "bed",
            format!(":{}: duplicate host `x`", host_line + 1),
        ),
    ];
    let conns = bed.connections(0);
    for (what, text, env, expected) in cases {
        let p = work.path().join(format!("{}.toml", what.replace(' ', "-")));
        std::fs::write(&p, text).unwrap();
        let r = deployctl(&p, &state, &["rollout", "--env", env]);
        assert_eq!(r.code, 2, "{what}: {}", r.stderr);
        assert!(
            r.stderr.contains(&expected),
            "{what}: expected `{expected}` in {}",
            r.stderr
        );
        assert!(
            r.stderr.contains(p.to_str().unwrap()),
            "{what}: names the file: {}",
            r.stderr
        );
    }
    assert_eq!(bed.connections(0), conns, "no host was contacted");
    assert!(ls(&bed.srv(0)).is_empty());
}
