#!/usr/bin/env bash
# Test bed for deployctl: N "hosts" on this machine, each a network namespace (veth on a
# per-bed bridge) plus its own mount and UTS namespace, running its own OpenSSH server.
#
#   scripts/testbed.sh up N [--name NAME] [--slot S]   create hosts NAME-1..NAME-N
#   scripts/testbed.sh down [--name NAME]               stop every process of the bed by pid, remove it
#   scripts/testbed.sh loss NAME K PCT                  drop PCT% of packets entering host K (nftables numgen)
#   scripts/testbed.sh status [--name NAME]
#
# State lives in $DEPLOYCTL_TESTBED_ROOT (default /tmp/deployctl-testbed)/NAME:
#   id_ed25519[.pub]  client key        known_hosts   strict host keys of every host
#   hosts             "name address netns" per line    deploy.toml   inventory for env NAME
#   hK/               host K: sshd_config, host key, sshd.pid, sshd.log, srv/ (its /srv, with
#                     admin.token: a random 0600 admin token for the masters)
# Every host also accepts the client key for the unprivileged user `deploy` (created once per
# machine, idempotently, with the sudoers drop-in /etc/sudoers.d/deployctl-testbed limited to
# the commands deployctl runs through `sudo -n`; see ensure_deploy_user).
# Addresses come from 198.18.0.0/15 (RFC 2544 benchmarking range): bed slot S uses 198.18.S.0/24,
# bridge dbrS at .1, host K at .(K+1). Slots are claimed atomically with mkdir under /run/dctl-testbed.
# Requires root; installs openssh-server and nftables when missing.
set -euo pipefail

ROOT=${DEPLOYCTL_TESTBED_ROOT:-/tmp/deployctl-testbed}
REG=/run/dctl-testbed
cmd=${1:-}; shift || true
NAME=bed; SLOT=""; N=""
args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --name) NAME=$2; shift 2;;
    --slot) SLOT=$2; shift 2;;
    *) args+=("$1"); shift;;
  esac
done
DIR=$ROOT/$NAME

die() { echo "testbed: $*" >&2; exit 1; }
log() { echo "testbed: $*" >&2; }

ensure_packages() {
  local missing=()
  [ -x /usr/sbin/sshd ] || missing+=(openssh-server)
  command -v nft >/dev/null || missing+=(nftables)
  command -v ssh-keygen >/dev/null || missing+=(openssh-client)
  command -v ip >/dev/null || missing+=(iproute2)
  command -v sudo >/dev/null || missing+=(sudo)
  # Used by the deployctl tests on the bed: nginx load balancers, TLS certificates, HTTPS probes.
  command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || missing+=(nginx)
  # haproxy load balancers and their runtime API client.
  [ -x /usr/sbin/haproxy ] || missing+=(haproxy)
  command -v socat >/dev/null || missing+=(socat)
  command -v openssl >/dev/null || missing+=(openssl)
  command -v curl >/dev/null || missing+=(curl)
  # deployctl netcheck measures ICMP loss with the system ping.
  command -v ping >/dev/null || missing+=(iputils-ping)
  # A non-POSIX login shell, for the test that deployctl refuses one at connect.
  [ -x /usr/bin/tcsh ] || missing+=(tcsh)
  if [ ${#missing[@]} -gt 0 ]; then
    log "installing ${missing[*]}"
    exec 9>/run/dctl-testbed-apt.lock; flock 9
    # Re-check under the lock: a parallel bed may have installed them meanwhile.
    if [ ! -x /usr/sbin/sshd ] || ! command -v nft >/dev/null || ! command -v sudo >/dev/null \
       || [ ! -x /usr/sbin/nginx ] || [ ! -x /usr/sbin/haproxy ] || ! command -v socat >/dev/null \
       || ! command -v openssl >/dev/null || ! command -v curl >/dev/null \
       || ! command -v ping >/dev/null || [ ! -x /usr/bin/tcsh ]; then
      DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
    fi
    exec 9>&-
  fi
}

# The unprivileged login user of the bed's "deploy user" tests: no password (`*`: key logins
# only, not locked for sshd), a POSIX login shell, and a sudoers drop-in that lets it run
# through `sudo -n` exactly the commands of deployctl's privileged steps (crates/deployctl/
# scripts: backup_copy, backup_restore, file_sha256, upload_install_sudo), nothing else.
# Validated with `visudo -cf` before it is put in place (a broken drop-in breaks all of sudo).
DEPLOY_USER=deploy
SUDOERS=/etc/sudoers.d/deployctl-testbed
sudoers_text() {
  local cmds=() c p
  for c in test cp sha256sum stat chown chmod sync mv rm; do
    p=$(type -P "$c") || die "no $c"
    cmds+=("$p")
  done
  local IFS=,
  echo "# written by scripts/testbed.sh: the bed's deploy user, only deployctl's sudo -n commands"
  echo "Defaults:$DEPLOY_USER !requiretty"
  echo "$DEPLOY_USER ALL=(root) NOPASSWD: ${cmds[*]}"
}

ensure_deploy_user() {
  exec 9>/run/dctl-testbed-user.lock; flock 9
  if ! id -u "$DEPLOY_USER" >/dev/null 2>&1; then
    log "creating user $DEPLOY_USER"
    useradd --create-home --user-group --shell /bin/sh --password '*' "$DEPLOY_USER"
  fi
  local want tmp
  want=$(sudoers_text)
  if [ ! -f "$SUDOERS" ] || [ "$(cat "$SUDOERS")" != "$want" ] \
     || [ "$(stat -c '%a %U' "$SUDOERS")" != "440 root" ]; then
    tmp=$(mktemp /etc/sudoers.d/.deployctl-testbed.XXXXXX)
    printf '%s\n' "$want" > "$tmp"
    chmod 0440 "$tmp"
    visudo -cqf "$tmp" || { rm -f "$tmp"; die "sudoers drop-in does not validate"; }
    mv -f "$tmp" "$SUDOERS"
  fi
  exec 9>&-
}

claim_slot() {
  mkdir -p "$REG"
  if [ -n "$SLOT" ]; then
    mkdir "$REG/slot-$SLOT" 2>/dev/null || die "slot $SLOT is taken ($(cat "$REG/slot-$SLOT/name" 2>/dev/null))"
  else
    for s in $(seq 10 250); do
      # A slot whose bridge, namespaces or veths outlived their registry entry (a bed whose
      # tear-down was killed, or a namespace the kernel keeps while its orphaned sockets
      # close) is left alone: its names would collide.
      if [ -e "/sys/class/net/dbr$s" ] || compgen -G "/run/netns/dctl${s}h*" >/dev/null ||
        compgen -G "/sys/class/net/dv${s}h*" >/dev/null; then
        continue
      fi
      if mkdir "$REG/slot-$s" 2>/dev/null; then SLOT=$s; break; fi
    done
    [ -n "$SLOT" ] || die "no free slot"
  fi
  echo "$NAME" > "$REG/slot-$SLOT/name"
}

up() {
  N=${args[0]:-}
  if ! [[ "$N" =~ ^[0-9]+$ ]] || [ "$N" -lt 1 ] || [ "$N" -gt 200 ]; then die "usage: up N (1..200)"; fi
  [ "$(id -u)" = 0 ] || die "must run as root"
  [ -e "$DIR/slot" ] && die "bed $NAME exists ($DIR); run: $0 down --name $NAME"
  ensure_packages
  ensure_deploy_user
  mkdir -p /run/sshd
  claim_slot
  mkdir -p "$DIR"; echo "$SLOT" > "$DIR/slot"; echo "$DIR" > "$REG/slot-$SLOT/dir"
  ssh-keygen -q -t ed25519 -N '' -C "deployctl-testbed-$NAME" -f "$DIR/id_ed25519"
  cp "$DIR/id_ed25519.pub" "$DIR/authorized_keys"
  # sshd reads the keys as the login user: `deploy` must reach them (the private key stays 0600).
  chmod 0755 "$DIR"; chmod 0644 "$DIR/authorized_keys"
  : > "$DIR/empty"; : > "$DIR/known_hosts"; : > "$DIR/hosts"
  # Record whether /run/netns is already a mount point: tear-down unmounts it only if we made it.
  (
    flock 8
    if ! mountpoint -q /run/netns 2>/dev/null && [ ! -e "$REG/run-netns-ours" ]; then
      touch "$REG/run-netns-ours"
    fi
  ) 8>"$REG/.lock"
  local br=dbr$SLOT net=198.18.$SLOT
  ip link add "$br" type bridge
  ip addr add "$net.1/24" dev "$br"
  ip link set "$br" up
  for k in $(seq 1 "$N"); do
    local ns=dctl${SLOT}h$k veth=dv${SLOT}h$k peer=dp${SLOT}h$k addr=$net.$((k + 1)) h=$DIR/h$k
    mkdir -p "$h/srv"
    # The masters' admin token (--admin-token-file /srv/admin.token; deploy.toml's
    # service.admin_token_file): 32 hex digits, owner-only.
    (umask 077 && od -An -N16 -tx1 /dev/urandom | tr -d ' \n' > "$h/srv/admin.token")
    ip netns add "$ns"
    ip link add "$veth" type veth peer name "$peer" netns "$ns"
    ip link set "$veth" master "$br" up
    ip -n "$ns" link set lo up
    ip -n "$ns" link set "$peer" name eth0
    ip -n "$ns" addr add "$addr/24" dev eth0
    ip -n "$ns" link set eth0 up
    ip -n "$ns" route add default via "$net.1"
    ssh-keygen -q -t ed25519 -N '' -C "$NAME-$k" -f "$h/ssh_host_ed25519_key"
    cat > "$h/sshd_config" <<CFG
Port 22
ListenAddress $addr
HostKey $h/ssh_host_ed25519_key
PidFile $h/sshd.pid
AuthorizedKeysFile $DIR/authorized_keys
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
MaxSessions 128
MaxStartups 200
AllowTcpForwarding yes
AllowStreamLocalForwarding yes
PrintMotd no
LogLevel VERBOSE
CFG
    # Own mount + UTS namespace: /srv is the host's own dir; root's slow ~/.bashrc is masked.
    local mask=""
    [ -e /root/.bashrc ] && mask="mount --bind $DIR/empty /root/.bashrc &&"
    # Own /etc/hosts naming the host (sudo and others resolve their own hostname; there is no DNS).
    printf '127.0.0.1 localhost\n::1 localhost\n%s %s\n' "$addr" "$NAME-$k" > "$h/hosts"
    mask="$mask mount --bind $h/hosts /etc/hosts &&"
    ip netns exec "$ns" unshare --mount --uts --propagation private sh -c \
      "mount --bind $h/srv /srv && $mask hostname $NAME-$k && exec /usr/sbin/sshd -D -e -f $h/sshd_config" \
      >>"$h/sshd.log" 2>&1 < /dev/null &
    echo $! > "$h/sshd.launcher.pid"
    echo "$addr $(cut -d' ' -f1,2 "$h/ssh_host_ed25519_key.pub")" >> "$DIR/known_hosts"
    echo "$NAME-$k $addr $ns" >> "$DIR/hosts"
  done
  # Wait (bounded) until every sshd answers a real ssh login with strict host-key checking.
  while read -r hn addr ns; do
    local ok=""
    for _ in $(seq 1 100); do
      if out=$(ssh -i "$DIR/id_ed25519" -o IdentitiesOnly=yes -o BatchMode=yes -o StrictHostKeyChecking=yes \
           -o UserKnownHostsFile="$DIR/known_hosts" -o ConnectTimeout=2 "root@$addr" hostname 2>/dev/null) \
         && [ "$out" = "$hn" ]; then ok=1; break; fi
      sleep 0.1
    done
    [ -n "$ok" ] || { log "sshd on $hn ($addr) did not answer; see ${DIR}/h*/sshd.log"; exit 1; }
  done < "$DIR/hosts"
  write_inventory
  log "bed $NAME up: $N hosts on $net.0/24 (state in $DIR)"
  echo "$DIR"
}

write_inventory() {
  {
    echo "# generated by scripts/testbed.sh for bed $NAME"
    echo "[artifact]"
    echo "binary = \"${DEPLOYCTL_ARTIFACT:-/work/main/target/debug/hotel-api}\""
    echo "name = \"hotel-api\""
    echo "[remote]"
    echo "install_dir = \"/srv/hotel\""
    echo "backup_dir = \"/srv/hotel/backups\""
    echo "keep_backups = 3"
    echo "[service]"
    echo "pid_file = \"/srv/hotel/run/hotel-api.pid\""
    echo "port = 8080"
    echo "args = [\"--listen\", \"0.0.0.0:{port}\", \"--data-dir\", \"{install_dir}/data\", \"--pid-file\", \"{pid_file}\"]"
    echo "[env.$NAME]"
    echo "transport = \"ssh\""
    echo "known_hosts = \"$DIR/known_hosts\""
    echo "identity = \"$DIR/id_ed25519\""
    echo "hosts = ["
    while read -r hn addr _; do echo "  { name = \"$hn\", address = \"$addr\", roles = [\"app\"] },"; done < "$DIR/hosts"
    echo "]"
  } > "$DIR/deploy.toml"
}

down() {
  [ -d "$DIR" ] || { log "no bed $NAME"; return 0; }
  local slot; slot=$(cat "$DIR/slot" 2>/dev/null || true)
  if [ -f "$DIR/hosts" ]; then
    while read -r _ _ ns; do
      ip netns pids "$ns" 2>/dev/null | xargs -r kill -TERM 2>/dev/null || true
    done < "$DIR/hosts"
    for _ in $(seq 1 50); do
      local left=""
      while read -r _ _ ns; do [ -n "$(ip netns pids "$ns" 2>/dev/null)" ] && left=1; done < "$DIR/hosts"
      [ -z "$left" ] && break
      sleep 0.1
    done
    while read -r _ _ ns; do
      ip netns pids "$ns" 2>/dev/null | xargs -r kill -KILL 2>/dev/null || true
      ip netns del "$ns" 2>/dev/null || true
    done < "$DIR/hosts"
  fi
  if [ -n "$slot" ]; then ip link del "dbr$slot" 2>/dev/null || true; fi
  (
    flock 8
    if [ -e "$REG/run-netns-ours" ] && [ -z "$(ls -A /run/netns 2>/dev/null)" ]; then
      umount /run/netns 2>/dev/null || true
      rmdir /run/netns 2>/dev/null || true
      rm -f "$REG/run-netns-ours"
    fi
  ) 8>"$REG/.lock"
  [ -n "$slot" ] && rm -rf "$REG/slot-$slot"
  rm -rf "$DIR"
  log "bed $NAME down"
}

loss() {
  local name=${args[0]:-} k=${args[1]:-} pct=${args[2]:-}
  [ -n "$pct" ] || die "usage: loss NAME K PCT"
  DIR=$ROOT/$name
  local ns; ns=$(sed -n "${k}p" "$DIR/hosts" | cut -d' ' -f3)
  [ -n "$ns" ] || die "no host $k in bed $name"
  ip netns exec "$ns" nft delete table inet dctl_loss 2>/dev/null || true
  if [ "$pct" -gt 0 ]; then
    ip netns exec "$ns" nft add table inet dctl_loss
    ip netns exec "$ns" nft add chain inet dctl_loss input '{ type filter hook input priority 0; policy accept; }'
    ip netns exec "$ns" nft add rule inet dctl_loss input numgen random mod 100 "<" "$pct" drop
  fi
}

case "$cmd" in
  up) up;;
  down) down;;
  loss) loss;;
  status) cat "$DIR/hosts" 2>/dev/null || echo "no bed $NAME";;
  *) sed -n '2,16p' "$0"; exit 2;;
esac
