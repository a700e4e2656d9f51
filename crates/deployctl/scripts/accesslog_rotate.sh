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
if [ ! -e "$log" ] || [ "$(stat -c %s "$log")" -le "$max" ]; then echo rotated=no; exit 0; fi
mv -f "$log" "$log.1"
if ours "$pidf" "$prog"; then
  if [ "$kind" = nginx ]; then kill -USR1 "$op"; else kill "$op"; fi
fi
echo rotated=yes
