# shellcheck shell=sh
# service_master: the live process the pid file names, if any.
# Arguments: $1 the pid file.
# Exit: 0 answered; non-zero: a command failed (stderr).
# Output: master=absent (no pid file, no number in it, or no such process); or
#   master=running, pid=N, then exe=PATH (its /proc/N/exe) when that link is readable.
set -eu
absent() { echo master=absent; exit 0; }
p=$(cat "$1" 2>/dev/null) || absent
case "$p" in ''|*[!0-9]*) absent;; esac
[ -d "/proc/$p" ] || absent
printf 'master=running\npid=%s\n' "$p"
if e=$(readlink "/proc/$p/exe"); then printf 'exe=%s\n' "$e"; fi
