"""The Python baseline: what dwi_ml's HDF5Creator does for each subject (spec §6, §7.3), with the
same nibabel / dipy / h5py calls, from Debian's packages, in one process. Used by the benchmarks
to time dwi_ml's path side by side with dwipack on the same files.

usage: python_baseline.py DWI_ML_READY OUT.hdf5 CONFIG SUBJECT [SUBJECT ...]
Prints one JSON line: {"seconds": ..., "peak_rss_mb": ..., "stages": {...}}.
"""
import json
import os
import resource
import sys
import time

import h5py
import nibabel as nib
import numpy as np
from dipy.io.stateful_tractogram import Space
from dipy.io.streamline import load_tractogram
from dipy.tracking.utils import length

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "python"))
import dwiml_reference as ref  # noqa: E402  (dwi_ml's volume processing, verbatim logic)


def main():
    root, out, config_path = sys.argv[1:4]
    subjects = sys.argv[4:]
    with open(config_path) as f:
        config = json.load(f)
    stages = {"volumes": 0.0, "load_tractogram": 0.0, "space_and_lengths": 0.0, "write_streamlines": 0.0}
    t_start = time.perf_counter()
    with h5py.File(out, "w") as hdf:
        for subj in subjects:
            sdir = os.path.join(root, subj)
            sg = hdf.create_group(subj)
            reference = None
            for name, cfg in config.items():
                if cfg["type"] != "volume":
                    continue
                t = time.perf_counter()
                data, affine, res = ref.process_volume_group(cfg, sdir)
                if reference is None:
                    reference = ref.format_filelist(cfg["files"], sdir)[0]
                g = sg.create_group(name)
                g.create_dataset("data", data=data)
                g.attrs["affine"] = affine
                g.attrs["voxres"] = res
                g.attrs["nb_features"] = data.shape[-1]
                stages["volumes"] += time.perf_counter() - t
            for name, cfg in config.items():
                if cfg["type"] != "streamlines":
                    continue
                files = ref.format_filelist(cfg["files"], sdir)
                final, lengths = None, []
                for path in files:
                    t = time.perf_counter()
                    sft = load_tractogram(path, "same" if path.endswith(".trk") else reference)
                    stages["load_tractogram"] += time.perf_counter() - t
                    t = time.perf_counter()
                    sft.to_space(Space.RASMM)
                    lengths.extend(length(sft.streamlines))
                    sft.to_vox()
                    sft.to_corner()
                    final = sft if final is None else final + sft
                    stages["space_and_lengths"] += time.perf_counter() - t
                t = time.perf_counter()
                g = sg.create_group(name)
                g.create_dataset("data", data=final.streamlines._data)
                g.create_dataset("offsets", data=final.streamlines._offsets)
                g.create_dataset("lengths", data=final.streamlines._lengths)
                g.create_dataset("euclidean_lengths", data=np.asarray(lengths, dtype=np.float32))
                stages["write_streamlines"] += time.perf_counter() - t
    seconds = time.perf_counter() - t_start
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"seconds": seconds, "peak_rss_mb": peak_kb / 1024, "stages": stages}))


if __name__ == "__main__":
    main()
