# Shared helpers for the shell tests. Sourced; expects DWIPACK, MPIEXEC and PYTHON in the
# environment (ctest sets them, see tests/CMakeLists.txt).
set -euo pipefail
: "${DWIPACK:?set DWIPACK to the dwipack binary}"
: "${MPIEXEC:=mpiexec}"
: "${PYTHON:=/usr/bin/python3}"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
export OMPI_MCA_mpi_yield_when_idle=1 HDF5_USE_FILE_LOCKING=FALSE

TESTS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
WORK=$(mktemp -d /tmp/dwipack-it-XXXXXX)
trap 'rm -rf "$WORK"' EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }
pass() { echo "ok: $*"; }

# run_dwipack NP ARGS... : dwipack under mpiexec with NP ranks (NP=0: plain singleton run).
# Sets RC and OUT (stdout+stderr). Bounded by a timeout so that a hang fails instead of blocking.
run_dwipack() {
  local np=$1; shift
  local cmd
  if [ "$np" = 0 ]; then cmd=("$DWIPACK" "$@"); else cmd=("$MPIEXEC" -n "$np" "$DWIPACK" "$@"); fi
  set +e
  OUT=$(timeout 120 "${cmd[@]}" 2>&1)
  RC=$?
  set -e
  [ "$RC" != 124 ] || fail "timed out (hang?): ${cmd[*]}"$'\n'"$OUT"
  # The layout rank 0 builds while planning is renamed into place or removed, whatever the outcome.
  local left
  left=$(find "$WORK" -name '*.partial.layout' 2>/dev/null)
  [ -z "$left" ] || fail "a layout file was left behind (exit code $RC): $left"$'\n'"$OUT"
}

expect_rc() { [ "$RC" = "$1" ] || fail "$2: exit code $RC, expected $1"$'\n'"$OUT"; }
expect_nonzero() { [ "$RC" != 0 ] || fail "$1: exit code 0, expected failure"$'\n'"$OUT"; }
expect_out() { grep -qF -- "$1" <<<"$OUT" || fail "$2: output lacks '$1'"$'\n'"$OUT"; }

# A small generated dataset in $WORK/data.
make_dataset() {
  "$DWIPACK" synth "$WORK/data" --subjects "${1:-5}" --shape "${2:-14,16,12}" --frames "${3:-5}" \
    --shape_step 2 --gzip_level 1 >/dev/null
  D=$WORK/data
  ARGS_LISTS=("$D/config.json" "$D/training_subjs.txt" "$D/validation_subjs.txt" "$D/testing_subjs.txt")
}

# same_content A B: the two files hold the same data and attributes, through two independent
# readers (h5diff and h5py); only the root attributes describing the run (dwipack_ranks,
# dwipack_command_line, dwipack_rank_hosts) may differ.
same_content() {
  local report
  if ! report=$(h5diff -r -c "$1" "$2" 2>&1); then
    # The objects with a nonzero difference count, and objects h5diff could not compare (-c: each
    # named; dwipack_rank_hosts has one entry per rank).
    local differing
    differing=$(awk '/^(dataset|attribute|group):/ {object = $0}
                     /^[0-9]+ differences? found/ {if ($1 > 0) print object}
                     /^(Not comparable|Some objects)/ {print}' <<<"$report" \
      | grep -vE '^attribute: <dwipack_(ranks|command_line|rank_hosts) of </>>' \
      | grep -vE '^Not comparable: <dwipack_rank_hosts> has rank 1' \
      | grep -vE '^Not comparable: .* is an empty dataset' || true) # h5py compares those below
    if [ -n "$differing" ]; then
      echo "$differing" | head -20
      return 1
    fi
  fi
  "$PYTHON" "$TESTS_DIR/python/same_content.py" "$1" "$2"
}
