//! Full rollouts over both SSH transports, connection count, backups and their rotation.

use std::os::unix::fs::PermissionsExt;
use testkit::*;

fn full_rollout(transport: Transport) {
    let f = Fleet::on_v1(
        3,
        &Inv {
            transport,
            ..Inv::default()
        },
    );
    let (bed, builds) = (&f.bed, &f.builds);
    let v1 = build_id(&builds.v1);
    for h in &bed.hosts {
        assert_eq!(served_build(&h.address).as_deref(), Some(v1.as_str()));
    }
    let before: Vec<usize> = (0..3).map(|k| bed.logins(k)).collect();
    let v2 = build_id(&builds.v2);
    let r = f.rollout(&builds.v2);
    assert_eq!(r.code, 0, "rollout v2: {} {}", r.stderr, r.json);
    assert_eq!(r.json["outcome"], "SUCCESS");
    assert_eq!(
        r.json["batches"].as_array().unwrap().len(),
        2,
        "canary then one batch of 2"
    );
    let sha = sha256_file(&builds.v2);
    for (k, h) in bed.hosts.iter().enumerate() {
        // The new build is what every host serves, through the external address.
        assert_eq!(
            served_build(&h.address).as_deref(),
            Some(v2.as_str()),
            "{}",
            h.name
        );
        // One SSH connection per host for the whole run, counted by sshd.
        assert_eq!(
            bed.logins(k) - before[k],
            1,
            "{}: SSH logins during the run",
            h.name
        );
        // Backup of v1 present, mode preserved; installed file is v2.
        let backups = ls(&bed.srv(k).join("hotel/backups"));
        assert_eq!(backups.len(), 1, "{backups:?}");
        let b = bed.srv(k).join("hotel/backups").join(&backups[0]);
        let copy = b.join("files/srv/hotel/hotel-api");
        assert_eq!(sha256_file(&copy), sha256_file(&builds.v1));
        let mode = std::fs::metadata(&copy).unwrap().permissions().mode() & 0o777;
        assert_eq!(
            mode,
            std::fs::metadata(&builds.v1).unwrap().permissions().mode() & 0o777
        );
        let manifest: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(b.join("manifest.json")).unwrap())
                .unwrap();
        assert_eq!(manifest["build_id"], v1.as_str());
        assert_eq!(sha256_file(&bed.srv(k).join("hotel/hotel-api")), sha);
        // The host's own audit log got this run's records.
        let host_audit =
            std::fs::read_to_string(bed.srv(k).join("hotel/.deploy/audit.jsonl")).unwrap();
        assert!(host_audit.contains(r.json["run_id"].as_str().unwrap()));
        assert!(host_audit.contains(&sha));
    }
    // Checksums of every host in the local audit log.
    let audit = r.audit();
    let checksums: Vec<serde_json::Value> = r
        .audit_events()
        .into_iter()
        .filter(|e| e["step"] == "checksum")
        .collect();
    assert_eq!(checksums.len(), 3);
    assert!(checksums.iter().all(|e| e["sha256"] == sha.as_str()));
    // Every running master was restarted through its admin endpoint with the host's token
    // (a TCP restart without it is refused), and no token reached the audit log.
    let by_admin = audit
        .lines()
        .filter(|l| l.contains("restart via AdminVerb"))
        .count();
    assert_eq!(by_admin, 3, "{audit}");
    for k in 0..3 {
        let token = std::fs::read_to_string(bed.srv(k).join("admin.token")).unwrap();
        assert!(
            !audit.contains(token.trim()),
            "admin token in the audit log"
        );
    }
    assert!(audit
        .lines()
        .last()
        .unwrap()
        .contains("\"outcome\":\"SUCCESS\""));
    // status and history see it.
    let st = f.run(&["status", "--env", "bed"]);
    assert_eq!(st.code, 0);
    for h in st.json.as_array().unwrap() {
        assert_eq!(h["build_id"], v2.as_str());
        assert_eq!(h["backups"].as_array().unwrap().len(), 1);
    }
    let hist = f.run(&["history"]);
    let runs = hist.json.as_array().unwrap();
    assert_eq!(runs.len(), 2);
    assert_eq!(runs[1]["outcome"], "SUCCESS");
}

#[test]
fn full_rollout_over_openssh_serves_the_new_build_everywhere() {
    full_rollout(Transport::Ssh);
}

#[test]
fn full_rollout_over_native_russh_serves_the_new_build_everywhere() {
    full_rollout(Transport::Native);
}

#[test]
fn backup_rotation_keeps_exactly_the_configured_count() {
    let f = Fleet::new(
        1,
        &Inv {
            keep: 2,
            admin: false,
            ..Inv::default()
        },
    );
    let (bed, builds) = (&f.bed, &f.builds);
    let mut ids = vec![];
    for art in [&builds.v1, &builds.v2, &builds.v1, &builds.v2] {
        let r = f.rollout(art);
        assert_eq!(r.code, 0, "{} {}", r.stderr, r.json);
        if let Some(id) = r.json["hosts"][0]["backup"]["id"].as_str() {
            ids.push(id.to_string());
        }
        assert_eq!(served_build(&bed.hosts[0].address), Some(build_id(art)));
    }
    assert_eq!(ids.len(), 3, "first install has nothing to back up");
    let left = ls(&bed.srv(0).join("hotel/backups"));
    assert_eq!(left, ids[1..].to_vec(), "the two newest backups remain");
    // Roll back to a named backup: the one taken before the last rollout holds v1.
    let r = f.run(&["rollback", "--env", "bed", "--to", &ids[2]]);
    assert_eq!(r.code, 0, "{} {}", r.stderr, r.json);
    assert_eq!(
        served_build(&bed.hosts[0].address),
        Some(build_id(&builds.v1))
    );
}

#[test]
fn config_files_ship_with_modes_privileged_ones_through_sudo_and_roll_back() {
    let work = tempfile::tempdir().unwrap();
    let (conf, key) = (work.path().join("hotel.toml"), work.path().join("tls.key"));
    std::fs::write(&conf, "# config v1\n").unwrap();
    std::fs::write(&key, "secret v1\n").unwrap();
    let config = vec![
        ConfigFile::new(&conf, "hotel.toml", Some("0640")),
        ConfigFile {
            sudo: true,
            ..ConfigFile::new(&key, "tls.key", Some("0600"))
        },
    ];
    let f = Fleet::new(
        1,
        &Inv {
            config,
            admin: false,
            ..Inv::default()
        },
    );
    let (bed, builds) = (&f.bed, &f.builds);
    let r = f.run(&["rollout", "--env", "bed"]);
    assert_eq!(r.code, 0, "{} {}", r.stderr, r.json);
    let dir = bed.srv(0).join("hotel");
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&dir.join("hotel.toml")), 0o640);
    assert_eq!(mode(&dir.join("tls.key")), 0o600);
    std::fs::write(&conf, "# config v2\n").unwrap();
    std::fs::write(&key, "secret v2\n").unwrap();
    let r = f.rollout(&builds.v2);
    assert_eq!(r.code, 0, "{} {}", r.stderr, r.json);
    assert_eq!(
        std::fs::read_to_string(dir.join("hotel.toml")).unwrap(),
        "# config v2\n"
    );
    let backup = dir
        .join("backups")
        .join(ls(&dir.join("backups"))[0].clone())
        .join("files/srv/hotel");
    assert_eq!(
        std::fs::read_to_string(backup.join("tls.key")).unwrap(),
        "secret v1\n"
    );
    assert_eq!(
        mode(&backup.join("tls.key")),
        0o600,
        "mode preserved in the backup"
    );
    assert_eq!(mode(&backup.join("hotel.toml")), 0o640);
    // The audit log records checksums of every shipped file, never their contents.
    let audit = r.audit();
    assert_eq!(
        audit
            .lines()
            .filter(|l| l.contains("\"step\":\"checksum\""))
            .count(),
        3
    );
    assert!(!audit.contains("secret"), "no secrets in logs");
    let r = f.run(&["rollback", "--env", "bed"]);
    assert_eq!(r.code, 0, "{} {}", r.stderr, r.json);
    assert_eq!(
        std::fs::read_to_string(dir.join("hotel.toml")).unwrap(),
        "# config v1\n"
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("tls.key")).unwrap(),
        "secret v1\n"
    );
    assert_eq!(mode(&dir.join("tls.key")), 0o600);
    assert_eq!(
        served_build(&bed.hosts[0].address),
        Some(build_id(&builds.v1))
    );
}
