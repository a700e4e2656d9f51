//! What the gates probe in an environment: every app host directly (its `external_url`), and
//! the load balancers' external URLs, each once. A load balancer is never probed as an app
//! host (it has no admin endpoint, and its URL reaches some app host), and a database host is
//! not probed at all. Roles come from the inventory: a host whose roles are left to detection
//! (`auto` or none) is taken for an app host, since gatecheck does not log in to detect them.

use deployctl::inventory::{Environment, Host, Role};
use serde::Serialize;

/// How a base URL is reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// An app host, directly: its own `/version`, every suite, `admin_url` through its link.
    App,
    /// A load balancer's external URL: what clients get; no admin endpoint behind it.
    Lb,
}

/// One base URL to probe.
#[derive(Debug, Clone)]
pub struct Target<'a> {
    /// The host it belongs to (for an LB URL shared by several LB hosts: the first of them).
    pub host: &'a Host,
    pub base_url: String,
    pub kind: Kind,
}

fn is_app(h: &Host) -> bool {
    h.roles.is_empty() || h.roles.contains(&Role::App)
}

fn is_lb(h: &Host) -> bool {
    !is_app(h) && h.roles.contains(&Role::Lb)
}

/// The app hosts' base URLs in inventory order, then each distinct LB external URL once.
pub fn of(env: &Environment) -> Vec<Target<'_>> {
    let mut out: Vec<Target<'_>> = env
        .hosts
        .iter()
        .filter(|h| is_app(h))
        .flat_map(|h| {
            h.base_urls().into_iter().map(move |base_url| Target {
                host: h,
                base_url,
                kind: Kind::App,
            })
        })
        .collect();
    for h in env.hosts.iter().filter(|h| is_lb(h)) {
        for base_url in h.base_urls() {
            let seen = out
                .iter()
                .any(|t| t.kind == Kind::Lb && t.base_url == base_url);
            if !seen {
                out.push(Target {
                    host: h,
                    base_url,
                    kind: Kind::Lb,
                });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn app_hosts_directly_lb_urls_once_db_never() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("deploy.toml");
        std::fs::write(
            &p,
            "[artifact]\nbinary = \"app\"\nname = \"app\"\n\
             [remote]\ninstall_dir = \"/srv/a\"\nbackup_dir = \"/srv/a/b\"\n\
             [service]\npid_file = \"/srv/a/p\"\nport = 8080\n\
             [env.e]\nhosts = [\n\
             { name = \"lb1\", address = \"10.0.0.1\", roles = [\"lb\"], external_url = \"https://shop\" },\n\
             { name = \"lb2\", address = \"10.0.0.2\", roles = [\"lb\"], external_url = \"https://shop\" },\n\
             { name = \"db\", address = \"10.0.0.3\", roles = [\"db\"] },\n\
             { name = \"a1\", address = \"10.0.0.4\", roles = [\"app\"] },\n\
             { name = \"a2\", address = \"10.0.0.5\" },\n]\n",
        )
        .unwrap();
        let inv = deployctl::inventory::Inventory::load(&p).unwrap();
        let t = of(inv.env("e").unwrap());
        let got: Vec<(&str, &str, Kind)> = t
            .iter()
            .map(|t| (t.host.name.as_str(), t.base_url.as_str(), t.kind))
            .collect();
        assert_eq!(
            got,
            [
                ("a1", "http://10.0.0.4:8080", Kind::App),
                ("a2", "http://10.0.0.5:8080", Kind::App),
                ("lb1", "https://shop", Kind::Lb),
            ]
        );
    }
}
