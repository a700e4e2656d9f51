# shellcheck shell=sh
# file_sha256: the sha256 of a file on the host.
# Arguments: $1 the path; $2 1 to read it through `sudo -n`, else 0.
# Exit: 0 answered; non-zero: sudo or the shell failed (stderr).
# Output: file=absent; or file=unreadable (sha256sum failed); or file=present then
#   sha256=HEX.
set -eu
s=$2
x() { if [ "$s" = 1 ]; then sudo -n -- "$@"; else "$@"; fi; }
# shellcheck disable=SC2016 # $1 and $h expand in the inner shell
x sh -c 'if [ ! -e "$1" ]; then echo file=absent
elif h=$(sha256sum -- "$1"); then printf "file=present\nsha256=%s\n" "${h%% *}"
else echo file=unreadable; fi' sh "$1"
