#!/usr/bin/env bash
# Streamline options end to end: each option on 1 and 3 ranks, checked against dipy through
# check_output.py (points within 1e-4 voxel, lengths exact, euclidean lengths within 1e-4 relative).
source "$(dirname "$0")/lib.sh"
make_dataset 3 16,18,14 3
export SOURCE_DATE_EPOCH=1764000000

i=0
while read -r opts; do
  i=$((i + 1))
  for np in 0 3; do
    out="$WORK/out_${i}_np$np.hdf5"
    # shellcheck disable=SC2086  # $opts is a list of options
    run_dwipack "$np" create "$D/dwi_ml_ready" "$out" "${ARGS_LISTS[@]}" $opts
    expect_rc 0 "create $opts (np=$np)"
    # shellcheck disable=SC2086
    "$PYTHON" "$TESTS_DIR/python/check_output.py" "$out" "$D/dwi_ml_ready" "${ARGS_LISTS[@]}" $opts \
      || fail "output check failed for '$opts' (np=$np)"
  done
  diffs=$(same_content "$WORK/out_${i}_np0.hdf5" "$WORK/out_${i}_np3.hdf5") || fail "'$opts': 1 and 3 ranks differ: $diffs"
  pass "$opts"
done <<'OPTIONS'
--step_size 0.75
--nb_points 12
--compress
--compress 0.2 --remove_invalid
--remove_invalid
--step_size 0
OPTIONS

run_dwipack 0 create "$D/dwi_ml_ready" "$WORK/x.hdf5" "${ARGS_LISTS[@]}" --step_size 1 --compress
expect_rc 1 "exclusive options"; expect_out "mutually exclusive" "exclusive options"
run_dwipack 0 create "$D/dwi_ml_ready" "$WORK/x.hdf5" "${ARGS_LISTS[@]}" --nb_points 1
expect_rc 1 "--nb_points 1"; expect_out "--nb_points must be at least 2" "--nb_points 1"
pass "option errors"

# --remove_invalid really removes: streamlines within 1e-3 voxel of the border in sub-01
"$PYTHON" "$TESTS_DIR/python/make_special_tractograms.py" "$D/dwi_ml_ready/sub-01" border
for opts in "" "--remove_invalid"; do
  out="$WORK/border$opts.hdf5"
  # shellcheck disable=SC2086
  run_dwipack 3 create "$D/dwi_ml_ready" "$out" "${ARGS_LISTS[@]}" $opts
  expect_rc 0 "border streamlines $opts"
  # shellcheck disable=SC2086
  "$PYTHON" "$TESTS_DIR/python/check_output.py" "$out" "$D/dwi_ml_ready" "${ARGS_LISTS[@]}" $opts \
    || fail "border streamlines: output check failed ($opts)"
done
kept=$("$PYTHON" -c "import h5py; print(len(h5py.File('$WORK/border.hdf5')['sub-01/bundles/lengths']))")
removed=$("$PYTHON" -c "import h5py; print(len(h5py.File('$WORK/border--remove_invalid.hdf5')['sub-01/bundles/lengths']))")
[ "$removed" -eq $((kept - 2)) ] || fail "--remove_invalid kept $removed of $kept streamlines, expected $((kept - 2))"
pass "--remove_invalid drops the 2 border streamlines ($kept -> $removed)"

# ...and says so: per subject and group in the progress lines and the JSON log, in total in the
# summary; the expected counts are the streamlines each group has fewer than without the option.
for np in 0 3; do
  rm -f "$WORK/removed.jsonl"
  run_dwipack "$np" create "$D/dwi_ml_ready" "$WORK/removed.hdf5" "${ARGS_LISTS[@]}" --remove_invalid -f \
    --log_json "$WORK/removed.jsonl"
  expect_rc 0 "--remove_invalid report (np=$np)"
  expect_out "last: sub-01 by rank" "--remove_invalid report"
  printf '%s\n' "$OUT" > "$WORK/removed.log"
  "$PYTHON" - "$WORK/border.hdf5" "$WORK/removed.hdf5" "$WORK/removed.jsonl" "$WORK/removed.log" <<'PY' \
    || fail "--remove_invalid report (np=$np)"
import json, re, sys
import h5py
without, with_option = h5py.File(sys.argv[1], "r"), h5py.File(sys.argv[2], "r")
expected = {s: {g: len(without[s][g]["lengths"]) - len(with_option[s][g]["lengths"])
                for g in without[s] if without[s][g].attrs["type"] == "streamlines"} for s in without}
assert expected["sub-01"]["bundles"] == 2, expected
records = [json.loads(line) for line in open(sys.argv[3])]
got = {r["subject"]: r["removed_invalid"] for r in records if r["type"] == "subject"}
assert got == expected, (got, expected)
summary = [r for r in records if r["type"] == "summary"][0]
totals = {g: sum(expected[s][g] for s in expected) for g in expected["sub-01"]}
assert summary["removed_invalid"] == totals, (summary["removed_invalid"], totals)
log = open(sys.argv[4]).read()
for s, groups in expected.items():
    want = "; streamlines removed as invalid: " + ", ".join(f"{g} {n}" for g, n in sorted(groups.items()))
    assert re.search(rf"last: {s} by rank \d+ in [0-9.]+ s{re.escape(want)}$", log, re.M), (s, want, log)
want = f"streamlines removed as invalid: {sum(totals.values())} (" + \
    ", ".join(f"{g} {n}" for g, n in sorted(totals.items())) + ")"
assert want in log, (want, log)
PY
done
rm -f "$WORK/removed.jsonl"
run_dwipack 0 create "$D/dwi_ml_ready" "$WORK/removed.hdf5" "${ARGS_LISTS[@]}" -f --log_json "$WORK/removed.jsonl"
expect_rc 0 "without --remove_invalid"
! grep -q "removed as invalid" <<<"$OUT" || fail "without --remove_invalid, the log reports removed streamlines"
! grep -q "removed_invalid" "$WORK/removed.jsonl" || fail "without --remove_invalid, the JSON log reports removed streamlines"
pass "--remove_invalid: the log and --log_json say how many streamlines each group lost"

# a 1-point streamline cannot be resampled: an error naming the file and the index
"$PYTHON" "$TESTS_DIR/python/make_special_tractograms.py" "$D/dwi_ml_ready/sub-01" one_point
for np in 0 3; do
  run_dwipack "$np" create "$D/dwi_ml_ready" "$WORK/one.hdf5" "${ARGS_LISTS[@]}" --step_size 0.5 --remove_invalid
  expect_rc 1 "1-point streamline with --step_size (np=$np)"
  expect_out "bundle_c.trk': streamline 5 cannot be resampled" "1-point streamline"
  [ ! -e "$WORK/one.hdf5" ] || fail "1-point streamline: output left behind"
done
pass "1-point streamline refused with --step_size"

# a point outside the volume: refused like dipy's load_tractogram
"$PYTHON" "$TESTS_DIR/python/make_special_tractograms.py" "$D/dwi_ml_ready/sub-01" outside
run_dwipack 3 create "$D/dwi_ml_ready" "$WORK/out.hdf5" "${ARGS_LISTS[@]}"
expect_rc 1 "point outside"; expect_out "bundle_c.trk': streamline 5 has points outside the bounding box" "outside"
pass "streamline outside the bounding box refused"

# an empty tractogram: accepted with a warning, written as well-typed empty datasets
rm -f "$D/dwi_ml_ready/sub-01/tractography/bundle_c.trk"
for s in sub-01 sub-02 sub-03; do "$PYTHON" "$TESTS_DIR/python/make_special_tractograms.py" "$D/dwi_ml_ready/$s" empty; done
cat > "$WORK/empty.json" <<'JSON'
{"input": {"type": "volume", "files": "dwi/dwi.nii.gz", "standardization": "none"},
 "empty": {"type": "streamlines", "files": "tractography/empty.trk"}}
JSON
run_dwipack 3 create "$D/dwi_ml_ready" "$WORK/empty.hdf5" "$WORK/empty.json" "${ARGS_LISTS[@]:1}"
expect_rc 0 "empty tractogram"; expect_out "empty.trk' holds no streamline" "empty tractogram warning"
"$PYTHON" "$TESTS_DIR/python/check_output.py" "$WORK/empty.hdf5" "$D/dwi_ml_ready" "$WORK/empty.json" "${ARGS_LISTS[@]:1}" \
  || fail "empty tractogram: output check failed"
"$PYTHON" - "$WORK/empty.hdf5" <<'PY' || fail "empty tractogram: dataset types"
import sys, h5py, numpy as np
g = h5py.File(sys.argv[1])["sub-01/empty"]
want = {"data": ((0, 3), "<f4"), "offsets": ((0,), "<i8"), "lengths": ((0,), "<i8"), "euclidean_lengths": ((0,), "<f4")}
for name, (shape, dtype) in want.items():
    assert g[name].shape == shape and g[name].dtype == np.dtype(dtype), (name, g[name].shape, g[name].dtype)
assert len(g["data_per_streamline"]) == 0
PY
pass "empty tractogram"
