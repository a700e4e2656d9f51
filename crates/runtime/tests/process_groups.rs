//! Whole process groups: a worker command that does not `exec` (a wrapper script), orphaned
//! descendants reaped by the master (a child subreaper), and workers dying with a master that
//! was SIGKILLed even when they cleared PDEATHSIG (the guard pipe).

mod support;

use std::ffi::OsString;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use support::*;

/// A wrapper that runs the server in a subshell without `exec`ing it itself, as many service
/// scripts do: the server is the wrapper's child, not the master's.
fn wrapper(dir: &Path) -> Vec<OsString> {
    let script = dir.join("wrapper.sh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/bash\n( export LISTEN_PID=$BASHPID; exec python3 {WORKER} \"$@\" )\necho wrapper done >&2\n"
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    vec![script.into()]
}

fn metric(z: &Zdrun, series: &str) -> Option<u64> {
    let body = get(z.admin(), "/metrics")?.body;
    body.lines()
        .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
}

#[test]
fn wrapper_that_does_not_exec_leaves_no_process_of_any_generation() {
    // slow-stop: the server outlives its wrapper by 0.5 s after SIGTERM, so it is orphaned.
    let mut z = Zdrun::start_with("slow-stop", &[], None, wrapper);
    let first = z.wait_serving();
    let (old_server, old_wrapper) = (pid_in(&first), children_of(z.pid()));
    assert_eq!(old_wrapper.len(), 1, "{old_wrapper:?}");
    assert!(
        old_server != old_wrapper[0],
        "the server must not be the wrapper"
    );
    assert_eq!(z.restart()["outcome"], "ok");
    // The old server got SIGTERM with its group, was re-parented to the master and reaped.
    wait_until("old generation's server gone (zombies count)", || {
        !exists(old_server) && !exists(old_wrapper[0])
    });
    let counted = || metric(&z, "hotel_be_orphans_reaped_total").is_some_and(|n| n >= 1);
    if !counted() {
        panic!(
            "the orphaned server must be reaped and counted:\n{}",
            z.log()
        );
    }
    // After a restart only the new generation accepts.
    for _ in 0..20 {
        let body = get(z.addr(), "/").unwrap().body;
        assert!(body.starts_with("gen 2 "), "{body}");
    }
    let new_server = pid_in(&get(z.addr(), "/").unwrap().body);
    let new_wrapper = children_of(z.pid());
    assert_eq!(z.term_and_wait().code(), Some(0));
    for pid in new_wrapper.into_iter().chain([new_server]) {
        assert!(!exists(pid), "process {pid} outlived the master");
    }
}

#[test]
fn worker_without_pdeathsig_dies_with_a_sigkilled_master_via_the_guard_pipe() {
    let mut z = Zdrun::start("clear-pdeathsig", &[], None);
    let server = pid_in(&z.wait_serving());
    z.kill();
    // Re-parented to init (or our subreaper) and reaped there: gone, or at most a zombie.
    wait_until("worker exits after the master's death", || {
        std::fs::read_to_string(format!("/proc/{server}/stat"))
            .map(|s| {
                s.rsplit_once(')')
                    .is_some_and(|(_, r)| r.trim_start().starts_with('Z'))
            })
            .unwrap_or(true)
    });
}
