# shellcheck shell=sh
# accesslog_receiver: haproxy's access-log receiver; socat appends the datagrams haproxy sends
# to the unix socket to the log file. Started when not running (pid file naming a live socat),
# then the socket is awaited (bounded, 5 s); a process the pid file names that is not socat is
# never signalled.
# Arguments: $1 socat; $2 the socket; $3 the log file; $4 the pid file.
# Exit: 0 running or started; 3 the receiver did not create its socket.
# Output: running or started.
set -eu
socat=$1; sock=$2; log=$3; pidf=$4
if owned_pid "$pidf" "$socat" >/dev/null && [ -S "$sock" ]; then
  echo running; exit 0
fi
if op=$(owned_pid "$pidf" "$socat"); then kill "$op" 2>/dev/null || true; fi
rm -f "$sock"
setsid "$socat" -u "UNIX-RECV:$sock,mode=600" "OPEN:$log,creat,append" </dev/null >/dev/null 2>&1 &
echo $! > "$pidf"
i=0
while [ ! -S "$sock" ] && [ "$i" -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
if [ ! -S "$sock" ]; then echo "log receiver did not create $sock" >&2; exit 3; fi
echo started
