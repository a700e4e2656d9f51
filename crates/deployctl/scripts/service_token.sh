# shellcheck shell=sh
# service_token: the master's admin token (never logged).
# Arguments: $1 the token file (at most its first 4 KiB are read).
# Exit: 0 answered; non-zero: the file cannot be read (stderr).
# Output: token=TEXT (trailing newlines dropped; a token of more than one line is refused
#   by the parser).
set -eu
t=$(head -c 4096 -- "$1")
printf 'token=%s\n' "$t"
