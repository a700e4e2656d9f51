# shellcheck shell=sh
# detect_listen: the listening TCP sockets (state 0A) in /proc/net/tcp-format files (read
# per network namespace).
# Arguments: the files to read (/proc/net/tcp /proc/net/tcp6); unreadable ones are skipped.
# Exit: 0 answered; non-zero: awk failed (stderr).
# Output: per listening socket, listen=PORT (decimal) then inode=N (its socket inode).
set -eu
for f in "$@"; do
  if [ -r "$f" ]; then
    awk '$4 == "0A" { n = split($2, a, ":"); print a[n], $10 }' "$f"
  fi
done | while read -r hex inode; do
  printf 'listen=%d\ninode=%s\n' "0x$hex" "$inode"
done
