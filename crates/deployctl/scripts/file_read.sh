# shellcheck shell=sh
# file_read: a file's contents.
# Arguments: $1 the path.
# Exit: 0 answered; non-zero: the file exists but cannot be read (stderr).
# Output: file=absent; or file=present followed by the file's bytes, verbatim.
set -eu
if [ -e "$1" ]; then
  echo file=present
  cat -- "$1"
else
  echo file=absent
fi
