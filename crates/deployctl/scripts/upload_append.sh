# shellcheck shell=sh
# upload_append: append stdin to an attempt's file, which must already hold the bytes the
# attempt started from (a late writer of a broken attempt never recreates a removed file).
# Arguments: $1 the attempt's file; $2 the bytes it holds already. Stdin: the rest.
# Exit: 0 done; 4 the file is gone; other non-zero: cat failed (stderr).
# Output: none.
set -eu
umask 077
if [ "$2" -gt 0 ] && [ ! -e "$1" ]; then echo "$1 is gone" >&2; exit 4; fi
cat >> "$1"
