# shellcheck shell=sh
# nginx_restore: put the previous upstream file back and reload nginx with it.
# Arguments: $1 the upstream file; $2 nginx.conf; $3 the nginx binary.
# Exit: 0 restored (or nothing to restore); non-zero: mv or the reload failed (stderr).
# Output: none.
set -eu
up=$1; main=$2; nginx=$3
if [ -e "$up.prev" ]; then mv -f "$up.prev" "$up" && "$nginx" -s reload -c "$main" >&2; fi
