# shellcheck shell=sh
# backup_rotate: remove the partial backups other runs left and the backups named.
# Arguments: $1 the backup directory; $2 this run's partial name (`.partial-RUN`, kept);
#   then the directories of the backups to remove.
# Exit: 0 done; non-zero: a command failed (stderr).
# Output: none.
set -eu
dir=$1; own=$2; shift 2
[ -d "$dir" ] || exit 0
find "$dir" -mindepth 1 -maxdepth 1 -name '.partial-*' ! -name "$own" -exec rm -rf -- {} +
if [ $# -gt 0 ]; then rm -rf -- "$@"; fi
