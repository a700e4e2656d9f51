use super::*;

fn run(argv: &[String]) -> std::process::Output {
    std::process::Command::new(&argv[0])
        .args(&argv[1..])
        .output()
        .unwrap()
}

#[test]
fn the_argv_is_sh_c_body_then_positional_arguments() {
    let s = Script {
        name: "t",
        text: "# shellcheck shell=sh\n# t: test.\nset -eu\ncat \"$1\"\n",
        lib: "",
    };
    assert_eq!(s.body(), "set -eu\ncat \"$1\"\n");
    let v = argv(&s, &["a b", "$(x)"]);
    assert_eq!(v[..2], ["sh", "-c"]);
    assert_eq!(v[2], "set -eu\ncat \"$1\"\n");
    assert_eq!(v[3..], ["sh", "a b", "$(x)"]);
    // A body without `set -eu` gets it; an unset variable and a failing command both stop it.
    for body in ["echo \"$nope\"; echo reached", "false; echo reached"] {
        let v = argv(
            &Script {
                name: "t",
                text: body,
                lib: "",
            },
            &[],
        );
        assert!(v[2].starts_with("set -eu\n"));
        let out = run(&v);
        assert!(!out.status.success(), "{body}");
        assert!(!String::from_utf8_lossy(&out.stdout).contains("reached"));
    }
}

#[test]
fn every_script_file_is_registered_documented_strict_and_parses_as_posix_sh() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts");
    let mut on_disk: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with("lib_"))
        .collect();
    on_disk.sort();
    let mut named: Vec<String> = ALL.iter().map(|s| format!("{}.sh", s.name)).collect();
    named.sort();
    assert_eq!(on_disk, named, "scripts/*.sh and scripts::ALL differ");
    for s in ALL {
        assert!(s.text.starts_with("# shellcheck shell=sh\n"), "{}", s.name);
        let header = &s.text[..s.text.len() - s.body().len()];
        assert!(header.contains(&format!("# {}: ", s.name)), "{}", s.name);
        for part in ["# Arguments:", "# Exit:", "# Output:"] {
            assert!(header.contains(part), "{}: no {part}", s.name);
        }
        assert!(s.body().starts_with("set -eu\n"), "{}", s.name);
        for shell in ["sh", "dash"] {
            let out = std::process::Command::new(shell)
                .args(["-n", "-c", s.body()])
                .output()
                .unwrap();
            assert!(out.status.success(), "{} under {shell}: {:?}", s.name, out);
        }
    }
}

#[test]
fn output_lines_must_be_key_value() {
    let s = Script {
        name: "t",
        text: "",
        lib: "",
    };
    let got = lines(&s, "a=1\nb_2=x=y\nc=\n").unwrap();
    let kv: Vec<(&str, &str)> = got.iter().map(|l| (l.key, l.value)).collect();
    assert_eq!(kv, [("a", "1"), ("b_2", "x=y"), ("c", "")]);
    for bad in ["x", "=1", "A=1", "a b=1", "\n", "a=1\n\nb=2"] {
        let e = lines(&s, bad).unwrap_err();
        assert!(
            matches!(&e, ScriptError::Line { script: "t", why, .. } if why == "not key=value"),
            "{bad:?}: {e}"
        );
    }
}

#[test]
fn records_check_their_keys_and_values() {
    let s = Script {
        name: "t",
        text: "",
        lib: "",
    };
    let r = Record::of(&s, "n=12\nk=yes\n", &["n", "k", "z"]).unwrap();
    assert_eq!(r.num::<u32>("n"), Ok(12));
    assert_eq!(r.one_of("k", &["yes", "no"]), Ok("yes"));
    assert_eq!(r.opt("z"), None);
    assert_eq!(
        r.req("z"),
        Err(ScriptError::Missing {
            script: "t",
            key: "z"
        })
    );
    assert!(r
        .one_of("n", &["yes"])
        .unwrap_err()
        .to_string()
        .contains("not one of"));
    assert!(r
        .num::<u32>("k")
        .unwrap_err()
        .to_string()
        .contains("\"k=yes\""));
    let big = Record::of(&s, "n=99999999999\n", &["n"]).unwrap();
    assert!(big
        .num::<u32>("n")
        .unwrap_err()
        .to_string()
        .contains("out of range"));
    let e = Record::of(&s, "n=1\nn=2", &["n"]).unwrap_err();
    assert!(e.to_string().contains("repeated key"), "{e}");
    let e = Record::of(&s, "q=1", &["n"]).unwrap_err();
    assert!(e.to_string().contains("unknown key"), "{e}");
    let recs = records(&s, "n=1\nk=a\nn=2\n", "n", &["n", "k"]).unwrap();
    assert_eq!(recs.len(), 2);
    assert_eq!(recs[1].opt("k"), None);
    let e = records(&s, "k=a\nn=1", "n", &["n", "k"]).unwrap_err();
    assert!(e.to_string().contains("before the first `n=`"), "{e}");
}

/// `owned_pid` (scripts/lib_owned_pid.sh, prepended to the scripts that signal a pid file's
/// process) names a live process only when it runs the program asked for.
#[test]
fn owned_pid_names_only_a_process_running_the_program() {
    let d = tempfile::tempdir().unwrap();
    let mut sleep = std::process::Command::new("sleep")
        .arg("30")
        .spawn()
        .unwrap();
    let pid_file = d.path().join("x.pid");
    std::fs::write(&pid_file, sleep.id().to_string()).unwrap();
    let lib = Script {
        name: "t",
        text: "set -eu\nowned_pid \"$1\" \"$2\"\n",
        lib: super::lb::NGINX_APPLY.lib,
    };
    let ask = |program: &str| {
        let out = run(&argv(&lib, &[pid_file.to_str().unwrap(), program]));
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).trim().to_string(),
        )
    };
    assert_eq!(ask("sleep"), (true, sleep.id().to_string()));
    assert!(ask("/usr/bin/sleep").0, "a path to the same program");
    assert!(!ask("nginx").0, "another program");
    sleep.kill().unwrap();
    sleep.wait().unwrap();
    assert!(!ask("sleep").0, "no such process");
    std::fs::write(&pid_file, "x").unwrap();
    assert!(!ask("sleep").0, "no number");
    // Every script that uses it gets it, after `set -eu`.
    for s in ALL.iter().filter(|s| !s.lib.is_empty()) {
        let body = &argv(s, &[])[2];
        assert!(body.starts_with("set -eu\nowned_pid() {"), "{}", s.name);
    }
}
