# shellcheck shell=sh
# history_append: append one record to the host's release history, durably.
# Arguments: $1 the history file (its directory is created). Stdin: one JSON object, one line.
# Exit: 0 appended, and the file and its directory fsynced; non-zero otherwise (stderr).
# Output: host_ms=<the host's clock when the record was written, ms since the epoch>
set -eu
mkdir -p "$(dirname "$1")"
IFS= read -r rec
case $rec in
  '{'*'}') ;;
  *) echo "history_append: the record is not one JSON object" >&2; exit 2 ;;
esac
now=$(date +%s%3N)
printf '{"host_ms":%s,%s\n' "$now" "${rec#?}" >> "$1"
sync -- "$1" "$(dirname "$1")"
echo "host_ms=$now"
