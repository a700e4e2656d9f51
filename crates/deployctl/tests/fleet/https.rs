//! Verification through an HTTPS external URL: nginx terminates TLS on the host (inside its
//! network namespace) in front of hotel-api; the certificate is checked against the
//! inventory's `ca_file`, and a certificate from another CA fails the host.

use std::path::Path;
use std::process::Command;
use testkit::*;

/// Self-signed CA-capable certificate for `ip` in `dir` (cert.pem, key.pem).
fn cert(dir: &Path, ip: &str) {
    std::fs::create_dir_all(dir).unwrap();
    let st = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "2",
        ])
        .args([
            "-subj",
            &format!("/CN={ip}"),
            "-addext",
            &format!("subjectAltName=IP:{ip}"),
        ])
        .args(["-addext", "basicConstraints=critical,CA:TRUE"])
        .arg("-keyout")
        .arg(dir.join("key.pem"))
        .arg("-out")
        .arg(dir.join("cert.pem"))
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(st.success(), "openssl req");
}

#[test]
fn external_https_url_is_verified_against_the_inventory_ca() {
    let f = Fleet::on_v1(1, &Inv::default());
    let (bed, builds, work, state) = (&f.bed, &f.builds, &f.work, &f.state);
    let addr = bed.hosts[0].address.clone();
    // TLS terminator inside the host's network namespace (stopped with the bed, by netns pids).
    let tls = work.path().join("tls");
    cert(&tls, &addr);
    std::fs::create_dir_all(tls.join("tmp")).unwrap();
    let t = tls.display();
    std::fs::write(
        tls.join("nginx.conf"),
        format!(
            "worker_processes 1;\npid {t}/nginx.pid;\nerror_log {t}/error.log;\nevents {{ worker_connections 64; }}\n\
             http {{\n access_log off;\n client_body_temp_path {t}/tmp/body;\n proxy_temp_path {t}/tmp/proxy;\n\
             fastcgi_temp_path {t}/tmp/fcgi;\n uwsgi_temp_path {t}/tmp/uwsgi;\n scgi_temp_path {t}/tmp/scgi;\n\
             server {{\n  listen 8443 ssl;\n  ssl_certificate {t}/cert.pem;\n  ssl_certificate_key {t}/key.pem;\n\
             location / {{ proxy_pass http://127.0.0.1:8080; }}\n }}\n}}\n"
        ),
    )
    .unwrap();
    let st = Command::new("ip")
        .args(["netns", "exec", &bed.hosts[0].netns, "nginx", "-c"])
        .arg(tls.join("nginx.conf"))
        .status()
        .unwrap();
    assert!(st.success(), "nginx (TLS) started");
    let https = Inv {
        external: Some("https://{addr}:8443".into()),
        ca_file: Some(tls.join("cert.pem")),
        timeout_s: 6,
        ..Inv::default()
    };
    let inv = bed.inventory(work.path(), &builds.v1, &https);
    let r = deployctl(
        &inv,
        state,
        &[
            "rollout",
            "--env",
            "bed",
            "--artifact",
            builds.v2.to_str().unwrap(),
        ],
    );
    assert_eq!(r.code, 0, "{} {}", r.stderr, r.json);
    assert_eq!(
        r.json["hosts"][0]["served_build"],
        build_id(&builds.v2).as_str()
    );
    // A certificate the inventory's CA did not issue: the host cannot be verified.
    let other = work.path().join("other");
    cert(&other, &addr);
    let wrong = bed.inventory(
        work.path(),
        &builds.v1,
        &Inv {
            ca_file: Some(other.join("cert.pem")),
            ..https
        },
    );
    let r = deployctl(
        &wrong,
        state,
        &[
            "rollout",
            "--env",
            "bed",
            "--artifact",
            builds.v1.to_str().unwrap(),
        ],
    );
    // The restore happens, but the old build cannot be verified through that CA either: a
    // restore that is not verified is ROLLBACK_FAILED, never ROLLBACK.
    assert_eq!(r.code, 6, "{} {}", r.stderr, r.json);
    assert_eq!(r.json["outcome"], "ROLLBACK_FAILED");
    let err = r.json["hosts"][0]["error"].as_str().unwrap();
    assert!(
        err.contains("https://") && err.to_lowercase().contains("certificate"),
        "{err}"
    );
    assert_eq!(
        served_build(&addr),
        Some(build_id(&builds.v2)),
        "rolled back to the build it had"
    );
    assert_eq!(
        sha256_file(&bed.srv(0).join("hotel/hotel-api")),
        sha256_file(&builds.v2)
    );
}
