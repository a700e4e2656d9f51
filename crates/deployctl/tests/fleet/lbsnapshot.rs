//! The routing snapshot a run starts from is read from every LB, never defaulted: an LB whose
//! routing cannot be read stops the run before any host or LB changes (it used to read as
//! "one pool, nothing down", which puts down hosts back in the pool or ends gray).

use crate::lbload::LbHost;
use testkit::*;

#[test]
fn an_lb_whose_routing_cannot_be_read_stops_the_run_before_any_change() {
    let kind = "nginx";
    let f = Fleet::on_v1(3, &Inv::behind_lb(kind, &[]));
    let lbh = LbHost::new(&f.bed, 0, kind);
    let owned = lbh.srv.join("deployctl-upstreams.conf");
    let saved = lbh.srv.join("upstreams.saved");
    let before = lbh.owned();
    // The owned file cannot be read (a directory stands where it was).
    std::fs::rename(&owned, &saved).unwrap();
    std::fs::create_dir(&owned).unwrap();
    let r = f.rollout(&f.builds.v2);
    std::fs::remove_dir(&owned).unwrap();
    std::fs::rename(&saved, &owned).unwrap();
    assert_eq!(r.code, 5, "{} {}", r.stderr, r.json);
    assert_eq!(r.json["outcome"], "ABORTED", "{}", r.json);
    let reason = r.json["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("routing unreadable"), "{reason}");
    // No host changed, the LB's file is as it was, no lease left.
    f.assert_on(&[1, 2], &f.builds.v1, true, Some(true));
    assert_eq!(lbh.owned(), before);
    for k in 0..3 {
        let lease = f.bed.srv(k).join("hotel/.deploy/lease");
        assert!(!lease.exists(), "lease of host {k} released");
    }
}

/// Live routing that differs from the file on disk is said at the end of the run, by LB, and
/// the run does not exit 0: someone put a server in maintenance through haproxy's runtime API
/// behind deployctl's back, and a rollout (which changes no LB) ends PARTIAL_SUCCESS naming it.
#[test]
fn live_lb_routing_that_differs_from_its_file_is_named_at_the_end_of_the_run() {
    let kind = "haproxy";
    let f = Fleet::on_v1(3, &Inv::behind_lb(kind, &[]));
    crate::lbload::wait_lb_up(&f.inv, &f.state, kind);
    let sock = f.bed.srv(0).join("haproxy/haproxy.sock");
    let server = deployctl::observe::server_name(&f.bed.hosts[2].name);
    let said = crate::lbstate::haproxy_cli(
        &sock,
        &format!("set server deployctl_stable/{server} state maint"),
    );
    assert!(said.trim().is_empty(), "{said}");
    let r = f.rollout(&f.builds.v2);
    assert_eq!(r.code, 3, "{} {}", r.stderr, r.json);
    let reason = r.json["reason"].as_str().unwrap_or_default();
    let lb = &f.bed.hosts[0].name;
    assert!(
        reason.contains(&format!("{lb}: live routing differs from its file"))
            && reason.contains(&server),
        "{reason}"
    );
    // The hosts themselves deployed: every app host serves v2.
    for k in 1..3 {
        assert_eq!(
            served_build(&f.bed.hosts[k].address),
            Some(build_id(&f.builds.v2))
        );
    }
}

/// haproxy's `[lb] socat` on bed host 0 (`/srv/fault/socat`): socat itself, except that once `/srv/socat-arm`
/// exists the first runtime `set map` command is answered with an error (as haproxy answers a
/// command it refuses), and the arming file removed.
const SOCAT_ONCE: &str = r#"#!/bin/sh
for a in "$@"; do
  case $a in
  unix-connect:*)
    if [ -e /srv/socat-arm ]; then
      IFS= read -r line || line=
      case $line in
      "set map "*) rm -f /srv/socat-arm; echo "fault injected: command refused"; exit 0 ;;
      esac
      { printf '%s\n' "$line"; cat; } | /usr/bin/socat "$@"
      exit $?
    fi
    ;;
  esac
done
exec /usr/bin/socat "$@"
"#;

/// An haproxy runtime change that fails half-way (servers already set ready, the route map
/// refused) is undone completely: haproxy reloads the unchanged files, and its live routing is
/// the file's again (it stayed half-changed while the run restored "nothing").
#[test]
fn an_haproxy_runtime_change_refused_half_way_is_undone_completely() {
    let kind = "haproxy";
    let knobs = Inv {
        gray: vec![2],
        ..Inv::behind_lb(kind, &["socat = \"/srv/fault/socat\""])
    };
    let f = Fleet::new(3, &knobs);
    crate::lbload::fault_program(&f.bed, 0, "socat", SOCAT_ONCE);
    let first = f.run(&["rollout", "--env", "bed"]);
    assert_eq!(first.code, 0, "{} {}", first.stderr, first.json);
    crate::lbload::wait_lb_up(&f.inv, &f.state, kind);
    let before = LbHost::new(&f.bed, 0, kind).owned();
    std::fs::write(f.bed.srv(0).join("socat-arm"), "").unwrap();
    let r = f.run(&["gray", "--env", "bed", "--percent", "50"]);
    assert_ne!(r.code, 0, "{} {}", r.stderr, r.json);
    let said = format!("{} {}", r.json["reason"], r.stderr);
    assert!(said.contains("fault injected"), "{said}");
    assert!(!f.bed.srv(0).join("socat-arm").exists(), "the fault fired");
    // Disk as before the run, and live routing equal to it.
    let routing = |conf: &str| -> Vec<String> {
        let lines = conf.lines().filter(|l| !l.contains("serial"));
        lines.map(str::to_string).collect()
    };
    assert_eq!(
        routing(&LbHost::new(&f.bed, 0, kind).owned()),
        routing(&before)
    );
    crate::lbstate::assert_lb_agrees(&f.bed, 0, kind, "after the refused change");
    let lb = crate::lbload::assert_lb_in_sync(&f.inv, &f.state, "after the refused change");
    assert_eq!(lb["gray_percent"], serde_json::Value::Null, "{lb}");
}
