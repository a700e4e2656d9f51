# shellcheck shell=sh
# remove_tree: remove a file or directory tree.
# Arguments: $1 the path.
# Exit: 0 removed (or absent); non-zero: rm failed (stderr).
# Output: none.
set -eu
rm -rf -- "$1"
