# shellcheck shell=sh
# image: the sha256 of the installed binary and, optionally, of every running child of the
# master (its /proc/PID/exe).
# Arguments: $1 the installed binary; $2 the master's pid file; $3 1 to read the children's
#   images on the host, else 0.
# Exit: 0 answered; non-zero: a command failed (stderr).
# Output: kind=script (the binary starts with `#!`: nothing else); or kind=binary,
#   installed=HEX, then running=HEX per child of the master (with $3 = 1).
set -eu
bin=$1; pidf=$2
if [ "$(head -c 2 -- "$bin")" = '#!' ]; then echo kind=script; exit 0; fi
s=$(sha256sum -- "$bin"); printf 'kind=binary\ninstalled=%s\n' "${s%% *}"
[ "$3" = 1 ] || exit 0
m=$(cat -- "$pidf")
ps -o pid= --ppid "$m" | while read -r p; do
  if s=$(sha256sum -- "/proc/$p/exe"); then echo "running=${s%% *}"; fi
done
