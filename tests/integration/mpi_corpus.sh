#!/usr/bin/env bash
# The bad-input corpus (issue 5, "Tests"): every case is built here from generated files
# (`dwipack synth`, nibabel/dipy through tests/python/make_corpus.py) and from Debian's nibabel and
# dipy test files, then run with 1 rank (no mpirun) and 3 ranks. Each run must end within the
# timeout (no hang) with the exit code the README promises, a message naming the file (or option)
# and what is wrong, and nothing at the output path (neither OUT.hdf5 nor OUT.hdf5.partial).
# Empty tractograms are the one accepted input: stored as well-typed empty datasets.
source "$(dirname "$0")/lib.sh"

# CORPUS_KEEP_GOING=1: report every failed assertion instead of stopping at the first (exit code
# still 1 at the end).
FAILS=0
fail() {
  echo "FAIL: $*" >&2
  FAILS=$((FAILS + 1))
  [ -n "${CORPUS_KEEP_GOING:-}" ] || exit 1
}

# run_dwipack as in lib.sh, with a shorter bound: a case takes about a second, so 60 s means a
# hang, and the script stays within ctest's 300 s even then (mpiexec forwards the TERM to its ranks;
# KILL 20 s later if it does not stop).
run_dwipack() {
  local np=$1; shift
  local cmd
  if [ "$np" = 0 ]; then cmd=("$DWIPACK" "$@"); else cmd=("$MPIEXEC" -n "$np" "$DWIPACK" "$@"); fi
  local t0=$SECONDS limit=${CORPUS_TIMEOUT:-60}
  set +e
  OUT=$(timeout -k 20 "$limit" "${cmd[@]}" 2>&1)
  RC=$?
  set -e
  if [ "$RC" = 124 ] || { [ "$RC" = 137 ] && [ $((SECONDS - t0)) -ge "$limit" ]; }; then
    fail "timed out after $((SECONDS - t0)) s (hang?): ${cmd[*]}"$'\n'"$OUT"
  fi
}

NIB=/usr/lib/python3/dist-packages/nibabel/tests/data
DIPY=/usr/lib/python3/dist-packages/dipy/data/files
MK=("$PYTHON" "$TESTS_DIR/python/make_corpus.py")
{ [ -d "$NIB" ] && [ -d "$DIPY" ]; } || fail "Debian's nibabel/dipy test files are missing (python3-nibabel, python3-dipy)"

# Mounts and immutable flags made by cases are undone before the work folder is removed, also when
# a case fails.
MOUNTS=()
IMMUTABLE=()
cleanup() {
  local m
  for m in "${IMMUTABLE[@]}"; do chattr -i "$m" 2>/dev/null || true; done
  for m in "${MOUNTS[@]}"; do umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

START=$SECONDS
make_dataset 2 8,9,7 3 # sub-01 8x9x7, sub-02 10x11x9, 3 frames, 2 bundles + a .tck each
R=$D/dwi_ml_ready
S1=$R/sub-01
S2=$R/sub-02
TRAIN=$D/training_subjs.txt VALID=$D/validation_subjs.txt TEST=$D/testing_subjs.txt
LISTS=("$TRAIN" "$VALID" "$TEST") # sub-01 in training, sub-02 in validation
mkdir -p "$WORK/cfg" "$WORK/out"
: > "$WORK/none.txt"
CASES=0

# cfg NAME JSON: write a config, print its path.
cfg() { printf '%s\n' "$2" > "$WORK/cfg/$1.json"; echo "$WORK/cfg/$1.json"; }
VOL='"input": {"type": "volume", "files": "dwi/dwi.nii.gz", "standardization": "none"}'
# tracts_cfg NAME FILES-JSON: the volume group (the reference) and one streamline group.
tracts_cfg() { cfg "$1" "{$VOL, \"tracts\": {\"type\": \"streamlines\", \"files\": $2}}"; }

# passed NAME NP FAILS-BEFORE: the case's line (ok unless an assertion failed since)
passed() {
  [ -z "${CORPUS_VERBOSE:-}" ] || printf '%s\n' "$OUT" | grep -v -e '^---' -e '^$' | sed 's/^/    | /'
  if [ "$FAILS" = "$3" ]; then echo "ok: $1 np=$(($2 == 0 ? 1 : $2))${4:-}"; else echo "FAILED: $1 np=$(($2 == 0 ? 1 : $2))"; fi
}

no_output() { # NAME NP OUT: nothing at OUT, nor OUT.partial and its journal (README, exit code 1)
  local f
  for f in "$3" "$3.partial" "$3.partial.journal"; do
    [ ! -e "$f" ] || fail "$1 (np=$2): '$f' was left behind"$'\n'"$OUT"
  done
}

# expect_fail NAME RC OUT TEXT... -- DWIPACK-ARGS...
# Runs the arguments with 1 and 3 ranks; asserts the exit code, every TEXT in the output (a TEXT
# 're:REGEX' is an extended regular expression), and nothing at OUT (OUT.hdf5) nor OUT.partial.
expect_fail() {
  local name=$1 rc=$2 out=$3
  shift 3
  local texts=()
  while [ "$1" != -- ]; do texts+=("$1"); shift; done
  shift
  local np text failed
  for np in 0 3; do
    failed=$FAILS
    run_dwipack "$np" "$@"
    expect_rc "$rc" "$name (np=$np)"
    for text in "${texts[@]}"; do
      if [ "${text#re:}" != "$text" ]; then
        grep -qE -- "${text#re:}" <<<"$OUT" || fail "$name (np=$np): output does not match /${text#re:}/"$'\n'"$OUT"
      else
        expect_out "$text" "$name (np=$np)"
      fi
    done
    no_output "$name" "$np" "$out"
    passed "$name" "$np" "$failed"
  done
  CASES=$((CASES + 1))
}

# create_fail NAME CONFIG TEXT... : `create` on the dataset with CONFIG and the default lists,
# expected to fail with exit code 1.
create_fail() {
  local name=$1 config=$2
  shift 2
  local out="$WORK/out/$name.hdf5"
  expect_fail "$name" 1 "$out" "$@" -- create "$R" "$out" "$config" "${LISTS[@]}"
}

# create_ok NAME CONFIG [ROOT LISTS...]: a sanity run that must succeed (the corpus' bad files
# differ from accepted ones only by what the case is about).
create_ok() {
  local name=$1 config=$2 root=$R lists=("${LISTS[@]}")
  if [ $# -gt 2 ]; then root=$3 lists=("${@:4}"); fi
  run_dwipack 0 create "$root" "$WORK/out/ok_$name.hdf5" "$config" "${lists[@]}"
  expect_rc 0 "sanity run $name"
  rm -f "$WORK/out/ok_$name.hdf5"
}

# ---------------------------------------------------------------------------------------------
# Arguments and output path
# ---------------------------------------------------------------------------------------------
GOOD=$D/config.json
create_ok dataset "$GOOD"

out=$WORK/out/wrong_ext.h5
expect_fail wrong_output_extension 1 "$out" "wrong_ext.h5" "extension '.h5' is not allowed" -- \
  create "$R" "$out" "$GOOD" "${LISTS[@]}"
[ ! -e "$out.hdf5" ] || fail "wrong_output_extension: '$out.hdf5' was written"

out=$WORK/out/exclusive1.hdf5
expect_fail exclusive_step_size_compress 1 "$out" "--step_size" "--compress" "mutually exclusive" -- \
  create "$R" "$out" "$GOOD" "${LISTS[@]}" --step_size 1 --compress
out=$WORK/out/exclusive2.hdf5
expect_fail exclusive_nb_points_step_size 1 "$out" "--nb_points" "--step_size" "mutually exclusive" -- \
  create "$R" "$out" "$GOOD" "${LISTS[@]}" --nb_points 5 --step_size 1

# An existing output without -f: refused, and the existing file is untouched.
out=$WORK/out/existing.hdf5
echo "a previous result" > "$out"
cp "$out" "$WORK/existing.bak"
for np in 0 3; do
  failed=$FAILS
  run_dwipack "$np" create "$R" "$out" "$GOOD" "${LISTS[@]}"
  expect_rc 1 "existing_output_without_f (np=$np)"
  expect_out "existing.hdf5' already exists" "existing_output_without_f (np=$np)"
  expect_out "-f" "existing_output_without_f (np=$np)"
  cmp -s "$out" "$WORK/existing.bak" || fail "existing_output_without_f (np=$np): the existing file was changed"
  [ ! -e "$out.partial" ] || fail "existing_output_without_f (np=$np): '$out.partial' was left behind"
  passed existing_output_without_f "$np" "$failed"
done
CASES=$((CASES + 1))

out=$WORK/out/no_such_folder/out.hdf5
expect_fail output_folder_missing 1 "$out" "no_such_folder" "does not exist" -- create "$R" "$out" "$GOOD" "${LISTS[@]}"

# A regular file where the output folder is expected.
echo "not a folder" > "$WORK/out/a_file"
out=$WORK/out/a_file/out.hdf5
expect_fail output_folder_is_a_file 1 "$out" "a_file'" "re:does not exist|not a (folder|directory)" -- create "$R" "$out" "$GOOD" "${LISTS[@]}"

# An output folder root cannot write into: a read-only bind mount (chmod does not stop root).
RO=$WORK/out/readonly
mkdir -p "$RO"
if mount --bind "$RO" "$RO" 2>/dev/null; then
  MOUNTS+=("$RO")
  mount -o remount,bind,ro "$RO" || fail "cannot remount '$RO' read-only"
  ! touch "$RO/probe" 2>/dev/null || fail "'$RO' is still writable"
  out=$RO/out.hdf5
  expect_fail output_folder_read_only 1 "$out" "readonly'" "not writable" "Read-only file system" -- \
    create "$R" "$out" "$GOOD" "${LISTS[@]}"
  [ -z "$(ls -A "$RO")" ] || fail "output_folder_read_only: files appeared in the read-only folder"
  umount "$RO" && MOUNTS=()
else
  echo "skip: output_folder_read_only (bind mounts not permitted here)"
fi

# The same with an immutable folder (chattr +i; not every file system supports it).
IMM=$WORK/out/immutable
mkdir -p "$IMM"
if chattr +i "$IMM" 2>/dev/null; then
  IMMUTABLE+=("$IMM")
  out=$IMM/out.hdf5
  expect_fail output_folder_immutable 1 "$out" "immutable'" "not writable" "Operation not permitted" -- \
    create "$R" "$out" "$GOOD" "${LISTS[@]}"
  chattr -i "$IMM" && IMMUTABLE=()
else
  echo "skip: output_folder_immutable (chattr +i not supported here)"
fi

# ---------------------------------------------------------------------------------------------
# Config, lists and subject folders
# ---------------------------------------------------------------------------------------------
out=$WORK/out/missing_config.hdf5
expect_fail missing_config 1 "$out" "no_config.json" "No such file" -- \
  create "$R" "$out" "$WORK/cfg/no_config.json" "${LISTS[@]}"

out=$WORK/out/missing_list.hdf5
expect_fail missing_list_file 1 "$out" "no_list.txt" "No such file" -- \
  create "$R" "$out" "$GOOD" "$WORK/no_list.txt" "$VALID" "$TEST"

out=$WORK/out/missing_root.hdf5
expect_fail missing_dwi_ml_ready 1 "$out" "no_such_root" "does not exist" -- \
  create "$WORK/no_such_root" "$out" "$GOOD" "${LISTS[@]}"

printf 'sub-01\nsub-09\n' > "$WORK/missing_subject.txt"
out=$WORK/out/missing_subject.hdf5
expect_fail missing_subject_folder 1 "$out" "subject folder(s) missing" "'sub-09'" -- \
  create "$R" "$out" "$GOOD" "$WORK/missing_subject.txt" "$VALID" "$TEST"

printf 'sub-01 sub-02\nsub-01\n' > "$WORK/duplicate.txt"
out=$WORK/out/duplicate.hdf5
expect_fail duplicate_subject 1 "$out" "duplicate.txt" "subject 'sub-01' is listed twice" -- \
  create "$R" "$out" "$GOOD" "$WORK/duplicate.txt" "$WORK/none.txt" "$TEST"

out=$WORK/out/empty_lists.hdf5
expect_fail empty_subject_lists 1 "$out" "the three subject lists are empty" -- \
  create "$R" "$out" "$GOOD" "$WORK/none.txt" "$WORK/none.txt" "$WORK/none.txt"

create_fail bad_json "$(cfg bad_json '{"input": {"type": "volume", "files": "dwi/dwi.nii.gz",, }}')" \
  "bad_json.json" "invalid JSON" "line 1"
create_fail unknown_group_type \
  "$(cfg unknown_type '{"input": {"type": "surface", "files": "dwi/dwi.nii.gz", "standardization": "none"}}')" \
  "unknown_type.json" "/input/type" "surface"
create_fail missing_key_type "$(cfg no_type '{"input": {"files": "dwi/dwi.nii.gz", "standardization": "none"}}')" \
  "no_type.json" "/input" "missing required key 'type'"
create_fail missing_key_files "$(cfg no_files '{"input": {"type": "volume", "standardization": "none"}}')" \
  "no_files.json" "/input" "missing required key 'files'"
create_fail missing_key_standardization "$(cfg no_std '{"input": {"type": "volume", "files": "dwi/dwi.nii.gz"}}')" \
  "no_std.json" "/input" "missing required key 'standardization'"
create_fail bad_standardization_value \
  "$(cfg zscore '{"input": {"type": "volume", "files": "dwi/dwi.nii.gz", "standardization": "zscore"}}')" \
  "zscore.json" "/input/standardization" "'zscore' is not one of"

# ---------------------------------------------------------------------------------------------
# Volumes. Bad files go into sub-02 (planned or written by another rank than sub-01 with 3 ranks);
# sub-01 gets a valid file under the same name where the format allows one.
# ---------------------------------------------------------------------------------------------
vol_cfg() { cfg "$1" "{\"input\": {\"type\": \"volume\", \"files\": $2, \"standardization\": \"none\"}}"; }

mv "$S2/anat/t1.nii.gz" "$WORK/t1_sub02.nii.gz"
create_fail missing_file "$GOOD" "subject 'sub-02'" "group 'input'" "'anat/t1.nii.gz'" "missing"
mv "$WORK/t1_sub02.nii.gz" "$S2/anat/t1.nii.gz"

create_fail wildcard_no_match "$(vol_cfg nomatch '["dwi/dwi.nii.gz", "anat/t2_*.nii.gz"]')" \
  "subject 'sub-02'" "'anat/t2_*.nii.gz'" "missing"

"${MK[@]}" shift_affine "$S2/anat/t1.nii.gz" "$S2/anat/t1_shifted.nii.gz" 5
cp "$S1/anat/t1.nii.gz" "$S1/anat/t1_shifted.nii.gz"
create_fail mismatched_affine "$(vol_cfg shifted '["dwi/dwi.nii.gz", "anat/t1_shifted.nii.gz"]')" \
  "subject 'sub-02'" "sub-02/anat/t1_shifted.nii.gz" "affine"

"${MK[@]}" reshape "$S2/anat/t1.nii.gz" "$S2/anat/t1_small.nii.gz" 8,9,7
cp "$S1/anat/t1.nii.gz" "$S1/anat/t1_small.nii.gz"
create_fail mismatched_shapes "$(vol_cfg small '["dwi/dwi.nii.gz", "anat/t1_small.nii.gz"]')" \
  "sub-02/anat/t1_small.nii.gz" "shape (8, 9, 7)"

# Two volume groups whose first files are not header-compatible (dwi_ml's compatibility check).
create_fail incompatible_volume_groups \
  "$(cfg groups "{$VOL, \"other\": {\"type\": \"volume\", \"files\": \"anat/t1_small.nii.gz\", \"standardization\": \"none\"}}")" \
  "sub-02/anat/t1_small.nii.gz" "group 'other'" "dimensions"

"${MK[@]}" reshape "$S2/masks/wm.nii.gz" "$S2/masks/wm_small.nii.gz" 8,9,7
cp "$S1/masks/wm.nii.gz" "$S1/masks/wm_small.nii.gz"
create_fail std_mask_other_shape \
  "$(cfg mask '{"input": {"type": "volume", "files": "dwi/dwi.nii.gz", "standardization": "all", "std_mask": "masks/wm_small.nii.gz"}}')" \
  "std_mask" "sub-02/masks/wm_small.nii.gz" "shape"

for s in "$S1" "$S2"; do "${MK[@]}" volume_2d "$s/anat/flat.nii.gz"; done
create_fail volume_2d "$(vol_cfg flat '"anat/flat.nii.gz"')" "anat/flat.nii.gz" "dim[0] is 2"

for s in "$S1" "$S2"; do cp "$NIB/test.mgz" "$s/anat/t1.mgz"; done
create_fail mgz "$(vol_cfg mgz '"anat/t1.mgz"')" "anat/t1.mgz" "extension '.mgz' is not supported"

for s in "$S1" "$S2"; do cp "$NIB/analyze.hdr" "$s/anat/t1.hdr"; done
create_fail analyze_hdr "$(vol_cfg hdr '"anat/t1.hdr"')" "anat/t1.hdr" "extension '.hdr' is not supported"

# gzip of a file that is not NIfTI, named .nii.gz (dipy's b-values)
for s in "$S1" "$S2"; do gzip -c "$DIPY/small_64D.bval" > "$s/dwi/bvals.nii.gz"; done
create_fail gz_not_nifti "$(vol_cfg gz_text '"dwi/bvals.nii.gz"')" "dwi/bvals.nii.gz" "NIfTI"

# a NIfTI gzipped under a name that is not .nii.gz
cp "$S1/dwi/dwi.nii.gz" "$S1/dwi/dwi.gz" && cp "$S2/dwi/dwi.nii.gz" "$S2/dwi/dwi.gz"
create_fail gz_wrong_extension "$(vol_cfg gz_ext '"dwi/dwi.gz"')" "dwi/dwi.gz" "must be named '*.nii.gz'"

# an uncompressed NIfTI named .nii.gz
for s in "$S1" "$S2"; do gzip -dc "$s/dwi/dwi.nii.gz" > "$s/dwi/plain.nii.gz"; done
create_fail nii_named_gz "$(vol_cfg plain '"dwi/plain.nii.gz"')" "dwi/plain.nii.gz" "not gzip-compressed"

# a folder where a volume file is expected: not a file, so missing (as dwi_ml's is_file check)
mkdir -p "$S1/dwi/folder.nii.gz" "$S2/dwi/folder.nii.gz"
create_fail volume_is_a_folder "$(vol_cfg folder '"dwi/folder.nii.gz"')" "subject 'sub-02'" "'dwi/folder.nii.gz'" "missing"

# .nii.gz cut inside the voxel data (the header is fine: found while converting, after the
# output file was created, on the rank converting sub-02)
f=$S2/dwi/dwi.nii.gz
head -c $(( $(stat -c %s "$f") * 2 / 3 )) "$f" > "$S2/dwi/cut.nii.gz"
cp "$S1/dwi/dwi.nii.gz" "$S1/dwi/cut.nii.gz"
create_fail truncated_nii_gz "$(vol_cfg cut '"dwi/cut.nii.gz"')" "subject 'sub-02'" "sub-02/dwi/cut.nii.gz" "truncated"

# .nii.gz cut inside the header
for s in "$S1" "$S2"; do head -c 60 "$s/dwi/dwi.nii.gz" > "$s/dwi/cut_header.nii.gz"; done
create_fail truncated_nii_gz_header "$(vol_cfg cut_hdr '"dwi/cut_header.nii.gz"')" "dwi/cut_header.nii.gz" "truncated"

# a gzip stream whose CRC32 does not match its (intact) data
"${MK[@]}" gzip_crc "$S2/dwi/dwi.nii.gz" "$S2/dwi/crc.nii.gz"
cp "$S1/dwi/dwi.nii.gz" "$S1/dwi/crc.nii.gz"
create_fail corrupt_gzip_crc "$(vol_cfg crc '"dwi/crc.nii.gz"')" "sub-02/dwi/crc.nii.gz" "CRC32"

# NIfTI with a wrong vox_offset: inside the header, and beyond the end of the file
"${MK[@]}" vox_offset "$S2/dwi/dwi.nii.gz" "$S2/dwi/offset_in_header.nii" 100
"${MK[@]}" vox_offset "$S1/dwi/dwi.nii.gz" "$S1/dwi/offset_in_header.nii" 352
create_fail vox_offset_inside_header "$(vol_cfg off1 '"dwi/offset_in_header.nii"')" \
  "sub-02/dwi/offset_in_header.nii" "vox_offset is 100"
"${MK[@]}" vox_offset "$S2/dwi/dwi.nii.gz" "$S2/dwi/offset_past_end.nii" 4096
"${MK[@]}" vox_offset "$S1/dwi/dwi.nii.gz" "$S1/dwi/offset_past_end.nii" 352
create_fail vox_offset_past_end "$(vol_cfg off2 '"dwi/offset_past_end.nii"')" \
  "sub-02/dwi/offset_past_end.nii" "truncated"

# ---------------------------------------------------------------------------------------------
# Tractograms. The reference volume is each subject's dwi/dwi.nii.gz.
# ---------------------------------------------------------------------------------------------
T1=$S1/tractography T2=$S2/tractography

# nibabel's malformed .tck files (test_tck.py: HeaderError)
for name in no_magic_number no_header_end no_header_end_eof; do
  for t in "$T1" "$T2"; do cp "$NIB/$name.tck" "$t/$name.tck"; done
done
create_fail tck_no_magic_number "$(tracts_cfg tck1 '"tractography/no_magic_number.tck"')" \
  "tractography/no_magic_number.tck" "magic"
create_fail tck_no_header_end "$(tracts_cfg tck2 '"tractography/no_header_end.tck"')" \
  "tractography/no_header_end.tck" "'END'"
create_fail tck_no_header_end_eof "$(tracts_cfg tck3 '"tractography/no_header_end_eof.tck"')" \
  "tractography/no_header_end_eof.tck" "'END'"

# the malformed .tck that test_tck.py makes from a valid one, here from sub-02's whole.tck; sub-01
# keeps valid copies
for v in big_endian int32 other_file no_delimiter no_eof; do cp "$T1/whole.tck" "$T1/$v.tck"; done
"${MK[@]}" tck_variants "$T2/whole.tck" "$T2"
# (the data read with the wrong byte order: NaN, Inf or absurd coordinates; nibabel: DataError)
create_fail tck_wrong_endianness "$(tracts_cfg tck4 '"tractography/big_endian.tck"')" \
  "sub-02/tractography/big_endian.tck" "re:non-finite|outside the bounding box|end-of-file marker"
create_fail tck_unsupported_datatype "$(tracts_cfg tck5 '"tractography/int32.tck"')" \
  "sub-02/tractography/int32.tck" "datatype"
create_fail tck_data_in_other_file "$(tracts_cfg tck6 '"tractography/other_file.tck"')" \
  "sub-02/tractography/other_file.tck" "dummy.mat"
create_fail tck_missing_delimiter "$(tracts_cfg tck7 '"tractography/no_delimiter.tck"')" \
  "sub-02/tractography/no_delimiter.tck" "not closed by a NaN triplet"
create_fail tck_missing_eof "$(tracts_cfg tck8 '"tractography/no_eof.tck"')" \
  "sub-02/tractography/no_eof.tck" "truncated"

# .trk cut inside a streamline
f=$T2/bundle_b.trk
head -c $(( $(stat -c %s "$f") - 37 )) "$f" > "$T2/cut.trk"
cp "$T1/bundle_b.trk" "$T1/cut.trk"
create_fail truncated_trk "$(tracts_cfg trk1 '"tractography/cut.trk"')" "sub-02/tractography/cut.trk" "truncated"

for t in "$T1" "$T2"; do "${MK[@]}" trk_hdr_size "$t/bundle_a.trk" "$t/hdr999.trk" 999; done
create_fail trk_hdr_size "$(tracts_cfg trk2 '"tractography/hdr999.trk"')" \
  "tractography/hdr999.trk" "hdr_size" "999"

"${MK[@]}" trk_outside "$S2/dwi/dwi.nii.gz" "$T2/outside.trk"
cp "$T1/bundle_a.trk" "$T1/outside.trk"
create_fail points_outside_volume "$(tracts_cfg trk3 '"tractography/outside.trk"')" \
  "sub-02/tractography/outside.trk" "outside the bounding box"

# sub-01's bundle (8x9x7) in sub-02 (10x11x9)
cp "$T1/bundle_a.trk" "$T2/foreign.trk"
cp "$T1/bundle_a.trk" "$T1/foreign.trk"
create_fail trk_incompatible_with_volume "$(tracts_cfg trk4 '"tractography/foreign.trk"')" \
  "sub-02/tractography/foreign.trk" "not compatible" "reference volume"

# concatenation: header-incompatible tractograms (no volume group, so no reference to refuse them)
cp "$T2/bundle_a.trk" "$T1/foreign2.trk"
cp "$T1/bundle_a.trk" "$T2/foreign2.trk"
create_fail concat_incompatible_headers \
  "$(cfg concat1 '{"tracts": {"type": "streamlines", "files": ["tractography/bundle_a.trk", "tractography/foreign2.trk"]}}')" \
  "tractography/foreign2.trk" "the group's first tractogram"

# concatenation: a dps key with 1 column in one file and 2 in the other
"${MK[@]}" trk_dps_columns "$S2/dwi/dwi.nii.gz" "$T2/weight2.trk"
cp "$T1/bundle_b.trk" "$T1/weight2.trk"
create_fail concat_dps_columns \
  "$(cfg concat2 "{$VOL, \"tracts\": {\"type\": \"streamlines\", \"files\": [\"tractography/bundle_a.trk\", \"tractography/weight2.trk\"], \"dps_keys\": \"weight\"}}")" \
  "sub-02/tractography/weight2.trk" "'weight'" "column"

create_fail missing_dps_key \
  "$(cfg dps "{$VOL, \"tracts\": {\"type\": \"streamlines\", \"files\": \"tractography/bundle_a.trk\", \"dps_keys\": [\"weight\", \"nope\"]}}")" \
  "tractography/bundle_a.trk" "data_per_streamline key 'nope' not found"

for t in "$T1" "$T2"; do cp "$t/bundle_a.trk" "$t/bundle.vtk"; done
create_fail unsupported_tractogram_extension "$(tracts_cfg vtk '"tractography/bundle.vtk"')" \
  "tractography/bundle.vtk" ".trk, .tck or .trx"

for t in "$T1" "$T2"; do cp "$DIPY/small_64D.bval" "$t/text.trk"; done
create_fail trk_not_trackvis "$(tracts_cfg text '"tractography/text.trk"')" "tractography/text.trk" "magic"

# LPS vs RAS: nibabel's standard.LPS.trk (voxel order LPS) against standard.nii.gz (RAS); the same
# tractogram in RAS (standard.trk) is accepted.
NR=$WORK/nibabel_ready
mkdir -p "$NR/std/tractography" "$NR/std/anat"
cp "$NIB/standard.nii.gz" "$NR/std/anat/"
cp "$NIB/standard.trk" "$NIB/standard.LPS.trk" "$NR/std/tractography/"
echo std > "$WORK/std.txt"
STD_VOL='"anat": {"type": "volume", "files": "anat/standard.nii.gz", "standardization": "none"}'
create_ok standard_trk "$(cfg std_ok "{$STD_VOL, \"t\": {\"type\": \"streamlines\", \"files\": \"tractography/standard.trk\"}}")" \
  "$NR" "$WORK/std.txt" "$WORK/none.txt" "$WORK/none.txt"
out=$WORK/out/lps.hdf5
expect_fail lps_vs_ras 1 "$out" "standard.LPS.trk" "voxel order LPS differs from RAS" -- \
  create "$NR" "$out" "$(cfg std_lps "{$STD_VOL, \"t\": {\"type\": \"streamlines\", \"files\": \"tractography/standard.LPS.trk\"}}")" \
  "$WORK/std.txt" "$WORK/none.txt" "$WORK/none.txt"

# ---------------------------------------------------------------------------------------------
# Empty tractograms: accepted, stored as well-typed empty datasets (nibabel's empty.tck, and an
# empty .trk in each subject's space written by dipy)
# ---------------------------------------------------------------------------------------------
for s in "$S1" "$S2"; do
  cp "$NIB/empty.tck" "$s/tractography/empty.tck"
  "${MK[@]}" empty_trk "$s/dwi/dwi.nii.gz" "$s/tractography/empty.trk"
done
EMPTY_CFG=$(cfg empty "{$VOL, \"e_tck\": {\"type\": \"streamlines\", \"files\": \"tractography/empty.tck\"}, \"e_trk\": {\"type\": \"streamlines\", \"files\": \"tractography/empty.trk\"}}")
for np in 0 3; do
  failed=$FAILS
  out=$WORK/out/empty_np$np.hdf5
  run_dwipack "$np" create "$R" "$out" "$EMPTY_CFG" "${LISTS[@]}"
  expect_rc 0 "empty_tractograms (np=$np)"
  expect_out "empty.tck' holds no streamline" "empty_tractograms (np=$np)"
  for s in sub-01 sub-02; do
    "${MK[@]}" check_empty "$out" "$s" e_tck e_trk || fail "empty_tractograms (np=$np): dataset types"$'\n'"$OUT"
  done
  [ ! -e "$out.partial" ] || fail "empty_tractograms (np=$np): '$out.partial' was left behind"
  passed empty_tractograms "$np" "$failed"
done
CASES=$((CASES + 1))

# ---------------------------------------------------------------------------------------------
# Disk full: the output folder is a 1 MB tmpfs. README: exit code 1 with nothing left (no partial
# file, no journal) when the failure is reported as a subject's failure; 2 (MPI_Abort: the disk is
# full while the layout is created or the file closed) where OUT.hdf5.partial and its journal may
# remain. Never an OUT.hdf5, never a hang, a message of dwipack saying the disk is full, and never a
# truncated config copy (OUT.json is the config, as dwi_ml copies it, or absent).
# ---------------------------------------------------------------------------------------------
"$DWIPACK" synth "$WORK/big" --subjects 2 --shape 40,40,40 --frames 6 --gzip_level 1 --streamlines 0 >/dev/null
BIG_CFG=$(vol_cfg big '["dwi/dwi.nii.gz", "anat/t1.nii.gz"]')
FULL=$WORK/out/full
mkdir -p "$FULL"
# disk_full_case NAME ROOT CONFIG LISTS... (the tmpfs is mounted)
disk_full_case() {
  local name=$1 root=$2 config=$3 np out failed
  shift 3
  for np in 0 3; do
    failed=$FAILS
    out=$FULL/out.hdf5
    run_dwipack "$np" create "$root" "$out" "$config" "$@"
    case $RC in
      1) no_output "$name" "$np" "$out" ;;
      2) ;; # OUT.hdf5.partial and its journal may remain (for --resume)
      *) fail "$name (np=$np): exit code $RC, expected 1 or 2"$'\n'"$OUT" ;;
    esac
    # dwipack's own error message names the reason (Open MPI's stderr lines do not count)
    grep -E 'ERROR' <<<"$OUT" | grep -qiE 'no space left on device|MPI_ERR_NO_SPACE' ||
      fail "$name (np=$np): no error message of dwipack says that the disk is full"$'\n'"$OUT"
    [ ! -e "$out" ] || fail "$name (np=$np): '$out' was left behind"$'\n'"$OUT"
    if [ -e "$FULL/out.json" ] && ! cmp -s "$FULL/out.json" "$config"; then
      fail "$name (np=$np): the config copy '$FULL/out.json' is truncated ($(stat -c %s "$FULL/out.json") of $(stat -c %s "$config") bytes), and no error said so"$'\n'"$OUT"
    fi
    passed "$name" "$np" "$failed" " (exit code $RC)"
    rm -f "$FULL"/out*
  done
  CASES=$((CASES + 1))
}
if mount -t tmpfs -o size=1m tmpfs "$FULL" 2>/dev/null; then
  MOUNTS+=("$FULL")
  # the file (3.7 MB of volumes) does not fit
  disk_full_case disk_full_while_writing "$WORK/big/dwi_ml_ready" "$BIG_CFG" \
    "$WORK/big/training_subjs.txt" "$WORK/big/validation_subjs.txt" "$WORK/big/testing_subjs.txt"
  # no room at all: already the config copy cannot be written
  dd if=/dev/zero of="$FULL/filler" bs=4k 2>/dev/null || true
  disk_full_case disk_full_from_the_start "$R" "$GOOD" "${LISTS[@]}"
  umount "$FULL" && MOUNTS=()
else
  echo "skip: disk_full (tmpfs mounts not permitted here)"
fi

[ "$FAILS" = 0 ] || { echo "corpus: $FAILS failed assertion(s)" >&2; exit 1; }
echo "corpus: $CASES cases, each with 1 and 3 ranks, passed in $((SECONDS - START)) s"
