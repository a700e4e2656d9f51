# shellcheck shell=sh
# file_write: write stdin to a file (created or truncated).
# Arguments: $1 the path. Stdin: the contents.
# Exit: 0 written; non-zero: the file cannot be written (stderr).
# Output: none.
set -eu
cat > "$1"
