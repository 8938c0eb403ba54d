#!/usr/bin/env bash
# --on_error skip (issue 5): among five subjects, one fails the input checks (a missing file:
# found while planning) and one fails while its data is read (a .nii.gz whose header and gzip
# trailer are intact but whose deflate stream is corrupt in the middle: found while writing,
# after its group was created). With 1 and 3 ranks the run
# completes with exit code 3; the file holds the three good subjects (checked like any output),
# names only them in its lists, and records the two skipped subjects with their reasons in the
# root attribute dwipack_skipped_subjects. Without --on_error skip the same input fails (exit 1)
# and leaves nothing.
source "$(dirname "$0")/lib.sh"
make_dataset 5
export SOURCE_DATE_EPOCH=1764000000
rm "$D/dwi_ml_ready/sub-02/anat/t1.nii.gz"
dwi=$D/dwi_ml_ready/sub-04/dwi/dwi.nii.gz
printf '\xde\xad\xbe\xef' | dd of="$dwi" bs=1 seek=$(($(stat -c %s "$dwi") / 2)) conv=notrunc status=none

# The lists as the file must show them: the good subjects only.
for list in training validation testing; do
  grep -vxE 'sub-02|sub-04' "$D/${list}_subjs.txt" >"$WORK/${list}_kept.txt" || true
done
KEPT_LISTS=("$D/config.json" "$WORK/training_kept.txt" "$WORK/validation_kept.txt" "$WORK/testing_kept.txt")

for np in 0 3; do
  out=$WORK/out_np$np.hdf5
  run_dwipack "$np" create "$D/dwi_ml_ready" "$out" "${ARGS_LISTS[@]}" --on_error skip
  expect_rc 3 "skip (np=$np)"
  expect_out "sub-02" "skip (np=$np): the planning failure is reported"
  expect_out "t1.nii.gz" "skip (np=$np): the missing file is named"
  expect_out "sub-04" "skip (np=$np): the data failure is reported"
  expect_out "2 subject(s) were skipped" "skip (np=$np): summary of the skipped subjects"
  [ -f "$out" ] && [ ! -e "$out.partial" ] || fail "np=$np: output missing or partial left"
  "$PYTHON" "$TESTS_DIR/python/check_output.py" "$out" "$D/dwi_ml_ready" "${KEPT_LISTS[@]}" \
    || fail "np=$np: the kept subjects do not check"
  "$PYTHON" - "$out" <<'PY' || fail "np=$np: skipped subjects not recorded as expected"
import json, sys, h5py
with h5py.File(sys.argv[1], "r") as f:
    assert sorted(f.keys()) == ["sub-01", "sub-03", "sub-05"], sorted(f.keys())
    skipped = {r["subject"]: r["reason"] for r in map(json.loads, f.attrs["dwipack_skipped_subjects"])}
    assert sorted(skipped) == ["sub-02", "sub-04"], skipped
    assert "t1.nii.gz" in skipped["sub-02"], skipped["sub-02"]
    assert "dwi.nii.gz" in skipped["sub-04"], skipped["sub-04"]
PY
  pass "np=$np: exit code 3, 3 subjects written, 2 skipped and recorded with their reasons"
done
diffs=$(same_content "$WORK/out_np0.hdf5" "$WORK/out_np3.hdf5") || fail "skip: 1 and 3 ranks differ: $diffs"
pass "skip: the same content with 1 and 3 ranks"

for np in 0 3; do
  run_dwipack "$np" create "$D/dwi_ml_ready" "$WORK/abort_np$np.hdf5" "${ARGS_LISTS[@]}"
  expect_rc 1 "default --on_error abort (np=$np)"
  [ ! -e "$WORK/abort_np$np.hdf5" ] && [ ! -e "$WORK/abort_np$np.hdf5.partial" ] || fail "abort (np=$np): a file was left"
done
pass "the default (abort) fails with exit code 1 and leaves nothing"

run_dwipack 0 create "$D/dwi_ml_ready" "$WORK/bad.hdf5" "${ARGS_LISTS[@]}" --on_error maybe
expect_rc 1 "--on_error maybe"
expect_out "--on_error takes abort or skip" "--on_error maybe"
pass "a bad --on_error value is a usage error"
