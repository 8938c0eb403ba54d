#!/usr/bin/env bash
# With 2 or more ranks, rank 0 builds the file's layout while the workers check the inputs, in
# list order, and the layout phase takes it (DEBUG says which way the layout was made). The file
# equals a 1-rank conversion (where the layout is made after the plan), also when a subject in the
# middle of the list fails its checks under --on_error skip (the layout goes on without it); a
# failure without skip leaves no file at all (lib.sh checks, after every run, that no
# *.partial.layout is left).
source "$(dirname "$0")/lib.sh"
export SOURCE_DATE_EPOCH=1764000000
make_dataset 8 10,11,9 3
READY=$D/dwi_ml_ready

run_dwipack 0 create "$READY" "$WORK/one.hdf5" "${ARGS_LISTS[@]}" -v DEBUG
expect_rc 0 "1 rank"
grep -qF "built while the workers planned" <<<"$OUT" && fail "1 rank: an early layout was used"$'\n'"$OUT"
run_dwipack 3 create "$READY" "$WORK/three.hdf5" "${ARGS_LISTS[@]}" -v DEBUG
expect_rc 0 "3 ranks"
expect_out "layout: 8 subject(s) built while the workers planned" "3 ranks: the early layout"
diffs=$(same_content "$WORK/one.hdf5" "$WORK/three.hdf5") || fail "1 and 3 ranks differ: $diffs"
pass "3 ranks: the layout built while planning; the file equals the 1-rank one"

rm "$READY/sub-03/dwi/dwi.nii.gz"
run_dwipack 0 create "$READY" "$WORK/one_skip.hdf5" "${ARGS_LISTS[@]}" --on_error skip
expect_rc 3 "1 rank, --on_error skip"
run_dwipack 3 create "$READY" "$WORK/three_skip.hdf5" "${ARGS_LISTS[@]}" --on_error skip -v DEBUG
expect_rc 3 "3 ranks, --on_error skip"
expect_out "layout: 7 subject(s) built while the workers planned" "3 ranks, skip: the early layout"
diffs=$(same_content "$WORK/one_skip.hdf5" "$WORK/three_skip.hdf5") || fail "skip: 1 and 3 ranks differ: $diffs"
"$PYTHON" -c "
import sys, h5py
with h5py.File(sys.argv[1], 'r') as f:
    assert 'sub-03' not in f and len(f.keys()) == 7, sorted(f.keys())" "$WORK/three_skip.hdf5" ||
  fail "skip: sub-03 should be the only subject missing"
pass "--on_error skip, a subject failing mid-list: the layout built without it; equals the 1-rank file"

run_dwipack 3 create "$READY" "$WORK/fails.hdf5" "${ARGS_LISTS[@]}"
expect_rc 1 "3 ranks, a failing subject"
expect_out "nothing was written" "3 ranks, a failing subject"
[ ! -e "$WORK/fails.hdf5" ] && [ ! -e "$WORK/fails.hdf5.partial" ] || fail "a failing subject: a file was left"
pass "a subject failing its checks: nothing left, the early layout removed"
