#!/usr/bin/env bash
# Install, build, generate an example dwi_ml_ready dataset, convert it with 3 MPI ranks, and
# describe the result. Everything lands in demo_out/ (or $1).
#   scripts/demo.sh [DIR]
# DIR must be new, empty, or a folder this script made before (it holds the marker file
# .dwipack-demo): only then is its content replaced. Any other folder is left alone.
# With DWIPACK set to a dwipack binary (an installed module sets it), that binary is used and
# nothing is installed or built.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT_DIR=$(realpath -m "${1:-demo_out}")
MARKER=.dwipack-demo

# Before anything else (installing takes minutes): may OUT_DIR be used?
if [ -e "$OUT_DIR" ]; then
  if [ ! -d "$OUT_DIR" ]; then
    echo "demo: '$OUT_DIR' exists and is not a folder; give a new or empty folder" >&2
    exit 1
  fi
  if [ -n "$(ls -A "$OUT_DIR")" ] && [ ! -f "$OUT_DIR/$MARKER" ]; then
    echo "demo: '$OUT_DIR' is not empty and was not made by this script (no $MARKER in it);" \
      "it is left as it is. Give a new or empty folder." >&2
    exit 1
  fi
fi

if [ -z "${DWIPACK:-}" ]; then
  scripts/install_deps.sh
  scripts/build.sh
  DWIPACK=$PWD/build/bin/dwipack
fi

# Only a folder that is empty or marked as the demo's own is emptied.
if [ -f "$OUT_DIR/$MARKER" ]; then
  find "$OUT_DIR" -mindepth 1 -maxdepth 1 ! -name "$MARKER" -exec rm -rf {} +
fi
mkdir -p "$OUT_DIR"
echo "made by dwipack's scripts/demo.sh; the next demo run may replace this folder's content" > "$OUT_DIR/$MARKER"

echo "== generating an example dataset"
"$DWIPACK" synth "$OUT_DIR" --subjects 6 --shape 48,56,40 --frames 32 --shape_step 6 --streamlines 2000 --mean_points 60

echo "== converting it with 3 MPI ranks (1 coordinator + 2 workers)"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
export OMPI_MCA_mpi_yield_when_idle=1
mpirun -n 3 "$DWIPACK" create "$OUT_DIR/dwi_ml_ready" "$OUT_DIR/dataset.hdf5" "$OUT_DIR/config.json" \
  "$OUT_DIR/training_subjs.txt" "$OUT_DIR/validation_subjs.txt" "$OUT_DIR/testing_subjs.txt" -v INFO

echo "== what the file holds"
/usr/bin/python3 scripts/describe_hdf5.py "$OUT_DIR/dataset.hdf5"
echo "== the file is $OUT_DIR/dataset.hdf5"
