# shellcheck shell=sh
# nginx_apply: check an uploaded upstream file with `nginx -t` against a test copy of
# nginx.conf that includes it, then swap it in (the previous file kept as `.prev`) and
# reload nginx, or start nginx when it is not running (or its pid file names a process that
# is not nginx). A reload is waited for (10 s at most):
# until none of the workers that ran before it still takes new connections (each has exited
# or says "is shutting down"), so no request after this script meets the old upstreams.
# Arguments: $1 the LB directory; $2 nginx.conf; $3 the upstream file; $4 nginx's pid file;
#   $5 the nginx binary; $6 the uploaded candidate; $7 the nginx.conf text (written when
#   absent); $8 the test nginx.conf text (includes the candidate).
# Exit: 0 applied; 3 nginx -t rejected the candidate (previous file kept); 4 the reload
#   failed or did not finish within 10 s (previous file restored); 5 nginx did not start;
#   other non-zero: a command failed.
# Output: change=reloaded or change=started.
set -eu
dir=$1; main=$2; up=$3; pid=$4; nginx=$5; tmp=$6; maintext=$7; testtext=$8
# The pids of master $1's workers that take new connections (not "is shutting down").
accepting() {
  for d in /proc/[0-9]*; do
    [ "$(cut -d' ' -f4 "$d/stat" 2>/dev/null)" = "$1" ] || continue
    case $(tr '\000' ' ' < "$d/cmdline" 2>/dev/null) in
      "nginx: worker process is shutting down"*) ;;
      "nginx: worker process"*) printf '%s ' "${d#/proc/}" ;;
    esac
  done
}
# Wait until no pid of $2 is an accepting worker of master $1; false after 10 s.
settled() {
  n=0
  while [ "$n" -lt 100 ]; do
    stale=
    for p in $(accepting "$1"); do
      case " $2 " in *" $p "*) stale=1 ;; esac
    done
    [ -z "$stale" ] && return 0
    n=$((n + 1)); sleep 0.1
  done
  return 1
}
mkdir -p "$dir/tmp"
[ -e "$main" ] || printf '%s' "$maintext" > "$main"
printf '%s' "$testtext" > "$dir/nginx.test.conf"
if ! out=$("$nginx" -t -c "$dir/nginx.test.conf" 2>&1); then
  rm -f "$tmp"; echo "nginx -t rejected the new upstreams (previous file kept): $out" >&2; exit 3
fi
if [ -e "$up" ]; then cp -p "$up" "$up.prev"; else rm -f "$up.prev"; fi
mv -f "$tmp" "$up"
if op=$(owned_pid "$pid" "$nginx"); then
  m=$op; before=$(accepting "$m")
  if ! out=$("$nginx" -s reload -c "$main" 2>&1) || ! settled "$m" "$before"; then
    if [ -e "$up.prev" ]; then mv -f "$up.prev" "$up"; fi
    "$nginx" -s reload -c "$main" >/dev/null 2>&1 || true
    echo "nginx reload failed or its old workers kept accepting for 10 s, previous file restored: $out" >&2
    exit 4
  fi
  echo change=reloaded
else
  if ! out=$("$nginx" -c "$main" 2>&1); then echo "nginx did not start: $out" >&2; exit 5; fi
  echo change=started
fi
