# shellcheck shell=sh
# backup_copy: copy every installed file that exists into a partial backup directory, each
# copy's sha256 checked against its original (privileged files through `sudo -n`).
# Arguments: $1 the partial directory (recreated empty); then pairs: PATH SUDO (SUDO is 1 to
#   read and copy through `sudo -n`, else 0).
# Durable: each copy is fsynced (through `sudo -n` for a privileged one).
# Exit: 0 done; 3 a copy differs from its original; other non-zero: a command failed (stderr).
# Output: per copied file, four lines: copied=N (N: 1-based index of its pair),
#   sha256=HEX, mode=OCTAL (stat %a), owner=UID:GID.
set -eu
part=$1; shift
s=0
x() { if [ "$s" = 1 ]; then sudo -n -- "$@"; else "$@"; fi; }
rm -rf -- "$part"
mkdir -p -- "$part/files"
i=0
while [ $# -gt 0 ]; do
  f=$1; s=$2; shift 2
  i=$((i + 1))
  # Single commands through `sudo -n`, never a shell (a deploy user's sudoers lists them).
  # Absent only when `test -e` says no and `test ! -e` yes (a refused sudo says no to both).
  if ! x test -e "$f"; then
    if x test ! -e "$f"; then continue; fi
    echo "cannot tell whether $f exists (test through sudo -n failed)" >&2; exit 2
  fi
  dst="$part/files/${f#/}"
  mkdir -p -- "$(dirname -- "$dst")"
  x cp -p -- "$f" "$dst"
  # fsynced by whoever can open it (backup_commit syncs only what the login user can read).
  x sync -- "$dst"
  a=$(x sha256sum -- "$f"); b=$(x sha256sum -- "$dst")
  [ "${a%% *}" = "${b%% *}" ] || { echo "copy of $f differs from its original" >&2; exit 3; }
  meta=$(x stat -c '%a %u:%g' -- "$dst")
  printf 'copied=%s\nsha256=%s\nmode=%s\nowner=%s\n' "$i" "${b%% *}" "${meta%% *}" "${meta#* }"
done
