//! LB state is restored with the hosts: two nginx LBs, one of which refuses every change
//! during the run (its directory read-only inside the host); the host that fails is marked
//! down on the other, the LB error gives ROLLBACK, and the final routing (the snapshot taken
//! before the run) leaves both LBs consistent with the restored hosts.

use testkit::*;

#[test]
fn an_lb_error_ends_in_rollback_with_every_lb_consistent_with_the_hosts() {
    let f = Fleet::on_v1(
        5,
        &Inv {
            lb_hosts: vec![0, 1],
            tolerance: 1,
            timeout_s: 8,
            ..Inv::default()
        },
    );
    let (bed, builds) = (&f.bed, &f.builds);
    let conf = |k: usize| {
        std::fs::read_to_string(bed.srv(k).join("nginx/deployctl-upstreams.conf")).unwrap()
    };
    let before = (conf(0), conf(1));
    bed.in_host(
        1,
        "mount --bind /srv/nginx /srv/nginx && mount -o remount,bind,ro /srv/nginx",
    );
    let r = f.rollout(&builds.broken_on(&[&bed.hosts[4].name]));
    bed.in_host(1, "umount /srv/nginx");
    assert_eq!(r.code, 4, "{} {}", r.stderr, r.json);
    assert_eq!(r.json["outcome"], "ROLLBACK");
    let reason = r.json["reason"].as_str().unwrap();
    assert!(
        reason.contains("load balancer") && reason.contains(&bed.hosts[1].name),
        "{reason}"
    );
    // Host 4 was marked down on LB 0 during the run; both LBs route as before the run.
    let audit = r.audit();
    let h0 = format!("\"host\":\"{}\"", bed.hosts[0].name);
    assert!(audit
        .lines()
        .any(|l| l.contains("\"step\":\"lb config\"") && l.contains(&h0)));
    assert_eq!(
        (conf(0).lines().count(), conf(1)),
        (before.0.lines().count(), before.1.clone())
    );
    f.assert_on(&[2, 3, 4], &builds.v1, true, Some(true));
}
