//! Backups on the host, complete or absent: `BACKUP_DIR/.partial-RUN_ID/` receives a `cp -p`
//! copy of every installed file that exists (binary and configs, privileged ones through
//! `sudo -n`) under `files/<path relative to />`, each copy's sha256 checked against its
//! original; then `manifest.json` ([`manifest::Manifest`]: paths, modes, owners, sha256, the
//! build served, the run id) is written and the directory renamed to `BACKUP_DIR/RUN_ID/`.
//! Listing, rotation and rollback see only directories with a valid manifest; restore
//! ([`restore::restore`]) verifies every file before swapping any.

pub mod manifest;
pub mod restore;

pub use manifest::{FileEntry, Manifest};
pub use restore::restore;

use crate::remote::{HostError, Layout, RemoteHost};
use crate::scripts::{backup as sh, files};
use serde::{Deserialize, Serialize};

/// A complete backup on a host: its directory name (the run id) and manifest.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Backup {
    pub id: String,
    /// When its manifest was written, by the host's clock (ms; None: not listed yet).
    #[serde(default)]
    pub written_ms: Option<u64>,
    #[serde(flatten)]
    pub manifest: Manifest,
}

impl Backup {
    pub fn build_id(&self) -> &str {
        &self.manifest.build_id
    }
}

/// Directory of backup `id`.
pub fn dir_of(l: &Layout, id: &str) -> String {
    format!("{}/{id}", l.backup_dir)
}

/// Back up the installed files as backup `run_id`; `None` when none of them exists.
pub async fn create(
    r: &RemoteHost,
    l: &Layout,
    run_id: &str,
    build_id: &str,
) -> Result<Option<Backup>, HostError> {
    let part = format!("{}/.partial-{run_id}", l.backup_dir);
    let files = l.files();
    let mut args = vec![part.clone()];
    for (p, sudo) in &files {
        args.push(p.clone());
        args.push(if *sudo { "1" } else { "0" }.to_string());
    }
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = r.script("backup", &sh::COPY, &argv).await?;
    let entries = sh::parse_copy(&out, &files)?;
    if entries.is_empty() {
        let out = r
            .script("backup cleanup", &files::REMOVE_TREE, &[&part])
            .await?;
        files::parse_remove_tree(&out)?;
        return Ok(None);
    }
    let manifest = Manifest {
        format: manifest::FORMAT,
        root: "/".into(),
        run_id: run_id.into(),
        build_id: build_id.into(),
        created: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        files: entries,
    };
    if let Some(why) = manifest.invalid() {
        return Err(HostError::Check(format!("backup: {why}")));
    }
    let text = serde_json::to_string(&manifest).expect("serialize manifest");
    let final_dir = dir_of(l, run_id);
    let out = r
        .script("backup commit", &sh::COMMIT, &[&part, &final_dir, &text])
        .await?;
    sh::parse_commit(&out)?;
    Ok(Some(Backup {
        id: run_id.into(),
        written_ms: None,
        manifest,
    }))
}

/// What the backup directory holds: complete backups (oldest first) and the names of
/// directories that are not (with the reason).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Listing {
    pub complete: Vec<Backup>,
    pub ignored: Vec<(String, String)>,
}

/// Backups on the host.
pub async fn list_all(r: &RemoteHost, l: &Layout) -> Result<Listing, HostError> {
    let out = r
        .script("list backups", &sh::LIST, &[&l.backup_dir])
        .await?;
    let mut listing = Listing::default();
    for found in sh::parse_list(&out)? {
        let (id, text, written_ms) = match found {
            sh::Listed::Dir {
                name,
                manifest,
                written_ms,
            } => (name, manifest.unwrap_or_default(), written_ms),
            sh::Listed::Odd(name) => {
                let why = "name holds a newline (shown as ?)".to_string();
                listing.ignored.push((name, why));
                continue;
            }
        };
        let (id, text) = (id.as_str(), text.as_str());
        match manifest::parse(text) {
            Ok(m) if m.run_id == id => listing.complete.push(Backup {
                id: id.into(),
                written_ms,
                manifest: m,
            }),
            Ok(m) => listing
                .ignored
                .push((id.into(), format!("manifest names run {}", m.run_id))),
            Err(why) if text.is_empty() => listing
                .ignored
                .push((id.into(), format!("no manifest ({why})"))),
            Err(why) => listing.ignored.push((id.into(), why)),
        }
    }
    // Oldest first by the host's clock (a controller's clock may be off), then the manifest's.
    let key = |b: &Backup| (b.written_ms, b.manifest.created.clone(), b.id.clone());
    listing.complete.sort_by_key(key);
    Ok(listing)
}

/// Complete backups on the host, oldest first.
pub async fn list(r: &RemoteHost, l: &Layout) -> Result<Vec<Backup>, HostError> {
    Ok(list_all(r, l).await?.complete)
}

/// Delete the oldest complete backups beyond `l.keep` (never the one of `run_id`, never the
/// newest) and partial ones left by other runs; returns the ids removed.
pub async fn rotate(r: &RemoteHost, l: &Layout, run_id: &str) -> Result<Vec<String>, HostError> {
    let all = list(r, l).await?;
    let newest = all.last().map(|b| b.id.clone());
    let excess = all.len().saturating_sub(l.keep.max(1));
    let doomed: Vec<String> = all
        .into_iter()
        .take(excess)
        .map(|b| b.id)
        .filter(|id| id != run_id && Some(id) != newest.as_ref())
        .collect();
    let mut args = vec![l.backup_dir.clone(), format!(".partial-{run_id}")];
    args.extend(doomed.iter().map(|id| dir_of(l, id)));
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = r.script("rotate backups", &sh::ROTATE, &argv).await?;
    sh::parse_rotate(&out)?;
    Ok(doomed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn local() -> RemoteHost {
        RemoteHost::local_for_tests()
    }

    /// The layout of a host whose files live under `root`, keeping one backup.
    fn layout(root: &str, configs: Vec<(String, bool)>) -> Layout {
        Layout {
            install_dir: format!("{root}/srv"),
            backup_dir: format!("{root}/backups"),
            binary: format!("{root}/srv/app"),
            binary_name: "app".into(),
            keep: 1,
            configs,
            audit_file: format!("{root}/srv/.deploy/audit.jsonl"),
            history_file: format!("{root}/srv/.deploy/history.jsonl"),
        }
    }

    /// The backup scripts run for real (local host): copy, commit, list, restore, rotate.
    #[tokio::test]
    async fn backups_are_taken_listed_restored_and_rotated_through_their_scripts() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().to_str().unwrap();
        let l = layout(root, vec![(format!("{root}/srv/app.toml"), false)]);
        let r = local();
        assert_eq!(
            create(&r, &l, "r1", "b0").await.unwrap(),
            None,
            "nothing installed"
        );
        std::fs::create_dir_all(format!("{root}/srv")).unwrap();
        std::fs::write(&l.binary, b"v1").unwrap();
        let b1 = create(&r, &l, "r1", "b1").await.unwrap().unwrap();
        assert_eq!(
            b1.manifest.files.len(),
            1,
            "the absent config is not listed"
        );
        assert_eq!(
            b1.manifest.files[0].sha256,
            crate::upload::sha256_hex(b"v1")
        );
        std::fs::write(&l.binary, b"v2").unwrap();
        std::fs::create_dir_all(format!("{root}/backups/x\ny")).unwrap();
        let b2 = create(&r, &l, "r2", "b2").await.unwrap().unwrap();
        assert_eq!(b2.build_id(), "b2");
        let all = list_all(&r, &l).await.unwrap();
        let ids = |v: &[Backup]| v.iter().map(|b| b.id.clone()).collect::<Vec<_>>();
        assert_eq!(ids(&all.complete), ["r1", "r2"]);
        assert_eq!(all.complete[0].manifest, b1.manifest);
        assert!(all.complete.iter().all(|b| b.written_ms.is_some()));
        assert_eq!(all.ignored.len(), 1, "{:?}", all.ignored);
        restore(&r, &l, &b1, "r3").await.unwrap();
        assert_eq!(std::fs::read(&l.binary).unwrap(), b"v1");
        assert_eq!(rotate(&r, &l, "r2").await.unwrap(), vec!["r1".to_string()]);
        assert_eq!(list(&r, &l).await.unwrap().len(), 1);
    }

    /// Backups are ordered by the host's clock: a controller whose clock ran ahead wrote a
    /// later `created` into the older backup; the host's write time still says which is older,
    /// and rotation removes that one.
    #[tokio::test]
    async fn backups_are_ordered_and_rotated_by_the_hosts_clock() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().to_str().unwrap();
        let l = layout(root, vec![]);
        let r = local();
        std::fs::create_dir_all(format!("{root}/srv")).unwrap();
        std::fs::write(&l.binary, b"v1").unwrap();
        create(&r, &l, "ahead", "b1").await.unwrap().unwrap();
        std::fs::write(&l.binary, b"v2").unwrap();
        create(&r, &l, "behind", "b2").await.unwrap().unwrap();
        // The first controller's clock was an hour ahead: its manifest says later.
        let m = format!("{root}/backups/ahead/manifest.json");
        let text = std::fs::read_to_string(&m).unwrap();
        let mut man: Manifest = serde_json::from_str(&text).unwrap();
        man.created = "2999-01-01T00:00:00.000Z".into();
        std::fs::write(&m, serde_json::to_string(&man).unwrap()).unwrap();
        let st = std::process::Command::new("touch")
            .args(["-d", "2 minutes ago", &m])
            .status()
            .unwrap();
        assert!(st.success());
        let all = list(&r, &l).await.unwrap();
        let ids: Vec<&str> = all.iter().map(|b| b.id.as_str()).collect();
        assert_eq!(ids, ["ahead", "behind"], "host order");
        assert_eq!(
            rotate(&r, &l, "behind").await.unwrap(),
            vec!["ahead".to_string()]
        );
    }
}
