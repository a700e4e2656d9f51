# shellcheck shell=sh
# nginx_restore: put the previous upstream file back and reload nginx with it. Idempotent: a
# retry with nothing left to move back still reloads, so the live routing is the file's.
# Arguments: $1 the upstream file; $2 nginx.conf; $3 the nginx binary; $4 nginx's pid file.
# Exit: 0 restored (or nothing to restore; nginx not running); non-zero: mv or the reload
#   failed (stderr).
# Output: none.
set -eu
up=$1; main=$2; nginx=$3; pid=$4
# Whether the live process pid file $1 names runs the program $2 (on PATH or a path; its
# file name is compared, so a wrapper named like the program or a binary replaced by a package
# upgrade still counts): a pid file left by a dead process can name someone else's, which must
# never be signalled.
ours() {
  op=$(cat "$1" 2>/dev/null) || return 1
  case "$op" in ''|*[!0-9]*) return 1;; esac
  oexe=$(readlink "/proc/$op/exe" 2>/dev/null) || return 1
  obin=$(command -v "$2" 2>/dev/null) || return 1
  oexe=${oexe% (deleted)}
  obin=$(readlink -f "$obin")
  [ "${oexe##*/}" = "${obin##*/}" ]
}
if [ -e "$up.prev" ]; then mv -f "$up.prev" "$up"; fi
if ours "$pid" "$nginx"; then "$nginx" -s reload -c "$main" >&2; fi
