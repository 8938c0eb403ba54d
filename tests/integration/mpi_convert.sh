#!/usr/bin/env bash
# End to end: the same generated dataset converted with 1 (singleton, no mpirun), 1, 2, 3 and 4
# ranks; every file checked through h5py against nibabel/numpy (dwi_ml's numbers), and all files
# identical in content (h5diff) whatever the rank count.
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
  h5diff -r "$WORK/out_np0.hdf5" "$WORK/out_np$np.hdf5" >/dev/null \
    || fail "np=$np differs from the singleton run: $(h5diff -r "$WORK/out_np0.hdf5" "$WORK/out_np$np.hdf5" | head -20)"
done
for np in 1 2 3 4; do
  cmp -s "$WORK/out_np0.hdf5" "$WORK/out_np$np.hdf5" || fail "np=$np: file not byte-identical to the singleton run"
done
pass "files identical in content (h5diff) and bytes (cmp) for 1..4 ranks"
