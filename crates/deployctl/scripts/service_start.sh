# shellcheck shell=sh
# service_start: start the master detached (setsid, stdin from /dev/null, output appended
# to a log), from the directory of its binary.
# Arguments: $1 the log file; $2 the pid file's directory (created); $3 the binary; then
#   its arguments.
# Exit: 0 started (in the background); non-zero: a command failed (stderr).
# Output: none.
set -eu
log=$1; piddir=$2; shift 2
mkdir -p "$piddir"
cd "$(dirname "$1")"
setsid "$@" </dev/null >>"$log" 2>&1 &
