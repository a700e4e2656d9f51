//! Restore a backup: every file is first staged next to its target (`.NAME.restore-RUN`),
//! its sha256 checked against the manifest and its mode set; only when every file is staged
//! and verified is each renamed over its target (atomic per file). Any failure before the
//! swap removes the staged copies and leaves the host as it was; the error says why.

use super::{dir_of, Backup};
use crate::remote::{HostError, Layout, RemoteHost};

/// Arguments: run id, then groups of five (source, target, sha256, mode, sudo flag).
const RESTORE: &str = r#"set -eu
run=$1; shift
s=0
x() { if [ "$s" = 1 ]; then sudo -n -- "$@"; else "$@"; fi; }
tmpof() { printf '%s/.%s.restore-%s' "$(dirname -- "$1")" "$(basename -- "$1")" "$run"; }
cleanup() {
  while [ $# -gt 0 ]; do s=$5; x rm -f -- "$(tmpof "$2")" || true; shift 5; done
}
stage() {
  while [ $# -gt 0 ]; do
    src=$1; dest=$2; sum=$3; mode=$4; s=$5; shift 5
    tmp=$(tmpof "$dest")
    x cp -p -- "$src" "$tmp" || { echo "staging $dest failed (cp)" >&2; return 1; }
    got=$(x sha256sum -- "$tmp") || { echo "sha256 of staged $dest failed" >&2; return 1; }
    if [ "${got%% *}" != "$sum" ]; then
      echo "backup copy of $dest is corrupt: sha256 ${got%% *}, manifest says $sum" >&2
      return 1
    fi
    x chmod -- "$mode" "$tmp" || { echo "chmod of staged $dest failed" >&2; return 1; }
  done
}
swap() {
  while [ $# -gt 0 ]; do
    dest=$2; s=$5; shift 5
    x mv -f -- "$(tmpof "$dest")" "$dest" || { echo "renaming over $dest failed" >&2; return 1; }
  done
}
if ! stage "$@"; then cleanup "$@"; echo "nothing was changed" >&2; exit 3; fi
if ! swap "$@"; then cleanup "$@"; echo "restore stopped midway: files already renamed stay" >&2; exit 4; fi"#;

/// Put backup `b` back in place; an error names the file and the reason.
pub async fn restore(
    r: &RemoteHost,
    l: &Layout,
    b: &Backup,
    run_id: &str,
) -> Result<(), HostError> {
    let m = &b.manifest;
    if let Some(why) = m.invalid() {
        return Err(HostError::Check(format!("backup {}: {why}", b.id)));
    }
    let dir = dir_of(l, &b.id);
    let mut args = vec![run_id.to_string()];
    for f in &m.files {
        args.push(format!("{dir}/files/{}", f.path));
        args.push(m.target(f));
        args.push(f.sha256.clone());
        args.push(f.mode.clone());
        args.push(if f.sudo { "1" } else { "0" }.to_string());
    }
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    r.script("restore backup", RESTORE, &argv).await?;
    Ok(())
}
