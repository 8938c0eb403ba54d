#!/usr/bin/env bash
# The seed-era command line (docs/format.md §7.1), unchanged, through the
# `create_hdf5_dataset` / `create_hdf5_dataset.py` entry points: 2021 layout checked through h5py
# against what the 2021 reader requires and against nibabel/dipy doing the 2021 processing.
source "$(dirname "$0")/lib.sh"
make_dataset 3 14,16,12 3
SEED=$(dirname "$DWIPACK")/create_hdf5_dataset.py
[ -L "$SEED" ] || fail "the build has no $SEED symlink"
DB=$D   # the database folder holds dwi_ml_ready/
for s in sub-01 sub-02 sub-03; do
  mkdir -p "$DB/dwi_ml_ready/$s/bundles"
  cp "$DB/dwi_ml_ready/$s/tractography/bundle_a.trk" "$DB/dwi_ml_ready/$s/bundles/AF_L.trk"
  cp "$DB/dwi_ml_ready/$s/tractography/bundle_b.trk" "$DB/dwi_ml_ready/$s/bundles/CST_R.trk"
done
cat > "$WORK/config.json" <<'JSON'
{
    "input": {"type": "volume", "files": ["dwi/dwi.nii.gz", "anat/t1.nii.gz"]},
    "wm": {"type": "volume", "files": ["masks/wm.nii.gz"]}
}
JSON
LISTS=("$WORK/config.json" "$D/training_subjs.txt" "$D/validation_subjs.txt")
check() { "$PYTHON" "$TESTS_DIR/python/check_output_2021.py" "$1" "$DB/dwi_ml_ready" "${LISTS[@]}" "${@:2}"; }
run_seed() { # NP ARGS...
  local np=$1; shift
  set +e
  if [ "$np" = 0 ]; then OUT=$(timeout 120 "$SEED" "$@" 2>&1); else OUT=$(timeout 120 "$MPIEXEC" -n "$np" "$SEED" "$@" 2>&1); fi
  RC=$?
  set -e
}

# The documented command, with real paths, on 3 ranks
run_seed 3 --force --name myset --std_mask masks/wm.nii.gz --bundles AF_L CST_R --space vox \
  "$DB" "${LISTS[@]}" --enforce_bundles_presence True
expect_rc 0 "seed command (np=3)"
check "$DB/hdf5/myset.hdf5" AF_L.trk,CST_R.trk --std_mask masks/wm.nii.gz || fail "seed output (vox)"
pass "the seed command line, 3 ranks"

# hdf5/ exists: refused without --force; nothing changed
before=$(md5sum < "$DB/hdf5/myset.hdf5")
run_seed 0 --name other --bundles AF_L --space vox "$DB" "${LISTS[@]}"
expect_rc 1 "existing hdf5/ without --force"; expect_out "already exists; use --force" "hdf5/ exists"
[ ! -e "$DB/hdf5/other.hdf5" ] && [ "$(md5sum < "$DB/hdf5/myset.hdf5")" = "$before" ] || fail "hdf5/ touched"
pass "hdf5/ refused without --force"

# other spaces, --step_size, all bundles of bundles/, --independent_modalities False, singleton
run_seed 0 --force --name voxmm --std_mask masks/wm.nii.gz --space voxmm --step_size 0.75 "$DB" "${LISTS[@]}"
expect_rc 0 "voxmm + step_size"
check "$DB/hdf5/voxmm.hdf5" AF_L.trk,CST_R.trk --std_mask masks/wm.nii.gz --space voxmm --step_size 0.75 \
  || fail "seed output (voxmm, step_size)"
run_seed 2 --force --name ras --bundles CST_R --space rasmm --independent_modalities False "$DB" "${LISTS[@]}"
expect_rc 0 "rasmm + not independent"
check "$DB/hdf5/ras.hdf5" CST_R.trk --space rasmm --independent False || fail "seed output (rasmm)"
pass "spaces, step_size, bundle selection, independent_modalities"

# --enforce_bundles_presence: True fails on a missing bundle, False really skips it
run_seed 0 --force --name miss --bundles AF_L NOPE --space vox "$DB" "${LISTS[@]}" --enforce_bundles_presence True
expect_rc 1 "missing bundle enforced"; expect_out "bundle 'NOPE': no file" "missing bundle"
run_seed 0 --force --name miss --bundles AF_L NOPE --space vox "$DB" "${LISTS[@]}" --enforce_bundles_presence False
expect_rc 0 "--enforce_bundles_presence False"
check "$DB/hdf5/miss.hdf5" AF_L.trk || fail "seed output with a skipped bundle"
run_seed 0 --force --name x --enforce_bundles_presence Maybe "$DB" "${LISTS[@]}"
expect_rc 1 "bad boolean"; expect_out "takes True or False, got 'Maybe'" "bad boolean"
run_seed 0 --force --name x --step_size 1 --compress "$DB" "${LISTS[@]}"
expect_rc 1 "exclusive"; expect_out "mutually exclusive" "exclusive"
run_seed 0 --force --name x --space world "$DB" "${LISTS[@]}"
expect_rc 1 "bad --space"; expect_out "--space must be vox, voxmm or rasmm, got 'world'" "bad --space"
run_seed 0 --force --name a/b "$DB" "${LISTS[@]}"
expect_rc 1 "bad --name"; expect_out "--name must be a plain file name" "bad --name"
run_seed 0 --force --name x "$DB" "${LISTS[@]:0:2}"
expect_rc 1 "3 positionals"; expect_out "expected 4 positional arguments" "positionals"
echo '{"tracks": {"type": "streamlines", "files": ["a.trk"]}}' > "$WORK/bad.json"
run_seed 0 --force --name x "$DB" "$WORK/bad.json" "${LISTS[@]:1}"
expect_rc 1 "streamline group in a seed config"; expect_out "volume groups only" "seed config"
# --save_intermediate: hdf5/<subject>_intermediate/<group>_(non)standardized.nii.gz and streamlines.trk
run_seed 3 --force --name inter --std_mask masks/wm.nii.gz --bundles AF_L CST_R --space vox "$DB" "${LISTS[@]}" \
  --save_intermediate
expect_rc 0 "--save_intermediate"
"$PYTHON" - "$DB" "$WORK/config.json" <<'PY' || fail "seed intermediate files"
import json, os, sys
import h5py, nibabel as nib, numpy as np
from dipy.io.streamline import load_tractogram
db, config = sys.argv[1], json.load(open(sys.argv[2]))
with h5py.File(os.path.join(db, "hdf5", "inter.hdf5"), "r") as f:
    for subj in f:
        folder = os.path.join(db, "hdf5", f"{subj}_intermediate")
        for g, cfg in config.items():
            raw = np.concatenate([nib.load(os.path.join(db, "dwi_ml_ready", subj, p)).get_fdata(dtype=np.float32).reshape(
                f[subj][g]["data"].shape[:3] + (-1,)) for p in cfg["files"]], axis=-1)
            non = np.asanyarray(nib.load(os.path.join(folder, f"{g}_nonstandardized.nii.gz")).dataobj)
            assert np.array_equal(non, raw), (subj, g, "nonstandardized")
            std = np.asanyarray(nib.load(os.path.join(folder, f"{g}_standardized.nii.gz")).dataobj)
            assert np.array_equal(std, f[subj][g]["data"][()]), (subj, g, "standardized")
        sft = load_tractogram(os.path.join(folder, "streamlines.trk"), "same")
        assert len(sft) == len(f[subj]["streamlines"]["lengths"]), subj
PY
pass "seed --save_intermediate"

run_seed 0 --help
expect_rc 0 "--help"; expect_out "--enforce_bundles_presence" "--help"
pass "seed options and errors"
