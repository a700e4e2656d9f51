//! Durability of the write paths on a host: a namespace cannot lose power (the page cache
//! survives it), so the scripts are traced instead. A rollout and a rollback of `--env local`
//! (the same scripts as over SSH) run under `strace -f`; every rename that puts a file or a
//! backup in place under the install dir comes after an fsync of what it renames and is
//! followed by an fsync of the directory it lands in; the host's history, its audit copy and
//! the controller's audit log are fsynced after they are written.

use crate::local::Local;
use std::collections::HashMap;
use std::ffi::OsStr;
use std::path::Path;
use testkit::*;

/// One traced call: its name, its paths (for fsync: the fd's path), its result.
#[derive(Debug)]
struct Call {
    name: String,
    paths: Vec<String>,
    ok: bool,
}

/// Parse `strace -f -y -o` lines (`PID name(args) = R`).
fn calls(log: &str) -> Vec<Call> {
    log.lines()
        .filter_map(|l| {
            let (_, rest) = l.split_once(' ')?;
            let (name, args) = rest.trim_start().split_once('(')?;
            let ok = l.trim_end().ends_with("= 0");
            // Quoted paths ("...") first, then fd paths (<...>).
            let mut paths: Vec<String> = args
                .split('"')
                .skip(1)
                .step_by(2)
                .map(str::to_string)
                .collect();
            let fds = args.split('<').skip(1).filter_map(|p| p.split_once('>'));
            paths.extend(fds.map(|(p, _)| p.to_string()));
            Some(Call {
                name: name.to_string(),
                paths,
                ok,
            })
        })
        .collect()
}

fn is_sync(c: &Call) -> bool {
    matches!(c.name.as_str(), "fsync" | "fdatasync") && c.ok
}

/// Run `args` under strace; the calls it made (every process it started included).
fn traced(l: &Local, state: &Path, args: &[&str], name: &str) -> Vec<Call> {
    let log = l.work.path().join(format!("strace-{name}.log"));
    let prefix = [
        "strace",
        "-f",
        "-y",
        "-qq",
        "-s",
        "512",
        "-e",
        "trace=fsync,fdatasync,rename,renameat,renameat2",
        "-o",
        log.to_str().unwrap(),
    ];
    let prefix: Vec<&OsStr> = prefix.iter().map(OsStr::new).collect();
    let mut c = runner::command_via(&prefix, &l.inv, state);
    c.args(args);
    let r = runner::finish(c.spawn().unwrap(), std::time::Duration::from_secs(180));
    assert_eq!(r.code, 0, "{name}: {} {}", r.stderr, r.json);
    calls(&std::fs::read_to_string(&log).unwrap())
}

/// Every rename into `dir` follows an fsync of its source and precedes an fsync of the
/// destination's directory; returns how many renames were checked.
fn renames_are_durable(calls: &[Call], dir: &str) -> usize {
    let mut synced: HashMap<&str, usize> = HashMap::new();
    for (k, c) in calls.iter().enumerate() {
        if is_sync(c) {
            synced.insert(c.paths[0].as_str(), k);
        }
    }
    let mut checked = 0;
    for (k, c) in calls.iter().enumerate() {
        if !c.name.starts_with("rename") || !c.ok || c.paths.len() < 2 {
            continue;
        }
        let (src, dest) = (&c.paths[0], &c.paths[1]);
        if !dest.starts_with(dir) {
            continue;
        }
        let before = calls[..k].iter().any(|s| is_sync(s) && s.paths[0] == *src);
        assert!(before, "{src} renamed to {dest} before any fsync of it");
        let parent = Path::new(dest).parent().unwrap().to_str().unwrap();
        let after = calls[k + 1..]
            .iter()
            .any(|s| is_sync(s) && s.paths[0] == parent);
        assert!(
            after,
            "{dest}: its directory {parent} not fsynced after the rename"
        );
        checked += 1;
    }
    checked
}

fn synced(calls: &[Call], path: &str) -> bool {
    calls.iter().any(|c| is_sync(c) && c.paths[0] == path)
}

#[test]
fn every_file_a_run_reports_done_was_fsynced_first() {
    let l = Local::new();
    let _stop = l.stopper();
    let state = l.work.path().join("state");
    let first = deployctl(&l.inv, &state, &["rollout", "--env", "local"]);
    assert_eq!(first.code, 0, "{} {}", first.stderr, first.json);
    let v2 = l.builds.v2.to_str().unwrap();
    let args = ["rollout", "--env", "local", "--artifact", v2];
    let rollout = traced(&l, &state, &args, "rollout");
    let rollback = traced(&l, &state, &["rollback", "--env", "local"], "rollback");
    let dir = l.install_dir.as_str();
    // Rollout: the binary installed, its backup put in place, the lease; rollback: the binary
    // restored, the lease.
    for (name, calls, least) in [("rollout", &rollout, 3), ("rollback", &rollback, 2)] {
        let n = renames_are_durable(calls, dir);
        assert!(n >= least, "{name}: {n} renames into {dir}");
        for f in ["history.jsonl", "audit.jsonl"] {
            let p = format!("{dir}/.deploy/{f}");
            assert!(synced(calls, &p), "{name}: {p} not fsynced");
        }
        let local_log = calls
            .iter()
            .any(|c| is_sync(c) && c.paths[0].starts_with(state.join("audit").to_str().unwrap()));
        assert!(local_log, "{name}: the controller's audit log not fsynced");
    }
}
