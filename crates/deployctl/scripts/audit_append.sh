# shellcheck shell=sh
# audit_append: append audit records to the host's audit log.
# Arguments: $1 the audit log (its directory is created). Stdin: the records (JSON lines).
# Durable: the log is fsynced after the append.
# Exit: 0 appended; non-zero: mkdir or cat failed (stderr).
# Output: none.
set -eu
mkdir -p "$(dirname "$1")"
cat >> "$1"
sync -- "$1"
