//! The recommended non-root setup: every host logged into as the bed's unprivileged `deploy`
//! user (scripts/testbed.sh: key login, the sudoers drop-in limited to deployctl's `sudo -n`
//! commands), owning the install and backup dirs. A rollout and a rollback end with the
//! fleet on the right build, run by `deploy`; a `sudo = true` file under a root-owned
//! directory ships (waiting in the login user's own upload dir, installed by `sudo -n`) and
//! rolls back with its owner, mode and content. Roles are detected by `deploy` too: a
//! root-run nginx whose fds it cannot read is found through the LB's pid file.
//! An LB host runs its own nginx as `deploy` through gray and promote.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use testkit::*;

const USER: &str = "deploy";

fn deploy_inv() -> Inv {
    Inv {
        user: Some(USER.into()),
        ..Inv::default()
    }
}

fn uid_of(user: &str) -> u32 {
    let out = std::process::Command::new("id")
        .args(["-u", user])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "user {user} exists (testbed.sh makes it)"
    );
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}

/// The real uid of host k's master (its pid file; the bed's hosts share this pid namespace).
fn master_uid(bed: &Bed, k: usize) -> u32 {
    let pid = std::fs::read_to_string(bed.srv(k).join("hotel/run/hotel-api.pid")).unwrap();
    let status = std::fs::read_to_string(format!("/proc/{}/status", pid.trim())).unwrap();
    let uid = status.lines().find_map(|l| l.strip_prefix("Uid:")).unwrap();
    uid.split_whitespace().next().unwrap().parse().unwrap()
}

fn owner_mode(p: &Path) -> (u32, u32) {
    let m = std::fs::metadata(p).unwrap();
    (m.uid(), m.permissions().mode() & 0o777)
}

#[test]
fn a_deploy_user_rolls_out_and_back_every_host() {
    let f = Fleet::on_v1(2, &deploy_inv());
    let (bed, builds) = (&f.bed, &f.builds);
    let uid = uid_of(USER);
    f.assert_on(&[0, 1], &builds.v1, true, None);
    let r = f.rollout(&builds.v2);
    assert_eq!(r.code, 0, "{} {}", r.stderr, r.json);
    f.assert_on(&[0, 1], &builds.v2, true, None);
    for k in 0..2 {
        assert_eq!(master_uid(bed, k), uid, "host {k}'s master runs as {USER}");
        let bin = bed.srv(k).join("hotel/hotel-api");
        assert_eq!(owner_mode(&bin).0, uid, "installed by {USER}");
        assert_eq!(ls(&bed.srv(k).join("hotel/backups")).len(), 1);
    }
    let r = f.run(&["rollback", "--env", "bed"]);
    assert_eq!(r.code, 0, "{} {}", r.stderr, r.json);
    assert_eq!(r.json["outcome"], "SUCCESS", "{}", r.json);
    f.assert_on(&[0, 1], &builds.v1, true, None);
    for k in 0..2 {
        assert_eq!(master_uid(bed, k), uid);
    }
}

#[test]
fn a_deploy_user_ships_a_sudo_file_under_a_root_owned_dir_and_rolls_it_back() {
    let work = tempfile::tempdir().unwrap();
    let (conf, key) = (work.path().join("hotel.toml"), work.path().join("tls.key"));
    std::fs::write(&conf, "# config v1\n").unwrap();
    std::fs::write(&key, "secret v1\n").unwrap();
    let config = vec![
        ConfigFile::new(&conf, "hotel.toml", Some("0640")),
        ConfigFile {
            sudo: true,
            ..ConfigFile::new(&key, "/srv/etc-hotel/tls.key", Some("0640"))
        },
    ];
    let f = Fleet::new(
        1,
        &Inv {
            config,
            ..deploy_inv()
        },
    );
    let (bed, builds) = (&f.bed, &f.builds);
    // A root-owned directory the deploy user cannot write.
    let etc = bed.srv(0).join("etc-hotel");
    std::fs::create_dir(&etc).unwrap();
    std::fs::set_permissions(&etc, std::fs::Permissions::from_mode(0o755)).unwrap();
    assert_eq!(owner_mode(&etc), (0, 0o755));
    let (hotel, tls) = (bed.srv(0).join("hotel"), etc.join("tls.key"));
    let uid = uid_of(USER);

    let r = f.run(&["rollout", "--env", "bed"]);
    assert_eq!(r.code, 0, "{} {}", r.stderr, r.json);
    assert_eq!(std::fs::read_to_string(&tls).unwrap(), "secret v1\n");
    assert_eq!(owner_mode(&tls), (0, 0o640), "root's, with its mode");
    assert_eq!(owner_mode(&hotel.join("hotel.toml")), (uid, 0o640));
    std::fs::write(&conf, "# config v2\n").unwrap();
    std::fs::write(&key, "secret v2\n").unwrap();
    let r = f.rollout(&builds.v2);
    assert_eq!(r.code, 0, "{} {}", r.stderr, r.json);
    assert_eq!(std::fs::read_to_string(&tls).unwrap(), "secret v2\n");
    assert_eq!(owner_mode(&tls), (0, 0o640));
    f.assert_on(&[0], &builds.v2, true, None);
    // Nothing left behind: no temp dir or staged copy next to the destination, no upload in
    // the deploy user's own upload dir.
    assert_eq!(ls(&etc), vec!["tls.key".to_string()]);
    assert!(ls(&hotel.join(".deployctl-upload")).is_empty());
    assert_eq!(owner_mode(&hotel.join(".deployctl-upload")), (uid, 0o700));

    let r = f.run(&["rollback", "--env", "bed"]);
    assert_eq!(r.code, 0, "{} {}", r.stderr, r.json);
    assert_eq!(std::fs::read_to_string(&tls).unwrap(), "secret v1\n");
    assert_eq!(owner_mode(&tls), (0, 0o640));
    assert_eq!(
        std::fs::read_to_string(hotel.join("hotel.toml")).unwrap(),
        "# config v1\n"
    );
    assert_eq!(ls(&etc), vec!["tls.key".to_string()]);
    f.assert_on(&[0], &builds.v1, true, None);
}

#[test]
fn a_deploy_user_detects_a_root_run_nginx_as_the_lb() {
    let f = Fleet::new(
        2,
        &Inv {
            auto_roles: true,
            lb: vec!["listen = 8081".into()],
            ..deploy_inv()
        },
    );
    // nginx run by root in host 0 with its pid file in the LB dir (/srv/nginx on the host).
    let dir = f.bed.srv(0).join("nginx");
    let nginx = crate::hostcheck::nginx_on(&f.bed, &dir, 8081);
    wait_for("nginx pid file", std::time::Duration::from_secs(10), || {
        dir.join("nginx.pid").exists()
    });
    let d = f.run(&["detect", "--env", "bed"]);
    crate::hostcheck::stop_term(nginx);
    assert_eq!(d.code, 0, "{} {}", d.stderr, d.json);
    assert_eq!(d.json[0]["roles"], serde_json::json!(["lb"]), "{}", d.json);
    assert_eq!(d.json[1]["roles"], serde_json::json!(["app"]), "{}", d.json);
    assert_eq!(d.json[0]["detected"], true);
}

/// An LB host as `deploy`: the LB dir is its own and it may bind port 80 in the host's network
/// namespace (`ip_unprivileged_port_start`, as CAP_NET_BIND_SERVICE would), so deployctl starts
/// and reloads nginx as `deploy`. Gray share by header, then promote.
#[test]
fn a_deploy_user_runs_gray_and_promote_through_its_own_nginx() {
    let f = Fleet::new(
        3,
        &Inv {
            lb_hosts: vec![0],
            gray: vec![2],
            // /usr/sbin is not on an unprivileged user's PATH.
            lb: vec![
                "nginx = \"/usr/sbin/nginx\"".into(),
                "split_key = \"$http_x_client\"".into(),
            ],
            ..deploy_inv()
        },
    );
    let (bed, builds) = (&f.bed, &f.builds);
    let lbdir = bed.srv(0).join("nginx");
    std::fs::create_dir(&lbdir).unwrap();
    let st = std::process::Command::new("chown")
        .arg(format!("{USER}:{USER}"))
        .arg(&lbdir)
        .status()
        .unwrap();
    assert!(st.success());
    let ns = &bed.hosts[0].netns;
    let st = std::process::Command::new("ip")
        .args(["netns", "exec", ns, "sysctl", "-qw"])
        .arg("net.ipv4.ip_unprivileged_port_start=80")
        .status()
        .unwrap();
    assert!(st.success());
    let r = f.run(&["rollout", "--env", "bed"]);
    assert_eq!(r.code, 0, "{} {}", r.stderr, r.json);
    let pid = std::fs::read_to_string(lbdir.join("nginx.pid")).unwrap();
    let status = std::fs::read_to_string(format!("/proc/{}/status", pid.trim())).unwrap();
    let uid = status.lines().find_map(|l| l.strip_prefix("Uid:")).unwrap();
    assert_eq!(
        uid.split_whitespace()
            .next()
            .unwrap()
            .parse::<u32>()
            .unwrap(),
        uid_of(USER),
        "nginx runs as {USER}"
    );
    let lb = bed.hosts[0].address.clone();
    let (v1, v2) = (build_id(&builds.v1), build_id(&builds.v2));
    let v2_path = builds.v2.to_str().unwrap();
    let r = f.run(&[
        "gray",
        "--env",
        "bed",
        "--percent",
        "50",
        "--artifact",
        v2_path,
    ]);
    assert_eq!(r.code, 0, "gray: {} {}", r.stderr, r.json);
    let headed = crate::gray::rt().block_on(async {
        let mut v = vec![];
        for _ in 0..20 {
            v.push(crate::gray::build_via(&lb, &[("X-Gray", "1".into())]).await);
        }
        v
    });
    assert!(headed.iter().all(|b| *b == v2), "header routes to gray");
    let seen = crate::gray::builds_for_keys(&lb, 0..400);
    assert!(seen.iter().all(|b| *b == v1 || *b == v2));
    assert!(seen.contains(&v1) && seen.contains(&v2), "both sides serve");
    let r = f.run(&["promote", "--env", "bed", "--artifact", v2_path]);
    assert_eq!(r.code, 0, "promote: {} {}", r.stderr, r.json);
    assert!(crate::gray::builds_for_keys(&lb, 0..100)
        .iter()
        .all(|b| *b == v2));
    f.assert_on(&[1, 2], &builds.v2, true, Some(true));
}
