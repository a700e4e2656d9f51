//! Which backup each host restores in `rollback`: the target is a run (its backups, by id,
//! on every host) and the build those backups hold; a host without that run's backup uses
//! its newest backup of the same build, or stays as it is when it already serves it.

use crate::backup::{Backup, Listing};

/// What the whole fleet is rolled back to.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Target {
    /// The run whose backups are restored (none for `gray --abort`: the stable build).
    pub run_id: Option<String>,
    pub build_id: String,
}

/// The one build the backups of `run` hold on the hosts that have it.
pub fn of_run(run: &str, listings: &[(String, Listing)]) -> Result<Target, String> {
    let mut builds: Vec<(&str, &str)> = listings
        .iter()
        .filter_map(|(h, l)| {
            let b = l.complete.iter().find(|b| b.id == run)?;
            Some((h.as_str(), b.build_id()))
        })
        .collect();
    if builds.is_empty() {
        let why: Vec<String> = listings
            .iter()
            .filter_map(|(h, l)| {
                let (_, reason) = l.ignored.iter().find(|(id, _)| id == run)?;
                Some(format!("{h}: {reason}"))
            })
            .collect();
        return Err(format!(
            "no host holds a complete backup of run {run}{}",
            if why.is_empty() {
                String::new()
            } else {
                format!(" ({})", why.join("; "))
            }
        ));
    }
    builds.sort_by_key(|(_, b)| *b);
    let first = builds[0].1;
    if builds.iter().any(|(_, b)| *b != first) || first.is_empty() {
        let all: Vec<String> = builds.iter().map(|(h, b)| format!("{h}={b:?}")).collect();
        return Err(format!(
            "the backups of run {run} do not hold one known build ({}): refusing a mixed fleet",
            all.join(", ")
        ));
    }
    Ok(Target {
        run_id: Some(run.to_string()),
        build_id: first.to_string(),
    })
}

/// The backup `host` restores for `t`; `Ok(None)` when it already serves the build.
pub fn pick(t: &Target, l: &Listing, serving: Option<&str>) -> Result<Option<Backup>, String> {
    if let Some(run) = &t.run_id {
        if let Some(b) = l.complete.iter().find(|b| &b.id == run) {
            return Ok(Some(b.clone()));
        }
    }
    if serving == Some(t.build_id.as_str()) {
        return Ok(None);
    }
    if let Some(b) = l.complete.iter().rev().find(|b| b.build_id() == t.build_id) {
        return Ok(Some(b.clone()));
    }
    let ignored: Vec<String> = l
        .ignored
        .iter()
        .map(|(id, why)| format!("{id}: {why}"))
        .collect();
    Err(format!(
        "no complete backup of build {}{}",
        t.build_id,
        if ignored.is_empty() {
            String::new()
        } else {
            format!(" (ignored: {})", ignored.join("; "))
        }
    ))
}
