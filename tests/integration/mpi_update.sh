#!/usr/bin/env bash
# --resume brings a complete OUT.hdf5 up to date, as make / Nextflow -resume would. Each scenario
# changes the inputs, runs `create --resume` over the existing file, and compares the result with
# a fresh conversion of the same inputs (h5diff and h5py: equal except the run's provenance), the
# update and the fresh run on different rank counts (1 and 3, alternating); the --log_json summary
# gives the kept / reconverted / added / dropped counts, which are asserted. Scenarios: nothing
# changed (the file is not touched), lists reordered and a subject moved between lists (root
# attributes only: every dataset stays where it was), one input replaced with the same size and a
# new mtime, one with a new size, a subject added, a subject removed, a config group removed and
# added back, --checksum (an input touched without a change of content is kept), --compression
# turned on and off (subjects copied between storages; lists rewritten in place), and an update
# killed (kill -9 of a worker) and resumed again. An update that must convert keeps the old file
# at OUT.hdf5 until the new one replaces it.
source "$(dirname "$0")/lib.sh"
export SOURCE_DATE_EPOCH=1764000000
make_dataset 4 10,11,9 3
READY=$D/dwi_ml_ready
CONFIG=$D/config.json
L=("$WORK/train.txt" "$WORK/valid.txt" "$WORK/test.txt")
printf 'sub-01\nsub-02\n' >"${L[0]}"
printf 'sub-03\n' >"${L[1]}"
printf 'sub-04\n' >"${L[2]}"
OUTF=$WORK/out.hdf5

np_update=0
# update NAME KEPT RECONVERTED ADDED DROPPED [options]: --resume over $OUTF, then a fresh run to
# compare with; the counts come from --log_json's summary.
update() {
  local name=$1 kept=$2 reconverted=$3 added=$4 dropped=$5
  shift 5
  local np_fresh=$((np_update == 0 ? 3 : 0))
  rm -f "$WORK/log.jsonl"
  # A layout left by a job killed while planning: removed by this run (lib.sh asserts it).
  touch "$OUTF.partial.layout"
  run_dwipack "$np_update" create "$READY" "$OUTF" "$CONFIG" "${L[@]}" --resume --log_json "$WORK/log.jsonl" "$@"
  expect_rc 0 "$name: --resume (np=$np_update)"
  UPDATE_OUT=$OUT
  [ ! -e "$OUTF.partial" ] && [ ! -e "$OUTF.partial.journal" ] || fail "$name: partial file left"
  "$PYTHON" - "$WORK/log.jsonl" "$kept" "$reconverted" "$added" "$dropped" <<'PY' || fail "$name: counts"$'\n'"$UPDATE_OUT"
import json, sys
summary = [json.loads(l) for l in open(sys.argv[1]) if '"summary"' in l][-1]
got = [summary[k] for k in ("subjects_kept", "subjects_reconverted", "subjects_added", "subjects_dropped")]
want = sys.argv[2:6]  # "*": any count (how far a killed run got)
assert all(w == "*" or int(w) == g for g, w in zip(got, want)), f"kept/reconverted/added/dropped {got}, expected {want}"
assert got[1] + got[2] == summary["subjects_written"], summary  # converted: reconverted or added
PY
  run_dwipack "$np_fresh" create "$READY" "$WORK/fresh.hdf5" "$CONFIG" "${L[@]}" -f "$@"
  expect_rc 0 "$name: fresh run (np=$np_fresh)"
  diffs=$(same_content "$WORK/fresh.hdf5" "$OUTF") || fail "$name: the updated file differs from a fresh run: $diffs"
  pass "$name: updated with np=$np_update ($kept kept, $reconverted reconverted, $added added, $dropped dropped), equal to a fresh run with np=$np_fresh"
  np_update=$np_fresh
}

offsets() { # where every dataset's data is in the file (its first chunk's, when chunked)
  "$PYTHON" - "$1" <<'PY'
import sys, h5py
def where(name, obj):
    if isinstance(obj, h5py.Dataset):
        chunked = obj.chunks is not None and obj.id.get_num_chunks() > 0
        print(name, obj.compression, obj.id.get_chunk_info(0).byte_offset if chunked else obj.id.get_offset())
with h5py.File(sys.argv[1], "r") as f:
    f.visititems(where)
PY
}

run_dwipack 3 create "$READY" "$OUTF" "$CONFIG" "${L[@]}"
expect_rc 0 "first conversion"

# Nothing changed: said at the default log level, the file not even opened for writing.
before=$(md5sum <"$OUTF")
update "nothing changed" 4 0 0 0
grep -q "is up to date" <<<"$UPDATE_OUT" || fail "nothing changed: not said"$'\n'"$UPDATE_OUT"
[ "$(md5sum <"$OUTF")" = "$before" ] || fail "nothing changed: the file was modified"

# Lists reordered, a subject moved to another list: root attributes only.
before=$(offsets "$OUTF")
printf 'sub-02\nsub-01\nsub-04\n' >"${L[0]}"
printf '' >"${L[2]}"
update "lists reordered, a subject moved between lists" 4 0 0 0
[ "$(offsets "$OUTF")" = "$before" ] || fail "lists only: datasets were rewritten"
pass "lists only: every dataset is where it was (root attributes rewritten in place)"

# One input replaced: same size and a new mtime, then a new size.
touch "$READY/sub-03/dwi/dwi.nii.gz"
update "an input with a new mtime" 3 1 0 0
grep -q "reconverted.*input 'dwi/dwi.nii.gz' changed (modification time)" <<<"$UPDATE_OUT" \
  || fail "new mtime: the reason is not given"$'\n'"$UPDATE_OUT"
"$PYTHON" - "$READY/sub-01/anat/t1.nii.gz" <<'PY'
import sys, nibabel as nib, numpy as np
img = nib.load(sys.argv[1])
nib.save(nib.Nifti1Image(np.asanyarray(img.dataobj) * 2 + 1, img.affine, img.header), sys.argv[1])
PY
update "an input with new content and size" 3 1 0 0
grep -q "input 'anat/t1.nii.gz' changed (size" <<<"$UPDATE_OUT" || fail "new size: no reason"$'\n'"$UPDATE_OUT"

# A subject added, then one removed; the old file stays at OUT.hdf5 while the new one is written.
cp -a "$READY/sub-04" "$READY/sub-05"
printf 'sub-05\n' >"${L[2]}"
update "a subject added" 4 0 1 0
printf 'sub-02\nsub-04\n' >"${L[0]}"
update "a subject removed" 4 0 0 1

# A config group removed, then added back: every subject reconverted.
cp "$CONFIG" "$WORK/config.bak"
"$PYTHON" - "$CONFIG" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
del c["tracking"]
json.dump(c, open(sys.argv[1], "w"), indent=2)
PY
update "a config group removed" 0 4 0 0
grep -q "group 'tracking' was removed" <<<"$UPDATE_OUT" || fail "group removed: no reason"$'\n'"$UPDATE_OUT"
cp "$WORK/config.bak" "$CONFIG"
update "a config group added" 0 4 0 0

# --checksum: the content decides, not the modification time.
update "recorded with --checksum" 0 4 0 0 --checksum
touch "$READY/sub-02/dwi/dwi.nii.gz" "$READY/sub-04/anat/t1.nii.gz"
update "inputs touched, same content, --checksum" 4 0 0 0 --checksum
cp "$READY/sub-03/anat/t1.nii.gz" "$WORK/t1.nii.gz"
"$PYTHON" - "$WORK/t1.nii.gz" "$READY/sub-03/anat/t1.nii.gz" <<'PY'
import sys, nibabel as nib, numpy as np
img = nib.load(sys.argv[1])  # the same shape and size, another value in one voxel
data = np.asanyarray(img.dataobj).copy()
data.flat[0] += 1
nib.save(nib.Nifti1Image(data, img.affine, img.header), sys.argv[2])
PY
update "an input with new content, --checksum" 3 1 0 0 --checksum

# Storage: --compression asked of an uncompressed file copies every subject into a compressed
# one; the lists of a compressed file are rewritten in place; without --compression again, copied
# back out.
update "the same inputs, now with --compression" 4 0 0 0 --compression gzip:1
grep -q " gzip " <<<"$(offsets "$OUTF")" || fail "--compression: the updated file is not compressed"
printf 'sub-04\nsub-02\n' >"${L[0]}"
before=$(offsets "$OUTF")
update "lists reordered in a compressed file" 4 0 0 0 --compression gzip:1
[ "$(offsets "$OUTF")" = "$before" ] || fail "compressed, lists only: datasets were rewritten"
update "the same inputs, without --compression again" 4 0 0 0
grep -q " gzip " <<<"$(offsets "$OUTF")" && fail "without --compression: the updated file is still compressed"

# An update killed by kill -9 of a worker, then resumed: the old file is intact meanwhile.
printf 'sub-01\nsub-02\nsub-03\n' >"${L[0]}"
touch "$READY/sub-02/dwi/dwi.nii.gz" "$READY/sub-04/dwi/dwi.nii.gz"
before=$(md5sum <"$OUTF")
timeout 120 "$MPIEXEC" -n 3 "$DWIPACK" create "$READY" "$OUTF" "$CONFIG" "${L[@]}" --resume >"$WORK/killed.log" 2>&1 &
launcher=$!
for i in $(seq 400); do
  grep -q '"subject"' "$OUTF.partial.journal" 2>/dev/null && break
  sleep 0.01
done
for pid in $(pgrep -f -- "^$DWIPACK create $READY $OUTF " || true); do
  tr '\0' '\n' <"/proc/$pid/environ" 2>/dev/null | grep -qx "OMPI_COMM_WORLD_RANK=1" && kill -9 "$pid"
done
wait "$launcher" || true
while pgrep -f -- "^$DWIPACK create $READY $OUTF " >/dev/null; do sleep 0.05; done
if [ -e "$OUTF.partial" ]; then
  [ "$(md5sum <"$OUTF")" = "$before" ] || fail "killed update: the old file was modified"
  pass "killed update: partial file left, the old complete file untouched at OUT.hdf5"
else
  echo "note: the update finished before the kill landed"
fi
# sub-01 added, sub-02 reconverted, sub-04 dropped, unless the killed run had written them already
update "the killed update resumed" "*" "*" "*" 1
