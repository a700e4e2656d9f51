# shellcheck shell=sh
# nginx_restore: put the previous upstream file back and reload nginx with it. Idempotent: a
# retry with nothing left to move back still reloads, so the live routing is the file's.
# Arguments: $1 the upstream file; $2 nginx.conf; $3 the nginx binary; $4 nginx's pid file.
# Exit: 0 restored (or nothing to restore; nginx not running); non-zero: mv or the reload
#   failed (stderr).
# Output: none.
set -eu
up=$1; main=$2; nginx=$3; pid=$4
if [ -e "$up.prev" ]; then mv -f "$up.prev" "$up"; fi
if owned_pid "$pid" "$nginx" >/dev/null; then "$nginx" -s reload -c "$main" >&2; fi
