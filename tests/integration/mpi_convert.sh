#!/usr/bin/env bash
# End to end: the same generated dataset converted with 1 (singleton, no mpirun), 1, 2, 3 and 4
# ranks; every file checked through h5py against nibabel/numpy (dwi_ml's numbers), and all files
# identical in content (h5diff, h5py) whatever the rank count (the provenance attributes
# dwipack_ranks and dwipack_command_line name the run and may differ).
source "$(dirname "$0")/lib.sh"
make_dataset 5
export SOURCE_DATE_EPOCH=1764000000   # same data_and_time in every run, so h5diff compares all

for np in 0 1 2 3 4; do
  out="$WORK/out_np$np.hdf5"
  run_dwipack "$np" create "$D/dwi_ml_ready" "$out" "${ARGS_LISTS[@]}"
  expect_rc 0 "conversion with np=$np"
  [ -f "$out" ] || fail "np=$np: no output file"
  [ ! -e "$out.partial" ] || fail "np=$np: partial file left behind"
  "$PYTHON" "$TESTS_DIR/python/check_output.py" "$out" "$D/dwi_ml_ready" "${ARGS_LISTS[@]}" \
    || fail "np=$np: output check failed"
  pass "np=$np converted and checked"
done

for np in 1 2 3 4; do
  diffs=$(same_content "$WORK/out_np0.hdf5" "$WORK/out_np$np.hdf5") || fail "np=$np differs from the singleton run: $diffs"
  # The provenance names the run: its rank count differs, nothing else.
  ranks=$("$PYTHON" -c "import h5py,sys; print(h5py.File(sys.argv[1])['/'].attrs['dwipack_ranks'])" "$WORK/out_np$np.hdf5")
  [ "$ranks" = "$np" ] || fail "np=$np: dwipack_ranks is $ranks"
done
pass "files identical in content (h5diff and h5py) for 1..4 ranks, except the rank count"

# The default writes dataset rows with O_DIRECT (h5/direct_writer.hpp); --buffered_io writes
# them through MPI-IO: the same content either way.
run_dwipack 3 create "$D/dwi_ml_ready" "$WORK/buffered.hdf5" "${ARGS_LISTS[@]}" --buffered_io
expect_rc 0 "--buffered_io"
diffs=$(same_content "$WORK/out_np0.hdf5" "$WORK/buffered.hdf5") || fail "--buffered_io differs: $diffs"
pass "--buffered_io (MPI-IO writes) gives the same content as the default O_DIRECT writes"
