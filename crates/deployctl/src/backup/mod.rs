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
use serde::{Deserialize, Serialize};

/// A complete backup on a host: its directory name (the run id) and manifest.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Backup {
    pub id: String,
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

/// Copy every existing file into `$1` (the partial dir); one line per copied file:
/// `INDEX SHA256 MODE UID:GID`. Arguments after `$1`: pairs (path, sudo flag).
const COPY: &str = r#"set -eu
part=$1; shift
s=0
x() { if [ "$s" = 1 ]; then sudo -n -- "$@"; else "$@"; fi; }
rm -rf -- "$part"
mkdir -p -- "$part/files"
i=0
while [ $# -gt 0 ]; do
  f=$1; s=$2; shift 2
  i=$((i + 1))
  there=$(x sh -c 'if [ -e "$1" ]; then echo y; else echo n; fi' sh "$f")
  [ "$there" = y ] || continue
  dst="$part/files/${f#/}"
  mkdir -p -- "$(dirname -- "$dst")"
  x cp -p -- "$f" "$dst"
  a=$(x sha256sum -- "$f"); b=$(x sha256sum -- "$dst")
  [ "${a%% *}" = "${b%% *}" ] || { echo "copy of $f differs from its original" >&2; exit 3; }
  meta=$(x stat -c '%a %u:%g' -- "$dst")
  printf '%s %s %s\n' "$i" "${b%% *}" "$meta"
done"#;

/// Write the manifest into the partial dir, then rename it into place.
const COMMIT: &str = r#"set -eu
part=$1; final=$2
printf '%s\n' "$3" > "$part/manifest.json"
if [ -e "$final" ]; then echo "backup $final already exists" >&2; exit 3; fi
mv -- "$part" "$final""#;

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
    let out = r.script("backup", COPY, &argv).await?;
    let entries = parse_copied(&out, &files)?;
    if entries.is_empty() {
        r.script("backup cleanup", r#"rm -rf -- "$1""#, &[&part])
            .await?;
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
    r.script("backup commit", COMMIT, &[&part, &dir_of(l, run_id), &text])
        .await?;
    Ok(Some(Backup {
        id: run_id.into(),
        manifest,
    }))
}

fn parse_copied(out: &str, files: &[(String, bool)]) -> Result<Vec<FileEntry>, HostError> {
    let bad = |line: &str| HostError::Check(format!("backup: unexpected output line {line:?}"));
    out.lines()
        .map(|line| {
            let f: Vec<&str> = line.split(' ').collect();
            let [i, sha, mode, owner] = f[..] else {
                return Err(bad(line));
            };
            let i: usize = i.parse().map_err(|_| bad(line))?;
            let (path, sudo) = files.get(i.wrapping_sub(1)).ok_or_else(|| bad(line))?;
            Ok(FileEntry {
                path: path.trim_start_matches('/').to_string(),
                mode: mode.into(),
                owner: owner.into(),
                sha256: sha.into(),
                sudo: *sudo,
            })
        })
        .collect()
}

/// What the backup directory holds: complete backups (oldest first) and the names of
/// directories that are not (with the reason).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Listing {
    pub complete: Vec<Backup>,
    pub ignored: Vec<(String, String)>,
}

/// Every directory but `.partial-*`, then its manifest, NUL separated.
const LIST: &str = r#"set -eu
[ -d "$1" ] || exit 0
find "$1" -mindepth 1 -maxdepth 1 -type d ! -name '.partial-*' -exec sh -c '
for d do
  printf "%s\0" "${d##*/}"
  if [ -f "$d/manifest.json" ]; then tr -d "\n\0" < "$d/manifest.json"; fi
  printf "\0"
done' sh {} +"#;

/// Backups on the host.
pub async fn list_all(r: &RemoteHost, l: &Layout) -> Result<Listing, HostError> {
    let out = r.script("list backups", LIST, &[&l.backup_dir]).await?;
    let mut listing = Listing::default();
    let fields: Vec<&str> = out.split('\0').collect();
    for pair in fields.chunks_exact(2) {
        let (id, text) = (pair[0], pair[1]);
        match manifest::parse(text) {
            Ok(m) if m.run_id == id => listing.complete.push(Backup {
                id: id.into(),
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
    listing
        .complete
        .sort_by(|a, b| (&a.manifest.created, &a.id).cmp(&(&b.manifest.created, &b.id)));
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
    let script = r#"set -eu
dir=$1; own=$2; shift 2
[ -d "$dir" ] || exit 0
find "$dir" -mindepth 1 -maxdepth 1 -name '.partial-*' ! -name "$own" -exec rm -rf -- {} +
if [ $# -gt 0 ]; then rm -rf -- "$@"; fi"#;
    r.script("rotate backups", script, &argv).await?;
    Ok(doomed)
}
