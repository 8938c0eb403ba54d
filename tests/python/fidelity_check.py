#!/usr/bin/env python3
"""The HDF5 types dwi_ml writes where they follow its inputs, computed here from the inputs with
nibabel and dipy (the libraries dwi_ml uses), compared with a dwipack file through h5py, byte
order included:
  - volume group `voxres`: np.asarray(zooms[:3]) of the group's first file (float64 for NIfTI-2);
  - streamline group `dimensions` / `voxel_sizes`: dipy's get_reference_info of the group's space
    (the .trk itself, keeping its header's byte order; a .tck's reference NIfTI: int64 / float64
    for NIfTI-2);
  - `euclidean_lengths`: float64 when a streamline has fewer than 2 points, else float32.

usage: fidelity_check.py OUT.hdf5 DWI_ML_READY CONFIG.json
"""
import json
import os
import sys

import h5py
import nibabel as nib
import numpy as np
from dipy.io.utils import get_reference_info

problems = []


def expect(cond, msg):
    if not cond:
        problems.append(msg)


def attr_dtype(obj, name):
    return obj.attrs.get_id(name).dtype.str


def main(out, root, config_path):
    with open(config_path) as f:
        config = json.load(f)
    checked = 0
    with h5py.File(out, "r") as h5:
        for subject in h5:
            folder = os.path.join(root, subject)
            first_volume = None
            for name, group in config.items():
                g = h5[subject][name]
                files = [os.path.join(folder, p) for p in group["files"]]
                where = f"/{subject}/{name}"
                if group["type"] == "volume":
                    first_volume = first_volume or files[0]
                    zooms = np.asarray(nib.load(files[0]).header.get_zooms()[:3])
                    expect(attr_dtype(g, "voxres") == zooms.dtype.str,
                           f"{where}/voxres: {attr_dtype(g, 'voxres')}, dwi_ml writes {zooms.dtype.str}")
                    expect(np.allclose(g.attrs["voxres"], zooms), f"{where}/voxres values")
                    checked += 1
                    continue
                ref = files[0] if files[0].endswith(".trk") else first_volume
                _, dims, sizes, order = get_reference_info(ref)
                dims, sizes = np.asarray(dims), np.asarray(sizes)
                for attr, want in (("dimensions", dims), ("voxel_sizes", sizes)):
                    expect(attr_dtype(g, attr) == want.dtype.str,
                           f"{where}/{attr}: {attr_dtype(g, attr)}, dwi_ml writes {want.dtype.str}")
                    expect(np.allclose(g.attrs[attr], want), f"{where}/{attr} values")
                short = any(len(s) < 2 for p in files for s in nib.streamlines.load(p).streamlines)
                want = "<f8" if short else "<f4"
                got = g["euclidean_lengths"].dtype.str
                expect(got == want, f"{where}/euclidean_lengths: {got}, dwi_ml writes {want}")
                checked += 1
    for p in problems:
        print("FAIL:", p)
    print(f"fidelity_check: {checked} group(s) checked, {len(problems)} problem(s)")
    return 1 if problems or checked == 0 else 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:4]))
