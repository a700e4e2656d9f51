# shellcheck shell=sh
# upload_dir: create the owner-only directory that holds temporary upload files.
# Arguments: $1 the directory.
# Exit: 0 done; non-zero: mkdir or chmod failed (stderr).
# Output: none.
set -eu
umask 077
mkdir -p "$1"
chmod 700 "$1"
