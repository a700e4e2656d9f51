# shellcheck shell=sh
# upload_remove: remove every attempt's temporary file of one upload.
# Arguments: $1 the base name (`DIR/.deployctl-upload/NAME.TAG`); removes `$1.*`.
# Exit: 0 done; non-zero: rm failed (stderr).
# Output: none.
set -eu
rm -f -- "$1".*
