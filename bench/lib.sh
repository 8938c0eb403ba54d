# shellcheck shell=bash
# Helpers shared by the benchmark scripts (sourced, not run). The caller has `set -euo pipefail`
# and its working directory at the repository root.

# Sets DWIPACK (default build/bin/dwipack, as an absolute path) and builds it when it is missing.
bench_dwipack() {
  if [ -z "${DWIPACK:-}" ]; then
    DWIPACK=$PWD/build/bin/dwipack
    [ -x "$DWIPACK" ] || scripts/build.sh >&2
  elif [[ $DWIPACK != */* ]]; then
    DWIPACK=$(command -v "$DWIPACK" || echo "$DWIPACK") # a command name, looked up in PATH
  fi
  [ -x "$DWIPACK" ] || { echo "bench: DWIPACK='$DWIPACK' is not an executable" >&2; exit 1; }
  DWIPACK=$(realpath "$DWIPACK")
}

# Installs the Debian packages given when they are missing (apt-get, through sudo when not root):
# the benchmark needs a few that the build does not (GNU time, for instance).
bench_need_packages() {
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  local sudo=""
  [ "$(id -u)" = 0 ] || sudo=sudo
  echo "bench: installing ${missing[*]}" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y --no-install-recommends "${missing[@]}" >/dev/null
}

# bench_workdir NAME: a fresh work folder in WORK, under $WORKDIR when set (else /tmp), named
# dwipack-NAME-XXXXXX; removed when the script exits, unless KEEP=1 (then its path is printed).
bench_workdir() {
  if [ -n "${WORKDIR:-}" ]; then
    mkdir -p "$WORKDIR"
    WORK=$(mktemp -d "$WORKDIR/dwipack-$1-XXXXXX")
  else
    WORK=$(mktemp -d "/tmp/dwipack-$1-XXXXXX")
  fi
  trap bench_cleanup EXIT
}
bench_cleanup() { if [ "${KEEP:-0}" = 1 ]; then echo "bench: kept $WORK" >&2; else rm -rf "$WORK"; fi; }

# Reads files once so that the timed run that follows finds them in the page cache.
bench_warm() {
  cat "$@" >/dev/null
}

# CPU ticks (USER_HZ) the whole machine spent busy so far: user, nice, system, irq, softirq, steal.
bench_cpu_ticks() {
  awk '/^cpu /{print $2 + $3 + $4 + $7 + $8 + $9; exit}' /proc/stat
}

# bench_timed DIR NAME COMMAND...: runs COMMAND under GNU time. Writes DIR/NAME.time
# ("wall user sys maxrss_kb"), DIR/NAME.ticks (machine busy ticks before and after, to tell how
# much else ran meanwhile), DIR/NAME.out and DIR/NAME.err (its output). A failure prints the
# error output and stops the script.
bench_timed() {
  local dir=$1 name=$2
  shift 2
  local before after
  before=$(bench_cpu_ticks)
  if ! /usr/bin/time -f '%e %U %S %M' -o "$dir/$name.time" "$@" >"$dir/$name.out" 2>"$dir/$name.err"; then
    echo "bench: '$name' failed: $*" >&2
    tail -n 30 "$dir/$name.err" >&2
    exit 1
  fi
  after=$(bench_cpu_ticks)
  echo "$before $after $(getconf CLK_TCK)" >"$dir/$name.ticks"
}
