# shellcheck shell=sh
# detect_owners: the processes that own the sockets with these inodes.
# Arguments: the socket inodes.
# Exit: 0 answered; non-zero: a command failed (stderr).
# Output: per owning process, inode=N then comm=NAME (its /proc/PID/comm) when readable.
set -eu
for i in "$@"; do
  for fd in $(find /proc/[0-9]*/fd -lname "socket:\[$i\]" 2>/dev/null || true); do
    p=${fd#/proc/}; p=${p%%/*}
    printf 'inode=%s\n' "$i"
    if c=$(cat "/proc/$p/comm" 2>/dev/null); then printf 'comm=%s\n' "$c"; fi
  done
done
