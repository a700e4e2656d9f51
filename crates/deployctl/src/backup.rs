//! Timestamped backups on the host: `BACKUP_DIR/<UTC stamp>-<run id>/` holds the binary and
//! config files copied with `cp -p` (modes and times preserved; privileged files through
//! `sudo -n`) plus `manifest.json` (build id served at backup time, sha256). Rotation keeps the
//! newest `keep_backups`. Restore copies back to a temporary name and renames atomically.

use crate::remote::{HostError, Layout, RemoteHost};
use serde::{Deserialize, Serialize};

/// What a backup holds.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Backup {
    pub id: String,
    #[serde(default)]
    pub build_id: String,
    #[serde(default)]
    pub sha256: String,
    #[serde(default)]
    pub run_id: String,
}

/// Sortable UTC timestamp used as the prefix of backup ids.
pub fn stamp() -> String {
    chrono::Utc::now().format("%Y%m%dT%H%M%S%3fZ").to_string()
}

/// Back up the installed binary and configs; `None` when nothing is installed yet.
pub async fn create(
    r: &RemoteHost,
    l: &Layout,
    run_id: &str,
    build_id: &str,
) -> Result<Option<Backup>, HostError> {
    let id = format!("{}-{run_id}", stamp());
    let dir = format!("{}/{id}", l.backup_dir);
    // $1 binary, $2 dir, then pairs (config path, sudo flag).
    let script = r#"set -e
bin=$1; dir=$2; shift 2
[ -e "$bin" ] || { echo none; exit 0; }
mkdir -p "$dir"
cp -p "$bin" "$dir/"
while [ $# -gt 0 ]; do
  f=$1; s=$2; shift 2
  if [ "$s" = 1 ]; then sudo -n sh -c '[ ! -e "$1" ] || cp -p "$1" "$2/"' sh "$f" "$dir"
  else [ ! -e "$f" ] || cp -p "$f" "$dir/"; fi
done
sha256sum "$bin" | cut -d' ' -f1"#;
    let mut args = vec![l.binary.as_str(), dir.as_str()];
    for (p, sudo) in &l.configs {
        args.push(p);
        args.push(if *sudo { "1" } else { "0" });
    }
    let out = r.script("backup", script, &args).await?;
    let sha = out.trim().to_string();
    if sha == "none" {
        return Ok(None);
    }
    let b = Backup {
        id,
        build_id: build_id.to_string(),
        sha256: sha,
        run_id: run_id.to_string(),
    };
    let manifest = serde_json::to_string(&b).expect("serialize backup");
    r.script(
        "backup manifest",
        r#"printf '%s\n' "$2" > "$1/manifest.json.tmp" && mv -f "$1/manifest.json.tmp" "$1/manifest.json""#,
        &[&dir, &manifest],
    )
    .await?;
    Ok(Some(b))
}

/// Backups on the host, oldest first.
pub async fn list(r: &RemoteHost, l: &Layout) -> Result<Vec<Backup>, HostError> {
    let script = r#"[ -d "$1" ] || exit 0
for d in $(ls -1 "$1" | sort); do
  [ -d "$1/$d" ] || continue
  m=$(cat "$1/$d/manifest.json" 2>/dev/null | tr -d '\n')
  [ -n "$m" ] || m='{}'
  printf '%s\t%s\n' "$d" "$m"
done"#;
    let out = r.script("list backups", script, &[&l.backup_dir]).await?;
    Ok(out
        .lines()
        .filter_map(|line| {
            let (id, m) = line.split_once('\t')?;
            let mut b: Backup = serde_json::from_str(m).unwrap_or(Backup {
                id: String::new(),
                build_id: String::new(),
                sha256: String::new(),
                run_id: String::new(),
            });
            b.id = id.to_string();
            Some(b)
        })
        .collect())
}

/// Delete the oldest backups beyond `l.keep`; returns the ids removed.
pub async fn rotate(r: &RemoteHost, l: &Layout) -> Result<Vec<String>, HostError> {
    let all = list(r, l).await?;
    let excess = all.len().saturating_sub(l.keep.max(1));
    let doomed: Vec<String> = all.into_iter().take(excess).map(|b| b.id).collect();
    if doomed.is_empty() {
        return Ok(doomed);
    }
    let paths: Vec<String> = doomed
        .iter()
        .map(|id| format!("{}/{id}", l.backup_dir))
        .collect();
    let mut argv = vec!["rm".to_string(), "-rf".to_string(), "--".to_string()];
    argv.extend(paths);
    r.run("rotate backups", &argv).await?;
    Ok(doomed)
}

/// Put backup `id` back in place (binary and configs), each by temp copy + atomic rename.
pub async fn restore(r: &RemoteHost, l: &Layout, id: &str, run_id: &str) -> Result<(), HostError> {
    let dir = format!("{}/{id}", l.backup_dir);
    let script = r#"set -e
dir=$1; run=$2; shift 2
[ -d "$dir" ] || { echo "backup $dir not found" >&2; exit 3; }
while [ $# -gt 0 ]; do
  dest=$1; s=$2; shift 2
  src="$dir/$(basename "$dest")"
  [ -e "$src" ] || continue
  tmp="$(dirname "$dest")/.$(basename "$dest").restore-$run"
  if [ "$s" = 1 ]; then sudo -n sh -c 'cp -p "$1" "$2" && mv -f "$2" "$3"' sh "$src" "$tmp" "$dest"
  else cp -p "$src" "$tmp" && mv -f "$tmp" "$dest"; fi
done"#;
    let mut args = vec![dir.as_str(), run_id, l.binary.as_str(), "0"];
    for (p, sudo) in &l.configs {
        args.push(p);
        args.push(if *sudo { "1" } else { "0" });
    }
    r.script("restore backup", script, &args).await?;
    Ok(())
}
