//! The load-balancer layer of a run: which app hosts sit in which pool, which are `down` right
//! now, applied to every LB host of the environment at once (nginx or haproxy). An apply that
//! routes like what is in force changes nothing on the LB: a zero-downtime restart never
//! changes the load balancer.

use crate::audit::{Audit, Step, Verdict};
use crate::fleet;
use crate::haproxy;
use crate::inventory::{Environment, Role};
use crate::lb::{self, LbKind, Member, Routing};
use crate::lbpush::{self, Change};
use crate::remote::RemoteHost;
use std::collections::BTreeSet;

/// One pool for everyone, or gray mode with a percentage.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Pools {
    One,
    Gray(f64),
}

/// The routing an LB holds: gray percentage (`None`: one pool) and the hosts marked down.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Snapshot {
    pub percent: Option<f64>,
    pub down: BTreeSet<String>,
}

/// The one snapshot every LB holds (the empty one without LBs), or which LBs differ.
pub fn agreed(read: &[(String, Snapshot)]) -> Result<Snapshot, String> {
    let Some((_, first)) = read.first() else {
        return Ok(Snapshot::default());
    };
    if read.iter().all(|(_, s)| s == first) {
        return Ok(first.clone());
    }
    let each: Vec<String> = read
        .iter()
        .map(|(h, s)| format!("{h}: gray {:?} down {:?}", s.percent, s.down))
        .collect();
    Err(format!(
        "the load balancers disagree ({}): see `deployctl status`, repair them (or apply one \
         routing with `gray --percent`) before a run changes them",
        each.join("; ")
    ))
}

/// LB hosts and app members of an environment.
pub struct Balancers<'a> {
    pub lbs: Vec<&'a RemoteHost>,
    env: &'a Environment,
    run_id: String,
    serial: u32,
    members: Vec<(Member, bool)>,
    /// Every LB change made by this run: (LB host, what it did), `Unchanged` excluded.
    pub changes: Vec<(String, Change)>,
}

impl<'a> Balancers<'a> {
    /// The LB hosts and app members among `hosts` (each with its roles).
    pub fn new<'r>(
        env: &'a Environment,
        hosts: impl IntoIterator<Item = (&'a RemoteHost, &'r [Role])>,
        run_id: &str,
    ) -> Self {
        let mut lbs = vec![];
        let mut members = vec![];
        for (r, roles) in hosts {
            if roles.contains(&Role::Lb) {
                lbs.push(r);
            }
            if roles.contains(&Role::App) {
                let m = Member {
                    name: r.host.name.clone(),
                    addr: lb::host_port(&r.host.address, env.service.port),
                };
                members.push((m, r.host.gray));
            }
        }
        Self::with(env, lbs, members, run_id)
    }

    fn with(
        env: &'a Environment,
        lbs: Vec<&'a RemoteHost>,
        members: Vec<(Member, bool)>,
        run_id: &str,
    ) -> Self {
        Balancers {
            lbs,
            env,
            run_id: run_id.to_string(),
            serial: 0,
            members,
            changes: vec![],
        }
    }

    /// The LB hosts `lbs` and the app `members` (inventory hosts: no connection to them is
    /// needed). A routing-only change made with it reaches the LB hosts alone, so an
    /// unreachable app or database host cannot hold it up.
    pub fn of_members<'h>(
        env: &'a Environment,
        lbs: Vec<&'a RemoteHost>,
        members: impl IntoIterator<Item = &'h crate::inventory::Host>,
        run_id: &str,
    ) -> Self {
        let members = members
            .into_iter()
            .map(|h| {
                let addr = lb::host_port(&h.address, env.service.port);
                let m = Member {
                    name: h.name.clone(),
                    addr,
                };
                (m, h.gray)
            })
            .collect();
        Self::with(env, lbs, members, run_id)
    }

    pub fn is_empty(&self) -> bool {
        self.lbs.is_empty()
    }

    /// The routing every LB holds on disk: gray percentage (`None`: one pool) and down hosts.
    /// Every LB is read; an LB that cannot be read, or LBs that disagree, are an error (never
    /// a default: a wrong snapshot would put down hosts back in the pool or end gray).
    pub async fn current(&self) -> Result<Snapshot, String> {
        let futs = self.lbs.iter().map(|r| async move {
            let conf = lbpush::current(r, &self.env.lb).await;
            let conf = conf.map_err(|e| format!("{}: routing unreadable: {e}", r.host.name))?;
            let snap = Snapshot {
                percent: lb::parse_percent(&conf),
                down: lb::parse_down(&conf),
            };
            Ok::<_, String>((r.host.name.clone(), snap))
        });
        let read: Vec<(String, Snapshot)> = fleet::futures_join_all(futs)
            .await
            .into_iter()
            .collect::<Result<_, _>>()?;
        agreed(&read)
    }

    /// Every LB's live routing equals its file on disk; else which LB differs and how (an LB
    /// that cannot be inspected differs too).
    pub async fn drift(&self) -> Result<(), String> {
        let futs = self.lbs.iter().map(|r| async move {
            match crate::lbview::status(r, &self.env.lb).await {
                Ok(st) if st.in_sync => None,
                Ok(st) => Some(format!(
                    "{}: live routing differs from its file ({})",
                    r.host.name,
                    st.mismatches.join("; ")
                )),
                Err(e) => Some(format!("{}: live routing not inspected: {e}", r.host.name)),
            }
        });
        let differ: Vec<String> = fleet::futures_join_all(futs)
            .await
            .into_iter()
            .flatten()
            .collect();
        match differ.is_empty() {
            true => Ok(()),
            false => Err(differ.join("; ")),
        }
    }

    /// `down` with hosts let back in when `pools` would otherwise route a pool to nothing: first
    /// the hosts live in `before` (the snapshot), then every host (audited as a warning).
    pub fn keep_live(
        &self,
        pools: Pools,
        down: &mut BTreeSet<String>,
        before: &BTreeSet<String>,
        audit: &Audit,
    ) {
        if self.dead_pool(pools, down).is_none() {
            return;
        }
        let was = std::mem::take(down);
        *down = was.intersection(before).cloned().collect();
        if self.dead_pool(pools, down).is_some() {
            down.clear();
        }
        let mut e = audit.event(None, Step::LbRouting, Verdict::Warn);
        e.detail = Some(format!(
            "down {was:?} would route a pool to nothing: let back in {:?}",
            was.difference(down).collect::<Vec<_>>()
        ));
        audit.record(e);
    }

    /// `pools`, or one pool when a gray share would go to a pool without a live member (every
    /// gray host, or every stable host, down): a share never routes to nothing.
    pub fn live(&self, pools: Pools, down: &BTreeSet<String>, audit: &Audit) -> Pools {
        let Pools::Gray(p) = pools else {
            return pools;
        };
        let live = |gray: bool| {
            self.members
                .iter()
                .any(|(m, g)| *g == gray && !down.contains(&m.name))
        };
        if live(true) && live(false) {
            return pools;
        }
        let mut e = audit.event(None, Step::LbRouting, Verdict::Warn);
        e.detail = Some(format!(
            "gray {p}% asked but the {} pool has no live member: one pool (down {down:?})",
            if live(true) { "stable" } else { "gray" }
        ));
        audit.record(e);
        Pools::One
    }

    /// The pool that `pools` with `down` marked would leave without a live member, if any:
    /// the one pool of every app host, or with gray the stable pool (a gray pool without a
    /// live member only turns into one pool, see [`Balancers::live`]). `None` without LBs or
    /// app members: there is no pool to route to nothing.
    pub fn dead_pool(&self, pools: Pools, down: &BTreeSet<String>) -> Option<&'static str> {
        if self.lbs.is_empty() || self.members.is_empty() {
            return None;
        }
        let live = |stable_only: bool| {
            self.members
                .iter()
                .filter(|(_, gray)| !(stable_only && *gray))
                .any(|(m, _)| !down.contains(&m.name))
        };
        let has_stable = self.members.iter().any(|(_, g)| !g);
        match pools {
            Pools::Gray(_) if has_stable => (!live(true)).then_some("stable"),
            _ => (!live(false)).then_some("app"),
        }
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
        let pools = self.live(pools, down, audit);
        self.serial += 1;
        let serial = format!("{}.{}", self.run_id, self.serial);
        let routing = self.routing(pools, &serial, down);
        let conf = lb::render(&routing, &self.env.lb);
        let settings = &self.env.lb;
        let results = fleet::futures_join_all(self.lbs.iter().map(|r| {
            let (conf, serial, routing) = (&conf, &serial, &routing);
            async move {
                let res = match settings.kind {
                    LbKind::Nginx => lbpush::apply(r, settings, conf, serial).await,
                    LbKind::Haproxy => haproxy::apply(r, settings, routing).await,
                };
                (r.host.name.clone(), res)
            }
        }))
        .await;
        let mut errors = vec![];
        for (host, res) in results {
            if let Ok(Change::Unchanged) = res {
                continue;
            }
            let mut e = audit.event(Some(&host), Step::LbConfig, Verdict::of(res.is_ok()));
            e.detail = Some(match &res {
                Ok(c) => format!("serial {serial} ({c:?}): {pools:?}, down {down:?}"),
                Err(err) => err.to_string(),
            });
            audit.record(e);
            match res {
                Ok(c) => self.changes.push((host, c)),
                Err(err) => errors.push(format!("{host}: {err}")),
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors.join(" | "))
        }
    }

    /// The routing `pools` gives the members, with `down` marked.
    fn routing(&self, pools: Pools, serial: &str, down: &BTreeSet<String>) -> Routing {
        let members = |gray: Option<bool>| -> Vec<Member> {
            self.members
                .iter()
                .filter(|m| gray.is_none_or(|g| m.1 == g))
                .map(|m| m.0.clone())
                .collect()
        };
        let (stable, gray, percent) = match pools {
            Pools::One => (members(None), vec![], 0.0),
            Pools::Gray(p) => (members(Some(false)), members(Some(true)), p),
        };
        Routing {
            env: self.env.name.clone(),
            serial: serial.to_string(),
            stable,
            gray,
            percent,
            down: down.clone(),
            gray_hosts: members(Some(true)),
        }
    }
}

#[cfg(test)]
mod snapshot_tests {
    use super::*;

    fn snap(percent: Option<f64>, down: &[&str]) -> Snapshot {
        Snapshot {
            percent,
            down: down.iter().map(|d| d.to_string()).collect(),
        }
    }

    #[test]
    fn lbs_that_agree_give_their_snapshot_and_lbs_that_differ_are_named() {
        assert_eq!(agreed(&[]).unwrap(), Snapshot::default());
        let a = snap(Some(10.0), &["h2"]);
        let same = [
            ("lb1".to_string(), a.clone()),
            ("lb2".to_string(), a.clone()),
        ];
        assert_eq!(agreed(&same).unwrap(), a);
        let differ = [("lb1".to_string(), a), ("lb2".to_string(), snap(None, &[]))];
        let e = agreed(&differ).unwrap_err();
        assert!(
            e.contains("lb1: gray Some(10.0)") && e.contains("lb2: gray None"),
            "{e}"
        );
    }
}
