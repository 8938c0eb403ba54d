"""What dwi_ml (HEAD, spec §6) computes for a volume group, written with nibabel and numpy only.

This is the independent reference the end-to-end tests compare dwipack's output with: it follows
dwi_ml's hdf5_creation.py / io.py / dwi.py logic (load_file_to4d, _process_one_volume_group,
standardize_data), except that wildcards are sorted (as dwipack documents).
"""
import glob
import os

import nibabel as nib
import numpy as np


def load_file_to4d(path):
    img = nib.load(path)
    data = img.get_fdata(dtype=np.float32)
    affine = img.affine
    res = img.header.get_zooms()[:3]
    if data.ndim == 3:
        data = data[..., None]
    return data, affine, res


def standardize_data(data, mask=None, independent=False):
    if mask is None:
        mask = np.all(data != 0, axis=-1)
    if independent:
        mean = np.mean(data[mask], axis=0)
        std = np.maximum(np.std(data[mask], axis=0), 1e-6)
    else:
        mean = np.mean(data[mask])
        std = max(np.std(data[mask]), 1e-6)
    return (data - mean) / std


def format_filelist(entries, folder):
    if isinstance(entries, str):
        entries = [entries]
    out = []
    for entry in entries:
        full = os.path.join(folder, entry)
        if "*" in full:
            out.extend(sorted(glob.glob(full)))
        elif os.path.isfile(full):
            out.append(full)
    return out


def process_volume_group(group_cfg, subject_dir):
    """Returns (data float32 (X,Y,Z,F), affine float64, voxres float32 (3,))."""
    files = format_filelist(group_cfg["files"], subject_dir)
    mode = group_cfg["standardization"]
    mask = None
    masks = group_cfg.get("std_mask")
    if masks and mode != "none":
        for m in format_filelist(masks, subject_dir):
            this = nib.load(m).get_fdata() > 0
            mask = this if mask is None else np.logical_or(mask, this)
    data, affine, res = load_file_to4d(files[0])
    if mode == "per_file":
        data = standardize_data(data, mask)
    for path in files[1:]:
        more, _, _ = load_file_to4d(path)
        if mode == "per_file":
            more = standardize_data(more, mask)
        data = np.append(data, more, axis=-1)
    if mode == "all":
        data = standardize_data(data, mask)
    elif mode == "independent":
        data = standardize_data(data, mask, independent=True)
    return data.astype(np.float32), affine, np.asarray(res, dtype=np.float32)
