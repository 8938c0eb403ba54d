"""The Python baseline: what dwi_ml's HDF5Creator does for each subject (docs/format.md §4, §5.3), with the
same nibabel / dipy / h5py calls, from Debian's packages, in one process. Used by the benchmarks
to time dwi_ml's path side by side with dwipack on the same files.

Volume groups: every file loaded with `get_fdata(dtype=float32)` (3-D made 4-D), joined with
`np.append` along the last axis, standardized as the config says (`all`, `independent`,
`per_file`, `none`; `std_mask` files `> 0`, OR-ed; dwi_ml's `standardize_data`), written with
h5py `create_dataset` plus the `affine`, `voxres` and `nb_features` attributes
(tests/python/dwiml_reference.py holds that logic, shared with the end-to-end tests).
Streamline groups: per file, dipy's `is_header_compatible` against the reference for a `.trk`,
`load_tractogram` ('same' for a `.trk', the first volume group's first file for a `.tck`),
dps keys not asked for deleted, `to_space(RASMM)`, `dipy.tracking.utils.length`, `to_vox`,
`to_corner`, `sft + sft` concatenation; then the four datasets (and `data_per_streamline/`).
Root attributes as dwi_ml writes them. No resampling, compression or connectivity: the
benchmark's config does not use them.

usage: python_baseline.py DWI_ML_READY OUT.hdf5 CONFIG SUBJECT [SUBJECT ...]
Prints one JSON line: {"seconds": ..., "peak_rss_mb": ..., "stages": {...}}.
"""
import datetime
import json
import os
import resource
import sys
import time

import h5py
import numpy as np
from dipy.io.stateful_tractogram import Space
from dipy.io.streamline import load_tractogram
from dipy.io.utils import is_header_compatible
from dipy.tracking.utils import length

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "python"))
import dwiml_reference as ref  # noqa: E402  (dwi_ml's volume processing, verbatim logic)


class Stages:
    """Accumulated seconds per stage."""

    def __init__(self, *names):
        self.seconds = {n: 0.0 for n in names}

    def add(self, name, t0):
        self.seconds[name] += time.perf_counter() - t0
        return time.perf_counter()


def write_volume_group(sg, name, cfg, sdir, stages):
    t = time.perf_counter()
    data, affine, res = ref.process_volume_group(cfg, sdir)  # load, join, standardize
    t = stages.add("volumes_load_standardize", t)
    g = sg.create_group(name)
    g.attrs["type"] = "volume"
    g.create_dataset("data", data=data)
    g.attrs["affine"] = affine
    g.attrs["voxres"] = res
    g.attrs["nb_features"] = data.shape[-1]
    stages.add("volumes_write", t)


def write_streamline_group(sg, name, cfg, sdir, reference, stages):
    files = ref.format_filelist(cfg["files"], sdir)
    dps_keys = cfg.get("dps_keys", [])
    dps_keys = [dps_keys] if isinstance(dps_keys, str) else list(dps_keys)
    final, lengths = None, []
    for path in files:
        t = time.perf_counter()
        if path.endswith(".trk") and reference is not None and not is_header_compatible(path, reference):
            raise ValueError(f"{path} is not compatible with {reference}")
        sft = load_tractogram(path, "same" if path.endswith(".trk") else reference)
        t = stages.add("load_tractogram", t)
        for key in list(sft.data_per_streamline.keys()):
            if key not in dps_keys:
                del sft.data_per_streamline[key]
        sft.to_space(Space.RASMM)
        lengths.extend(length(sft.streamlines))
        sft.to_vox()
        sft.to_corner()
        final = sft if final is None else final + sft
        stages.add("space_and_lengths", t)
    t = time.perf_counter()
    g = sg.create_group(name)
    g.attrs["type"] = "streamlines"
    g.attrs["space"] = str(final.space)
    g.attrs["origin"] = str(final.origin)
    affine, dims, vox_sizes, vox_order = final.space_attributes
    g.attrs["affine"] = affine
    g.attrs["dimensions"] = dims
    g.attrs["voxel_sizes"] = vox_sizes
    g.attrs["voxel_order"] = vox_order
    dps_group = g.create_group("data_per_streamline")
    for key in dps_keys:
        dps_group.create_dataset(key, data=final.data_per_streamline[key])
    g.create_dataset("data", data=final.streamlines._data)
    g.create_dataset("offsets", data=final.streamlines._offsets)
    g.create_dataset("lengths", data=final.streamlines._lengths)
    g.create_dataset("euclidean_lengths", data=np.asarray(lengths, dtype=np.float32))
    stages.add("write_streamlines", t)


def main():
    if len(sys.argv) < 5:
        sys.exit(__doc__.split("usage: ")[1].split("\n")[0])
    root, out, config_path = sys.argv[1:4]
    subjects = sys.argv[4:]
    with open(config_path) as f:
        config = json.load(f)
    stages = Stages("volumes_load_standardize", "volumes_write", "load_tractogram", "space_and_lengths",
                    "write_streamlines")
    t_start = time.perf_counter()
    with h5py.File(out, "w") as hdf:
        hdf.attrs["data_and_time"] = datetime.datetime.now().strftime("%d %B %Y %X")
        hdf.attrs["chosen_subjs"] = subjects
        hdf.attrs["groups_config"] = str(config)
        hdf.attrs["training_subjs"] = subjects
        hdf.attrs["validation_subjs"] = []
        hdf.attrs["testing_subjs"] = []
        for attr in ("step_size", "nb_points", "compress"):
            hdf.attrs[attr] = "Not defined by user"
        for subj in subjects:
            sdir = os.path.join(root, subj)
            sg = hdf.create_group(subj)
            reference = None
            for name, cfg in config.items():
                if cfg["type"] == "volume":
                    if reference is None:
                        reference = ref.format_filelist(cfg["files"], sdir)[0]
                    write_volume_group(sg, name, cfg, sdir, stages)
            for name, cfg in config.items():
                if cfg["type"] == "streamlines":
                    write_streamline_group(sg, name, cfg, sdir, reference, stages)
    seconds = time.perf_counter() - t_start
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    stages_out = dict(stages.seconds)
    stages_out["volumes"] = stages_out["volumes_load_standardize"] + stages_out["volumes_write"]
    print(json.dumps({"seconds": seconds, "peak_rss_mb": peak_kb / 1024, "stages": stages_out}))


if __name__ == "__main__":
    main()
