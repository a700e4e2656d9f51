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
for f in "$@"; do if [ -e "$f.prev" ]; then mv -f "$f.prev" "$f"; fi; done
if op=$(owned_pid "$pid" "$haproxy"); then kill -USR2 "$op"; fi
