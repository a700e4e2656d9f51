# shellcheck shell=sh
# haproxy_query: one query to haproxy's runtime API (`show stat`, `show map FILE`).
# Arguments: $1 the admin socket; $2 the socat binary; $3 the query.
# Exit: 0 answered; non-zero: socat failed (stderr).
# Output: haproxy's answer, verbatim (read by the parser of the query sent).
set -eu
printf '%s\n' "$3" | "$2" -t 5 stdio "unix-connect:$1"
