//! Durations are validated when the command line is parsed: zero and absurd values, and
//! combinations that cannot work, are refused with a message naming the flag, before anything
//! is bound or started.

use std::process::Command;

fn zdrun(args: &[&str]) -> (Option<i32>, String) {
    let out = Command::new(testkit::bins::zdrun())
        .args(["--listen", "127.0.0.1:0"])
        .args(args)
        .args(["--", "true"])
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

const FLAGS: [&str; 8] = [
    "--ready-timeout",
    "--ready-interval",
    "--grace",
    "--bind-timeout",
    "--health-interval",
    "--backoff-max",
    "--stable-after",
    "--liveness-interval",
];

#[test]
fn each_zero_duration_is_refused_naming_the_flag() {
    for flag in FLAGS {
        for zero in ["0", "0s", "0ms"] {
            let (code, err) = zdrun(&[flag, zero]);
            assert_eq!(code, Some(2), "{flag} {zero} must be refused: {err}");
            assert!(
                err.contains(flag) && err.contains("out of range"),
                "{flag} {zero}: {err}"
            );
        }
    }
}

#[test]
fn absurd_durations_are_refused() {
    for flag in FLAGS {
        let (code, err) = zdrun(&[flag, "100000m"]);
        assert_eq!(code, Some(2), "{flag}: {err}");
        assert!(err.contains("out of range"), "{flag}: {err}");
    }
}

#[test]
fn ready_interval_must_be_shorter_than_the_ready_timeout() {
    let (code, err) = zdrun(&["--ready-interval", "5s", "--ready-timeout", "2s"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("--ready-interval (5s) must be shorter than --ready-timeout (2s)"),
        "{err}"
    );
}

#[test]
fn ctl_timeout_zero_is_refused() {
    let out = Command::new(testkit::bins::zdrun())
        .args(["ctl", "status", "--admin", "127.0.0.1:9", "--timeout", "0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--timeout"));
}
