# shellcheck shell=sh
# upload_install: set the verified temporary file's mode and rename it over its destination.
# Arguments: $1 the temporary file; $2 the octal mode; $3 the destination; $4 a test fault
#   (`drop-after-install` kills this connection's sshd right after the rename), else empty.
# Durable: the file is fsynced before the rename, its directory after it.
# Exit: 0 installed; non-zero: chmod, sync or mv failed (stderr).
# Output: none.
set -eu
chmod "$2" "$1"
sync -- "$1"
mv -f "$1" "$3"
sync -- "$(dirname "$3")"
if [ "$4" = drop-after-install ]; then
  p=$PPID
  while [ "$p" -gt 1 ]; do
    case "$(cat "/proc/$p/comm")" in sshd*) kill -9 "$p"; exit 0;; esac
    p=$(cut -d' ' -f4 "/proc/$p/stat")
  done
fi
