#!/usr/bin/env bash
# Before/after timing of two dwipack binaries on one dataset, in one run: the conversions
# alternate (A, B, A, B, ...) so that a noisy machine affects both alike, and the table gives
# each binary's median wall time and the ratio B/A, on 1 rank and on N ranks.
#
#   bench/compare.sh OLD_DWIPACK NEW_DWIPACK [--subjects N] [--streamlines N] [--shape X,Y,Z]
#                    [--frames F] [--repeat R] [--ranks N] [--keep]
#
# Defaults: 2 subjects of 96x114x96 x 64 frames and 500k streamlines of ~100 points each (half
# of bench/run.sh's default scale), 3 repeats, 3 ranks. Prints a table and exits 0; the figures
# are for a commit message ("before/after, one run").
set -euo pipefail
[ $# -ge 2 ] || { sed -n '2,/^set -euo/{/^#/s/^# \{0,1\}//p}' "$0"; exit 2; }
A=$(realpath "$1") B=$(realpath "$2")
shift 2
SUBJECTS=2 STREAMLINES=500000 SHAPE=96,114,96 FRAMES=64 REPEAT=3 RANKS=3 KEEP=0
while [ $# -gt 0 ]; do
  case $1 in
    --subjects) SUBJECTS=$2; shift 2 ;;
    --streamlines) STREAMLINES=$2; shift 2 ;;
    --shape) SHAPE=$2; shift 2 ;;
    --frames) FRAMES=$2; shift 2 ;;
    --repeat) REPEAT=$2; shift 2 ;;
    --ranks) RANKS=$2; shift 2 ;;
    --keep) KEEP=1; shift ;;
    *) echo "bench/compare.sh: unknown argument '$1'" >&2; exit 2 ;;
  esac
done
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
export OMPI_MCA_mpi_yield_when_idle=1 HDF5_USE_FILE_LOCKING=FALSE DWIPACK_PROGRESS=quiet
WORK=$(mktemp -d /tmp/dwipack-compare-XXXXXX)
trap '[ "$KEEP" = 1 ] && echo "kept $WORK" >&2 || rm -rf "$WORK"' EXIT

"$B" synth "$WORK/data" --subjects "$SUBJECTS" --shape "$SHAPE" --frames "$FRAMES" --shape_step 6 \
  --streamlines "$STREAMLINES" --mean_points 100 >/dev/null
D=$WORK/data
LISTS=("$D/config.json" "$D/training_subjs.txt" "$D/validation_subjs.txt" "$D/testing_subjs.txt")

# run BINARY NP: one conversion's wall time in seconds (the output is removed at once).
run() {
  local bin=$1 np=$2 out=$WORK/out.hdf5 t0 t1
  rm -f "$out" "$out.partial" "$out.partial.journal"
  t0=$(date +%s.%N)
  if [ "$np" = 1 ]; then
    "$bin" create "$D/dwi_ml_ready" "$out" "${LISTS[@]}" -f >/dev/null 2>&1
  else
    mpirun -n "$np" "$bin" create "$D/dwi_ml_ready" "$out" "${LISTS[@]}" -f >/dev/null 2>&1
  fi
  t1=$(date +%s.%N)
  rm -f "$out"
  awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f\n", b - a }'
}
median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

run "$A" 1 >/dev/null # warm the page cache with the inputs
echo "| ranks | A median (s) | B median (s) | B / A |"
echo "|---|---|---|---|"
for np in 1 "$RANKS"; do
  ta=() tb=()
  for ((r = 0; r < REPEAT; r++)); do
    ta+=("$(run "$A" "$np")")
    tb+=("$(run "$B" "$np")")
  done
  ma=$(printf '%s\n' "${ta[@]}" | median)
  mb=$(printf '%s\n' "${tb[@]}" | median)
  awk -v n="$np" -v a="$ma" -v b="$mb" 'BEGIN { printf "| %s | %.2f | %.2f | %.3f |\n", n, a, b, b / a }'
done
echo "A = $A"
echo "B = $B"
echo "dataset: $SUBJECTS subjects, $SHAPE x $FRAMES frames, $STREAMLINES streamlines each; $REPEAT repeats, alternating"
