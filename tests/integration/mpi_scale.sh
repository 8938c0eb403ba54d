#!/usr/bin/env bash
# Any cohort size: 4,200 tiny subjects (more than the 4,096 names an attribute of h5py's default
# file format can hold: 16 bytes each in a 64 KiB object header message) convert with 1 and 3
# ranks. The file then has HDF5 1.8 format bounds (superblock 2, dense attribute storage), which
# planning decided; h5py reads every list attribute back whole (chosen_subjs, training_subjs of
# 4,100 names, the provenance lists) and a dwi_ml-style read of the subjects works; h5dump shows
# the superblock and the attribute's 4,200 entries; both runs hold the same content. A cohort of
# 50 subjects keeps h5py's default bounds (superblock 0). The subjects are links to one small
# synthetic subject, so the test takes seconds.
source "$(dirname "$0")/lib.sh"
export SOURCE_DATE_EPOCH=1764000000 # the same content from every run
"$DWIPACK" synth "$WORK/one" --subjects 1 --shape 6,6,6 --frames 1 --streamlines 4 --mean_points 6 >/dev/null
D=$WORK/data
mkdir -p "$D/dwi_ml_ready"
for i in $(seq -w 1 4200); do ln -s "$WORK/one/dwi_ml_ready/sub-01" "$D/dwi_ml_ready/sub-$i"; done
ls "$D/dwi_ml_ready" | sed -n 1,4100p >"$D/training.txt"
ls "$D/dwi_ml_ready" | tail -n 100 >"$D/validation.txt"
: >"$D/testing.txt"
cat >"$D/config.json" <<'JSON'
{"wm_mask": {"type": "volume", "files": ["masks/wm.nii.gz"], "standardization": "none"}}
JSON
LISTS=("$D/config.json" "$D/training.txt" "$D/validation.txt" "$D/testing.txt")

for np in 0 3; do
  out=$WORK/scale_np$np.hdf5
  run_dwipack "$np" create "$D/dwi_ml_ready" "$out" "${LISTS[@]}"
  expect_rc 0 "4,200 subjects (np=$np)"
  "$PYTHON" - "$out" "$D" <<'PY' || fail "np=$np: the lists do not read back whole"
import sys, h5py, numpy as np
path, d = sys.argv[1], sys.argv[2]
names = lambda a: [x.decode() if isinstance(x, bytes) else str(x) for x in a]
training = open(f"{d}/training.txt").read().split()
validation = open(f"{d}/validation.txt").read().split()
with h5py.File(path, "r") as f:
    assert f.id.get_access_plist().get_libver_bounds()[0] == h5py.h5f.LIBVER_V18, "format bounds"
    assert names(f.attrs["chosen_subjs"]) == training + validation
    assert names(f.attrs["training_subjs"]) == training
    assert names(f.attrs["validation_subjs"]) == validation
    assert f.attrs["testing_subjs"].shape == (0,)
    assert len(f.attrs["dwipack_inputs"]) == 4200
    assert len(f.keys()) == 4200
    # dwi_ml's loader: the subjects of a list, each group's type and data
    for subject in training[:3] + validation[-3:]:
        g = f[subject]["wm_mask"]
        assert g.attrs["type"] in ("volume", b"volume")
        assert g["data"].shape == (6, 6, 6, 1) and np.isfinite(g["data"][...]).all()
PY
  dump=$(h5dump -B -H "$out") # whole outputs: grep -q would cut the pipe (pipefail)
  grep -q "SUPERBLOCK_VERSION 2" <<<"$dump" || fail "np=$np: h5dump does not show superblock 2"
  dump=$(h5dump -a /chosen_subjs "$out")
  grep -qF "DATASPACE  SIMPLE { ( 4200 ) / ( 4200 ) }" <<<"$dump" && grep -qF '"sub-4200"' <<<"$dump" \
    || fail "np=$np: h5dump does not show chosen_subjs with 4,200 entries"$'\n'"$(head -12 <<<"$dump")"
  pass "np=$np: 4,200 subjects written, every list attribute read back whole by h5py and h5dump"
done
diffs=$(same_content "$WORK/scale_np0.hdf5" "$WORK/scale_np3.hdf5") || fail "1 and 3 ranks differ: $diffs"
pass "the same content with 1 and 3 ranks"

ls "$D/dwi_ml_ready" | sed -n 1,50p >"$D/small.txt"
mkdir -p "$WORK/small/dwi_ml_ready"
while read -r id; do ln -s "$WORK/one/dwi_ml_ready/sub-01" "$WORK/small/dwi_ml_ready/$id"; done <"$D/small.txt"
run_dwipack 0 create "$WORK/small/dwi_ml_ready" "$WORK/small.hdf5" "$D/config.json" "$D/small.txt" \
  "$D/testing.txt" "$D/testing.txt"
expect_rc 0 "50 subjects"
"$PYTHON" -c "
import sys, h5py
with h5py.File(sys.argv[1], 'r') as f:
    assert f.id.get_access_plist().get_libver_bounds()[0] == h5py.h5f.LIBVER_EARLIEST
    assert len(f.attrs['chosen_subjs']) == 50" "$WORK/small.hdf5" || fail "50 subjects: not h5py's default bounds"
dump=$(h5dump -B -H "$WORK/small.hdf5")
grep -q "SUPERBLOCK_VERSION 0" <<<"$dump" || fail "50 subjects: not superblock 0"
pass "50 subjects keep h5py's default format bounds (superblock 0)"
