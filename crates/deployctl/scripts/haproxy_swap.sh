# shellcheck shell=sh
# haproxy_swap: swap the uploaded `.new-SERIAL` files in (previous ones kept as `.prev`),
# `haproxy -c` first in full mode; then a seamless reload (USR2 to the master) or a start
# (also when the pid file names a process that is not haproxy).
# `runtime` mode only moves the files (the live state was changed through the runtime API).
# Arguments: $1 `full` or `runtime`; $2 the haproxy binary; $3 haproxy's pid file; $4 the
#   serial; then the files: haproxy.cfg, the route map, the serial map.
# Exit: 0 applied; 3 haproxy -c rejected the configuration (previous files kept); 5 haproxy
#   did not start (previous files restored); other non-zero: a command failed (stderr).
# Output: change=runtime, change=reloaded or change=started.
set -eu
mode=$1; haproxy=$2; pid=$3; serial=$4; shift 4
test=$1.test-$serial
sed -e "s|$2|$2.new-$serial|g" -e "s|$3|$3.new-$serial|g" "$1.new-$serial" > "$test"
if [ "$mode" = full ] && ! out=$("$haproxy" -c -q -f "$test" 2>&1); then
  rm -f "$test" "$1.new-$serial" "$2.new-$serial" "$3.new-$serial"
  echo "haproxy -c rejected the new configuration (previous files kept): $out" >&2; exit 3
fi
rm -f "$test"
for f in "$@"; do
  if [ -e "$f" ]; then cp -p "$f" "$f.prev"; else rm -f "$f.prev"; fi
  mv -f "$f.new-$serial" "$f"
done
if [ "$mode" = runtime ]; then echo change=runtime; exit 0; fi
if op=$(owned_pid "$pid" "$haproxy"); then
  kill -USR2 "$op"; echo change=reloaded
else
  if ! out=$("$haproxy" -W -D -f "$1" -p "$pid" 2>&1); then
    for f in "$@"; do if [ -e "$f.prev" ]; then mv -f "$f.prev" "$f"; fi; done
    echo "haproxy did not start: $out" >&2; exit 5
  fi
  echo change=started
fi
