# shellcheck shell=sh
# file_sha256: the sha256 of a file on the host.
# Arguments: $1 the path; $2 1 to read it through `sudo -n`, else 0.
# Privileged reads run single commands (`test`, `sha256sum`) through `sudo -n`, never a shell:
#   a deploy user's sudoers entry can list them (README, "A non-root deploy user").
# Exit: 0 answered; non-zero: sudo or a command failed (stderr).
# Output: file=absent; or file=unreadable (sha256sum failed); or file=present then
#   sha256=HEX.
set -eu
s=$2
x() { if [ "$s" = 1 ]; then sudo -n -- "$@"; else "$@"; fi; }
# Absent only when `test -e` says no and `test ! -e` says yes (a refused sudo says no to both).
if ! x test -e "$1"; then
  if x test ! -e "$1"; then echo file=absent; exit 0; fi
  echo "cannot tell whether $1 exists (test through sudo -n failed)" >&2; exit 2
fi
if h=$(x sha256sum -- "$1"); then printf "file=present\nsha256=%s\n" "${h%% *}"
else echo file=unreadable; fi
