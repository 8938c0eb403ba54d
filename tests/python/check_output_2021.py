"""Check a file written by the seed-era command line (`create_hdf5_dataset`) through h5py: the
2021 layout (docs/format.md §7.2), what the 2021 reader requires (docs/format.md §6.2), and the values against
nibabel/dipy doing what the 2021 script did (with the modern fixes dwipack applies: lengths of the
kept streamlines, float32/int64 dtypes).

usage: check_output_2021.py OUT.hdf5 DWI_ML_READY CONFIG TRAIN VALID BUNDLE_FILE_NAMES
       [--space vox|voxmm|rasmm] [--std_mask PATH] [--independent True|False] [--step_size S]
BUNDLE_FILE_NAMES: comma-separated file names inside each subject's bundles/ folder, in order.
"""
import argparse
import json
import os
import sys

import h5py
import nibabel as nib
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dwiml_reference as ref  # noqa: E402

failures = []


def expect(cond, what):
    if not cond:
        failures.append(what)


def standardize_2021(data, mask, independent):
    # 2021 dwi_ml: mask = non-zero voxels of the mask file (or all channels non-zero); std == 0 -> 1
    if mask is None:
        mask = np.all(data != 0, axis=-1)
    if independent:
        mean = np.mean(data[mask], axis=0)
        std = np.std(data[mask], axis=0)
        std[std == 0] = 1
    else:
        mean = np.mean(data[mask])
        std = np.std(data[mask])
        std = 1 if std == 0 else std
    return ((data - mean) / std).astype(np.float32)


def volume_2021(cfg, subject_dir, std_mask, independent):
    files = [os.path.join(subject_dir, f) for f in cfg["files"]]
    data = np.concatenate([ref.load_file_to4d(f)[0] for f in files], axis=-1)
    mask = None
    if std_mask:
        mask = np.asanyarray(nib.load(os.path.join(subject_dir, std_mask)).dataobj) != 0
    return standardize_2021(data, mask, independent), nib.load(files[0]).affine


def streamlines_2021(paths, reference, space, step_size):
    from dipy.io.stateful_tractogram import Space, StatefulTractogram
    from dipy.io.streamline import load_tractogram
    from dipy.tracking.streamline import length as cython_length
    from dipy.tracking.streamline import set_number_of_points
    from dipy.tracking.streamlinespeed import compress_streamlines
    from dipy.tracking.utils import length

    points, lens, euclid = [], [], []
    for path in paths:
        sft = load_tractogram(path, "same" if path.endswith(".trk") else reference)
        sl = list(sft.streamlines)
        if step_size:
            sl = [set_number_of_points(s, max(2, int(np.ceil(cython_length(s) / step_size)))) for s in sl]
        else:
            sl = compress_streamlines(sl, tol_error=0.01)
        sft = StatefulTractogram.from_sft(sl, sft)
        sft.remove_invalid_streamlines()
        sft.to_rasmm()
        euclid.extend(float(v) for v in length(sft.streamlines))
        sft.to_space({"vox": Space.VOX, "voxmm": Space.VOXMM, "rasmm": Space.RASMM}[space])
        sft.to_center()
        for s in sft.streamlines:
            points.append(np.asarray(s, np.float32))
            lens.append(len(s))
    return np.concatenate(points), np.asarray(lens, np.int64), np.asarray(euclid, np.float32)


def main():
    p = argparse.ArgumentParser()
    for name in ("out", "root", "config", "train", "valid", "bundles"):
        p.add_argument(name)
    p.add_argument("--space", default="vox")
    p.add_argument("--std_mask")
    p.add_argument("--independent", default="True")
    p.add_argument("--step_size", type=float)
    a = p.parse_args()
    config = json.load(open(a.config))
    train, valid = open(a.train).read().split(), open(a.valid).read().split()
    bundles = a.bundles.split(",")
    independent = a.independent == "True"
    with h5py.File(a.out, "r") as f:
        # --- the 2021 reader's requirements ---
        expect(f.attrs["version"] == 2 and f.attrs["version"].dtype == np.int64, "version must be int64 2")
        expect("step_size" in f.attrs, "step_size attr required")
        if a.step_size is None:
            expect(f.attrs["step_size"] == "Not defined by user", "step_size")
        else:
            expect(f.attrs["step_size"] == a.step_size, "step_size value")
        expect(list(f.attrs["training_subjs"]) == train, "training_subjs")
        expect(list(f.attrs["validation_subjs"]) == valid, "validation_subjs")
        expect("testing_subjs" not in f.attrs and "compress" not in f.attrs, "HEAD-only attrs present")
        expect(list(f.attrs["chosen_subjs"]) == list(dict.fromkeys(train + valid)), "chosen_subjs: train + valid")
        expect(f.attrs["space"] == a.space, f"file attr space {f.attrs['space']!r}")
        expect(f.attrs["groups_config"] == str(config), "groups_config is str(dict) of the config")
        first = sorted(f.attrs["training_subjs"])[0]
        for subj in train + valid:
            sdir = os.path.join(a.root, subj)
            expect(sorted(f[subj].keys()) == sorted(list(config) + ["streamlines"]), f"/{subj} groups")
            last_volume = list(config)[-1]
            for g in config:
                grp = f[subj][g]
                expect(grp.attrs["type"] == "volume" and "voxres" not in grp.attrs, f"/{subj}/{g} attrs")
                expect(grp.attrs["nb_features"] == grp["data"].shape[-1], f"/{subj}/{g} nb_features")
                want, affine = volume_2021(config[g], sdir, a.std_mask, independent)
                got = grp["data"][()]
                expect(got.dtype == np.float32 and got.shape == want.shape, f"/{subj}/{g} data shape/dtype")
                if got.shape == want.shape:
                    err = float(np.max(np.abs(got.astype(np.float64) - want)))
                    expect(err <= 5e-4, f"/{subj}/{g} standardized data off by {err}")
                expect(np.array_equal(grp.attrs["affine"], affine), f"/{subj}/{g} affine")
            s = f[subj]["streamlines"]
            for attr in ("affine", "dimensions", "voxel_sizes", "voxel_order", "space"):
                expect(attr in s.attrs, f"/{subj}/streamlines lacks {attr}")
            expect("origin" not in s.attrs and "data_per_streamline" not in s, "2021 has no origin / dps")
            want_space = {"vox": "Space.VOX", "voxmm": "Space.VOXMM", "rasmm": "Space.RASMM"}[a.space]
            expect(s.attrs["space"] == want_space, f"/{subj}/streamlines space {s.attrs['space']}")
            reference = os.path.join(sdir, config[last_volume]["files"][0])  # 2021: the LAST volume group
            paths = [os.path.join(sdir, "bundles", b) for b in bundles]
            data, lens, euclid = streamlines_2021(paths, reference, a.space, a.step_size)
            expect(np.array_equal(s["lengths"][()], lens), f"/{subj}/streamlines lengths")
            got = s["data"][()]
            if got.shape == data.shape:
                err = float(np.max(np.abs(got.astype(np.float64) - data)))
                expect(err <= 1e-4 * (10 if a.space != "vox" else 1), f"/{subj}/streamlines data off by {err}")
            else:
                expect(False, f"/{subj}/streamlines data shape {got.shape} != {data.shape}")
            el = s["euclidean_lengths"][()]
            expect(el.dtype == np.float32 and el.shape == euclid.shape, "euclidean_lengths dtype/shape")
            if el.shape == euclid.shape:
                expect(np.allclose(el, euclid, rtol=1e-4), "euclidean_lengths values")
        expect(first in f, "first training subject present")
    if failures:
        print("check_output_2021: FAILED", file=sys.stderr)
        for m in failures[:30]:
            print("  " + m, file=sys.stderr)
        sys.exit(1)
    print("check_output_2021: OK")


if __name__ == "__main__":
    main()
