# shellcheck shell=sh
# accesslog_rotate: keep the LB's access log bounded. Over the limit, the log becomes `LOG.1`
# (replacing an older one) and its writer reopens a new one: nginx's master is sent USR1
# (reopen), haproxy's socat receiver is stopped (the caller starts it again on a new file).
# Only a process that runs the writer's own program is signalled.
# Arguments: $1 the log file; $2 the limit in bytes; $3 the writer's pid file; $4 the
#   writer's program (nginx binary or socat); $5 `nginx` or `haproxy`.
# Exit: 0 answered; non-zero: stat, mv or kill failed (stderr).
# Output: rotated=yes or rotated=no.
set -eu
log=$1; max=$2; pidf=$3; prog=$4; kind=$5
if [ ! -e "$log" ] || [ "$(stat -c %s "$log")" -le "$max" ]; then echo rotated=no; exit 0; fi
mv -f "$log" "$log.1"
if op=$(owned_pid "$pidf" "$prog"); then
  if [ "$kind" = nginx ]; then kill -USR1 "$op"; else kill "$op"; fi
fi
echo rotated=yes
