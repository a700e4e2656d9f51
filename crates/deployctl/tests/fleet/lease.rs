//! Runs that must not overlap: the local lock (same state dir), host leases (another state
//! dir, as another controller would have), a run killed with SIGKILL whose leases expire, and
//! Ctrl-C; a remote command that hangs fails within its bound and gives the lease back.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};
use testkit::*;

fn lease_file(bed: &Bed) -> PathBuf {
    bed.srv(0).join("hotel/.deploy/lease")
}

/// `key=value` of the host's lease file.
fn lease_field(p: &Path, key: &str) -> String {
    std::fs::read_to_string(p)
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{key}=")).map(str::to_string))
        .unwrap_or_default()
}

fn signal(pid: u32, sig: &str) {
    let st = Command::new("kill")
        .args([sig, &pid.to_string()])
        .status()
        .unwrap();
    assert!(st.success());
}

#[test]
fn two_controllers_exactly_one_proceeds_and_a_killed_runs_lease_expires() {
    let f = Fleet::on_v1(
        1,
        &Inv {
            admin: false,
            timeout_s: 60,
            // Long enough that the "early" run below reaches the host before A's lease
            // expires even on a loaded machine (6 s was not: the run took over, exit 0).
            lease_ttl_s: 20,
            ..Inv::default()
        },
    );
    let (bed, builds, work, inv, state_a) = (&f.bed, &f.builds, &f.work, &f.inv, &f.state);
    let state_c = work.path().join("state-c");
    let lease = lease_file(bed);
    assert!(!lease.exists(), "released at the end of a run");
    // A: a build that never becomes ready keeps A verifying (holding the lease) for 60 s.
    let broken = builds.broken_on(&[&bed.hosts[0].name]);
    let art = ["rollout", "--env", "bed", "--artifact"];
    let a = spawn(
        inv,
        state_a,
        &[&art[..], &[broken.to_str().unwrap()]].concat(),
    );
    wait_for("run A leases the host", Duration::from_secs(60), || {
        lease.exists()
    });
    let a_run = lease_field(&lease, "run");
    assert!(!a_run.is_empty());
    // B: same state dir, refused by the local lock (names A's pid).
    let v2 = builds.v2.to_str().unwrap();
    let b = deployctl(inv, state_a, &[&art[..], &[v2]].concat());
    assert_eq!(b.code, 5, "{} {}", b.stderr, b.json);
    assert!(b.stderr.contains("is locked by run"), "{}", b.stderr);
    assert!(
        b.stderr.contains(&format!("pid {}", a.id())),
        "{}",
        b.stderr
    );
    // C: another state dir, as a second controller: refused by the host lease, naming A.
    let c = deployctl(inv, &state_c, &[&art[..], &[v2]].concat());
    assert_eq!(c.code, 5, "{} {}", c.stderr, c.json);
    assert!(c.stderr.contains("leased on host"), "{}", c.stderr);
    assert!(c.stderr.contains(&format!("run {a_run}")), "{}", c.stderr);
    assert_eq!(
        served_build(&bed.hosts[0].address),
        Some(build_id(&builds.v1)),
        "C changed nothing (A's new worker is not ready)"
    );
    // Kill A hard: its lease stays until it expires; a run before that is refused.
    signal(a.id(), "-KILL");
    let _ = finish(a, Duration::from_secs(10));
    assert_eq!(
        lease_field(&lease, "run"),
        a_run,
        "a killed run cannot release"
    );
    let early = deployctl(inv, &state_c, &[&art[..], &[v2]].concat());
    assert_eq!(early.code, 5, "{} {}", early.stderr, early.json);
    assert!(early.stderr.contains(&a_run), "{}", early.stderr);
    // After expiry (20 s lifetime, no renewal), the next run takes it over and proceeds.
    let expires: i64 = lease_field(&lease, "expires").parse().unwrap();
    wait_for("A's lease expires", Duration::from_secs(60), || {
        chrono::Utc::now().timestamp() > expires
    });
    let d = deployctl(inv, &state_c, &[&art[..], &[v2]].concat());
    assert_eq!(d.code, 0, "{} {}", d.stderr, d.json);
    let audit = d.audit();
    assert!(
        audit.contains(&format!("took over the expired lease of run {a_run}")),
        "{audit}"
    );
    assert!(!lease.exists(), "released at the end of the run");
    assert_eq!(
        served_build(&bed.hosts[0].address),
        Some(build_id(&builds.v2))
    );
    assert_eq!(
        sha256_file(&bed.srv(0).join("hotel/hotel-api")),
        sha256_file(&builds.v2)
    );
    // Ctrl-C (SIGINT) in the middle of a run: the host in flight finishes (its verification
    // fails within timeout_s) and is restored; exit 130 and the lease is released.
    let e = spawn(
        inv,
        &state_c,
        &[&art[..], &[broken.to_str().unwrap()]].concat(),
    );
    wait_for("run E leases the host", Duration::from_secs(60), || {
        lease.exists()
    });
    signal(e.id(), "-INT");
    let e = finish(e, Duration::from_secs(150));
    assert_eq!(e.code, 130, "{}", e.stderr);
    assert_eq!(e.json["outcome"], "INTERRUPTED", "{}", e.json);
    assert!(!lease.exists(), "Ctrl-C released the lease");
    assert_eq!(
        served_build(&bed.hosts[0].address),
        Some(build_id(&builds.v2)),
        "the changed host is restored"
    );
}

/// Two controllers (separate state dirs) started at the same moment against one environment
/// of two hosts, twice: every time exactly one proceeds and deploys every host, the other
/// changes nothing and names the lease holder's run; no lease is left behind.
#[test]
fn two_controllers_started_together_exactly_one_proceeds() {
    let f = Fleet::new(2, &Inv::default());
    let (bed, builds, work, inv, state_a) = (&f.bed, &f.builds, &f.work, &f.inv, &f.state);
    let state_b = work.path().join("state-b");
    for build in [&builds.v2, &builds.v1] {
        let art = [
            "rollout",
            "--env",
            "bed",
            "--artifact",
            build.to_str().unwrap(),
        ];
        let a = spawn(inv, state_a, &art);
        let b = spawn(inv, &state_b, &art);
        let (a, b) = (
            finish(a, Duration::from_secs(240)),
            finish(b, Duration::from_secs(240)),
        );
        let (won, lost) = match (a.code, b.code) {
            (0, 5) => (a, b),
            (5, 0) => (b, a),
            _ => panic!(
                "exactly one proceeds: A {} {} / B {} {}",
                a.code, a.stderr, b.code, b.stderr
            ),
        };
        let run = won.json["run_id"].as_str().unwrap();
        assert!(lost.stderr.contains("leased on host"), "{}", lost.stderr);
        assert!(
            lost.stderr.contains(&format!("run {run}")),
            "{}",
            lost.stderr
        );
        for (k, h) in bed.hosts.iter().enumerate() {
            let dir = bed.srv(k).join("hotel");
            assert_eq!(sha256_file(&dir.join("hotel-api")), sha256_file(build));
            assert_eq!(served_build(&h.address), Some(build_id(build)));
            assert!(
                !dir.join(".deploy/lease").exists(),
                "no lease left on {}",
                h.name
            );
        }
    }
}

#[test]
fn unlock_removes_only_an_expired_lease_unless_forced_and_audits_it() {
    let f = Fleet::new(1, &Inv::default());
    let (bed, inv, state) = (&f.bed, &f.inv, &f.state);
    let lease = lease_file(bed);
    std::fs::create_dir_all(lease.parent().unwrap()).unwrap();
    let now = chrono::Utc::now().timestamp();
    let write = |expires: i64| {
        std::fs::write(
            &lease,
            format!("run=r-gone\ncontroller=ci-7\nuser=ops\npid=1\nstarted={now}\nheartbeat={now}\nexpires={expires}\n"),
        )
        .unwrap()
    };
    write(now + 3600);
    let r = deployctl(inv, state, &["unlock", "--env", "bed"]);
    assert_eq!(r.code, 1, "{} {}", r.stderr, r.json);
    assert_eq!(r.json["hosts"][0]["result"], "held");
    assert!(lease.exists(), "a live lease stays without --force");
    let r = deployctl(inv, state, &["unlock", "--env", "bed", "--force"]);
    assert_eq!(r.code, 0, "{} {}", r.stderr, r.json);
    assert_eq!(r.json["hosts"][0]["result"], "removed");
    assert!(!lease.exists());
    let audit = r.audit();
    assert!(
        audit.contains("removed: lease of run r-gone (ops@ci-7"),
        "{audit}"
    );
    write(now - 10);
    let r = deployctl(inv, state, &["unlock", "--env", "bed"]);
    assert_eq!(r.code, 0, "{} {}", r.stderr, r.json);
    assert_eq!(r.json["hosts"][0]["result"], "removed");
}

#[test]
fn a_hanging_remote_command_fails_within_its_bound_and_releases_the_lease() {
    let f = Fleet::new(
        1,
        &Inv {
            admin: false,
            step_timeout_s: 3,
            ..Inv::default()
        },
    );
    let (bed, inv, state) = (&f.bed, &f.inv, &f.state);
    // The pid file is a FIFO nobody writes: reading it blocks forever, as a read from a
    // stale NFS mount would.
    let run = bed.srv(0).join("hotel/run");
    std::fs::create_dir_all(&run).unwrap();
    let fifo = run.join("hotel-api.pid");
    let st = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(st.success());
    let t0 = Instant::now();
    let r = finish(
        spawn(inv, state, &["rollout", "--env", "bed"]),
        Duration::from_secs(60),
    );
    let took = t0.elapsed();
    // Release the blocked reader on the host (open for writing, then close: EOF).
    {
        use std::os::unix::fs::OpenOptionsExt;
        let _w = std::fs::OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&fifo);
    }
    std::fs::remove_file(&fifo).unwrap();
    assert_ne!(r.code, 0, "{} {}", r.stderr, r.json);
    let h = &r.json["hosts"][0];
    assert_eq!(h["state"], "failed", "{}", r.json);
    let err = h["error"].as_str().unwrap();
    assert!(err.contains("no answer within 3s"), "{err}");
    assert!(took < Duration::from_secs(40), "bounded: {took:?}");
    assert!(!lease_file(bed).exists(), "lease released");
    assert!(!ls(&bed.srv(0).join("hotel")).contains(&"hotel-api".to_string()));
}
