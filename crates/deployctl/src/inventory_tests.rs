use super::*;

fn parse(text: &str) -> Result<Inventory, InventoryError> {
    Inventory::parse(Path::new("/etc/deploy.toml"), text)
}

const BASE: &str = r#"
[artifact]
binary = "bin/app"
name = "app"
[remote]
install_dir = "/srv/app"
backup_dir = "/srv/app/backups"
[service]
pid_file = "/srv/app/app.pid"
port = 8080
"#;

fn with_env(env: &str) -> String {
    format!("{BASE}\n{env}")
}

#[test]
fn loads_the_repository_inventory() {
    let inv = Inventory::load(concat!(env!("CARGO_MANIFEST_DIR"), "/../../deploy.toml")).unwrap();
    let local = inv.env("local").unwrap();
    assert_eq!(local.transport, TransportKind::Local);
    assert_eq!(local.hosts[0].address, "127.0.0.1");
    assert_eq!(
        local.base_urls(),
        vec!["http://127.0.0.1:18080".to_string()]
    );
    let prod = inv.env("prod").unwrap();
    assert!(prod.host("prod-dr").unwrap().dr);
    assert_eq!(inv.env_names(), vec!["local", "prod", "uat"]);
}

#[test]
fn env_overrides_replace_defaults_and_paths_are_relative_to_the_file() {
    let inv = parse(&with_env(
        "[env.a]\ntransport = \"native\"\nknown_hosts = \"kh\"\nrollout = { batch_size = 5 }\n\
         hosts = [{ name = \"h1\", address = \"10.0.0.1\", port = 2222, user = \"deploy\" }]\n",
    ))
    .unwrap();
    let a = inv.env("a").unwrap();
    assert_eq!(a.transport, TransportKind::Native);
    assert_eq!(a.rollout.batch_size, 5);
    assert_eq!(a.rollout.parallelism, 4);
    assert_eq!(a.known_hosts.as_deref(), Some(Path::new("/etc/kh")));
    assert_eq!(a.artifact.binary, Path::new("/etc/bin/app"));
    assert_eq!(a.hosts[0].port, 2222);
    assert_eq!(a.hosts[0].user, "deploy");
    assert_eq!(a.hosts[0].external_url, "http://10.0.0.1:8080");
    assert!(a.hosts[0].roles.is_empty(), "no roles means detect");
}

#[test]
fn an_lb_host_defaults_to_its_listen_port() {
    let inv = parse(&with_env(
        "[env.a]\nlb = { listen = 8088 }\nhosts = [\n  { name = \"lb\", address = \"10.0.0.9\", roles = [\"lb\"] },\n  \
         { name = \"app\", address = \"10.0.0.1\", roles = [\"app\", \"lb\"] },\n]\n",
    ))
    .unwrap();
    let a = inv.env("a").unwrap();
    assert_eq!(a.hosts[0].external_url, "http://10.0.0.9:8088");
    assert_eq!(a.hosts[1].external_url, "http://10.0.0.1:8080");
}

fn invalid(text: &str) -> (usize, String) {
    match parse(text) {
        Err(InventoryError::Invalid { file, line, reason }) => {
            assert_eq!(file, Path::new("/etc/deploy.toml"));
            (line, reason)
        }
        other => panic!("expected an invalid-inventory error, got {other:?}"),
    }
}

#[test]
fn missing_field_names_line_and_field() {
    let text = with_env("[env.a]\nhosts = [\n  { name = \"h1\" },\n]\n");
    let (line, reason) = invalid(&text);
    assert_eq!(
        line,
        text.lines().position(|l| l.contains("h1")).unwrap() + 1
    );
    assert!(reason.contains("missing field `address`"), "{reason}");
}

#[test]
fn bad_address_names_its_line() {
    let text = with_env("[env.a]\nhosts = [\n  { name = \"h1\", address = \"10.0.0.1\" },\n  { name = \"h2\", address = \"10.0.0.300\" },\n]\n");
    let (line, reason) = invalid(&text);
    assert_eq!(
        line,
        text.lines().position(|l| l.contains("10.0.0.300")).unwrap() + 1
    );
    assert!(reason.contains("bad address `10.0.0.300`"), "{reason}");
    let (_, reason) = invalid(&with_env(
        "[env.a]\nhosts = [{ name = \"h\", address = \"a b\" }]\n",
    ));
    assert!(reason.contains("bad address"), "{reason}");
}

#[test]
fn duplicate_host_names_the_second_occurrence() {
    let text = with_env("[env.a]\nhosts = [\n  { name = \"h1\", address = \"10.0.0.1\" },\n  { name = \"h1\", address = \"10.0.0.2\" },\n]\n");
    let (line, reason) = invalid(&text);
    assert_eq!(
        line,
        text.lines().position(|l| l.contains("10.0.0.2")).unwrap() + 1
    );
    assert!(reason.contains("duplicate host `h1`"), "{reason}");
}

#[test]
fn unknown_env_lists_the_known_ones() {
    let inv = parse(&with_env(
        "[env.uat]\nhosts = [{ name = \"h\", address = \"h.example\" }]\n",
    ))
    .unwrap();
    let err = inv.env("prod").unwrap_err().to_string();
    assert_eq!(
        err,
        "/etc/deploy.toml: unknown environment `prod` (known: uat)"
    );
}

#[test]
fn unknown_keys_and_bad_types_are_rejected_with_line() {
    let text =
        with_env("[env.a]\nhosts = [{ name = \"h\", address = \"h\" }]\ntransprot = \"ssh\"\n");
    let (line, reason) = invalid(&text);
    assert_eq!(line, text.lines().count());
    assert!(reason.contains("unknown field `transprot`"), "{reason}");
    let (_, reason) = invalid(&with_env(
        "[env.a]\ntransport = \"telnet\"\nhosts = [{ name = \"h\", address = \"h\" }]\n",
    ));
    assert!(reason.contains("telnet"), "{reason}");
}

#[test]
fn env_without_hosts_or_sections_is_rejected() {
    let (_, reason) = invalid(&with_env("[env.a]\nhosts = []\n"));
    assert!(reason.contains("no hosts"), "{reason}");
    let (_, reason) = invalid("[env.a]\nhosts = [{ name = \"h\", address = \"h\" }]\n");
    assert!(reason.contains("no [artifact]"), "{reason}");
    let (_, reason) = invalid(BASE);
    assert!(reason.contains("no environment"), "{reason}");
}

#[test]
fn address_validation() {
    for ok in ["127.0.0.1", "::1", "host-1.example.com", "h"] {
        assert!(valid_address(ok), "{ok}");
    }
    for bad in [
        "",
        "1.2.3",
        "999.1.1.1",
        "-h.example",
        "a..b",
        "h_1",
        "a b",
        "h;rm",
    ] {
        assert!(!valid_address(bad), "{bad}");
    }
}

#[test]
fn hostile_values_are_refused_with_their_line() {
    let host = "hosts = [{ name = \"h1\", address = \"10.0.0.1\" }]\n";
    let cases: Vec<(String, &str, &str)> = vec![
        (
            format!("[env.a]\n{host}[env.a.lb]\ngray_header = \"X-Gray;evil\"\n"),
            "gray_header = ",
            "lb.gray_header `X-Gray;evil`",
        ),
        (
            format!("[env.a]\n{host}[env.a.lb]\nsplit_key = \"${{remote_addr}}\"\n"),
            "split_key = ",
            "lb.split_key",
        ),
        (
            format!("[env.a]\n{host}[env.a.lb]\ndir = \"/srv/lb,fork\"\n"),
            "/srv/lb,fork",
            "lb.dir `/srv/lb,fork` must not hold",
        ),
        (
            format!("[env.a]\n{host}[env.a.lb]\ncheck_path = \"/ready x\"\n"),
            "check_path = ",
            "lb.check_path `/ready x`",
        ),
        (
            format!("[env.a]\n{host}[env.a.lb]\nupstream_extra = \"least_conn; }}\"\n"),
            "upstream_extra = ",
            "lb.upstream_extra",
        ),
        (
            format!("[env.\"a\\nb\"]\n{host}"),
            "[env.",
            "bad environment name \"a\\nb\"",
        ),
        (
            "[env.a]\nhosts = [\n  { name = \"h1\", address = \"10.0.0.1\" },\n  { name = \"h2\", address = \"10.0.0.2\" },\n  { name = \"h3\", address = \"10.0.0.1\" },\n]\n".to_string(),
            "h3",
            "duplicate address `10.0.0.1` (host `h3`)",
        ),
        (
            format!("[env.a]\n{host}remote = {{ install_dir = \"/srv/a;rm\", backup_dir = \"/srv/b\" }}\n"),
            "/srv/a;rm",
            "remote.install_dir `/srv/a;rm`",
        ),
        (
            format!("[env.a]\n{host}artifact = {{ binary = \"b\", name = \"app\", config = [{{ src = \"c\", dest = \"c.toml\", mode = \"0o600\" }}] }}\n"),
            "0o600",
            "config mode `0o600`",
        ),
        (
            "[env.a]\nhosts = [{ name = \"h1\", address = \"10.0.0.1\", user = \"-oProxyCommand=x\" }]\n".to_string(),
            "ProxyCommand",
            "bad user",
        ),
    ];
    for (env, marker, expected) in cases {
        let text = with_env(&env);
        let (line, reason) = invalid(&text);
        assert!(reason.contains(expected), "{expected}: {reason}");
        let want = text.lines().position(|l| l.contains(marker)).unwrap() + 1;
        assert_eq!(line, want, "{expected}: {reason}");
    }
}

#[test]
fn admin_needs_a_loopback_address_and_its_token_file() {
    let text = |service: &str| {
        format!(
            "[artifact]\nbinary = \"bin/app\"\nname = \"app\"\n\
             [remote]\ninstall_dir = \"/srv/app\"\nbackup_dir = \"/srv/app/backups\"\n\
             [service]\npid_file = \"/srv/app/app.pid\"\nport = 8080\n{service}\n\
             [env.a]\nhosts = [{{ name = \"h1\", address = \"10.0.0.1\" }}]\n"
        )
    };
    let (line, reason) = invalid(&text("admin = \"127.0.0.1:9901\""));
    assert_eq!(line, 10, "{reason}");
    assert!(reason.contains("service.admin_token_file"), "{reason}");
    let (line, reason) = invalid(&text(
        "admin = \"10.0.0.5:9901\"\nadmin_token_file = \"/srv/t\"",
    ));
    assert_eq!(line, 10, "{reason}");
    assert!(reason.contains("loopback"), "{reason}");
    // Read through protocol::AdminAddr when the file is parsed: a socket path (deployctl
    // tunnels to a TCP port) and a value without a port fail there, on their line.
    for bad in ["unix:/run/app/admin.sock", "127.0.0.1", "127.0.0.1:http"] {
        let (line, reason) = invalid(&text(&format!(
            "admin = \"{bad}\"\nadmin_token_file = \"/srv/t\""
        )));
        assert_eq!(line, 10, "{bad}: {reason}");
        assert!(reason.contains("service.admin"), "{bad}: {reason}");
    }
    let (_, reason) = invalid(&text(
        "admin = \"unix:/run/app/admin.sock\"\nadmin_token_file = \"/srv/t\"",
    ));
    assert!(reason.contains("TCP tunnel"), "{reason}");
    let (_, reason) = invalid(&text("admin_token_file = \"/srv/t\""));
    assert!(reason.contains("without service.admin"), "{reason}");
    let (_, reason) = invalid(&text(
        "admin = \"127.0.0.1:9901\"\nadmin_token_file = \"rel/t\"",
    ));
    assert!(reason.contains("absolute"), "{reason}");
    let inv = parse(&text(
        "admin = \"127.0.0.1:9901\"\nadmin_token_file = \"/srv/t\"",
    ))
    .unwrap();
    assert_eq!(
        inv.env("a").unwrap().service.admin_token_file.as_deref(),
        Some("/srv/t")
    );
    assert_eq!(
        inv.env("a").unwrap().service.admin.map(|a| a.port()),
        Some(9901)
    );
}

#[test]
fn gray_analysis_defaults_overrides_and_refusals() {
    let env = "[env.a]\nhosts = [{ name = \"a\", address = \"10.0.0.2\" }]\n";
    let inv = parse(&with_env(env)).unwrap();
    assert_eq!(inv.env("a").unwrap().gray.analysis.min_requests, 50);
    let text = format!("{BASE}\n[gray.analysis]\nmin_requests = 20\ntolerable_ratio = 3.0\n{env}");
    let a = parse(&text)
        .unwrap()
        .env("a")
        .unwrap()
        .gray
        .analysis
        .clone();
    assert_eq!((a.min_requests, a.tolerable_ratio), (20, 3.0));
    let text = format!("{BASE}\n[gray.analysis]\nalpha = 0.9\n{env}");
    let e = parse(&text).unwrap_err().to_string();
    assert!(e.contains("gray.analysis.alpha"), "{e}");
}
