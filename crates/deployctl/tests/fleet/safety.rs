//! Refusals: unknown or changed host keys, invalid or hostile inventories. In every case
//! nothing changes on the hosts. (Locks and leases: `lease.rs`.)

use std::process::Command;
use testkit::*;

fn host_key_refused(transport: Transport) {
    let f = Fleet::new(1, &Inv::default());
    let (bed, builds, work, state) = (&f.bed, &f.builds, &f.work, &f.state);
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
    let r = deployctl(&inv, state, &["rollout", "--env", "bed"]);
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
    let r = deployctl(&inv, state, &["rollout", "--env", "bed"]);
    assert_eq!(r.code, 5, "{} {}", r.stderr, r.json);
    let reason = r.json["reason"].as_str().unwrap();
    assert!(reason.contains("HOST KEY CHANGED"), "{reason}");
    assert_eq!(bed.logins(0), logins, "no login happened");
    assert!(bed.untouched(0), "nothing changed on the host");
}

#[test]
fn unknown_or_changed_host_key_is_refused_over_openssh() {
    host_key_refused(Transport::Ssh);
}

#[test]
fn unknown_or_changed_host_key_is_refused_over_native_russh() {
    host_key_refused(Transport::Native);
}

#[test]
fn invalid_inventories_fail_with_file_line_and_reason_touching_nothing() {
    let f = Fleet::new(1, &Inv::default());
    let (bed, work, state) = (&f.bed, &f.work, &f.state);
    let good = std::fs::read_to_string(&f.inv).unwrap();
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
    let lines = good.lines().count();
    let same_addr = good.replace(
        &format!("  {{ name = \"{}\"", bed.hosts[0].name),
        &format!(
            "  {{ name = \"y\", address = \"{addr}\" }},\n  {{ name = \"{}\"",
            bed.hosts[0].name
        ),
    );
    let cases: Vec<(&str, String, &str, String)> = vec![
        (
            "header with a semicolon",
            format!("{good}[env.bed.lb]\ngray_header = \"X-Gray;evil\"\n"),
            "bed",
            format!(
                ":{}: environment `bed`: lb.gray_header `X-Gray;evil`",
                lines + 2
            ),
        ),
        (
            "newline in an env name",
            good.replace("[env.bed]", "[env.\"bed\\nx\"]"),
            "bed",
            "bad environment name \"bed\\nx\"".to_string(),
        ),
        (
            "duplicate address",
            same_addr,
            "bed",
            format!(":{}: duplicate address `{addr}`", host_line + 1),
        ),
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
        let r = deployctl(&p, state, &["rollout", "--env", env]);
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
        if env == "bed" {
            // FILE:LINE: of the offending line, not only the file.
            let at = format!("{}:", p.display());
            let line = r.stderr.split(&at).nth(1).unwrap_or_default();
            let digits = line.chars().take_while(char::is_ascii_digit).count();
            assert!(
                digits > 0 && line[digits..].starts_with(':'),
                "{what}: names FILE:LINE: {}",
                r.stderr
            );
        }
    }
    assert_eq!(bed.connections(0), conns, "no host was contacted");
    assert!(bed.untouched(0), "nothing changed on the host");
}
