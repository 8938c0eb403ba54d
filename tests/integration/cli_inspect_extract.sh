#!/usr/bin/env bash
# `dwipack inspect` and `dwipack extract` on a converted synthetic dataset, checked through h5py,
# nibabel and dipy (tests/python/extract_check.py): inspect's text (the short default and --all) and
# JSON against h5py's view;
# every volume group back to .nii.gz bit for bit; streamline groups to .trk/.tck equal to the source
# tractograms in RAS mm (1e-4 mm) with their dps; connectivity matrices to .npy (numpy bool); a file
# written by h5py in dwi_ml's style (every space/origin, the 2021 layout, oddities); the error cases.
source "$(dirname "$0")/lib.sh"
make_dataset 3 14,16,12 3
CHECK=("$PYTHON" "$TESTS_DIR/python/extract_check.py")
H5=$WORK/out.hdf5
run_dwipack 0 create "$D/dwi_ml_ready" "$H5" "${ARGS_LISTS[@]}"
expect_rc 0 "create"

# --- inspect: --all lists every subject in full
run_dwipack 0 inspect "$H5" --all
expect_rc 0 "inspect --all"
printf '%s\n' "$OUT" > "$WORK/inspect.txt"
"${CHECK[@]}" inspect-text "$H5" "$WORK/inspect.txt" || fail "inspect --all text does not match h5py"
expect_out "problems: none" "inspect of a dwipack file"
# the default: the first subject in full, then one line per subject (groups, shapes, counts, bytes)
run_dwipack 0 inspect "$H5"
expect_rc 0 "inspect"
printf '%s\n' "$OUT" > "$WORK/inspect_short.txt"
"${CHECK[@]}" inspect-summary "$H5" "$WORK/inspect_short.txt" || fail "inspect's short text does not match h5py"
expect_out "problems: none" "inspect (short) of a dwipack file"
[ "$(wc -l < "$WORK/inspect_short.txt")" -lt "$(wc -l < "$WORK/inspect.txt")" ] || fail "the default is not shorter than --all"
"$DWIPACK" inspect "$H5" --json > "$WORK/inspect.json" || fail "inspect --json failed"
"${CHECK[@]}" inspect-json "$H5" "$WORK/inspect.json" || fail "inspect --json does not match h5py"
pass "inspect (text and --json) matches h5py"

# --- extract: every volume group of sub-01, bit for bit
S=sub-01
SRC=$D/dwi_ml_ready/$S
for group in $("$PYTHON" -c "import h5py; g = h5py.File('$H5')['$S']; print(*[k for k in g if g[k].attrs['type'] == 'volume'])"); do
  run_dwipack 0 extract "$H5" "$S" "$group" "$WORK/$group.nii.gz"
  expect_rc 0 "extract $group"; expect_out "wrote '$WORK/$group.nii.gz'" "extract $group"
  "${CHECK[@]}" volume "$H5" "$S" "$group" "$WORK/$group.nii.gz" || fail "extracted volume $group differs"
done
run_dwipack 0 extract "$H5" "$S" input "$WORK/input.nii"
expect_rc 0 "extract to .nii"
"${CHECK[@]}" volume "$H5" "$S" input "$WORK/input.nii" || fail "extracted .nii differs"
pass "volume groups extract to .nii.gz / .nii, equal to the stored data"

# --- extract: streamline groups, against the source tractograms as dipy loads them
REF=$SRC/dwi/dwi.nii.gz
for ext in trk tck; do
  run_dwipack 0 extract "$H5" "$S" bundles "$WORK/bundles.$ext"
  expect_rc 0 "extract bundles .$ext"
  "${CHECK[@]}" streamlines "$H5" "$S" bundles "$WORK/bundles.$ext" "$REF" \
    "$SRC/tractography/bundle_a.trk" "$SRC/tractography/bundle_b.trk" || fail "bundles.$ext differs from the sources"
done
expect_out "data_per_streamline weight dropped: a .tck cannot hold them" "dps dropped for .tck"
run_dwipack 0 extract "$H5" "$S" tracking "$WORK/tracking.trk"
expect_rc 0 "extract tracking"
"${CHECK[@]}" streamlines "$H5" "$S" tracking "$WORK/tracking.trk" "$REF" "$SRC/tractography/whole.tck" \
  || fail "tracking.trk differs from whole.tck"
pass "streamline groups extract to .trk / .tck in RAS mm, with dps"

# --- extract: a streamline group's connectivity matrix to .npy, as numpy's bool
run_dwipack 0 extract "$H5" "$S" bundles "$WORK/bundles_connectivity.npy"
expect_rc 0 "extract connectivity"
expect_out "wrote '$WORK/bundles_connectivity.npy': the 4 x 4 connectivity matrix (bool) of '/$S/bundles'" \
  "extract connectivity"
"${CHECK[@]}" connectivity "$H5" "$S" bundles "$WORK/bundles_connectivity.npy" || fail "connectivity.npy differs"
run_dwipack 0 extract "$H5" "$S" tracking "$WORK/none.npy"
expect_rc 1 "no connectivity matrix"
expect_out "'/$S/tracking': no dataset 'connectivity_matrix'" "no connectivity matrix"
[ ! -e "$WORK/none.npy" ] || fail "a failed extract left none.npy"
run_dwipack 0 extract "$H5" "$S" input "$WORK/input.npy"
expect_rc 1 "volume to .npy"; expect_out "'/$S/input' is a volume group: OUT '$WORK/input.npy' must end in .nii" "volume to .npy"
pass "connectivity matrices extract to .npy (numpy bool)"

# --- errors: exit code 1, a message naming the file, the HDF5 path and the fact
run_dwipack 0 extract "$H5" sub-99 input "$WORK/x.nii.gz"
expect_rc 1 "missing subject"; expect_out "file '$H5': '/sub-99': no such subject" "missing subject"
run_dwipack 0 extract "$H5" "$S" nope "$WORK/x.nii.gz"
expect_rc 1 "missing group"; expect_out "file '$H5': '/$S/nope': no such group in subject '$S'" "missing group"
run_dwipack 0 extract "$H5" "$S" input "$WORK/x.png"
expect_rc 1 "unknown extension"; expect_out "OUT '$WORK/x.png': unknown extension '.png'" "unknown extension"
run_dwipack 0 extract "$H5" "$S" input "$WORK/x.trk"
expect_rc 1 "volume to .trk"; expect_out "'/$S/input' is a volume group: OUT '$WORK/x.trk' must end in .nii or .nii.gz" "volume to .trk"
run_dwipack 0 extract "$H5" "$S" bundles "$WORK/x.nii.gz"
expect_rc 1 "streamlines to .nii.gz"; expect_out "'/$S/bundles' is a streamline group" "streamlines to .nii.gz"
echo "not hdf5" > "$WORK/text.hdf5"
run_dwipack 0 extract "$WORK/text.hdf5" "$S" input "$WORK/x.nii.gz"
expect_rc 1 "non-HDF5 file"; expect_out "file '$WORK/text.hdf5': is not an HDF5 file" "non-HDF5 file"
run_dwipack 0 inspect "$WORK/text.hdf5"
expect_rc 1 "inspect non-HDF5"; expect_out "file '$WORK/text.hdf5': is not an HDF5 file" "inspect non-HDF5"
run_dwipack 0 inspect "$WORK/none.hdf5"
expect_rc 1 "inspect missing file"; expect_out "file '$WORK/none.hdf5': does not exist" "inspect missing file"
for f in "$WORK/x.nii.gz" "$WORK/x.png" "$WORK/x.trk"; do [ ! -e "$f" ] || fail "a failed extract left $f"; done
if compgen -G "$WORK/.dwipack-*" >/dev/null; then fail "a temporary file was left behind"; fi
# an existing OUT is kept without -f, replaced with it
before=$(md5sum < "$WORK/bundles.trk")
run_dwipack 0 extract "$H5" "$S" tracking "$WORK/bundles.trk"
expect_rc 1 "existing OUT"; expect_out "OUT '$WORK/bundles.trk' already exists; use -f" "existing OUT"
[ "$(md5sum < "$WORK/bundles.trk")" = "$before" ] || fail "existing OUT modified without -f"
run_dwipack 0 extract "$H5" "$S" tracking "$WORK/bundles.trk" -f
expect_rc 0 "-f"; [ "$(md5sum < "$WORK/bundles.trk")" != "$before" ] || fail "-f did not replace OUT"
run_dwipack 0 extract "$H5" "$S" input
expect_rc 1 "3 positionals"; expect_out "expected 4 positional arguments" "3 positionals"
run_dwipack 0 inspect
expect_rc 1 "inspect without FILE"; expect_out "expected 1 positional argument" "inspect without FILE"
run_dwipack 0 inspect --help; expect_rc 0 "inspect --help"; expect_out "--json" "inspect --help"
run_dwipack 0 extract --help; expect_rc 0 "extract --help"; expect_out "Usage: dwipack extract" "extract --help"
pass "errors: missing subject/group, extensions, non-HDF5 file, existing OUT, arguments"

# --- a file written by h5py in dwi_ml's style: every space/origin, the 2021 layout, oddities
STYLE=$WORK/style.h5
"${CHECK[@]}" make-dwiml-file "$STYLE" "$WORK/style_ref.nii.gz" "$WORK/expected.npz" || fail "make-dwiml-file"
run_dwipack 0 inspect "$STYLE"
expect_rc 0 "inspect an h5py file"
for fact in "'/subjA/surface': unknown type 'surface'" "'/subjA/notes': missing attribute 'type'" \
  "'/': missing root attribute 'testing_subjs'" "'/subjA/streamlines': missing attribute 'origin'" \
  "'/': subject 'subjC' of the training split is not in the file" "'/subjB': subject in no split" \
  "'/subjA/broken': neither a group nor a dataset" "validation: 0 subject(s)"; do
  expect_out "$fact" "inspect an h5py file"
done
"$DWIPACK" inspect "$STYLE" --json > "$WORK/style.json" || fail "inspect --json of an h5py file failed"
"${CHECK[@]}" inspect-json "$STYLE" "$WORK/style.json" || fail "inspect --json of an h5py file does not match h5py"
for group in sl_vox_corner sl_vox_center sl_voxmm_corner sl_voxmm_center sl_rasmm_corner sl_rasmm_center \
  sl_lower sl_unpacked streamlines; do
  for ext in trk tck; do
    run_dwipack 0 extract "$STYLE" subjA "$group" "$WORK/$group.$ext"
    expect_rc 0 "extract $group.$ext"
    "${CHECK[@]}" spaces "$WORK/$group.$ext" "$WORK/style_ref.nii.gz" "$WORK/expected.npz" \
      || fail "$group.$ext: wrong RAS mm points"
  done
done
run_dwipack 0 extract "$STYLE" subjA sl_big "$WORK/big.tck"   # 1.2 M points: several read batches
expect_rc 0 "extract sl_big"
"${CHECK[@]}" spaces "$WORK/big.tck" "$WORK/style_ref.nii.gz" "$WORK/expected_big.npz" || fail "big.tck: wrong points"
run_dwipack 0 extract "$STYLE" subjA dwi "$WORK/style_dwi.nii.gz"
expect_rc 0 "float64 volume without voxres"; expect_out "no attribute 'voxres'" "float64 volume without voxres"
run_dwipack 0 extract "$STYLE" subjA empty "$WORK/empty.trk"
expect_rc 0 "empty streamline group"; expect_out "0 streamlines" "empty streamline group"
run_dwipack 0 extract "$STYLE" subjA notes "$WORK/x.nii.gz"
expect_rc 1 "group without type"; expect_out "'/subjA/notes': no attribute 'type': not a dwi_ml group" "no type"
run_dwipack 0 extract "$STYLE" subjA surface "$WORK/x.nii.gz"
expect_rc 1 "unknown type"; expect_out "'/subjA/surface': unknown type 'surface'" "unknown type"
pass "an h5py file in dwi_ml's style: inspected, every space/origin extracted to RAS mm"
