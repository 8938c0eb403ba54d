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
  cmp -s "$WORK/out_${i}_np0.hdf5" "$WORK/out_${i}_np3.hdf5" || fail "'$opts': 1 and 3 ranks differ"
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
