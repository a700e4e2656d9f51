# shellcheck shell=sh
# service_recheck: right before a restart, the pid file must still name the master that was
# checked and it must still run our binary; optionally signal it then.
# Arguments: $1 the pid file; $2 the pid checked; $3 the installed binary; $4 `signal` to
#   send SIGUSR1 to it after the check, `check` to only check.
# Exit: 0 as expected (and signalled); 3 the master changed (stderr says how); other
#   non-zero: kill failed (stderr).
# Output: none.
set -eu
p=$(cat "$1" 2>/dev/null || true)
[ "$p" = "$2" ] || { echo "pid file $1 now names '$p', not $2" >&2; exit 3; }
e=$(readlink "/proc/$2/exe" || true)
[ "$e" = "$3" ] || [ "$e" = "$3 (deleted)" ] || { echo "pid $2 runs '$e', not $3" >&2; exit 3; }
if [ "$4" = signal ]; then kill -USR1 "$2"; fi
