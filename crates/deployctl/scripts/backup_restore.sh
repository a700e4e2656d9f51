# shellcheck shell=sh
# backup_restore: put a backup's files back. Every file is first staged next to its target
# (`.NAME.restore-RUN`), its sha256 checked and its mode set; only when every file is staged
# is each renamed over its target. A failure before the swap removes the staged copies.
# Arguments: $1 the run id; then groups of five: SOURCE TARGET SHA256 MODE SUDO (SUDO is 1
#   to go through `sudo -n`, else 0).
# Durable: each staged copy is fsynced before any rename, each target directory after its
# rename.
# Exit: 0 restored; 3 staging failed, nothing was changed; 4 the swap stopped midway (files
#   already renamed stay); stderr says which file and why.
# Output: none.
set -eu
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
    x sync -- "$tmp" || { echo "sync of staged $dest failed" >&2; return 1; }
  done
}
swap() {
  while [ $# -gt 0 ]; do
    dest=$2; s=$5; shift 5
    x mv -f -- "$(tmpof "$dest")" "$dest" || { echo "renaming over $dest failed" >&2; return 1; }
    x sync -- "$(dirname -- "$dest")" || { echo "sync after renaming over $dest failed" >&2; return 1; }
  done
}
if ! stage "$@"; then cleanup "$@"; echo "nothing was changed" >&2; exit 3; fi
if ! swap "$@"; then cleanup "$@"; echo "restore stopped midway: files already renamed stay" >&2; exit 4; fi
