# shellcheck shell=sh
# accesslog_read: the access-log bytes written since the last read (canary analysis).
# Arguments: $1 the log file; $2 the inode of the last read ("" on the first); $3 the offset,
#   or "end" to position at the end without reading; $4 at most this many bytes.
# Exit: 0 answered (also when the file does not exist); non-zero: stat or tail failed.
# Output: one line "deployctl-accesslog INODE START END RESET SIZE NOW_MS" (RESET: rotated =
#   another file under the name, truncated = smaller than the offset, both read from 0; else
#   "-"; SIZE: the file's size, more to read when END < SIZE; NOW_MS: this host's clock in
#   Unix milliseconds), then the raw bytes START..END of the file (parsed by
#   accesslog::fetch::advance).
set -eu
f=$1; ino=$2; off=$3; max=$4
now=$(date +%s%3N)
if [ ! -e "$f" ]; then echo "deployctl-accesslog - 0 0 - 0 $now"; exit 0; fi
cur=$(stat -c %i "$f"); size=$(stat -c %s "$f")
if [ "$off" = end ]; then echo "deployctl-accesslog $cur $size $size - $size $now"; exit 0; fi
start=$off; reset=-
if [ -n "$ino" ] && [ "$cur" != "$ino" ]; then start=0; reset=rotated; fi
if [ -z "$ino" ]; then start=0; fi
if [ "$size" -lt "$start" ]; then start=0; reset=truncated; fi
end=$size
if [ $((end - start)) -gt "$max" ]; then end=$((start + max)); fi
echo "deployctl-accesslog $cur $start $end $reset $size $now"
tail -c +$((start + 1)) "$f" | head -c $((end - start))
