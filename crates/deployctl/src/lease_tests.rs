use super::*;
use crate::transport::local::LocalTransport;

fn owner(run: &str) -> Owner {
    Owner {
        run_id: run.into(),
        controller: "ctl".into(),
        user: "ops".into(),
        pid: 7,
    }
}

#[tokio::test]
async fn a_lease_removed_under_a_run_wakes_lost_any_at_its_next_renewal() {
    let d = tempfile::tempdir().unwrap();
    let install = d.path().to_str().unwrap();
    let hosts = [RemoteHost::local_for_tests()];
    let ttl = Duration::from_secs(1);
    let b = Duration::from_secs(20);
    let mut lease = acquire(&hosts, install, owner("a"), ttl, b).await.unwrap();
    let lost = lease.lost_any();
    let t = LocalTransport::new("local");
    let (v, _) = op(&t, &dir_of(install), "unlock-force", &owner("x"), ttl, b)
        .await
        .unwrap();
    assert_eq!(v, Verdict::Removed);
    let hosts = tokio::time::timeout(Duration::from_secs(10), lost)
        .await
        .expect("lost_any woke within a few renewals");
    assert_eq!(hosts, vec!["local".to_string()]);
    lease.release().await;
}

#[tokio::test]
async fn a_renewal_that_fails_counts_as_a_lost_lease() {
    let d = tempfile::tempdir().unwrap();
    let install = d.path().to_str().unwrap();
    let hosts = [RemoteHost::local_for_tests()];
    let ttl = Duration::from_secs(1);
    let b = Duration::from_secs(20);
    let mut lease = acquire(&hosts, install, owner("a"), ttl, b).await.unwrap();
    let lost = lease.lost_any();
    // The lock file becomes a directory: the script cannot open it, the renewal fails.
    let lock = d.path().join(".deploy/lease.lock");
    std::fs::remove_file(&lock).unwrap();
    std::fs::create_dir(&lock).unwrap();
    let hosts = tokio::time::timeout(Duration::from_secs(10), lost)
        .await
        .expect("lost_any woke at the first failed renewal");
    assert_eq!(hosts, vec!["local".to_string()]);
    lease.release().await;
}

#[tokio::test]
async fn held_expired_taken_over_renewed_and_released_by_compare_and_swap() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().join(".deploy");
    let dir = dir.to_str().unwrap();
    let t = LocalTransport::new("h1");
    let b = Duration::from_secs(20);
    let ttl = Duration::from_secs(60);
    let (v, _) = op(&t, dir, "acquire", &owner("a"), ttl, b).await.unwrap();
    assert_eq!(v, Verdict::Acquired);
    let (v, info) = op(&t, dir, "acquire", &owner("b"), ttl, b).await.unwrap();
    assert_eq!(v, Verdict::Held);
    let info = info.unwrap();
    assert_eq!((info.run_id.as_str(), info.user.as_str()), ("a", "ops"));
    assert!(info.expires.unwrap() - info.host_now > 50, "{info:?}");
    // b cannot renew or release a's lease; a can.
    assert_eq!(
        op(&t, dir, "renew", &owner("b"), ttl, b).await.unwrap().0,
        Verdict::Lost
    );
    assert_eq!(
        op(&t, dir, "release", &owner("b"), ttl, b).await.unwrap().0,
        Verdict::NotHeld
    );
    assert_eq!(
        op(&t, dir, "renew", &owner("a"), ttl, b).await.unwrap().0,
        Verdict::Renewed
    );
    assert_eq!(
        op(&t, dir, "unlock", &owner("x"), ttl, b).await.unwrap().0,
        Verdict::Held
    );
    // An expired lease (lifetime 1 s) is taken over, and the old holder has lost it.
    op(&t, dir, "acquire", &owner("a"), Duration::from_secs(1), b)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let (v, old) = op(&t, dir, "acquire", &owner("b"), ttl, b).await.unwrap();
    assert_eq!((v, old.unwrap().run_id.as_str()), (Verdict::Takeover, "a"));
    assert_eq!(
        op(&t, dir, "renew", &owner("a"), ttl, b).await.unwrap().0,
        Verdict::Lost
    );
    assert_eq!(
        op(&t, dir, "release", &owner("b"), ttl, b).await.unwrap().0,
        Verdict::Released
    );
    assert!(!std::path::Path::new(dir).join("lease").exists());
    // unlock --force removes a live lease.
    op(&t, dir, "acquire", &owner("c"), ttl, b).await.unwrap();
    let (v, old) = op(&t, dir, "unlock-force", &owner("x"), ttl, b)
        .await
        .unwrap();
    assert_eq!((v, old.unwrap().run_id.as_str()), (Verdict::Removed, "c"));
    assert_eq!(
        op(&t, dir, "unlock", &owner("x"), ttl, b).await.unwrap().0,
        Verdict::None
    );
}
