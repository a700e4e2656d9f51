# shellcheck shell=sh
# haproxy_runtime: send commands to haproxy's runtime API, one socat call each; any answer
# other than blank is an error.
# Arguments: $1 the admin socket; $2 the socat binary; then the commands.
# Exit: 0 every command accepted; 3 haproxy answered a command (stderr quotes it); other
#   non-zero: socat failed.
# Output: none.
set -eu
sock=$1; socat=$2; shift 2
for c in "$@"; do
  out=$(printf '%s\n' "$c" | "$socat" -t 5 stdio "unix-connect:$sock")
  if [ -n "$(printf '%s' "$out" | tr -d '[:space:]')" ]; then
    echo "haproxy runtime API: '$c': $out" >&2; exit 3
  fi
done
