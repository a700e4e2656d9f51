//! Strict patterns for the inventory values that reach a remote shell, a file name on a host
//! or the nginx configuration: environment names, users, paths, modes, the gray header and
//! the split key. No `;`, braces, quotes, blanks or newlines get through, whatever quoting
//! the code downstream does. Every refusal names the line the value sits on.

use super::Environment;

/// A refused value: the text to find its line by, and why.
pub(super) struct Refusal {
    pub(super) needle: String,
    pub(super) reason: String,
}

fn refuse(needle: &str, reason: String) -> Refusal {
    Refusal {
        needle: needle.to_string(),
        reason,
    }
}

/// Octal file mode such as "0640" or "640" (3 or 4 octal digits); `None` otherwise.
pub fn parse_mode(m: &str) -> Option<u32> {
    if !(3..=4).contains(&m.len()) || !m.bytes().all(|b| (b'0'..=b'7').contains(&b)) {
        return None;
    }
    u32::from_str_radix(m, 8).ok()
}

fn path_chars(s: &str) -> bool {
    s.chars().all(|c| {
        c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '/' | '+' | '@' | ':' | ',')
    })
}

/// A remote path: safe characters only, no `..` component, absolute when `absolute`.
pub fn valid_path(s: &str, absolute: bool) -> bool {
    !s.is_empty()
        && s.len() <= 4096
        && path_chars(s)
        && !s.starts_with('-')
        && (!absolute || s.starts_with('/'))
        && !s.split('/').any(|c| c == "..")
}

/// `lb.check_path`: an absolute URL path haproxy's `option httpchk GET` takes as one token.
pub fn valid_check_path(s: &str) -> bool {
    s.starts_with('/')
        && s.len() <= 256
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._~-?=&%".contains(c))
}

/// `lb.check`: haproxy server check options (`inter 3s rise 2 fall 3`): words of letters,
/// digits and `.`, `_`, `-` separated by spaces; never a new line or a comment.
pub fn valid_check(s: &str) -> bool {
    s.len() <= 256
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || " ._-".contains(c))
}

/// `lb.upstream_extra`: nginx directives inside one upstream block, each ended by `;`, on one
/// line: no block (`{`, `}`), no comment, no new line that would end the block early.
pub fn valid_upstream_extra(s: &str) -> bool {
    let t = s.trim();
    t.is_empty()
        || (t.ends_with(';')
            && t.len() <= 1024
            && !t.chars().any(|c| c.is_control() || "{}#\\\"'".contains(c)))
}

/// An HTTP header name nginx can turn into a variable: letters, digits and `-`.
pub fn valid_header(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && !s.starts_with('-')
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}

/// One or more nginx variables written back to back: `$remote_addr`, `$http_x_user$cookie_id`.
pub fn valid_split_key(s: &str) -> bool {
    let Some(rest) = s.strip_prefix('$') else {
        return false;
    };
    rest.split('$').all(|v| {
        let mut c = v.chars();
        matches!(c.next(), Some(f) if f.is_ascii_alphabetic() || f == '_')
            && c.all(|c| c.is_ascii_alphanumeric() || c == '_')
    })
}

/// A login name: letters, digits, `_`, `.`, `-`; not starting with `-`.
pub fn valid_user(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 32
        && !s.starts_with('-')
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

/// Check every value of `env` that leaves deployctl; the first refusal wins.
/// Reads `service.admin` through `protocol::AdminAddr` (the one parser of admin addresses):
/// a loopback TCP address; a `unix:` socket cannot be reached through deployctl's tunnel.
pub(super) fn admin_addr<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<std::net::SocketAddr>, D::Error> {
    use serde::de::Error;
    use serde::Deserialize;
    let Some(s) = Option::<String>::deserialize(d)? else {
        return Ok(None);
    };
    match s.parse::<protocol::AdminAddr>() {
        Ok(protocol::AdminAddr::Tcp(a)) => Ok(Some(a)),
        Ok(protocol::AdminAddr::Unix(_)) => Err(D::Error::custom(format!(
            "service.admin `{s}`: deployctl reaches the admin endpoint through a TCP tunnel; \
             give the master a loopback address such as 127.0.0.1:9901"
        ))),
        Err(e) => Err(D::Error::custom(format!(
            "service.admin `{s}` must be a loopback address such as 127.0.0.1:9901: {e}"
        ))),
    }
}

/// `service.admin` (already a loopback address, see [`admin_addr`]) comes with the token file
/// restarts need.
fn admin(
    svc: &super::Service,
    abs: impl Fn(&str, &str) -> Result<(), Refusal>,
) -> Result<(), Refusal> {
    let Some(a) = svc.admin.map(|a| a.to_string()) else {
        return match &svc.admin_token_file {
            Some(f) => Err(refuse(
                f,
                "service.admin_token_file without service.admin".into(),
            )),
            None => Ok(()),
        };
    };
    match &svc.admin_token_file {
        Some(f) => abs("service.admin_token_file", f),
        None => Err(refuse(
            &a,
            "service.admin needs service.admin_token_file (the master's --admin-token-file on \
             the host): a master refuses an unauthenticated restart over TCP"
                .into(),
        )),
    }
}

pub(super) fn environment(env: &Environment) -> Result<(), Refusal> {
    let abs = |what: &str, v: &str| {
        if valid_path(v, true) {
            Ok(())
        } else {
            Err(refuse(
                v,
                format!("{what} `{v}` must be an absolute path of letters, digits and ._-/+@:, (no `..`)"),
            ))
        }
    };
    abs("remote.install_dir", &env.remote.install_dir)?;
    abs("remote.backup_dir", &env.remote.backup_dir)?;
    abs("service.pid_file", &env.service.pid_file)?;
    admin(&env.service, abs)?;
    if !env.lb.dir.is_empty() {
        abs("lb.dir", &env.lb.dir)?;
        // socat reads `,` and `:` in an address as options.
        if env.lb.dir.contains([',', ':']) {
            return Err(refuse(
                &env.lb.dir,
                format!(
                    "lb.dir `{}` must not hold `,` or `:` (socat address syntax)",
                    env.lb.dir
                ),
            ));
        }
    }
    artifact(&env.artifact)?;
    lb(&env.lb)?;
    env.gray
        .analysis
        .validate()
        .map_err(|m| refuse("[gray.analysis]", m))?;
    for h in &env.hosts {
        if !valid_user(&h.user) {
            return Err(refuse(
                &h.user,
                format!("bad user `{}` for host `{}`", h.user, h.name),
            ));
        }
    }
    Ok(())
}

/// The artifact's file name and every config file's destination, owner and mode.
fn artifact(a: &crate::inventory::Artifact) -> Result<(), Refusal> {
    let name = &a.name;
    if !valid_path(name, false) || name.contains('/') || name == "." {
        return Err(refuse(
            name,
            format!("artifact.name `{name}` must be a file name of letters, digits and ._-+@:,"),
        ));
    }
    for c in &a.config {
        if !valid_path(&c.dest, false) {
            return Err(refuse(
                &c.dest,
                format!(
                    "config dest `{}` must be a path of letters, digits and ._-/+@:, (no `..`)",
                    c.dest
                ),
            ));
        }
        if let Some(o) = &c.owner {
            let ok = o.split(':').count() <= 2 && o.split(':').all(valid_user);
            if !ok || !c.sudo {
                return Err(refuse(
                    o,
                    format!("config owner `{o}` for {} must be `user` or `user:group`, with sudo = true", c.dest),
                ));
            }
        }
        if let Some(m) = &c.mode {
            if parse_mode(m).is_none() {
                return Err(refuse(
                    m,
                    format!(
                        "config mode `{m}` for {} is not an octal mode such as \"0640\"",
                        c.dest
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// The `[lb]` commands, gray header and split key (they reach a shell or nginx).
fn lb(lb: &crate::lb::LbSettings) -> Result<(), Refusal> {
    for (key, cmd) in [
        ("lb.nginx", &lb.nginx),
        ("lb.haproxy", &lb.haproxy),
        ("lb.socat", &lb.socat),
    ] {
        if !valid_path(cmd, false) {
            return Err(refuse(
                cmd,
                format!("{key} `{cmd}` is not a plain command or path"),
            ));
        }
    }
    if !valid_header(&lb.gray_header) {
        return Err(refuse(
            &lb.gray_header,
            format!(
                "lb.gray_header `{}` must be a header name (letters, digits, `-`)",
                lb.gray_header
            ),
        ));
    }
    let raw = [
        (
            "lb.check_path",
            &lb.check_path,
            valid_check_path(&lb.check_path),
            "an absolute URL path of letters, digits and /._~-?=&%",
        ),
        (
            "lb.check",
            &lb.check,
            valid_check(&lb.check),
            "haproxy check options: words of letters, digits and ._- separated by spaces",
        ),
        (
            "lb.upstream_extra",
            &lb.upstream_extra,
            valid_upstream_extra(&lb.upstream_extra),
            "nginx directives on one line, each ended by `;`, with no `{`, `}`, `#` or quotes",
        ),
    ];
    if lb.access_log_max_mb == 0 {
        return Err(refuse(
            "access_log_max_mb",
            "lb.access_log_max_mb must be at least 1".into(),
        ));
    }
    for (key, value, ok, what) in raw {
        if !ok {
            return Err(refuse(value, format!("{key} `{value}` must be {what}")));
        }
    }
    if !valid_split_key(&lb.split_key) {
        return Err(refuse(
            &lb.split_key,
            format!(
                "lb.split_key `{}` must be nginx variables such as `$remote_addr`",
                lb.split_key
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_refuse_shell_and_nginx_syntax() {
        assert_eq!(parse_mode("0640"), Some(0o640));
        assert_eq!(parse_mode("600"), Some(0o600));
        for bad in ["0o600", "rw", "06400", "0800", "", "64"] {
            assert_eq!(parse_mode(bad), None, "{bad}");
        }
        assert!(valid_path("/srv/hotel", true));
        assert!(!valid_path("srv/hotel", true));
        for bad in [
            "/srv/a;b",
            "/srv/a b",
            "/srv/{x}",
            "/srv/a\"",
            "/srv/a\nb",
            "/srv/../etc",
            "-rf",
        ] {
            assert!(!valid_path(bad, false), "{bad:?}");
        }
        assert!(valid_header("X-Gray"));
        for bad in ["X-Gray;", "X Gray", "X{Gray}", "", "-X"] {
            assert!(!valid_header(bad), "{bad:?}");
        }
        assert!(valid_split_key("$remote_addr"));
        assert!(valid_split_key("$http_x_user$cookie_id"));
        for bad in ["remote_addr", "$", "${remote_addr}", "$a;", "$a b", "$1x"] {
            assert!(!valid_split_key(bad), "{bad:?}");
        }
        assert!(valid_user("deploy"));
        assert!(!valid_user("-oProxyCommand=x"));
        assert!(valid_check_path("/ready") && valid_check_path("/health?deep=1"));
        for bad in ["ready", "/a b", "/a\nserver x", "/a;b", "/a#"] {
            assert!(!valid_check_path(bad), "{bad:?}");
        }
        assert!(valid_check("inter 3s rise 2 fall 3") && valid_check(""));
        for bad in ["inter 3s\nserver evil 1.2.3.4:80", "inter 3s # x", "a;b"] {
            assert!(!valid_check(bad), "{bad:?}");
        }
        assert!(valid_upstream_extra("") && valid_upstream_extra("least_conn;"));
        assert!(valid_upstream_extra(
            "check interval=3000 rise=2 fall=5 type=http;"
        ));
        for bad in [
            "least_conn",
            "least_conn; }\nserver { listen 81; }",
            "a;\nb;",
            "a; # x;",
        ] {
            assert!(!valid_upstream_extra(bad), "{bad:?}");
        }
    }
}
