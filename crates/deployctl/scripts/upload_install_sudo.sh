# shellcheck shell=sh
# upload_install_sudo: privileged install through `sudo -n`: a root-owned copy next to the
# destination, owner and mode set before the atomic rename; then the login user's
# temporary file goes. The temporary file lives in the login user's own upload directory,
# outside the destination's (which the login user may not be able to write).
# Arguments: $1 the temporary file; $2 the octal mode; $3 the destination; $4 the run tag
#   (names the copy); $5 the owner (`user[:group]`; empty: root's default).
# Only single commands run through `sudo -n` (cp, chown, chmod, sync, mv, rm), never a shell:
#   a deploy user's sudoers entry can list them (README, "A non-root deploy user").
# Durable: the copy is fsynced before the rename, its directory after it.
# Exit: 0 installed; non-zero: sudo or a command failed (stderr).
# Output: none.
set -eu
umask 077
d=$(dirname -- "$3")
t="$d/.$(basename -- "$3").install-$4"
if ! { sudo -n cp -- "$1" "$t" && { [ -z "$5" ] || sudo -n chown -- "$5" "$t"; } \
       && sudo -n chmod -- "$2" "$t" && sudo -n sync -- "$t" && sudo -n mv -f -- "$t" "$3"; }; then
  sudo -n rm -f -- "$t" || true
  echo "privileged install of $3 failed" >&2
  exit 1
fi
sudo -n sync -- "$d"
rm -f -- "$1"
