# shellcheck shell=sh
# upload_install_sudo: privileged install through `sudo -n`: a root-owned copy next to the
# destination, owner and mode set before the atomic rename; then the login user's
# temporary file goes.
# Arguments: $1 the temporary file; $2 the octal mode; $3 the destination; $4 the run tag
#   (names the copy); $5 the owner (`user[:group]`; empty: root's default).
# Durable: the copy is fsynced before the rename, its directory after it.
# Exit: 0 installed; non-zero: sudo or a command failed (stderr).
# Output: none.
set -eu
# shellcheck disable=SC2016 # the positional parameters expand in the inner shell
sudo -n sh -c 'set -eu
umask 077
t="$(dirname "$3")/.$(basename "$3").install-$4"
cp "$1" "$t"
if [ -n "$5" ]; then chown "$5" "$t"; fi
chmod "$2" "$t"
sync -- "$t"
mv -f "$t" "$3"
sync -- "$(dirname "$3")"' sh "$@"
rm -f "$1"
