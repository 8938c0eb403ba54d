#!/usr/bin/env bash
# Inputs cut short are refused while planning, before the output exists, and by --dry-run: a
# .nii.gz cut in the middle (its gzip trailer is gone), a .nii shorter than its header says, a
# .trk and a .tck cut in the middle. Each on 1 and 3 ranks: --dry-run exits 1 naming the file and
# "truncated"; a real run exits 1 with planning's "nothing was written" and leaves no file. A
# .nii.gz made of two gzip members (valid: gzip and nibabel read it as one stream) is accepted.
source "$(dirname "$0")/lib.sh"
"$DWIPACK" synth "$WORK/data" --subjects 3 --shape 12,14,10 --frames 4 --shape_step 2 --gzip_level 1 \
  --streamlines 300 --mean_points 20 >/dev/null
D=$WORK/data
READY=$D/dwi_ml_ready
# T1 as plain .nii, so that both NIfTI forms are inputs.
for s in "$READY"/sub-*; do gunzip "$s/anat/t1.nii.gz"; done
sed -i 's#anat/t1.nii.gz#anat/t1.nii#' "$D/config.json"
LISTS=("$D/config.json" "$D/training_subjs.txt" "$D/validation_subjs.txt" "$D/testing_subjs.txt")

cut_file() { # FILE FRACTION_PERCENT: keep the first part of FILE
  local size
  size=$(stat -c %s "$1")
  head -c $((size * $2 / 100)) "$1" >"$1.cut" && mv "$1.cut" "$1"
}

check_refused() { # WHAT FILE: dry run and real run, on 1 and 3 ranks
  local np
  for np in 0 3; do
    run_dwipack "$np" create "$READY" "$WORK/out.hdf5" "${LISTS[@]}" --dry-run
    expect_rc 1 "$1 (np=$np): --dry-run"
    expect_out "$2" "$1 (np=$np): --dry-run names the file"
    expect_out "truncated" "$1 (np=$np): --dry-run says it is truncated"
    run_dwipack "$np" create "$READY" "$WORK/out.hdf5" "${LISTS[@]}"
    expect_rc 1 "$1 (np=$np): real run"
    expect_out "$2" "$1 (np=$np): the real run names the file"
    expect_out "input validation failed; nothing was written" "$1 (np=$np): refused while planning"
    [ ! -e "$WORK/out.hdf5" ] && [ ! -e "$WORK/out.hdf5.partial" ] || fail "$1 (np=$np): a file was left"
  done
  pass "$1: refused by --dry-run and, before any output exists, by a real run (1 and 3 ranks)"
}

backup() { cp -a "$READY" "$WORK/pristine"; }
restore() { rm -rf "$READY" && cp -a "$WORK/pristine" "$READY"; }
backup

# A .nii.gz of two gzip members: accepted by the checks (and converted as one stream).
"$PYTHON" - "$READY/sub-02/dwi/dwi.nii.gz" <<'PY'
import gzip, sys
raw = gzip.open(sys.argv[1]).read()
half = len(raw) // 2
with open(sys.argv[1], "wb") as f:
    f.write(gzip.compress(raw[:half], 1) + gzip.compress(raw[half:], 1))
PY
run_dwipack 3 create "$READY" "$WORK/out.hdf5" "${LISTS[@]}"
expect_rc 0 "a .nii.gz of two gzip members"
"$PYTHON" "$TESTS_DIR/python/check_output.py" "$WORK/out.hdf5" "$READY" "${LISTS[@]}" || fail "two members: output"
rm -f "$WORK/out.hdf5"
pass "a .nii.gz of two gzip members is accepted and converted"
restore

cut_file "$READY/sub-02/dwi/dwi.nii.gz" 60
check_refused ".nii.gz cut in the middle" "sub-02/dwi/dwi.nii.gz"
restore
cut_file "$READY/sub-03/anat/t1.nii" 90
check_refused ".nii shorter than its header says" "sub-03/anat/t1.nii"
restore
cut_file "$READY/sub-01/tractography/bundle_a.trk" 70
check_refused ".trk cut in the middle" "sub-01/tractography/bundle_a.trk"
restore
cut_file "$READY/sub-02/tractography/whole.tck" 70
check_refused ".tck cut in the middle" "sub-02/tractography/whole.tck"
