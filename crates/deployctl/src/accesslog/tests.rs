use super::*;

#[test]
fn nginx_lines_are_normalised_to_ms() {
    let l = r#"{"t":1764900000.123,"pool":"deployctl_gray","up":"198.18.0.3:8080","m":"POST","g":"bookings","s":201,"rt":0.012,"ut":"0.010","h":"0"}"#;
    let r = parse_line(l).unwrap();
    assert_eq!(r.at_ms, 1_764_900_000_123);
    assert_eq!(
        (r.pool, r.group, r.status),
        (Pool::Gray, Group::Bookings, 201)
    );
    assert!((r.request_ms - 12.0).abs() < 1e-9);
    assert!((r.upstream_ms.unwrap() - 10.0).abs() < 1e-9);
    assert!(!r.by_header);
    assert_eq!(r.method, "POST");
}

#[test]
fn nginx_retries_sum_and_no_upstream_is_none() {
    let l = r#"{"t":1.0,"pool":"deployctl_stable","up":"a:1, b:1","m":"GET","g":"search","s":200,"rt":0.02,"ut":"0.003, 0.004","h":"1"}"#;
    let r = parse_line(l).unwrap();
    assert!((r.upstream_ms.unwrap() - 7.0).abs() < 1e-9);
    assert!(r.by_header);
    let l = r#"{"t":1.0,"pool":"deployctl_stable","up":"-","m":"GET","g":"x","s":502,"rt":0.0,"ut":"-","h":"0"}"#;
    let r = parse_line(l).unwrap();
    assert_eq!((r.upstream_ms, r.group), (None, Group::Other));
}

#[test]
fn haproxy_lines_parse() {
    let l = r#"{"t_ms":1764900000123,"pool":"deployctl_stable","up":"198.18.0.2:8080","m":"GET","g":"search","s":200,"rt_ms":21,"ut_ms":20,"h":"0"}"#;
    let r = parse_line(l).unwrap();
    assert_eq!(r.at_ms, 1_764_900_000_123);
    assert_eq!((r.request_ms, r.upstream_ms), (21.0, Some(20.0)));
    let l = r#"{"t_ms":1,"pool":"deployctl_gray","up":"-:-","m":"GET","g":"other","s":503,"rt_ms":0,"ut_ms":-1,"h":"0"}"#;
    assert_eq!(parse_line(l).unwrap().upstream_ms, None);
}

#[test]
fn lines_without_a_pool_or_broken_are_errors() {
    let l = r#"{"t_ms":1,"pool":"deployctl","up":"-:-","m":"GET","g":"other","s":200,"rt_ms":0,"ut_ms":-1,"h":"0"}"#;
    assert!(matches!(parse_line(l), Err(LineError::NoPool(_))));
    assert!(matches!(parse_line("{\"t\":"), Err(LineError::Json(_))));
    let l = r#"{"t":1.0,"pool":"deployctl_gray","up":"-","m":"GET","g":"x","s":"200","rt":0.0,"ut":"-","h":"0"}"#;
    assert_eq!(parse_line(l), Err(LineError::Field("s")));
}

#[test]
fn nginx_escapes_and_maps_the_header_only_in_gray_mode() {
    let on = nginx_directives("$http_x_gray", "$remote_addr", true);
    assert!(on.contains("escape=json"));
    // The client is logged as one of 100 hash buckets of the split key, never the key.
    assert!(on.contains("split_clients \"$remote_addr#client\" $deployctl_client {\n    1% c0;"));
    assert!(on.contains("    * c99;\n}") && on.contains("\"c\":\"$deployctl_client\""));
    assert_eq!(on.matches("1% c").count(), 99);
    assert!(on.contains("map $http_x_gray $deployctl_by_header {\n    \"1\" 1;"));
    let off = nginx_directives("$http_x_gray", "$remote_addr", false);
    assert!(!off.contains("\"1\" 1;"));
    assert!(haproxy_directives().contains("log-format '{"));
}

#[test]
fn haproxy_no_answer_is_status_0_and_the_client_hash_is_kept() {
    let l = r#"{"t_ms":1,"pool":"deployctl_gray","up":"a:1","m":"POST","g":"bookings","s":-1,"rt_ms":-1,"ut_ms":-1,"h":"0","c":"9f3a"}"#;
    let r = parse_line(l).unwrap();
    assert_eq!((r.status, r.client.as_deref()), (0, Some("9f3a")));
    let l = r#"{"t":1.0,"pool":"deployctl_gray","up":"-","m":"GET","g":"x","s":499,"rt":0.0,"ut":"-","h":"0"}"#;
    assert_eq!(parse_line(l).unwrap().client, None);
}
