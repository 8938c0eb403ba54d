#!/usr/bin/env bash
# dwi_ml's HDF5 types where they follow the inputs, on real files nibabel ships (NIfTI-2 volumes
# and references, a big-endian .trk, a streamline of one point), checked through h5py against
# what nibabel/dipy give dwi_ml (tests/python/fidelity_check.py), on 1 and 3 ranks; and the
# concatenation of incompatible tractograms refused in the planning phase, nothing written.
source "$(dirname "$0")/lib.sh"
export SOURCE_DATE_EPOCH=1700000000 # data_and_time: the same in every run compared
NB=$("$PYTHON" -c "import nibabel, os; print(os.path.join(os.path.dirname(nibabel.__file__), 'tests', 'data'))")
[ -f "$NB/complex_big_endian.trk" ] || fail "nibabel's test data not found in $NB"

# ready ROOT SUBJECT... : an empty dwi_ml-ready folder and the lists (all in training).
ready() {
  local root=$1; shift
  mkdir -p "$root"
  printf '%s\n' "$@" >"$root/train.txt"
  : >"$root/valid.txt"
  : >"$root/test.txt"
  for s in "$@"; do mkdir -p "$root/$s"; done
}
# convert ROOT CONFIG_JSON OUT NP
convert() {
  printf '%s\n' "$2" >"$1/config.json"
  run_dwipack "$4" create "$1" "$3" "$1/config.json" "$1/train.txt" "$1/valid.txt" "$1/test.txt"
}
# Every .trk of nibabel's "complex"/"simple" set has dim 1x1x1 while its points reach 14 mm:
# dipy would refuse them. Patch dim to 16x16x16 in the header's own byte order.
patch_trk() {
  "$PYTHON" - "$1" "$2" <<'EOF'
import struct, sys
data = bytearray(open(sys.argv[1], "rb").read())
order = "<" if struct.unpack("<i", data[996:1000])[0] == 1000 else ">"
data[6:12] = struct.pack(order + "3h", 16, 16, 16)
open(sys.argv[2], "wb").write(data)
EOF
}

# 1. NIfTI-2: a volume re-saved as NIfTI-2 by nibabel, with a .tck whose reference it is (and the
#    same inputs in NIfTI-1 beside it); nibabel's own example_nifti2.nii.gz in a group of its own.
R1=$WORK/nifti2
ready "$R1" n1 n2
"$PYTHON" - "$NB/standard.nii.gz" "$R1/n2/anat.nii.gz" <<'EOF'
import sys, nibabel as nib
img = nib.load(sys.argv[1])
nib.save(nib.Nifti2Image(img.get_fdata(), img.affine), sys.argv[2])
EOF
cp "$NB/standard.nii.gz" "$R1/n1/anat.nii.gz"
for s in n1 n2; do cp "$NB/standard.tck" "$R1/$s/tracks.tck"; done
CONFIG1='{"anat": {"type": "volume", "files": ["anat.nii.gz"], "standardization": "none"}, "tracks": {"type": "streamlines", "files": ["tracks.tck"]}}'
for np in 1 3; do
  convert "$R1" "$CONFIG1" "$WORK/nifti2_np$np.hdf5" $np
  expect_rc 0 "NIfTI-2 inputs (np=$np)"
  "$PYTHON" "$TESTS_DIR/python/fidelity_check.py" "$WORK/nifti2_np$np.hdf5" "$R1" "$R1/config.json" ||
    fail "NIfTI-2 types (np=$np)"
done
same_content "$WORK/nifti2_np1.hdf5" "$WORK/nifti2_np3.hdf5" || fail "NIfTI-2: 1 and 3 ranks differ"
R2=$WORK/example
ready "$R2" ex
cp "$NB/example_nifti2.nii.gz" "$R2/ex/ex.nii.gz"
convert "$R2" '{"ex": {"type": "volume", "files": ["ex.nii.gz"], "standardization": "none"}}' "$WORK/example.hdf5" 3
expect_rc 0 "example_nifti2.nii.gz"
"$PYTHON" "$TESTS_DIR/python/fidelity_check.py" "$WORK/example.hdf5" "$R2" "$R2/config.json" ||
  fail "example_nifti2.nii.gz types"
pass "NIfTI-2 volumes and references: float64 voxres, int64/float64 space attributes (1 and 3 ranks)"

# 2. .trk byte orders and a streamline of one point (complex*.trk have one; simple.trk too).
R3=$WORK/trk
ready "$R3" be le simple
patch_trk "$NB/complex_big_endian.trk" "$R3/be/tracks.trk"
patch_trk "$NB/complex.trk" "$R3/le/tracks.trk"
patch_trk "$NB/simple.trk" "$R3/simple/tracks.trk"
CONFIG3='{"tracks": {"type": "streamlines", "files": ["tracks.trk"]}}'
for np in 1 3; do
  convert "$R3" "$CONFIG3" "$WORK/trk_np$np.hdf5" $np
  expect_rc 0 ".trk byte orders (np=$np)"
  "$PYTHON" "$TESTS_DIR/python/fidelity_check.py" "$WORK/trk_np$np.hdf5" "$R3" "$R3/config.json" ||
    fail ".trk types (np=$np)"
done
same_content "$WORK/trk_np1.hdf5" "$WORK/trk_np3.hdf5" || fail ".trk: 1 and 3 ranks differ"
# The same with --compress (the counting pass then runs the processing: the short streamline is
# seen there) on 4 ranks.
run_dwipack 4 create "$R3" "$WORK/trk_compress.hdf5" "$R3/config.json" "$R3/train.txt" "$R3/valid.txt" \
  "$R3/test.txt" --compress 0.2 -f
expect_rc 0 ".trk byte orders with --compress (np=4)"
"$PYTHON" "$TESTS_DIR/python/fidelity_check.py" "$WORK/trk_compress.hdf5" "$R3" "$R3/config.json" ||
  fail ".trk types with --compress (np=4)"
pass "big-endian .trk attributes keep their byte order; float64 euclidean_lengths with a 1-point streamline"

# 3. Concatenating tractograms whose data_per_point / data_per_streamline keys differ: refused
#    while planning (scilpy's concatenate_sft refuses them in dwi_ml), nothing at the output.
R4=$WORK/concat
ready "$R4" cat
patch_trk "$NB/complex.trk" "$R4/cat/a.trk"
patch_trk "$NB/simple.trk" "$R4/cat/b.trk"
for np in 1 3; do
  convert "$R4" '{"tracks": {"type": "streamlines", "files": ["a.trk", "b.trk"]}}' "$WORK/concat.hdf5" $np
  expect_rc 1 "incompatible concatenation (np=$np)"
  for fact in "group 'tracks'" "b.trk" "a.trk" "data_per_point" "'colors'" "'mean_curvature'"; do
    expect_out "$fact" "incompatible concatenation message (np=$np)"
  done
  [ ! -e "$WORK/concat.hdf5" ] && [ ! -e "$WORK/concat.hdf5.partial" ] || fail "a refused job left a file (np=$np)"
done
# Different space attributes: refused too, naming both files.
patch_trk "$NB/standard.trk" "$R4/cat/b.trk"
convert "$R4" '{"tracks": {"type": "streamlines", "files": ["a.trk", "b.trk"]}}' "$WORK/concat.hdf5" 3
expect_rc 1 "concatenation of different spaces"
expect_out "b.trk" "concatenation of different spaces"
[ ! -e "$WORK/concat.hdf5" ] || fail "a refused job left a file"
pass "incompatible tractograms are refused before anything is written (1 and 3 ranks)"
