# shellcheck shell=sh
# upload_resume: start an upload attempt. The longest prefix any earlier attempt left (never
# more than the data) is copied into this attempt's own file, only the bytes there when it
# was measured; earlier attempts' files are removed. Safe to run again.
# Arguments: $1 this attempt's file; $2 the base name (attempt files are `$2.*`); $3 the
#   size of the data in bytes.
# Exit: 0 done; non-zero: a command failed (stderr).
# Output: have=N, the bytes this attempt's file holds (0 <= N <= $3).
set -eu
umask 077
cur=$1; base=$2; len=$3; have=0
if [ -e "$cur" ]; then have=$(stat -c %s "$cur"); fi
if [ "$have" -gt "$len" ]; then rm -f "$cur"; have=0; fi
for f in "$base".*; do
  if [ ! -f "$f" ] || [ "$f" = "$cur" ]; then continue; fi
  n=$(stat -c %s "$f" 2>/dev/null) || continue
  if [ "$n" -gt "$have" ] && [ "$n" -le "$len" ]; then
    head -c "$n" "$f" > "$cur"
    have=$n
  fi
  rm -f "$f"
done
echo "have=$have"
