"""Write tractography/bundle_c.trk into a synthetic subject (next to dwipack synth's bundles, same
dps keys 'weight' and 'color'), with streamlines that exercise edge cases, using dipy/nibabel.

usage: make_special_tractograms.py SUBJECT_DIR KIND
KIND: border    - streamlines within 1e-3 voxel of the border (valid to load, removed by
                  --remove_invalid) plus ordinary ones
      outside   - a streamline with a point outside the volume (dipy refuses to load the file)
      one_point - a streamline with a single point (cannot be resampled)
      empty     - tractography/empty.trk with no streamline at all (instead of bundle_c.trk)
"""
import os
import sys

import nibabel as nib
import numpy as np
from dipy.io.stateful_tractogram import Origin, Space, StatefulTractogram
from dipy.io.streamline import save_tractogram


def main():
    subject_dir, kind = sys.argv[1:3]
    ref = nib.load(os.path.join(subject_dir, "dwi", "dwi.nii.gz"))
    dims = np.array(ref.shape[:3], dtype=np.float64)
    mid = dims / 2
    rng = np.random.default_rng(7)
    if kind == "empty":
        sft = StatefulTractogram([], ref, Space.VOX, origin=Origin.TRACKVIS)
        save_tractogram(sft, os.path.join(subject_dir, "tractography", "empty.trk"), bbox_valid_check=False)
        return
    # voxel coordinates, corner origin
    streamlines = [mid + np.cumsum(rng.normal(0, 0.3, (12, 3)), axis=0) for _ in range(5)]
    if kind == "border":
        line = np.linspace(mid, mid + [0, 0, 0], 6)
        line[:, 0] = np.linspace(0.0004, mid[0], 6)  # first point 0.0004 voxel from the x=0 face
        streamlines.append(line)
        far = np.linspace(mid, mid, 5)
        far[:, 1] = np.linspace(mid[1], dims[1] - 0.0002, 5)  # last point near the far y face
        streamlines.append(far)
    elif kind == "outside":
        bad = np.linspace(mid, mid, 4)
        bad[:, 2] = np.linspace(mid[2], dims[2] + 1.5, 4)
        streamlines.append(bad)
    elif kind == "one_point":
        streamlines.append(mid[None, :].copy())
    else:
        raise SystemExit(f"unknown kind {kind}")
    n = len(streamlines)
    dps = {"weight": rng.random((n, 1)).astype(np.float32), "color": rng.random((n, 3)).astype(np.float32)}
    sft = StatefulTractogram([s.astype(np.float32) for s in streamlines], ref, Space.VOX, origin=Origin.TRACKVIS,
                             data_per_streamline=dps)
    save_tractogram(sft, os.path.join(subject_dir, "tractography", "bundle_c.trk"), bbox_valid_check=False)


if __name__ == "__main__":
    main()
