#!/usr/bin/env bash
# Installed as on a cluster: `cmake --install` of this build into a temporary prefix, then, as a
# user would, Lmod's `module use PREFIX/share/modulefiles` + `module load dwipack`, and
#   1. what the install holds (the binary and dwi_ml's command names, job scripts, docs) and what
#      the module sets (PATH, DWIPACK, help, whatis);
#   2. a conversion through `dwiml_create_hdf5_dataset` (found on PATH, under mpiexec);
#   3. the installed job script under a SLURM started here (tests/slurm/cluster.sh), submitted
#      from the module's environment: it runs $DWIPACK; then with DWIPACK unset, `dwipack` from
#      PATH; and, run by hand with neither, it says what to do.
# Every output is checked with h5py (tests/python/check_output.py). About 30 s.
source "$(dirname "$0")/lib.sh"
source "$TESTS_DIR/slurm/cluster.sh"
trap 'rc=$?; cluster_stop $rc; rm -rf "$WORK"; exit $rc' EXIT

BUILD=$(cd "$(dirname "$DWIPACK")/.." && pwd) # DWIPACK is BUILD/bin/dwipack
[ -f "$BUILD/cmake_install.cmake" ] || fail "$BUILD is not a CMake build folder"
LMOD_INIT=/usr/share/lmod/lmod/init/bash # Debian's lmod package
[ -r "$LMOD_INIT" ] || fail "no $LMOD_INIT: run scripts/install_deps.sh (package lmod)"
VERSION=$("$DWIPACK" --version | awk '{print $2}')

# --- 1. the install and the module ---------------------------------------------------------------
PREFIX=$WORK/prefix
cmake --install "$BUILD" --prefix "$PREFIX" >"$WORK/install.log" 2>&1 ||
  fail "cmake --install failed"$'\n'"$(cat "$WORK/install.log")"
for f in bin/dwipack share/dwipack/slurm/dwipack.sbatch share/dwipack/slurm/dwipack-multinode.sbatch; do
  [ -x "$PREFIX/$f" ] || fail "the install lacks the executable $f"
done
for name in dwiml_create_hdf5_dataset create_hdf5_dataset create_hdf5_dataset.py; do
  [ "$(readlink "$PREFIX/bin/$name")" = dwipack ] || fail "bin/$name is not a symlink to dwipack"
done
for f in share/doc/dwipack/README.md share/doc/dwipack/docs/design.md "share/modulefiles/dwipack/$VERSION.lua"; do
  [ -s "$PREFIX/$f" ] || fail "the install lacks $f"
done
! ldd "$PREFIX/bin/dwipack" | grep "not found" || fail "the installed binary misses libraries"
pass "installed: dwipack, its 3 command names, 2 job scripts, the docs, dwipack/$VERSION.lua"

# A user's shell: nothing of this build on PATH, no DWIPACK; then Lmod (its scripts need set +u).
unset DWIPACK
export HOME=$WORK/home # Lmod keeps its user cache there
mkdir -p "$HOME"
! command -v dwiml_create_hdf5_dataset >/dev/null || fail "dwiml_create_hdf5_dataset on PATH before module load"
set +u
source "$LMOD_INIT"
module use "$PREFIX/share/modulefiles" || fail "module use"
module load dwipack || fail "module load dwipack"
set -u
[ "$(command -v dwiml_create_hdf5_dataset)" = "$PREFIX/bin/dwiml_create_hdf5_dataset" ] ||
  fail "after module load, dwiml_create_hdf5_dataset is '$(command -v dwiml_create_hdf5_dataset)'"
[ "${DWIPACK:-}" = "$PREFIX/bin/dwipack" ] || fail "module load set DWIPACK='${DWIPACK:-}'"
[ "${DWIPACK_SLURM:-}" = "$PREFIX/share/dwipack/slurm" ] || fail "module load set DWIPACK_SLURM='${DWIPACK_SLURM:-}'"
[ "$(dwipack --version)" = "$("$DWIPACK" --version)" ] || fail "dwipack --version differs"
OUT=$(module help dwipack 2>&1)
for line in "dwiml_create_hdf5_dataset" "\$DWIPACK_SLURM/dwipack.sbatch" "$PREFIX/share/doc/dwipack/README.md" \
  "Built with: "; do
  expect_out "$line" "module help dwipack"
done
OUT=$(module whatis dwipack 2>&1)
expect_out "Version: $VERSION" "module whatis dwipack"
pass "module load dwipack: PATH, DWIPACK, DWIPACK_SLURM, help and whatis"

# --- 2. dwi_ml's command name, from the module ---------------------------------------------------
dwipack synth "$WORK/data" --subjects 3 --shape 14,16,12 --frames 5 --shape_step 2 --gzip_level 1 >/dev/null
D=$WORK/data
LISTS=("$D/config.json" "$D/training_subjs.txt" "$D/validation_subjs.txt" "$D/testing_subjs.txt")
set +e
OUT=$(timeout 120 "$MPIEXEC" -n 3 dwiml_create_hdf5_dataset "$D/dwi_ml_ready" "$WORK/cli.hdf5" "${LISTS[@]}" 2>&1)
RC=$?
set -e
expect_rc 0 "mpiexec -n 3 dwiml_create_hdf5_dataset"
"$PYTHON" "$TESTS_DIR/python/check_output.py" "$WORK/cli.hdf5" "$D/dwi_ml_ready" "${LISTS[@]}" ||
  fail "dwiml_create_hdf5_dataset (module) output check"
pass "mpiexec -n 3 dwiml_create_hdf5_dataset (from the module): output checked with h5py"

# --- 3. the installed job script ------------------------------------------------------------------
# Run by hand with neither DWIPACK nor dwipack on PATH: it stops at once and says what to do.
set +e
OUT=$(env -u DWIPACK PATH=/usr/bin:/bin bash "$DWIPACK_SLURM/dwipack.sbatch" "$D/dwi_ml_ready" "$WORK/none.hdf5" \
  "${LISTS[@]}" 2>&1)
RC=$?
set -e
expect_rc 1 "the job script without dwipack"
expect_out "dwipack not found" "the job script without dwipack"
expect_out "module load dwipack" "the job script without dwipack"

chmod 755 "$WORK" # munged (user munge) must reach its socket in $WORK/cluster
mkdir -p "$WORK/cluster" "$WORK/jobs"
cluster_start "$WORK/cluster"
# sbatch passes the submitting shell's environment (the module's) to the job. --time: the
# script's 2 h is over the test partition's limit.
# job NAME NTASKS BINARY: the installed job script; checks the job, its output file, and that the
# provenance (dwipack_command_line) names BINARY as the one that ran.
job() {
  cluster_run_job "$WORK/jobs/$1.out" 120 --ntasks="$2" --time=30 --chdir="$WORK" \
    "$DWIPACK_SLURM/dwipack.sbatch" "$D/dwi_ml_ready" "$WORK/$1.hdf5" "${LISTS[@]}"
  [[ "$JOB_STATE" = COMPLETED && "$JOB_EXIT" = 0:0 ]] ||
    fail "job $1: state $JOB_STATE, exit code $JOB_EXIT"$'\n'"$(cat "$WORK/jobs/$1.out")"
  grep -q "dwipack exited with code 0" "$WORK/jobs/$1.out" || fail "job $1: log lacks the exit line"
  "$PYTHON" "$TESTS_DIR/python/check_output.py" "$WORK/$1.hdf5" "$D/dwi_ml_ready" "${LISTS[@]}" ||
    fail "job $1: output check"
  "$PYTHON" - "$WORK/$1.hdf5" "$3 create " <<'PY' || fail "job $1: not run by $3"
import sys, h5py
line = h5py.File(sys.argv[1], "r").attrs["dwipack_command_line"]
assert line.startswith(sys.argv[2]), f"dwipack_command_line is {line!r}"
PY
}
job module 3 "$PREFIX/bin/dwipack"
pass "job $JOB: the installed dwipack.sbatch ran \$DWIPACK ($PREFIX/bin/dwipack) under SLURM; output checked"

# A site whose module sets only PATH: the script runs `dwipack` from PATH.
saved=$DWIPACK
unset DWIPACK
job path 2 "$PREFIX/bin/dwipack" # srun looks dwipack up on PATH: the module's
export DWIPACK=$saved
pass "job $JOB: with DWIPACK unset, the job script ran dwipack from PATH; output checked"
