# shellcheck shell=sh
# backup_list: every directory of the backup directory but `.partial-*`, with its manifest.
# Arguments: $1 the backup directory (absent: nothing listed).
# Exit: 0 done; non-zero: a command failed (stderr).
# Output: per directory, `backup=NAME` then, when it holds a manifest.json,
#   `manifest=TEXT` (the file without newlines and NULs) and `written=SECONDS` (its mtime by
#   the host's clock, with milliseconds: the order of backups). A name holding a newline gives
#   `odd=NAME` (newlines shown as `?`) instead.
set -eu
[ -d "$1" ] || exit 0
# shellcheck disable=SC2016 # $d expands in the inner shell
find "$1" -mindepth 1 -maxdepth 1 -type d ! -name '.partial-*' -exec sh -c '
nl="
"
for d do
  n=${d##*/}
  case "$n" in
  *"$nl"*) printf "odd=%s\n" "$(printf "%s" "$n" | tr "\n" "?")"; continue;;
  esac
  printf "backup=%s\n" "$n"
  if [ -f "$d/manifest.json" ]; then
    printf "manifest=%s\n" "$(tr -d "\n\0" < "$d/manifest.json")"
    printf "written=%s\n" "$(stat -c %.3Y "$d/manifest.json")"
  fi
done' sh {} +
