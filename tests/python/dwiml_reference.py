"""What dwi_ml (HEAD, docs/format.md §4) computes for a volume group, written with nibabel and numpy only.

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


def process_streamline_group(group_cfg, subject_dir, reference, step_size=None, nb_points=None,
                             compress=None, remove_invalid=False):
    """dwi_ml's _process_one_streamline_group with dipy (docs/format.md §5.3). Returns a dict with the
    stored arrays (data in voxel space, corner origin; offsets; lengths; euclidean_lengths;
    dps) and the space attributes of the first file."""
    from dipy.io.stateful_tractogram import StatefulTractogram
    from dipy.io.streamline import load_tractogram
    from dipy.tracking.streamline import set_number_of_points
    from dipy.tracking.streamlinespeed import compress_streamlines
    from dipy.tracking.streamline import length as cython_length
    from dipy.tracking.utils import length

    files = format_filelist(group_cfg["files"], subject_dir)
    dps_keys = group_cfg.get("dps_keys", [])
    if isinstance(dps_keys, str):
        dps_keys = [dps_keys]
    points, lens, euclid = [], [], []
    dps = {k: [] for k in dps_keys}
    space = None
    for path in files:
        sft = load_tractogram(path, "same" if path.endswith(".trk") else reference)
        if space is None:
            affine, dims, vox_sizes, vox_order = sft.space_attributes
            space = dict(affine=np.asarray(affine), dimensions=np.asarray(dims),
                         voxel_sizes=np.asarray(vox_sizes), voxel_order=vox_order)
        kept_dps = {k: np.asarray(sft.data_per_streamline[k]) for k in dps_keys}
        streamlines = list(sft.streamlines)
        if step_size:
            new = []
            for s in streamlines:
                n = int(np.ceil(cython_length(s) / step_size))  # scilpy's recipe
                n = 2 if n == 1 else n
                new.append(set_number_of_points(s, n))
            streamlines = new
        elif nb_points:
            streamlines = [set_number_of_points(s, nb_points) for s in streamlines]
        elif compress:
            streamlines = compress_streamlines(streamlines, tol_error=compress)
        sft = StatefulTractogram.from_sft(streamlines, sft, data_per_streamline=kept_dps)
        if remove_invalid:
            sft.remove_invalid_streamlines()
        sft.to_rasmm()
        euclid.extend(float(v) for v in length(sft.streamlines))
        sft.to_vox()
        sft.to_corner()
        for s in sft.streamlines:
            points.append(np.asarray(s, dtype=np.float32))
            lens.append(len(s))
        for k in dps_keys:
            dps[k].append(np.asarray(sft.data_per_streamline[k], dtype=np.float32))
    data = np.concatenate(points) if points else np.zeros((0, 3), np.float32)
    lens = np.asarray(lens, dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(lens)[:-1]]).astype(np.int64) if len(lens) else lens
    return dict(data=data, lengths=lens, offsets=offsets, euclidean_lengths=np.asarray(euclid, np.float32),
                dps={k: np.concatenate(v) if v else np.zeros((0, 1), np.float32) for k, v in dps.items()},
                space=space)
