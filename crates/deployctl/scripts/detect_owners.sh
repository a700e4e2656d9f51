# shellcheck shell=sh
# detect_owners: the processes that own the sockets with these inodes.
# Arguments: $1 the load balancer's pid file (`[lb] dir`; may be absent); then the socket
#   inodes.
# A login user who is not root cannot see another user's file descriptors (an LB run by
# root): a socket whose owner is not found is attributed to the process the LB's pid file
# names when that process is alive and its network namespace lists the socket as listening
# (/proc/PID/net/tcp*, readable by anyone; /proc/PID/fd and /proc/PID/exe are not).
# Exit: 0 answered; non-zero: a command failed (stderr).
# Output: per owning process, inode=N then comm=NAME (its /proc/PID/comm) when readable.
set -eu
lbpid=$(head -c 32 -- "$1" 2>/dev/null || true)
case "$lbpid" in ''|*[!0-9]*) lbpid="";; esac
shift
for i in "$@"; do
  found=""
  for fd in $(find /proc/[0-9]*/fd -lname "socket:\[$i\]" 2>/dev/null || true); do
    p=${fd#/proc/}; p=${p%%/*}
    found=1
    printf 'inode=%s\n' "$i"
    if c=$(cat "/proc/$p/comm" 2>/dev/null); then printf 'comm=%s\n' "$c"; fi
  done
  if [ -n "$found" ] || [ -z "$lbpid" ]; then continue; fi
  if cat "/proc/$lbpid/net/tcp" "/proc/$lbpid/net/tcp6" 2>/dev/null |
    awk -v i="$i" '$4 == "0A" && $10 == i { f = 1 } END { exit !f }'; then
    printf 'inode=%s\n' "$i"
    if c=$(cat "/proc/$lbpid/comm" 2>/dev/null); then printf 'comm=%s\n' "$c"; fi
  fi
done
