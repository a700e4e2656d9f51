# shellcheck shell=sh
# backup_commit: write the manifest into a partial backup directory, then rename the
# directory into place (a backup is complete or absent).
# Arguments: $1 the partial directory; $2 the final directory; $3 the manifest (JSON text).
# Durable: every file and directory of the backup is fsynced before the rename (a file the
# login user cannot read was fsynced by backup_copy through `sudo -n`), the parent directory
# after it.
# Exit: 0 done; 3 the final directory already exists; other non-zero: a command failed.
# Output: none.
set -eu
part=$1; final=$2
printf '%s\n' "$3" > "$part/manifest.json"
if [ -e "$final" ]; then echo "backup $final already exists" >&2; exit 3; fi
# A privileged file's copy may be unreadable to the login user: backup_copy fsynced it.
find "$part" \( -type d -o -readable \) -exec sync -- {} +
mv -- "$part" "$final"
sync -- "$(dirname -- "$final")"
