//! `status` says when it could not inspect a host it reached: the host's error is in the
//! report and the exit code is not 0.

use testkit::*;

#[test]
fn status_exits_non_zero_when_a_reached_host_could_not_be_inspected() {
    let f = Fleet::on_v1(2, &Inv::default());
    let ok = f.run(&["status", "--env", "bed"]);
    assert_eq!(ok.code, 0, "{} {}", ok.stderr, ok.json);
    // h2's pid file now names a process that is not the service (bounded: 120 s).
    let other = procs::Bystander::spawn(120);
    let pid_file = f.bed.srv(1).join("hotel/run/hotel-api.pid");
    let saved = std::fs::read_to_string(&pid_file).unwrap();
    std::fs::write(&pid_file, other.pid().to_string()).unwrap();
    let st = f.run(&["status", "--env", "bed"]);
    std::fs::write(&pid_file, saved).unwrap();
    assert_eq!(st.code, 1, "{} {}", st.stderr, st.json);
    let h2 = &st.json.as_array().unwrap()[1];
    assert_eq!(h2["reachable"], true, "{h2}");
    let err = h2["error"].as_str().unwrap_or_default();
    assert!(err.contains("refusing to signal"), "{h2}");
    assert!(st.json[0]["error"].is_null(), "{}", st.json);
    drop(other);
    // Inspection works again once the pid file is the master's.
    let again = f.run(&["status", "--env", "bed"]);
    assert_eq!(again.code, 0, "{} {}", again.stderr, again.json);
}
