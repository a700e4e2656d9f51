//! Hosts named by DNS names and by ssh_config aliases. Names resolve through an /etc/hosts
//! bind-mounted in a private mount namespace of the deployctl process only (the machine's
//! own /etc/hosts is never touched), exactly as the bed gives each host its own.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;
use testkit::*;

/// `deployctl` in its own mount namespace, `hosts` bind-mounted over /etc/hosts.
fn deployctl_with_hosts(hosts: &Path, inv: &Path, state: &Path, args: &[&str]) -> Run {
    let script = r#"mount --bind "$1" /etc/hosts"#;
    let child = testkit::runner::unshared(script, hosts, inv, state)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    finish(child, Duration::from_secs(240))
}

#[test]
fn hosts_named_by_dns_names_roll_out_over_both_transports() {
    let f = Fleet::new(2, &Inv::default());
    let (bed, builds, work, state) = (&f.bed, &f.builds, &f.work, &f.state);
    let names: Vec<String> = (1..=2).map(|k| format!("app{k}.bed.test")).collect();
    let mut hosts = String::from("127.0.0.1 localhost\n");
    let mut kh = String::new();
    let known = std::fs::read_to_string(bed.dir.join("known_hosts")).unwrap();
    for (h, n) in bed.hosts.iter().zip(&names) {
        hosts.push_str(&format!("{} {n}\n", h.address));
        let line = known
            .lines()
            .find(|l| l.starts_with(&format!("{} ", h.address)))
            .unwrap();
        kh.push_str(&line.replacen(&h.address, n, 1));
        kh.push('\n');
    }
    let hosts_file = work.path().join("hosts");
    std::fs::write(&hosts_file, hosts).unwrap();
    let kh_file = work.path().join("known_hosts_names");
    std::fs::write(&kh_file, kh).unwrap();
    for (transport, build) in [
        (Transport::Ssh, &builds.v1),
        (Transport::Native, &builds.v2),
    ] {
        let knobs = Inv {
            transport,
            known_hosts: Some(kh_file.clone()),
            ..Inv::default()
        };
        let mut doc = bed.inventory_doc(build, &knobs);
        for (h, n) in doc.env("bed").hosts.iter_mut().zip(&names) {
            h.address = n.clone();
        }
        let inv = doc.write(work.path());
        let n = deployctl_with_hosts(&hosts_file, &inv, state, &["netcheck", "--env", "bed"]);
        assert_eq!(n.code, 0, "{transport:?}: {} {}", n.stderr, n.json);
        for h in n.json.as_array().unwrap() {
            assert_eq!(h["stats"]["loss_pct"], 0.0, "{}", n.json);
        }
        let r = deployctl_with_hosts(&hosts_file, &inv, state, &["rollout", "--env", "bed"]);
        assert_eq!(r.code, 0, "{transport:?}: {} {}", r.stderr, r.json);
        for h in &bed.hosts {
            assert_eq!(
                served_build(&h.address),
                Some(build_id(build)),
                "{transport:?}"
            );
        }
    }
}

#[test]
fn ssh_config_aliases_work_with_the_ssh_transport() {
    let f = Fleet::new(1, &Inv::default());
    let (bed, builds, work, state) = (&f.bed, &f.builds, &f.work, &f.state);
    let cfg = work.path().join("ssh_config");
    std::fs::write(
        &cfg,
        format!("Host web-alias\n  HostName {}\n", bed.hosts[0].address),
    )
    .unwrap();
    let knobs = Inv {
        external: Some("http://{addr}:8080".into()),
        ..Inv::default()
    };
    let mut doc = bed.inventory_doc(&builds.v1, &knobs);
    let env = doc.env("bed");
    env.hosts[0].address = "web-alias".into();
    env.ssh_config = Some(cfg);
    let inv = doc.write(work.path());
    let n = deployctl(&inv, state, &["netcheck", "--env", "bed"]);
    assert_eq!(n.code, 0, "{} {}", n.stderr, n.json);
    let target = n.json[0]["stats"]["target"].as_str().unwrap();
    assert!(
        target.contains(&bed.hosts[0].address),
        "probed the alias' HostName: {target}"
    );
    let r = deployctl(&inv, state, &["rollout", "--env", "bed"]);
    assert_eq!(r.code, 0, "{} {}", r.stderr, r.json);
    assert_eq!(
        served_build(&bed.hosts[0].address),
        Some(build_id(&builds.v1))
    );
}
