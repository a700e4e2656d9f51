# shellcheck shell=sh
# haproxy_restore: put the previous haproxy files back and reload haproxy when it runs.
# Arguments: $1 haproxy's pid file; then the files.
# Exit: 0 restored (or nothing to restore); non-zero: a command failed (stderr).
# Output: none.
set -eu
pid=$1; shift
for f in "$@"; do if [ -e "$f.prev" ]; then mv -f "$f.prev" "$f"; fi; done
if [ -s "$pid" ] && kill -0 "$(cat "$pid")" 2>/dev/null; then kill -USR2 "$(cat "$pid")"; fi
