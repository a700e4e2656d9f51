//! What deployctl checks about a host before it trusts it: a login shell that is not POSIX
//! is refused at connect; an authentication the server stalls fails within its bound; a
//! program on port 80 that is not nginx or haproxy does not make the host a load balancer.

use std::process::{Child, Command};
use std::time::{Duration, Instant};
use testkit::*;

fn stop(mut c: Child) {
    let _ = c.kill();
    let _ = c.wait();
}

/// SIGTERM (nginx's master stops its workers on it), then wait.
pub(crate) fn stop_term(mut c: Child) {
    let st = Command::new("kill")
        .args(["-TERM", &c.id().to_string()])
        .status()
        .unwrap();
    assert!(st.success());
    let _ = c.wait();
}

/// root's login shell on the host is tcsh (bind-mounted passwd in the host's mount
/// namespace): the connection is refused with a clear error before anything is run, and the
/// host is left exactly as it was (no lease, no upload, no install).
fn non_posix_login_shell(transport: Transport) {
    let f = Fleet::new(
        1,
        &Inv {
            transport,
            ..Inv::default()
        },
    );
    let bed = &f.bed;
    bed.login_shell(0, "/usr/bin/tcsh");
    // The host really logs root in with tcsh now (`$version` is a tcsh variable).
    let out = Command::new("ssh")
        .args(["-i"])
        .arg(bed.dir.join("id_ed25519"))
        .args(["-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes", "-o"])
        .arg(format!(
            "UserKnownHostsFile={}",
            bed.dir.join("known_hosts").display()
        ))
        .arg(format!("root@{}", bed.hosts[0].address))
        .arg("echo $version")
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.starts_with("tcsh"), "login shell: {said:?}");
    let r = f.run(&["rollout", "--env", "bed"]);
    assert_ne!(r.code, 0, "{} {}", r.stderr, r.json);
    assert_eq!(r.json["outcome"], "ABORTED", "{}", r.json);
    let all = format!("{} {}", r.stderr, r.json);
    assert!(
        all.contains("the remote login shell is not POSIX"),
        "clear error: {all}"
    );
    assert!(bed.untouched(0), "nothing changed on the host");
    assert_eq!(served_build(&bed.hosts[0].address), None, "nothing runs");
}

#[test]
fn a_non_posix_login_shell_is_refused_at_connect_over_openssh() {
    non_posix_login_shell(Transport::Ssh);
}

#[test]
fn a_non_posix_login_shell_is_refused_at_connect_over_native_russh() {
    non_posix_login_shell(Transport::Native);
}

/// A second sshd on the host (port 2222, the host's own key) whose public-key check never
/// answers (`AuthorizedKeysCommand` sleeps): authentication must fail within its bound.
fn stalled_authentication(transport: Transport) {
    let f = Fleet::new(1, &Inv::default());
    let (bed, builds, work, state) = (&f.bed, &f.builds, &f.work, &f.state);
    let h = bed.dir.join("h1");
    let cfg = std::fs::read_to_string(h.join("sshd_config"))
        .unwrap()
        .replace("Port 22\n", "Port 2222\n")
        .replace(
            &format!("PidFile {}", h.join("sshd.pid").display()),
            &format!("PidFile {}", work.path().join("stall.pid").display()),
        )
        .replace(
            &format!("AuthorizedKeysFile {}/authorized_keys", bed.dir.display()),
            "AuthorizedKeysFile none\nAuthorizedKeysCommand /usr/bin/sleep 600\nAuthorizedKeysCommandUser nobody",
        );
    assert!(cfg.contains("AuthorizedKeysCommand "), "{cfg}");
    let cfg_path = work.path().join("stall_sshd_config");
    std::fs::write(&cfg_path, cfg).unwrap();
    let sshd = bed.spawn_in(
        0,
        &[
            "/usr/sbin/sshd",
            "-D",
            "-e",
            "-f",
            cfg_path.to_str().unwrap(),
        ],
    );
    bed.wait_listening(0, 2222);
    let addr = &bed.hosts[0].address;
    let key = std::fs::read_to_string(h.join("ssh_host_ed25519_key.pub")).unwrap();
    let key: Vec<&str> = key.split_whitespace().take(2).collect();
    let kh = work.path().join("known_hosts_2222");
    std::fs::write(&kh, format!("[{addr}]:2222 {}\n", key.join(" "))).unwrap();
    let knobs = Inv {
        transport,
        known_hosts: Some(kh),
        ..Inv::default()
    };
    let mut doc = bed.inventory_doc(&builds.v1, &knobs);
    doc.env("bed").hosts[0].port = Some(2222);
    let inv = doc.write(work.path());
    let t0 = Instant::now();
    let r = finish(
        spawn(&inv, state, &["rollout", "--env", "bed"]),
        Duration::from_secs(120),
    );
    let took = t0.elapsed();
    stop(sshd);
    assert_ne!(r.code, 0, "{} {}", r.stderr, r.json);
    // 3 connection attempts, each bounded (10 s connect timeout; OpenSSH measured ~15 s per
    // attempt on this bed), plus backoff.
    assert!(took < Duration::from_secs(80), "bounded: {took:?}");
    assert!(bed.untouched(0), "nothing changed on the host");
    assert_eq!(r.json["outcome"], "ABORTED", "{}", r.json);
    let all = format!("{} {}", r.stderr, r.json);
    let why = if transport == Transport::Native {
        "cannot connect: authentication: no answer within 10s"
    } else {
        "cannot connect: failed to connect to the remote host: Connection to"
    };
    assert!(all.contains(why), "{all}");
}

#[test]
fn a_stalled_authentication_fails_within_its_bound_over_native_russh() {
    stalled_authentication(Transport::Native);
}

#[test]
fn a_stalled_authentication_fails_within_its_bound_over_openssh() {
    stalled_authentication(Transport::Ssh);
}

/// A host with roles left to detection: a web server that is not nginx or haproxy listening
/// on port 80 does not make it a load balancer (it is deployed as an app host, and the other
/// program is left alone); nginx listening on 443 does.
/// A plain nginx on bed host 0 listening on `port` (config under `dir`), once it listens.
pub(crate) fn nginx_on(bed: &Bed, dir: &std::path::Path, port: u16) -> std::process::Child {
    std::fs::create_dir_all(dir).unwrap();
    let d = dir.display();
    let conf = dir.join("nginx.conf");
    std::fs::write(
        &conf,
        format!(
            "daemon off;\nworker_processes 1;\npid {d}/nginx.pid;\nerror_log {d}/error.log;\n\
             events {{ worker_connections 64; }}\nhttp {{ access_log off;\n client_body_temp_path {d}/b;\n\
             proxy_temp_path {d}/p;\n fastcgi_temp_path {d}/f;\n uwsgi_temp_path {d}/u;\n scgi_temp_path {d}/s;\n\
             server {{ listen {port}; return 200 ok; }} }}\n"
        ),
    )
    .unwrap();
    let nginx = bed.spawn_in(0, &["/usr/sbin/nginx", "-c", conf.to_str().unwrap()]);
    bed.wait_listening(0, port);
    nginx
}

/// An LB on another port than 80/443 is found through `[lb] listen` (it was silently left
/// unmanaged, and the gray build then took its plain 1/N share).
#[test]
fn nginx_listening_on_the_lb_listen_port_makes_a_host_an_lb() {
    let f = Fleet::new(
        1,
        &Inv {
            auto_roles: true,
            lb: vec!["listen = 8081".into()],
            ..Inv::default()
        },
    );
    let nginx = nginx_on(&f.bed, &f.work.path().join("ng"), 8081);
    let d = f.run(&["detect", "--env", "bed"]);
    stop_term(nginx);
    assert_eq!(d.code, 0, "{} {}", d.stderr, d.json);
    // Nothing deployed yet: an LB only (before: an empty host, so a new app host).
    assert_eq!(d.json[0]["roles"], serde_json::json!(["lb"]), "{}", d.json);
}

#[test]
fn only_nginx_or_haproxy_listening_on_80_or_443_makes_a_host_an_lb() {
    let f = Fleet::new(
        1,
        &Inv {
            auto_roles: true,
            ..Inv::default()
        },
    );
    let (bed, builds, work, inv, state) = (&f.bed, &f.builds, &f.work, &f.inv, &f.state);
    let web = bed.spawn_in(0, &["python3", "-m", "http.server", "80"]);
    bed.wait_listening(0, 80);
    let d = deployctl(inv, state, &["detect", "--env", "bed"]);
    assert_eq!(d.code, 0, "{} {}", d.stderr, d.json);
    assert_eq!(d.json[0]["roles"], serde_json::json!(["app"]), "{}", d.json);
    assert_eq!(d.json[0]["detected"], true);
    let r = deployctl(inv, state, &["rollout", "--env", "bed"]);
    assert_eq!(r.code, 0, "{} {}", r.stderr, r.json);
    assert_eq!(
        served_build(&bed.hosts[0].address),
        Some(build_id(&builds.v1))
    );
    assert!(
        !ls(&bed.srv(0)).contains(&"nginx".to_string()),
        "no LB set up"
    );
    bed.wait_listening(0, 80);
    stop(web);
    // nginx on 443 (plain HTTP is enough: what matters is which program listens).
    let nginx = nginx_on(bed, &work.path().join("ng"), 443);
    let d = deployctl(inv, state, &["detect", "--env", "bed"]);
    stop_term(nginx);
    assert_eq!(d.code, 0, "{} {}", d.stderr, d.json);
    assert_eq!(
        d.json[0]["roles"],
        serde_json::json!(["lb", "app"]),
        "{}",
        d.json
    );
}
