# shellcheck shell=sh
# lib_owned_pid: a function, prepended (by `script!(NAME, lib = "lib_owned_pid")`) to the
# scripts that signal a process a pid file names.
# owned_pid PIDFILE PROGRAM: prints the pid PIDFILE names when that live process runs PROGRAM
#   (on PATH or a path; their file names are compared, so a wrapper named like the program or
#   a binary replaced by a package upgrade still counts); fails otherwise. A pid file left by
#   a dead process can name someone else's process, which must never be signalled.
owned_pid() {
  opid=$(cat "$1" 2>/dev/null) || return 1
  case "$opid" in ''|*[!0-9]*) return 1;; esac
  oexe=$(readlink "/proc/$opid/exe" 2>/dev/null) || return 1
  obin=$(command -v "$2" 2>/dev/null) || return 1
  oexe=${oexe% (deleted)}
  obin=$(readlink -f "$obin")
  [ "${oexe##*/}" = "${obin##*/}" ] || return 1
  echo "$opid"
}
