//! Network faults: packet loss injected with nftables `numgen random` inside a host's
//! namespace, and the SSH connection killed in the middle of an upload.

use std::time::Duration;
use testkit::*;

#[test]
fn packet_loss_is_measured_and_stops_or_warns_per_threshold() {
    let f = Fleet::new(2, &Inv::default());
    let (bed, builds, work, inv, state) = (&f.bed, &f.builds, &f.work, &f.inv, &f.state);
    bed.loss(1, 40);
    let n = deployctl(inv, state, &["netcheck", "--env", "bed"]);
    assert_eq!(n.code, 5, "{} {}", n.stderr, n.json);
    let hosts = n.json.as_array().unwrap();
    assert_eq!(hosts[0]["stats"]["loss_pct"], 0.0, "{}", n.json);
    assert_eq!(hosts[0]["verdict"]["ok"], true);
    // Few TCP probes (each is a pre-authentication sshd process on the host), 16 ICMP
    // echoes: the worse of the two is what the threshold judges.
    let tcp = hosts[1]["stats"]["loss_pct"].as_f64().unwrap();
    let icmp = hosts[1]["stats"]["icmp"]["loss_pct"].as_f64().unwrap();
    assert!(
        tcp.max(icmp) > 5.0,
        "40% injected, {tcp}% / {icmp}% measured"
    );
    assert_eq!(hosts[1]["verdict"]["ok"], false);
    // The nftables rule drops every packet entering the host, ICMP echo requests included:
    // `ping` (installed by the bed script) measures the loss too; the clean host has none.
    assert_eq!(
        hosts[0]["stats"]["icmp"]["status"], "measured",
        "{}",
        n.json
    );
    assert_eq!(hosts[0]["stats"]["icmp"]["loss_pct"], 0.0, "{}", n.json);
    assert!(hosts[0]["stats"]["icmp"]["rtt_avg_ms"].as_f64().unwrap() > 0.0);
    assert_eq!(
        hosts[1]["stats"]["icmp"]["status"], "measured",
        "{}",
        n.json
    );
    let icmp_lossy = hosts[1]["stats"]["icmp"]["loss_pct"].as_f64().unwrap();
    assert!(
        icmp_lossy > 5.0,
        "40% injected, ICMP {icmp_lossy}% measured"
    );
    assert!(
        hosts[1]["verdict"]["reasons"][0]
            .as_str()
            .unwrap()
            .contains("icmp"),
        "{}",
        n.json
    );
    // on_network = "stop": refused before anything is touched.
    let r = deployctl(inv, state, &["rollout", "--env", "bed"]);
    assert_eq!(r.code, 5, "{} {}", r.stderr, r.json);
    assert_eq!(r.json["outcome"], "ABORTED");
    assert!(r.json["reason"]
        .as_str()
        .unwrap()
        .contains(&bed.hosts[1].name));
    assert!(bed.untouched(0) && bed.untouched(1), "nothing touched");
    bed.loss(1, 0);
    let n = deployctl(inv, state, &["netcheck", "--env", "bed"]);
    assert_eq!(n.code, 0, "loss removed: {} {}", n.stderr, n.json);
    for h in n.json.as_array().unwrap() {
        assert_eq!(h["stats"]["loss_pct"], 0.0, "{}", n.json);
        assert_eq!(h["stats"]["icmp"]["loss_pct"], 0.0, "{}", n.json);
    }
    // on_network = "warn": a host past a threshold (latency bound below any real RTT) is
    // reported and the rollout goes on.
    let inv = bed.inventory(
        work.path(),
        &builds.v1,
        &Inv {
            on_network: OnNetwork::Warn,
            max_latency_ms: 0.0001,
            ..Inv::default()
        },
    );
    let r = deployctl(&inv, state, &["rollout", "--env", "bed"]);
    assert_eq!(r.code, 0, "{} {}", r.stderr, r.json);
    let audit = r.audit();
    let warns = audit
        .lines()
        .filter(|l| l.contains("\"step\":\"netcheck\"") && l.contains("\"result\":\"warn\""))
        .count();
    assert_eq!(warns, 2, "{audit}");
}

fn upload_killed_midway(transport: Transport) {
    let f = Fleet::on_v1(
        1,
        &Inv {
            transport,
            ..Inv::default()
        },
    );
    let (bed, builds, inv, state) = (&f.bed, &f.builds, &f.inv, &f.state);
    // Slow the host's inbound SSH traffic so the upload is observable mid-way.
    bed.limit_ssh(0, 4);
    let logins = bed.logins(0);
    let child = spawn(
        inv,
        state,
        &[
            "rollout",
            "--env",
            "bed",
            "--artifact",
            builds.v2.to_str().unwrap(),
        ],
    );
    let dir = bed.srv(0).join("hotel");
    let total = std::fs::metadata(&builds.v2).unwrap().len();
    let mut killed = vec![];
    wait_for("the upload halfway", Duration::from_secs(90), || {
        let up = dir.join(".deployctl-upload");
        for f in ls(&up).iter().filter(|f| f.starts_with("hotel-api.")) {
            let halfway = std::fs::metadata(up.join(f))
                .is_ok_and(|m| m.len() > 1 << 20 && m.len() < total / 2);
            if halfway {
                // Kill the per-connection sshd processes (children of the listener) by pid.
                for c in procs::children_of(bed.sshd_pid(0) as i32) {
                    assert!(procs::signal(c, libc::SIGKILL), "kill {c}");
                    killed.push(c);
                }
            }
        }
        !killed.is_empty()
    });
    bed.nft(0, &["delete", "table", "inet", "dctl_rate"]);
    let r = finish(child, Duration::from_secs(180));
    assert_eq!(r.code, 0, "{} {}", r.stderr, r.json);
    let h = &r.json["hosts"][0];
    assert!(h["upload_attempts"].as_u64().unwrap() >= 2, "{h}");
    let audit = r.audit();
    let cs = audit
        .lines()
        .find(|l| l.contains("\"step\":\"checksum\""))
        .unwrap();
    assert!(
        cs.contains("resumed at [") && !cs.contains("resumed at []"),
        "resumed, not restarted: {cs}"
    );
    assert_eq!(sha256_file(&dir.join("hotel-api")), sha256_file(&builds.v2));
    assert!(
        ls(&dir.join(".deployctl-upload")).is_empty(),
        "no partial file left: {:?}",
        ls(&dir.join(".deployctl-upload"))
    );
    assert!(bed.logins(0) - logins >= 2, "reconnected after the kill");
    assert_eq!(
        served_build(&bed.hosts[0].address),
        Some(build_id(&builds.v2))
    );
}

#[test]
fn ssh_connection_killed_during_upload_is_resumed_over_openssh() {
    upload_killed_midway(Transport::Ssh);
}

#[test]
fn ssh_connection_killed_during_upload_is_resumed_over_native_russh() {
    upload_killed_midway(Transport::Native);
}

/// The connection dies right after the install rename (the host's sshd process of the
/// connection is killed by the install script itself): the install is not repeated, the
/// host's sha256 shows it happened, and the run continues to a verified host.
fn connection_dropped_after_install(transport: Transport) {
    let f = Fleet::on_v1(
        2,
        &Inv {
            transport,
            ..Inv::default()
        },
    );
    let (bed, builds, inv, state) = (&f.bed, &f.builds, &f.inv, &f.state);
    let logins: Vec<usize> = (0..2).map(|k| bed.logins(k)).collect();
    let v2 = builds.v2.to_str().unwrap();
    let r = finish(
        spawn_env(
            inv,
            state,
            &["rollout", "--env", "bed", "--artifact", v2],
            &[("DEPLOYCTL_TEST_FAULT", "drop-after-install")],
        ),
        Duration::from_secs(240),
    );
    assert_eq!(r.code, 0, "{} {}", r.stderr, r.json);
    for (k, h) in bed.hosts.iter().enumerate() {
        let res = r.host(&h.name);
        assert_eq!(res["state"], "verified", "{}", r.json);
        assert!(bed.logins(k) >= logins[k] + 2, "{}: reconnected", h.name);
        assert_eq!(served_build(&h.address), Some(build_id(&builds.v2)));
        let dir = bed.srv(k).join("hotel");
        assert_eq!(sha256_file(&dir.join("hotel-api")), sha256_file(&builds.v2));
        assert!(
            !dir.join(".deploy/lease").exists(),
            "{}: lease released",
            h.name
        );
        assert!(
            ls(&dir.join(".deployctl-upload")).is_empty(),
            "no temp file left"
        );
    }
}

#[test]
fn connection_dropped_right_after_the_install_rename_over_openssh() {
    connection_dropped_after_install(Transport::Ssh);
}

#[test]
fn connection_dropped_right_after_the_install_rename_over_native_russh() {
    connection_dropped_after_install(Transport::Native);
}
