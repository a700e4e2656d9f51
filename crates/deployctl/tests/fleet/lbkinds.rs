//! Both LB kinds (real nginx, real haproxy on a bed host) in front of three real app hosts,
//! with keep-alive and new-connection clients sending GET /ping and POST /bookings through the
//! LB: a rollout whose hosts all verify changes no LB file and reloads no LB, with zero client
//! errors; a host that never becomes ready ends out of rotation (haproxy: live, zero client
//! errors; nginx: one reload, whose only cost is a keep-alive request racing the old worker's
//! close of its idle connection, at most one per keep-alive client); haproxy takes a SIGKILLed
//! host out within `fall` failed checks. The LB's live state agrees with its files after each.

use crate::lbload::*;
use crate::lbstate::assert_lb_agrees;
use testkit::*;

fn rollout_changes_no_lb_and_drops_nothing(kind: &'static str) {
    let f = Fleet::on_v1(4, &Inv::behind_lb(kind, &[]));
    let (bed, builds, inv, state) = (&f.bed, &f.builds, &f.inv, &f.state);
    wait_lb_up(inv, state, kind);
    let lbh = LbHost::new(bed, 0, kind);
    let (conf, procs) = (lbh.owned(), lbh.processes());
    assert!(!procs.1.is_empty(), "{kind} workers: {procs:?}");
    let mix = Mix::start(&bed.hosts[0].address);
    let v2 = builds.v2.to_str().unwrap();
    let r = deployctl(inv, state, &["rollout", "--env", "bed", "--artifact", v2]);
    let m = mix.stop();
    assert_eq!(r.code, 0, "{} {}", r.stderr, r.json);
    eprintln!("{kind} rollout:\n{}", table(&m));
    assert_clean(&m, 20, &format!("{kind} rollout"));
    assert!(builds_seen(&m).contains(&build_id(&builds.v2)), "{m:?}");
    assert_eq!(lbh.owned(), conf, "{kind}: the rollout changed no LB file");
    assert_eq!(lbh.processes(), procs, "{kind}: no reload (same workers)");
    assert!(
        !r.audit().contains("\"lb config\""),
        "no LB change recorded"
    );
    assert_lb_in_sync(inv, state, kind);
    let live = assert_lb_agrees(bed, 0, kind, "after the rollout");
    assert!(live.down.is_empty(), "{live:?}");
}

#[test]
fn rollout_behind_nginx_changes_no_lb_and_drops_no_request() {
    rollout_changes_no_lb_and_drops_nothing("nginx");
}

#[test]
fn rollout_behind_haproxy_changes_no_lb_and_drops_no_request() {
    rollout_changes_no_lb_and_drops_nothing("haproxy");
}

fn never_ready_host_ends_down(kind: &'static str) {
    let f = Fleet::on_v1(
        4,
        &Inv {
            tolerance: 1,
            ..Inv::behind_lb(kind, &[])
        },
    );
    let (bed, builds, inv, state) = (&f.bed, &f.builds, &f.inv, &f.state);
    wait_lb_up(inv, state, kind);
    let lbh = LbHost::new(bed, 0, kind);
    let procs = lbh.processes();
    let broken = builds.broken_on(&[&bed.hosts[3].name]);
    let mix = Mix::start(&bed.hosts[0].address);
    let r = f.rollout(&broken);
    let m = mix.stop();
    assert_eq!(r.code, 3, "PARTIAL_SUCCESS: {} {}", r.stderr, r.json);
    eprintln!("{kind} never-ready host:\n{}", table(&m));
    if kind == "haproxy" {
        // Marked down live through the runtime API: nothing for any client to notice.
        assert_clean(&m, 20, "haproxy never-ready host");
    } else {
        // nginx must reload once to mark the host down; the reload closes idle keep-alive
        // client connections (a request racing that close fails). New connections see nothing.
        assert_reload_cost_only(&m, 20, 1, "nginx never-ready host");
    }
    let down = &bed.hosts[3].name;
    let lb = assert_lb_in_sync(inv, state, kind);
    assert_eq!(lb["down"], serde_json::json!([down]), "{lb}");
    let conf = lbh.owned();
    let line = conf
        .lines()
        .find(|l| l.contains(&bed.hosts[3].address))
        .unwrap();
    match kind {
        "nginx" => assert!(line.contains(" down;"), "{line}"),
        _ => {
            assert!(line.ends_with(" disabled"), "{line}");
            let live = lb["servers"].as_array().unwrap();
            let s = live.iter().find(|s| s["server"] == down.as_str()).unwrap();
            assert!(s["status"].as_str().unwrap().starts_with("MAINT"), "{lb}");
            // Marked down live through the runtime API: the same haproxy workers.
            assert_eq!(lbh.processes(), procs, "no reload");
        }
    }
    let live = assert_lb_agrees(bed, 0, kind, "never-ready host");
    let name = deployctl::observe::server_name(down);
    assert_eq!(live.down, [name].into(), "{live:?}");
    // The fleet: the others serve and hold v2; the never-ready host is restored to v1.
    let (v1, v2) = (build_id(&builds.v1), build_id(&builds.v2));
    for k in 1..4 {
        let (want, sha) = if k == 3 {
            (&v1, &builds.v1)
        } else {
            (&v2, &broken)
        };
        assert_eq!(
            served_build(&bed.hosts[k].address).as_ref(),
            Some(want),
            "host {k}"
        );
        let installed = sha256_file(&bed.srv(k).join("hotel/hotel-api"));
        assert_eq!(installed, sha256_file(sha), "host {k} installed");
    }
}

#[test]
fn never_ready_host_ends_down_in_nginx_at_the_cost_of_one_reload() {
    never_ready_host_ends_down("nginx");
}

#[test]
fn never_ready_host_ends_down_in_haproxy_with_no_client_error() {
    never_ready_host_ends_down("haproxy");
}

/// `show stat` status of `backend/server`, read on the LB's stats socket (its path is visible
/// from here: the bed host's /srv is a directory of this machine).
fn haproxy_status(sock: &std::path::Path, backend: &str, server: &str) -> (String, String) {
    use std::io::{Read, Write};
    let mut s = std::os::unix::net::UnixStream::connect(sock).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .unwrap();
    s.write_all(b"show stat\n").unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let v = deployctl::observe::parse_stat(&out, "");
    let x = v
        .iter()
        .find(|x| x.backend == backend && x.server == server)
        .unwrap_or_else(|| panic!("{backend}/{server} in {out}"));
    (x.status.clone(), x.check_status.clone())
}

/// Pids of the master in `pid_file` and of its children.
fn master_and_workers(pid_file: &std::path::Path) -> Vec<i32> {
    let pid: i32 = std::fs::read_to_string(pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let mut v = vec![pid];
    for t in std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .flatten()
    {
        let kids = std::fs::read_to_string(t.path().join("children")).unwrap_or_default();
        v.extend(kids.split_whitespace().map(|p| p.parse::<i32>().unwrap()));
    }
    v
}

#[test]
fn haproxy_takes_a_killed_host_out_within_three_failed_checks() {
    let f = Fleet::on_v1(4, &Inv::behind_lb("haproxy", &[]));
    let (bed, inv, state) = (&f.bed, &f.inv, &f.state);
    wait_lb_up(inv, state, "haproxy");
    let sock = bed.srv(0).join("haproxy/haproxy.sock");
    let victim = deployctl::observe::server_name(&bed.hosts[3].name);
    assert_eq!(haproxy_status(&sock, "deployctl_stable", &victim).0, "UP");
    // The active check as rendered: the victim is out after `fall` failed checks, `inter`
    // apart, the first within `inter` of the kill, each bounded by `timeout connect` (2 s).
    let cfg = std::fs::read_to_string(bed.srv(0).join("haproxy/haproxy.cfg")).unwrap();
    let (inter, fall) = check_timing(&cfg);
    let window = inter * fall + 2.0;
    let mix_start = std::time::Instant::now();
    let mix = Mix::start(&bed.hosts[0].address);
    mix.run_more(EXPOSURE, "requests before the kill");
    let pids = master_and_workers(&bed.srv(3).join("hotel/run/hotel-api.pid"));
    assert!(pids.len() >= 2, "master and worker: {pids:?}");
    let t0 = std::time::Instant::now();
    for p in &pids {
        // Our own children's processes on the bed host, by pid.
        // SAFETY: kill(2) with a pid read just now from the master's pid file or its children.
        assert_eq!(unsafe { libc::kill(*p, libc::SIGKILL) }, 0, "kill {p}");
    }
    let kill_at = (t0 - mix_start).as_secs_f64();
    let (out_after, check) = loop {
        let (st, check) = haproxy_status(&sock, "deployctl_stable", &victim);
        if st.starts_with("DOWN") {
            break (t0.elapsed(), check);
        }
        assert!(t0.elapsed().as_secs_f64() < 2.0 * window, "still {st}");
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    mix.run_more(EXPOSURE, "requests after the host is out");
    let m = mix.stop();
    let out_s = out_after.as_secs_f64();
    eprintln!(
        "haproxy host kill: out of rotation after {out_s:.1} s (last check {check}; fall {fall} \
         x inter {inter} s)\n{}",
        table(&m)
    );
    assert!(
        out_s <= window + 1.0,
        "out after {out_s} s > {window} s (+1 s polling)"
    );
    for (l, r) in &m {
        assert!(r.requests() >= 20, "{l} ran\n{}", table(&m));
        if l.starts_with("GET") {
            // Idempotent: retried by haproxy on another server.
            assert_eq!(r.failed(), 0, "{l}\n{}", table(&m));
        } else {
            // A POST in flight on the victim when it died cannot be replayed: at most one per
            // client, and only one sent between the kill and the victim leaving rotation.
            assert!(r.failed() <= CLIENTS as u64, "{l}\n{}", table(&m));
            for f in r.samples.iter().filter(|s| s.failure.is_some()) {
                let (at, end) = (f.at.as_secs_f64(), (f.at + f.latency).as_secs_f64());
                assert!(
                    end >= kill_at - 0.5 && at <= kill_at + out_s + 1.0,
                    "{l}: error at {at:.1} s, kill at {kill_at:.1} s, out at +{out_s:.1} s"
                );
            }
        }
    }
    let live = assert_lb_agrees(bed, 0, "haproxy", "after the host kill");
    assert!(
        live.down.is_empty(),
        "DOWN by checks, not in maintenance: {live:?}"
    );
}

/// `inter` (seconds) and `fall` of the rendered `default-server check ...` line.
fn check_timing(cfg: &str) -> (f64, f64) {
    let line = cfg
        .lines()
        .find_map(|l| l.trim().strip_prefix("default-server check "))
        .expect("default-server check line");
    let f: Vec<&str> = line.split_whitespace().collect();
    let val = |k: &str| f[f.iter().position(|x| *x == k).unwrap() + 1];
    let inter: f64 = val("inter").trim_end_matches('s').parse().unwrap();
    (inter, val("fall").parse().unwrap())
}
