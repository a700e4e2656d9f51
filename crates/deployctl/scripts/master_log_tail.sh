# shellcheck shell=sh
# master_log_tail: the last 8 MB of the master's log, for `deployctl report`.
# Arguments: $1 the log file.
# Exit: 0 (nothing printed when the file does not exist).
# Output: the bytes as they are (tracing JSON lines; report::master_lines keeps the master's
#   lines of the run's span).
set -eu
tail -c 8000000 "$1" 2>/dev/null || true
