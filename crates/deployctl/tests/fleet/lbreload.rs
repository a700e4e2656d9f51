//! haproxy under keep-alive and new-connection GET /ping and POST /bookings load: the opt-in
//! `[lb] down_during_restart` takes each host out of rotation before its restart and back
//! once it verifies, live through the runtime API; a host joining or leaving the inventory
//! changes haproxy's structure, done by a seamless reload (same master, new workers). Zero
//! client errors in both, and the LB's live state agrees with its files afterwards.

use crate::lbload::*;
use crate::lbstate::{assert_lb_agrees, haproxy_maint};
use std::collections::BTreeSet;
use std::time::{Duration, Instant};
use testkit::*;

/// One look at the fleet during a run: the build each app host serves (read first), then
/// the stable servers haproxy has in maintenance.
type Look = (Vec<Option<String>>, BTreeSet<String>);

/// Audit line index of the first record matching `f`, from `from` on.
fn find(audit: &[serde_json::Value], from: usize, f: impl Fn(&serde_json::Value) -> bool) -> usize {
    (from..audit.len())
        .find(|&i| f(&audit[i]))
        .unwrap_or_else(|| panic!("no such audit record after line {from}"))
}

/// Does an `lb config` record take `host` out (its detail's down set names it)?
fn marks_down(e: &serde_json::Value, host: &str) -> bool {
    let d = e["detail"].as_str().unwrap_or_default();
    d.rsplit("down ")
        .next()
        .unwrap()
        .contains(&format!("\"{host}\""))
}

#[test]
fn down_during_restart_marks_each_host_down_then_back_after_verify_in_haproxy() {
    let f = Fleet::on_v1(
        4,
        &Inv::behind_lb("haproxy", &["down_during_restart = true"]),
    );
    let (bed, builds, inv, state) = (&f.bed, &f.builds, &f.inv, &f.state);
    wait_lb_up(inv, state, "haproxy");
    let (v1, v2) = (build_id(&builds.v1), build_id(&builds.v2));
    let mix = Mix::start(&bed.hosts[0].address);
    let v2p = builds.v2.to_str().unwrap();
    let child = spawn(inv, state, &["rollout", "--env", "bed", "--artifact", v2p]);
    let mut child = Some(child);
    let mut looks: Vec<Look> = vec![];
    let t0 = Instant::now();
    let run = loop {
        let builds: Vec<_> = (1..4)
            .map(|k| served_build(&bed.hosts[k].address))
            .collect();
        looks.push((builds, haproxy_maint(bed, 0)));
        let c = child.as_mut().unwrap();
        if c.try_wait().unwrap().is_some() || t0.elapsed() > Duration::from_secs(200) {
            break finish(child.take().unwrap(), Duration::from_secs(30));
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    // And once the run is over.
    let builds: Vec<_> = (1..4)
        .map(|k| served_build(&bed.hosts[k].address))
        .collect();
    looks.push((builds, haproxy_maint(bed, 0)));
    let m = mix.stop();
    assert_eq!(run.code, 0, "{} {}", run.stderr, run.json);
    eprintln!("down_during_restart: {} looks\n{}", looks.len(), table(&m));
    assert_clean(&m, 20, "haproxy down_during_restart");
    for (k, host) in bed.hosts.iter().enumerate().skip(1) {
        let name = deployctl::observe::server_name(&host.name);
        let seen: Vec<(Option<&String>, bool)> = looks
            .iter()
            .map(|l| (l.0[k - 1].as_ref(), l.1.contains(&name)))
            .collect();
        assert!(seen.iter().all(|s| s.0.is_some()), "{name} stopped serving");
        let down = seen.iter().position(|s| s.1).expect("marked down");
        let new = seen.iter().position(|s| s.0 == Some(&v2)).expect("v2");
        assert!(
            down < new,
            "{name}: down at look {down}, v2 already at {new}"
        );
        assert!(seen[..down].iter().all(|s| s.0 == Some(&v1)), "{name}");
        for (i, s) in seen.iter().enumerate().skip(down) {
            assert!(
                s.1 || s.0 == Some(&v2),
                "{name} back serving v1 at look {i}"
            );
        }
        assert!(
            !seen.last().unwrap().1,
            "{name} back in rotation at the end"
        );
    }
    assert!(
        looks.iter().all(|l| l.1.len() <= 1),
        "one host out at a time"
    );
    // The run's own record: down, restart, verify, then back, for every host in turn.
    let audit = run.audit_events();
    let is = |e: &serde_json::Value, step: &str, host: &str| {
        e["step"] == step && e["host"] == host && e["result"] == "ok"
    };
    let mut at = 0;
    for host in bed.hosts[1..].iter().map(|h| h.name.as_str()) {
        let lb = |e: &serde_json::Value| e["step"] == "lb config" && e["result"] == "ok";
        let out = find(&audit, at, |e| lb(e) && marks_down(e, host));
        let restart = find(&audit, out, |e| is(e, "restart", host));
        let verify = find(&audit, restart, |e| is(e, "verify", host));
        at = find(&audit, verify, |e| lb(e) && !marks_down(e, host));
    }
    let live = assert_lb_agrees(bed, 0, "haproxy", "after down_during_restart");
    assert!(live.down.is_empty(), "{live:?}");
    for h in &bed.hosts[1..] {
        assert_eq!(served_build(&h.address), Some(v2.clone()), "{}", h.name);
    }
}

/// The fleet's inventory without the hosts `drop` (indices), written to `work/NAME`.
fn without(f: &Fleet, name: &str, drop: &[usize]) -> std::path::PathBuf {
    let mut doc = f
        .bed
        .inventory_doc(&f.builds.v1, &Inv::behind_lb("haproxy", &[]));
    let gone: Vec<&str> = drop.iter().map(|&k| f.bed.hosts[k].name.as_str()).collect();
    doc.env("bed")
        .hosts
        .retain(|h| !gone.contains(&h.name.as_str()));
    doc.write(&f.work.path().join(name))
}

/// Servers of haproxy's stable backend on disk.
fn stable_servers(lbh: &LbHost) -> usize {
    let cfg = lbh.owned();
    let stable = cfg.split("\nbackend deployctl_gray").next().unwrap();
    stable
        .lines()
        .filter(|l| l.trim().starts_with("server "))
        .count()
}

#[test]
fn haproxy_host_joining_and_leaving_reloads_seamlessly_without_client_errors() {
    let f = Fleet::new(5, &Inv::behind_lb("haproxy", &[]));
    let (bed, builds, all, state) = (&f.bed, &f.builds, &f.inv, &f.state);
    let three = without(&f, "three", &[4]);
    let r = deployctl(&three, state, &["rollout", "--env", "bed"]);
    assert_eq!(r.code, 0, "install: {} {}", r.stderr, r.json);
    wait_lb_up(&three, state, "haproxy");
    let lbh = LbHost::new(bed, 0, "haproxy");
    assert_eq!(stable_servers(&lbh), 3);
    let mut procs = lbh.processes();
    let mix = Mix::start(&bed.hosts[0].address);
    let leaves = without(&f, "leaves", &[1]);
    for (what, inv, n) in [("joins", all, 4), ("leaves", &leaves, 3)] {
        let r = deployctl(inv, state, &["rollout", "--env", "bed"]);
        assert_eq!(r.code, 0, "host {what}: {} {}", r.stderr, r.json);
        wait_lb_up(inv, state, "haproxy");
        assert_eq!(stable_servers(&lbh), n, "host {what}");
        let now = lbh.processes();
        assert_eq!(now.0, procs.0, "host {what}: same haproxy master");
        assert_ne!(now.1, procs.1, "host {what}: reloaded (new workers)");
        procs = now;
        let audit = r.audit();
        assert!(audit.contains("(Reloaded)"), "host {what}: {audit}");
        assert_lb_agrees(bed, 0, "haproxy", &format!("host {what}"));
        // Load keeps running across the reload for a while before the next change.
        mix.run_more(EXPOSURE, &format!("requests after host {what}"));
    }
    let m = mix.stop();
    eprintln!("haproxy join/leave reloads:\n{}", table(&m));
    assert_clean(&m, 50, "haproxy host join and leave");
    assert_eq!(
        served_build(&bed.hosts[4].address),
        Some(build_id(&builds.v1))
    );
}
