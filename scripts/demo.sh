#!/usr/bin/env bash
# Install, build, generate an example dwi_ml_ready dataset, convert it with 3 MPI ranks, and
# describe the result. Everything lands in demo_out/ (or $1).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT_DIR=$(realpath -m "${1:-demo_out}")
scripts/install_deps.sh
scripts/build.sh
DWIPACK=$PWD/build/bin/dwipack

rm -rf "$OUT_DIR"
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
