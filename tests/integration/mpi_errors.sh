#!/usr/bin/env bash
# Bad inputs under 1 and 3 ranks: exit non-zero within the timeout (no hang), one message naming
# the subject, the file and the reason, and nothing left at the output path.
source "$(dirname "$0")/lib.sh"
make_dataset 4 8,9,7 3
R=$D/dwi_ml_ready

check_failure() { # NAME EXPECTED-TEXT... ; runs with np 0 and 3
  local name=$1; shift
  for np in 0 3; do
    local out="$WORK/out_$name.hdf5"
    SECONDS=0
    run_dwipack "$np" create "$R" "$out" "${CFG:-$D/config.json}" "${ARGS_LISTS[@]:1}"
    expect_rc 1 "$name (np=$np)"
    for text in "$@"; do expect_out "$text" "$name (np=$np)"; done
    [ ! -e "$out" ] && [ ! -e "$out.partial" ] || fail "$name (np=$np): output file left behind"
    [ "$SECONDS" -lt 60 ] || fail "$name (np=$np): took ${SECONDS}s"
  done
  pass "$name"
}

# 1. missing file
mv "$R/sub-02/anat/t1.nii.gz" "$WORK/t1.bak"
check_failure missing_file "subject 'sub-02'" "group 'input'" "'anat/t1.nii.gz'" "missing"
mv "$WORK/t1.bak" "$R/sub-02/anat/t1.nii.gz"

# 2. mismatched affine inside a group: sub-03's T1 shifted by 5 mm
"$PYTHON" - "$R/sub-03/anat/t1.nii.gz" <<'PY'
import sys, nibabel as nib, numpy as np
img = nib.load(sys.argv[1]); aff = img.affine.copy(); aff[0, 3] += 5
nib.save(nib.Nifti1Image(np.asanyarray(img.dataobj), aff, img.header), sys.argv[1])
PY
check_failure mismatched_affine "subject 'sub-03'" "group 'input'" "sub-03/anat/t1.nii.gz" "affine"
"$DWIPACK" synth "$WORK/fresh" --subjects 4 --shape 8,9,7 --frames 3 --gzip_level 1 >/dev/null
cp "$WORK/fresh/dwi_ml_ready/sub-03/anat/t1.nii.gz" "$R/sub-03/anat/t1.nii.gz"

# 3. bad JSON
printf '{\n  "input": {"type": "volume",\n' > "$WORK/bad.json"
CFG=$WORK/bad.json check_failure bad_json "bad.json" "invalid JSON" "line"

# 4. corrupt data found only while writing (the header and the gzip trailer are fine, 4 bytes in
#    the middle of the deflate stream are not; a cut stream is refused while planning): the
#    failure happens after the file was created, on a worker, and must still end cleanly.
f="$R/sub-04/dwi/dwi.nii.gz"
printf '\xde\xad\xbe\xef' | dd of="$f" bs=1 seek=$(( $(stat -c %s "$f") / 2 )) conv=notrunc status=none
check_failure truncated_gzip "subject 'sub-04'" "dwi/dwi.nii.gz"

# --- streamline inputs ---
"$DWIPACK" synth "$WORK/fresh2" --subjects 4 --shape 8,9,7 --frames 3 --gzip_level 1 >/dev/null
cp "$WORK/fresh2/dwi_ml_ready/sub-04/dwi/dwi.nii.gz" "$R/sub-04/dwi/dwi.nii.gz"

# 5. a dps key that a file does not have
cat > "$WORK/dps.json" <<'JSON'
{"input": {"type": "volume", "files": "dwi/dwi.nii.gz", "standardization": "none"},
 "bundles": {"type": "streamlines", "files": "tractography/bundle_a.trk", "dps_keys": ["weight", "nope"]}}
JSON
CFG=$WORK/dps.json check_failure missing_dps_key "subject 'sub-01'" "bundle_a.trk" "data_per_streamline key 'nope' not found"

# 6. a .tck without any volume group to be its reference
echo '{"tracking": {"type": "streamlines", "files": "tractography/whole.tck"}}' > "$WORK/tck.json"
CFG=$WORK/tck.json check_failure tck_without_reference "whole.tck" "needs a reference volume"

# 7. a truncated .trk (cut inside a streamline): found while planning
f="$R/sub-02/tractography/bundle_b.trk"
head -c $(( $(stat -c %s "$f") - 37 )) "$f" > "$WORK/cut.trk" && mv "$WORK/cut.trk" "$f"
check_failure truncated_trk "subject 'sub-02'" "bundle_b.trk" "truncated"

# 8. config paths outside the subject folder: refused unless --allow_outside_subject
cp "$R/sub-01/masks/wm.nii.gz" "$WORK/outside_mask.nii.gz"
cat > "$WORK/outside.json" <<JSON
{"input": {"type": "volume", "files": "dwi/dwi.nii.gz", "standardization": "all", "std_mask": "../../outside_mask.nii.gz"}}
JSON
CFG=$WORK/outside.json check_failure outside_subject "'../../outside_mask.nii.gz'" "outside the subject folder"
cat > "$WORK/absolute.json" <<JSON
{"input": {"type": "volume", "files": ["dwi/dwi.nii.gz", "$R/sub-01/anat/t1.nii.gz"], "standardization": "none"}}
JSON
CFG=$WORK/absolute.json check_failure absolute_path "sub-01/anat/t1.nii.gz'" "outside the subject folder"
echo sub-01 > "$WORK/only1.txt"; : > "$WORK/none.txt"
run_dwipack 0 create "$R" "$WORK/abs_ok.hdf5" "$WORK/absolute.json" "$WORK/only1.txt" "$WORK/none.txt" "$WORK/none.txt" \
  --allow_outside_subject
expect_rc 0 "--allow_outside_subject"
pass "paths outside the subject folder"
