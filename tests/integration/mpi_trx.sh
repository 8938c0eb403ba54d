#!/usr/bin/env bash
# TRX tractograms end to end, on 1 rank (no mpirun) and 3 ranks. The TRX files are written by
# tests/python/trx_writer.py (numpy + zipfile, independent of dwipack) from the streamlines nibabel
# loads from real .trk files: nibabel's standard.trk (with its standard.nii.gz), dipy's minimal
# bundles (moved into an oblique LAS space), and two synthetic subjects' bundles with their data
# per streamline. Every TRX variant (ZIP stored / deflated / ZIP64 / a top folder, plain folder;
# float16/32/64 positions; uint32/uint64 offsets with and without the final entry) must give the
# group the .trk gives, bit for bit (float16: within its rounding), and the .tck the same points;
# also with resampling, compression and --remove_invalid. Then: malformed TRX files refused with
# their message and nothing written; `extract` to .trx and back through `create` (bit for bit in
# axis-aligned spaces); `synth --bundle_format trx`.
source "$(dirname "$0")/lib.sh"
export SOURCE_DATE_EPOCH=1764000000 TESTS_DIR
NIB=/usr/lib/python3/dist-packages/nibabel/tests/data
DIPY=/usr/lib/python3/dist-packages/dipy/data/files
FIX=("$PYTHON" "$TESTS_DIR/python/trx_fixtures.py")
CHECK=("$PYTHON" "$TESTS_DIR/python/trx_check.py")
R=$WORK/ready
mkdir -p "$R"

# --- subjects: std (nibabel), mb (dipy), syn1/syn2 (synthetic, with dps)
mkdir -p "$R/std/anat"
cp "$NIB/standard.nii.gz" "$R/std/anat/ref.nii.gz"
"${FIX[@]}" subject "$R/std" "$NIB/standard.trk" || fail "fixtures: std"
(cd "$WORK" && unzip -q "$DIPY/minimal_bundles.zip" 'sub_1/*')
"${FIX[@]}" rewrite "$R/mb/anat/ref.nii.gz" "$WORK/mb_" "$WORK"/sub_1/*.trk || fail "fixtures: mb rewrite"
"${FIX[@]}" subject "$R/mb" "$WORK"/mb_*.trk || fail "fixtures: mb"
"$DWIPACK" synth "$WORK/syn" --subjects 2 --shape 14,16,12 --frames 2 --streamlines 300 --gzip_level 1 >/dev/null
for n in 1 2; do
  s=$R/syn$n
  mv "$WORK/syn/dwi_ml_ready/sub-0$n" "$s"
  mkdir -p "$s/anat"
  cp "$s/masks/wm.nii.gz" "$s/anat/ref.nii.gz"
  "${FIX[@]}" subject "$s" "$s/tractography/bundle_a.trk" "$s/tractography/bundle_b.trk" --dps weight,color \
    || fail "fixtures: syn$n"
done
printf 'std\nmb\nsyn1\n' > "$WORK/train.txt"; echo syn2 > "$WORK/valid.txt"; : > "$WORK/none.txt"
printf 'syn1\n' > "$WORK/syn_train.txt"; echo syn2 > "$WORK/syn_valid.txt"
ALL_LISTS=("$WORK/train.txt" "$WORK/valid.txt" "$WORK/none.txt")
SYN_LISTS=("$WORK/syn_train.txt" "$WORK/syn_valid.txt" "$WORK/none.txt")

EXACT=(stored deflated folder f64 f64deflated zip64 prefixed)
HALF=(f16 f16folder)
# config NAME DPS VARIANT...: the reference volume, the .trk and .tck groups, one group per variant
config() {
  local name=$1 dps=$2; shift 2
  local keys=""
  [ -z "$dps" ] || keys=", \"dps_keys\": [$dps]"
  {
    printf '{"ref": {"type": "volume", "files": "anat/ref.nii.gz", "standardization": "none"},\n'
    printf ' "trk": {"type": "streamlines", "files": "tractography/src_*.trk"%s},\n' "$keys"
    printf ' "tck": {"type": "streamlines", "files": "tractography/src_*.tck"}'
    for v in "$@"; do printf ',\n "%s": {"type": "streamlines", "files": "tractography/src_*.%s.trx"%s}' "$v" "$v" "$keys"; done
    printf '}\n'
  } > "$WORK/$name.json"
  echo "$WORK/$name.json"
}
ALL=$(config all "" "${EXACT[@]}" "${HALF[@]}")
DPS=$(config dps '"weight", "color"' "${EXACT[@]}" "${HALF[@]}")
OPTS=$(config opts "" "${EXACT[@]}")

# check OUT with_f16|exact_only SUBJECTS...: every TRX group equals the .trk group (float16 within
# its rounding), the .tck group has the same data
check() {
  local out=$1 groups=("${EXACT[@]}"); shift
  [ "$1" = exact_only ] || groups+=(--f16 "${HALF[@]}")
  shift
  for s in "$@"; do
    "${CHECK[@]}" groups "$out" "$s" trk "${groups[@]}" --data-only tck \
      || fail "$(basename "$out"): subject $s: TRX groups differ from the .trk group"
  done
}

for np in 0 3; do
  run_dwipack "$np" create "$R" "$WORK/all_np$np.hdf5" "$ALL" "${ALL_LISTS[@]}"
  expect_rc 0 "create from every variant (np=$np)"
  check "$WORK/all_np$np.hdf5" with_f16 std mb syn1 syn2
  run_dwipack "$np" create "$R" "$WORK/dps_np$np.hdf5" "$DPS" "${SYN_LISTS[@]}"
  expect_rc 0 "create with dps_keys (np=$np)"
  check "$WORK/dps_np$np.hdf5" with_f16 syn1 syn2
done
diffs=$(same_content "$WORK/all_np0.hdf5" "$WORK/all_np3.hdf5") || fail "1 and 3 ranks differ: $diffs"
diffs=$(same_content "$WORK/dps_np0.hdf5" "$WORK/dps_np3.hdf5") || fail "1 and 3 ranks differ (dps): $diffs"
# the reference .trk groups themselves are dwipack's .trk path, checked against dipy elsewhere
# (check_output.py in mpi_streamlines.sh); here the float16 groups really differ from them:
"${CHECK[@]}" groups "$WORK/all_np0.hdf5" mb trk f16 >/dev/null && fail "float16 positions gave the float32 points (mb)"
pass "every TRX variant gives the .trk group (float16 within its rounding), 1 and 3 ranks identical"

# a 1-point and an empty streamline: dwi_ml's euclidean_lengths are then float64; planning learns it
# from the .trx's offsets as from the .trk's counts
mkdir -p "$R/short/anat"
cp "$NIB/standard.nii.gz" "$R/short/anat/ref.nii.gz"
"$PYTHON" - "$NIB/standard.trk" "$WORK/short.trk" <<'PY' || fail "fixtures: short"
import sys, nibabel as nib
t = nib.streamlines.load(sys.argv[1])
s = list(t.streamlines)
s[5], s[7] = s[5][:1], s[7][:0]
nib.streamlines.TrkFile(nib.streamlines.Tractogram(s, affine_to_rasmm=t.tractogram.affine_to_rasmm), t.header).save(sys.argv[2])
PY
"${FIX[@]}" subject "$R/short" "$WORK/short.trk" || fail "fixtures: short subject"
echo short > "$WORK/short.txt"
for np in 0 3; do
  run_dwipack "$np" create "$R" "$WORK/short_np$np.hdf5" "$ALL" "$WORK/short.txt" "$WORK/none.txt" "$WORK/none.txt"
  expect_rc 0 "create with a 1-point and an empty streamline (np=$np)"
  check "$WORK/short_np$np.hdf5" with_f16 short
done
"$PYTHON" -c "import h5py, sys; g = h5py.File('$WORK/short_np0.hdf5')['short']; sys.exit(any(g[n]['euclidean_lengths'].dtype != 'float64' for n in g if n != 'ref'))" \
  || fail "short streamlines: euclidean_lengths are not float64 in every group"
pass "a 1-point and an empty streamline: the .trk group's types and values from every TRX variant"

i=0
for opts in "--nb_points 12" "--compress 0.2 --remove_invalid" "--step_size 0.75"; do
  i=$((i + 1))
  for np in 0 3; do
    # shellcheck disable=SC2086
    run_dwipack "$np" create "$R" "$WORK/opts${i}_np$np.hdf5" "$OPTS" "${ALL_LISTS[@]}" $opts
    expect_rc 0 "create $opts (np=$np)"
    check "$WORK/opts${i}_np$np.hdf5" exact_only std mb syn1 syn2
  done
  diffs=$(same_content "$WORK/opts${i}_np0.hdf5" "$WORK/opts${i}_np3.hdf5") || fail "'$opts': 1 and 3 ranks differ: $diffs"
  pass "$opts: TRX groups equal the .trk group"
done

# --- malformed TRX: exit code 1, the file, the member and the fact; nothing at the output path
"${FIX[@]}" malformed "$NIB/standard.trk" "$WORK/bad" || fail "fixtures: malformed"
B=$WORK/bad_ready
mkdir -p "$B/std/anat" "$B/std/tractography"
cp "$NIB/standard.nii.gz" "$B/std/anat/ref.nii.gz"
echo std > "$WORK/std.txt"
printf '{"ref": {"type": "volume", "files": "anat/ref.nii.gz", "standardization": "none"},\n "bad": {"type": "streamlines", "files": "tractography/bad.trx"}}\n' > "$WORK/bad.json"
BAD=$B/std/tractography/bad.trx
refused() { # NAME NP EXPECTED...: create must fail with each EXPECTED text and leave nothing
  local name=$1 np=$2 out=$WORK/out/bad.hdf5; shift 2
  mkdir -p "$WORK/out"
  run_dwipack "$np" create "$B" "$out" "$WORK/bad.json" "$WORK/std.txt" "$WORK/none.txt" "$WORK/none.txt"
  expect_rc 1 "$name (np=$np)"
  for text in "$@"; do expect_out "$text" "$name (np=$np)"; done
  for f in "$out" "$out.partial" "$out.partial.journal"; do [ ! -e "$f" ] || fail "$name (np=$np): '$f' left behind"; done
}
n=0
for case in $("$PYTHON" -c "import json; print(*sorted(json.load(open('$WORK/bad/cases.json'))))"); do
  file=$WORK/bad/$("$PYTHON" -c "import json; print(json.load(open('$WORK/bad/cases.json'))['$case']['file'])")
  member=$("$PYTHON" -c "import json; m = json.load(open('$WORK/bad/cases.json'))['$case']['member']; print(m or '')")
  expect=$("$PYTHON" -c "import json; print(json.load(open('$WORK/bad/cases.json'))['$case']['expect'])")
  rm -rf "$BAD"
  cp -r "$file" "$BAD"
  frame="file '$BAD': "
  [ -z "$member" ] || frame="${frame}member '$member': "
  for np in 0 $(case $case in offsets_decrease | crc | unknown_dtype | corrupt_deflate) echo 3 ;; esac); do
    refused "$case" "$np" "subject 'std'" "$frame" "$expect"
  done
  n=$((n + 1))
done
# a valid TRX whose space is not the reference volume's: the .trk check and tolerances
"$PYTHON" - "$NIB/standard.trk" "$BAD" <<'PY' || fail "fixtures: incompatible"
import sys, shutil, os, numpy as np, nibabel as nib
sys.path.insert(0, os.environ['TESTS_DIR'] + '/python')
from trx_writer import write_trx
t = nib.streamlines.load(sys.argv[1])
affine = np.asarray(t.header['voxel_to_rasmm'], np.float32).copy()
shutil.rmtree(sys.argv[2], ignore_errors=True) if os.path.isdir(sys.argv[2]) else None
write_trx(sys.argv[2], list(t.streamlines), affine, [4, 5, 8])
PY
refused incompatible_dimensions 0 "file '$BAD': dimensions (4, 5, 8) differ from (4, 5, 7) of the reference volume"
cp "$R/std/tractography/src_0.stored.trx" "$BAD"
printf '{"ref": {"type": "volume", "files": "anat/ref.nii.gz", "standardization": "none"},\n "bad": {"type": "streamlines", "files": "tractography/bad.trx", "dps_keys": "nope"}}\n' > "$WORK/bad.json"
refused missing_dps_key 0 "file '$BAD': data_per_streamline key 'nope' not found (the file has none)"
pass "$n malformed TRX files and 2 incompatible ones refused, nothing written"

# dpv/, groups/, dpg/ are ignored, with a note in the log
"$PYTHON" - "$NIB/standard.trk" "$BAD" <<'PY' || fail "fixtures: extras"
import sys, os, numpy as np, nibabel as nib
sys.path.insert(0, os.environ['TESTS_DIR'] + '/python')
from trx_writer import trx_members, write_members
t = nib.streamlines.load(sys.argv[1])
m = trx_members(list(t.streamlines), t.header['voxel_to_rasmm'], [4, 5, 7])
m['dpv/fa.float32'] = np.zeros(360, '<f4').tobytes()
m['groups/left.uint32'] = np.arange(5, dtype='<u4').tobytes()
m['dpg/left/mean.float32'] = np.zeros(1, '<f4').tobytes()
os.remove(sys.argv[2])
write_members(sys.argv[2], m, 'deflated')
PY
printf '{"ref": {"type": "volume", "files": "anat/ref.nii.gz", "standardization": "none"},\n "bad": {"type": "streamlines", "files": "tractography/bad.trx"}}\n' > "$WORK/bad.json"
run_dwipack 0 create "$B" "$WORK/extras.hdf5" "$WORK/bad.json" "$WORK/std.txt" "$WORK/none.txt" "$WORK/none.txt" -v INFO
expect_rc 0 "TRX with dpv/groups/dpg"
expect_out "file '$BAD': ignored, as dwi_ml does not use them: data per group (dpg/: 1 array), data per vertex (dpv/: 1 array), groups (groups/: 1 array)" "ignored arrays noted"
pass "dpv/, groups/ and dpg/ ignored with a note"

# --- extract to .trx and back through create. Axis-aligned spaces (std, syn1): the same groups bit
# for bit. An oblique space (mb): dipy's float32 numerics are not their own inverse, so the points
# come back within 3e-5 voxel, exactly as through a .tck (the .trk's extra voxmm step adds more);
# offsets, lengths, dps and attributes are exact.
X=$WORK/rt_ready
for s in std syn1 mb; do
  for ext in trx tck trk; do
    run_dwipack 0 extract "$WORK/all_np0.hdf5" "$s" trk "$WORK/$s.$ext"
    expect_rc 0 "extract $s to .$ext"
  done
  # the .trx holds what the .tck holds (nibabel reads that), as a stored ZIP that zipfile reads
  "$PYTHON" - "$WORK/$s.trx" "$WORK/$s.tck" <<'PY' || fail "$s.trx does not hold the extracted points"
import sys, os, zipfile, numpy as np, nibabel as nib
sys.path.insert(0, os.environ['TESTS_DIR'] + '/python')
from trx_writer import read_trx
header, positions, offsets, dps, info = read_trx(sys.argv[1])
assert all(method == zipfile.ZIP_STORED for _, method, _, _ in info), info
assert sorted(n for n, *_ in info) == ['header.json', 'offsets.uint64', 'positions.3.float32'], info
tck = nib.streamlines.load(sys.argv[2]).streamlines
assert np.array_equal(np.diff(offsets), [len(s) for s in tck])
assert positions.tobytes() == np.concatenate(list(tck)).astype('<f4').tobytes()
PY
  mkdir -p "$X/$s/tractography" "$X/$s/anat"
  cp "$R/$s/anat/ref.nii.gz" "$X/$s/anat/"
  for ext in trx tck trk; do cp "$WORK/$s.$ext" "$X/$s/tractography/back.$ext"; done
done
run_dwipack 0 extract "$WORK/dps_np0.hdf5" syn1 trk "$WORK/syn1_dps.trx"
expect_rc 0 "extract syn1 with dps"
cp "$WORK/syn1_dps.trx" "$X/syn1/tractography/back_dps.trx"
printf 'std\nsyn1\nmb\n' > "$WORK/rt.txt"
cat > "$WORK/rt.json" <<'JSON'
{"ref": {"type": "volume", "files": "anat/ref.nii.gz", "standardization": "none"},
 "trx": {"type": "streamlines", "files": "tractography/back.trx"},
 "tck": {"type": "streamlines", "files": "tractography/back.tck"},
 "trk": {"type": "streamlines", "files": "tractography/back.trk"}}
JSON
run_dwipack 3 create "$X" "$WORK/rt.hdf5" "$WORK/rt.json" "$WORK/rt.txt" "$WORK/none.txt" "$WORK/none.txt"
expect_rc 0 "create from the extracted .trx"
for s in std syn1; do
  "${CHECK[@]}" same_group "$WORK/all_np0.hdf5" "$s/trk" "$WORK/rt.hdf5" "$s/trx" || fail "$s: extract -> .trx -> create is not the same group"
done
"${CHECK[@]}" same_group "$WORK/all_np0.hdf5" mb/trk "$WORK/rt.hdf5" mb/trx 3e-5 || fail "mb: the .trx round trip is beyond 3e-5 voxel"
"$PYTHON" - "$WORK/rt.hdf5" <<'PY' || fail "mb: the .trx round trip differs from the .tck one"
import sys, h5py
g = h5py.File(sys.argv[1])['mb']
for d in ('data', 'euclidean_lengths', 'offsets', 'lengths'):
    assert g['trx'][d][()].tobytes() == g['tck'][d][()].tobytes(), d
PY
echo syn1 > "$WORK/rt1.txt"
printf '{"ref": {"type": "volume", "files": "anat/ref.nii.gz", "standardization": "none"},\n "back": {"type": "streamlines", "files": "tractography/back_dps.trx", "dps_keys": ["color", "weight"]}}\n' > "$WORK/rt_dps.json"
run_dwipack 0 create "$X" "$WORK/rt_dps.hdf5" "$WORK/rt_dps.json" "$WORK/rt1.txt" "$WORK/none.txt" "$WORK/none.txt"
expect_rc 0 "create from the extracted .trx with dps"
"${CHECK[@]}" same_group "$WORK/dps_np0.hdf5" syn1/trk "$WORK/rt_dps.hdf5" syn1/back || fail "syn1: the dps round trip differs"
pass "extract to .trx and back through create: the same groups (axis-aligned: bit for bit, with dps; oblique: as a .tck)"

# --- synth --bundle_format trx: the streamlines of the same seed's .trk bundles (the generated RAS
# points themselves, which the union .tck also holds; the .trk stores them in voxmm)
"$DWIPACK" synth "$WORK/syn_trx" --subjects 2 --shape 14,16,12 --frames 2 --streamlines 300 --gzip_level 1 \
  --bundle_format trx >/dev/null || fail "synth --bundle_format trx"
"$DWIPACK" synth "$WORK/syn_trk" --subjects 2 --shape 14,16,12 --frames 2 --streamlines 300 --gzip_level 1 >/dev/null
grep -q '"tractography/bundle_\*.trx"' "$WORK/syn_trx/config.json" || fail "synth config does not name the .trx bundles"
for s in sub-01 sub-02; do
  "$PYTHON" - "$WORK/syn_trx/dwi_ml_ready/$s/tractography" "$WORK/syn_trk/dwi_ml_ready/$s/tractography" <<'PY' \
    || fail "synth: $s: the .trx bundles are not the .trk bundles' streamlines"
import sys, os, numpy as np, nibabel as nib
sys.path.insert(0, os.environ['TESTS_DIR'] + '/python')
from trx_writer import read_trx
trx, trk = sys.argv[1], sys.argv[2]
whole = nib.streamlines.load(f'{trx}/whole.tck').streamlines
positions, lengths = [], []
for b in ('bundle_a', 'bundle_b'):
    header, p, offsets, dps, _ = read_trx(f'{trx}/{b}.trx')
    t = nib.streamlines.load(f'{trk}/{b}.trk')
    assert np.array_equal(np.diff(offsets), [len(s) for s in t.streamlines]), b
    for k in ('weight', 'color'):
        assert dps[k].tobytes() == np.asarray(t.tractogram.data_per_streamline[k], '<f4').tobytes(), (b, k)
    assert np.allclose(p, np.concatenate(list(t.streamlines)), rtol=0, atol=1e-4), b
    np.testing.assert_array_equal(header['DIMENSIONS'], t.header['dimensions'])
    np.testing.assert_array_equal(np.asarray(header['VOXEL_TO_RASMM'], np.float32), t.header['voxel_to_rasmm'])
    positions.append(p)
assert np.concatenate(positions).tobytes() == np.concatenate(list(whole)).astype('<f4').tobytes()
PY
done
for f in trx trk; do
  D=$WORK/syn_$f
  run_dwipack 3 create "$D/dwi_ml_ready" "$WORK/synth_$f.hdf5" "$D/config.json" "$D/training_subjs.txt" \
    "$D/validation_subjs.txt" "$D/testing_subjs.txt"
  expect_rc 0 "create from synth --bundle_format $f"
done
for s in sub-01 sub-02; do
  "${CHECK[@]}" same_group "$WORK/synth_trk.hdf5" "$s/bundles" "$WORK/synth_trx.hdf5" "$s/bundles" 1e-5 \
    || fail "synth: $s/bundles from .trx differs from .trk"
done
pass "synth --bundle_format trx: the .trk bundles' streamlines and dps"
