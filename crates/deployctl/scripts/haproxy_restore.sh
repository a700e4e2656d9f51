# shellcheck shell=sh
# haproxy_restore: put the previous haproxy files back and reload haproxy when it runs.
# Idempotent: a retry with nothing left to move back still reloads, so the live routing is
# the files' whatever an earlier attempt did.
# Arguments: $1 haproxy's pid file; $2 the haproxy binary; then the files (none: only the
#   reload, which puts a half-made runtime change back to the files on disk).
# Exit: 0 restored (or nothing to restore); non-zero: a command failed (stderr).
# Output: none.
set -eu
pid=$1; haproxy=$2; shift 2
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
for f in "$@"; do if [ -e "$f.prev" ]; then mv -f "$f.prev" "$f"; fi; done
if ours "$pid" "$haproxy"; then kill -USR2 "$op"; fi
