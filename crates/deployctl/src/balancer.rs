//! The load-balancer layer of a run: which app hosts sit in which nginx pool, which are
//! `down` right now, applied to every LB host of the environment at once.

use crate::audit::Audit;
use crate::fleet;
use crate::inventory::{Environment, Role};
use crate::lb::{self, Member, Routing};
use crate::lbpush;
use crate::remote::RemoteHost;
use std::collections::BTreeSet;

/// One pool for everyone, or gray mode with a percentage.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Pools {
    One,
    Gray(f64),
}

/// LB hosts and app members of an environment.
pub struct Balancers<'a> {
    pub lbs: Vec<&'a RemoteHost>,
    env: &'a Environment,
    run_id: String,
    serial: u32,
    members: Vec<(Member, bool)>,
}

impl<'a> Balancers<'a> {
    /// `roles[i]` are the roles of `hosts[i]`.
    pub fn new(
        env: &'a Environment,
        hosts: &'a [RemoteHost],
        roles: &[Vec<Role>],
        run_id: &str,
    ) -> Self {
        let mut lbs = vec![];
        let mut members = vec![];
        for (r, roles) in hosts.iter().zip(roles) {
            if roles.contains(&Role::Lb) {
                lbs.push(r);
            }
            if roles.contains(&Role::App) {
                let m = Member {
                    name: r.host.name.clone(),
                    addr: format!("{}:{}", r.host.address, env.service.port),
                };
                members.push((m, r.host.gray));
            }
        }
        Balancers {
            lbs,
            env,
            run_id: run_id.to_string(),
            serial: 0,
            members,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.lbs.is_empty()
    }

    /// Gray percentage in force on the first LB (`None`: one pool or no LB).
    pub async fn current_percent(&self) -> Option<f64> {
        let r = self.lbs.first()?;
        lb::parse_percent(&lbpush::current(r, &self.env.lb).await.ok()?)
    }

    /// Render and apply on every LB; errors name the LB hosts that refused.
    pub async fn apply(
        &mut self,
        pools: Pools,
        down: &BTreeSet<String>,
        audit: &Audit,
    ) -> Result<(), String> {
        if self.lbs.is_empty() {
            return Ok(());
        }
        self.serial += 1;
        let serial = format!("{}.{}", self.run_id, self.serial);
        let (stable, gray, percent) = match pools {
            Pools::One => (
                self.members.iter().map(|m| m.0.clone()).collect(),
                vec![],
                0.0,
            ),
            Pools::Gray(p) => (
                self.members
                    .iter()
                    .filter(|m| !m.1)
                    .map(|m| m.0.clone())
                    .collect(),
                self.members
                    .iter()
                    .filter(|m| m.1)
                    .map(|m| m.0.clone())
                    .collect(),
                p,
            ),
        };
        let routing = Routing {
            env: self.env.name.clone(),
            serial: serial.clone(),
            stable,
            gray,
            percent,
            down: down.clone(),
        };
        let conf = lb::render(&routing, &self.env.lb);
        let settings = &self.env.lb;
        let results = fleet::futures_join_all(self.lbs.iter().map(|r| {
            let (conf, serial) = (&conf, &serial);
            async move {
                (
                    r.host.name.clone(),
                    lbpush::apply(r, settings, conf, serial).await,
                )
            }
        }))
        .await;
        let mut errors = vec![];
        for (host, res) in results {
            let mut e = audit.event(
                Some(&host),
                "lb config",
                if res.is_ok() { "ok" } else { "fail" },
            );
            e.detail = Some(match &res {
                Ok(()) => format!("serial {serial}: {pools:?}, down {:?}", down),
                Err(err) => err.to_string(),
            });
            audit.record(e);
            if let Err(err) = res {
                errors.push(format!("{host}: {err}"));
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors.join(" | "))
        }
    }
}
