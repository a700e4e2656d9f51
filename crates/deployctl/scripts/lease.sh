# shellcheck shell=sh
# lease: one compare-and-swap step on a host's lease file `DIR/lease`, under flock on
# `DIR/lease.lock`; times are the host's clock.
# Durable: a lease is written to a new file, fsynced, renamed over the lease, and the
# directory fsynced.
# Arguments: $1 the lease directory; $2 the operation: acquire, renew, release, unlock or
#   unlock-force; $3 the run id; $4 the controller host; $5 the user; $6 the pid; $7 the
#   lifetime in seconds.
# Exit: 0 answered; non-zero: mkdir, flock (10 s) or a write failed (stderr).
# Output: verdict=V, V one of ACQUIRED, TAKEOVER, HELD (acquire, unlock), RENEWED, LOST
#   (renew), RELEASED, NOT_HELD (release), NONE, REMOVED (unlock); with HELD, TAKEOVER,
#   REMOVED and LOST (when a lease is there) the lease seen: now=SECONDS (host clock), then
#   run=, controller=, user=, pid= when not empty and started=, heartbeat=, expires= when
#   numbers (a damaged lease file shows fewer lines).
set -eu
umask 077
d=$1 op=$2 run=$3 ctl=$4 usr=$5 pid=$6 ttl=$7
mkdir -p "$d"
exec 9>>"$d/lease.lock"
flock -w 10 9
f="$d/lease"
now=$(date +%s)
cur=''
exp=0
if [ -s "$f" ]; then
  cur=$(sed -n 's/^run=//p' "$f")
  exp=$(sed -n 's/^expires=//p' "$f")
  case "$exp" in ''|*[!0-9]*) exp=0;; esac
fi
field() { sed -n "s/^$1=//p" "$f" | head -n 1; }
show() {
  echo "now=$now"
  for k in run controller user pid; do
    v=$(field "$k")
    if [ -n "$v" ]; then printf '%s=%s\n' "$k" "$v"; fi
  done
  for k in started heartbeat expires; do
    v=$(field "$k")
    case "$v" in ''|*[!0-9]*) ;; *) printf '%s=%s\n' "$k" "$v";; esac
  done
}
put() {
  printf 'run=%s\ncontroller=%s\nuser=%s\npid=%s\nstarted=%s\nheartbeat=%s\nexpires=%s\n' \
    "$run" "$ctl" "$usr" "$pid" "$1" "$now" "$((now + ttl))" >"$f.new-$run"
  sync -- "$f.new-$run"
  mv -f "$f.new-$run" "$f"
  sync -- "$d"
}
case "$op" in
acquire)
  if [ -n "$cur" ] && [ "$cur" != "$run" ]; then
    if [ "$exp" -gt "$now" ]; then echo verdict=HELD; show; exit 0; fi
    echo verdict=TAKEOVER; show
  else
    echo verdict=ACQUIRED
  fi
  put "$now";;
renew)
  if [ "$cur" != "$run" ]; then echo verdict=LOST; if [ -s "$f" ]; then show; fi; exit 0; fi
  put "$(sed -n 's/^started=//p' "$f")"; echo verdict=RENEWED;;
release)
  if [ -n "$cur" ] && [ "$cur" = "$run" ]; then rm -f "$f"; echo verdict=RELEASED; else echo verdict=NOT_HELD; fi;;
unlock|unlock-force)
  if [ -z "$cur" ]; then echo verdict=NONE; exit 0; fi
  if [ "$exp" -gt "$now" ] && [ "$op" = unlock ]; then echo verdict=HELD; show; exit 0; fi
  echo verdict=REMOVED; show; rm -f "$f";;
esac
