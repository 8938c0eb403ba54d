#!/usr/bin/env bash
# dwi_ml's command name: `dwiml_create_hdf5_dataset` (a symlink to dwipack) takes a dwi_ml user's
# command line unchanged, under mpirun and alone.
source "$(dirname "$0")/lib.sh"
make_dataset 3 12,14,10 3
ENTRY=$(dirname "$DWIPACK")/dwiml_create_hdf5_dataset
[ -L "$ENTRY" ] || fail "the build has no $ENTRY symlink"
R=$D/dwi_ml_ready

# dwi_ml's documented form, with its flags (bare -v, bare --compress, -f)
set +e
OUT=$(timeout 120 "$ENTRY" "$R" "$WORK/a" "${ARGS_LISTS[@]}" --compress -v 2>&1); RC=$?
set -e
expect_rc 0 "dwiml_create_hdf5_dataset alone"
[ -f "$WORK/a.hdf5" ] || fail "'.hdf5' not appended"
expect_out "INFO:" "bare -v means INFO"
"$PYTHON" "$TESTS_DIR/python/check_output.py" "$WORK/a.hdf5" "$R" "${ARGS_LISTS[@]}" --compress \
  || fail "dwiml_create_hdf5_dataset output check"

set +e
OUT=$(timeout 120 "$MPIEXEC" -n 3 "$ENTRY" "$R" "$WORK/a.hdf5" "${ARGS_LISTS[@]}" --compress -f 2>&1); RC=$?
set -e
expect_rc 0 "dwiml_create_hdf5_dataset under mpirun -n 3 with -f"
"$PYTHON" "$TESTS_DIR/python/check_output.py" "$WORK/a.hdf5" "$R" "${ARGS_LISTS[@]}" --compress \
  || fail "dwiml_create_hdf5_dataset (3 ranks) output check"

set +e
OUT=$(timeout 60 "$ENTRY" "$R" "$WORK/a.h5" "${ARGS_LISTS[@]}" 2>&1); RC=$?
set -e
expect_rc 1 "wrong extension"; expect_out "extension '.h5' is not allowed" "wrong extension"
set +e
OUT=$(timeout 60 "$ENTRY" "$R" "$WORK/b" "${ARGS_LISTS[@]}" --step_size 1 --nb_points 3 2>&1); RC=$?
set -e
expect_rc 1 "exclusive options"; expect_out "dwiml_create_hdf5_dataset: error: --step_size, --nb_points" "usage errors"
set +e
OUT=$(timeout 60 "$ENTRY" --help 2>&1); RC=$?
set -e
expect_rc 0 "--help"; expect_out "--skip_enforce_files_presence" "--help"
pass "dwiml_create_hdf5_dataset entry point"

# --save_intermediate: <out folder>/intermediate_<date_time>/<subject>_<group>.nii.gz / .trk
mkdir "$WORK/si"
set +e
OUT=$(timeout 120 "$MPIEXEC" -n 3 "$ENTRY" "$R" "$WORK/si/out" "${ARGS_LISTS[@]}" --save_intermediate 2>&1); RC=$?
set -e
expect_rc 0 "--save_intermediate"
"$PYTHON" - "$WORK/si" <<'PY' || fail "--save_intermediate files"
import glob, os, sys
import h5py, nibabel as nib, numpy as np
from dipy.io.streamline import load_tractogram
folder = sys.argv[1]
dirs = glob.glob(os.path.join(folder, "intermediate_*"))
assert len(dirs) == 1, dirs
with h5py.File(os.path.join(folder, "out.hdf5"), "r") as f:
    for subj in f:
        for name, g in f[subj].items():
            if g.attrs["type"] == "volume":
                img = nib.load(os.path.join(dirs[0], f"{subj}_{name}.nii.gz"))
                assert np.array_equal(np.asanyarray(img.dataobj), g["data"][()]), (subj, name)
                assert np.allclose(img.affine, g.attrs["affine"], atol=1e-5), (subj, name)
            else:
                sft = load_tractogram(os.path.join(dirs[0], f"{subj}_{name}.trk"), "same")
                assert len(sft) == len(g["lengths"]), (subj, name)
                sft.to_vox(); sft.to_corner()
                assert np.allclose(sft.streamlines._data, g["data"][()], atol=1e-4), (subj, name)
PY
pass "--save_intermediate"
