#!/usr/bin/env python3
"""Checks a file made by tests/mpi_unit/test_format_layout.cpp with h5py, against dwi_ml's layout
as written out here (names, HDF5 types with byte order, shapes), independently of dwipack's
format tables.

usage: check_format_layout.py FILE dwi_ml|dwi_ml_2021
"""
import sys

import h5py
import numpy as np

problems = []


def expect(cond, msg):
    if not cond:
        problems.append(msg)


def dtype_of(obj):
    return obj.dtype.str if obj.dtype.kind != "O" else "str"


def attr_type(obj, name):
    if name not in obj.attrs:
        return None
    a = obj.attrs.get_id(name)
    t = a.get_type()
    if isinstance(t, h5py.h5t.TypeStringID):
        return "str"
    return a.dtype.str


def main(path, layout):
    modern = layout == "dwi_ml"
    with h5py.File(path, "r") as f:
        root = {"data_and_time": "str", "chosen_subjs": "str", "groups_config": "str",
                "training_subjs": "str", "validation_subjs": "str", "step_size": "<f8",
                "dwipack_version": "str", "dwipack_ranks": "<i8"}
        if modern:
            root.update({"testing_subjs": "str", "nb_points": "str", "compress": "str"})
        else:
            root.update({"version": "<i8", "space": "str"})
        for name, t in root.items():
            expect(attr_type(f, name) == t, f"root attribute {name}: {attr_type(f, name)}, expected {t}")
        expect(("testing_subjs" in f.attrs) == modern, "testing_subjs only in the modern layout")
        expect(("voxres" in f["sub-0/dwi"].attrs) == modern, "voxres only in the modern layout")
        expect(list(f.attrs["chosen_subjs"]) == [f"sub-{i}" for i in range(5)], "chosen_subjs")
        expect(float(f.attrs["step_size"]) == 0.5, "step_size")
        for i in range(5):
            s = f[f"sub-{i}"]
            v = s["dwi"]
            expect(v.attrs["type"] == "volume", "volume type")
            expect(attr_type(v, "affine") == "<f8" and v.attrs["affine"].shape == (4, 4), "volume affine float64 (4,4)")
            expect(attr_type(v, "nb_features") == "<i8" and int(v.attrs["nb_features"]) == 2 + i, "nb_features")
            if modern:
                expect(attr_type(v, "voxres") == "<f4" and v.attrs["voxres"].shape == (3,), "voxres float32 (3,)")
            expect(dtype_of(v["data"]) == "<f4" and v["data"].shape == (3, 4, 5 + i, 2 + i), "volume data")
            b = s["bundles"]
            expect(b.attrs["type"] == "streamlines", "streamline type")
            expect(attr_type(b, "affine") == "<f4" and b.attrs["affine"].shape == (4, 4), "streamline affine float32")
            expect(attr_type(b, "dimensions") == "<i2", "dimensions int16")
            expect(attr_type(b, "voxel_sizes") == "<f4", "voxel_sizes float32")
            expect(attr_type(b, "voxel_order") == "str" and b.attrs["voxel_order"] == "RAS", "voxel_order")
            expect(b.attrs["space"] == "Space.VOX", "space")
            expect(("origin" in b.attrs) == modern, "origin only in the modern layout")
            n = 3 + i
            expect(b["data"].shape == (10 * (i + 1), 3) and dtype_of(b["data"]) == "<f4", "points")
            for name, t in (("offsets", "<i8"), ("lengths", "<i8"), ("euclidean_lengths", "<f4")):
                expect(b[name].shape == (n,) and dtype_of(b[name]) == t, f"{name}: {b[name].dtype} {b[name].shape}")
            expect(("data_per_streamline" in b) == modern, "data_per_streamline only in the modern layout")
            if modern:
                dps = b["data_per_streamline"]
                expect(sorted(dps) == ["rgb", "weights"], "dps keys")
                expect(dps["rgb"].shape == (n, 3) and dps["weights"].shape == (n, 1), "dps shapes")
                has_conn = i % 2 == 1
                expect(("connectivity_matrix" in b) == has_conn, "connectivity matrix presence")
                if has_conn:
                    m = b["connectivity_matrix"]
                    expect(m.dtype == np.bool_ and m.shape == (4, 4), f"connectivity_matrix {m.dtype}")
                    expect(b.attrs["connectivity_matrix_type"] == "from_blocs", "matrix type")
                    expect(list(b.attrs["connectivity_nb_blocs"]) == [2, 2, 1], "nb_blocs")
            # values written by the test: (i * 7 + subject * 13 + len(path)) % 97
            d = b["offsets"]
            want = (np.arange(n) * 7 + i * 13 + len(f"/sub-{i}/bundles/offsets")) % 97
            expect(np.array_equal(d[()], want), f"/sub-{i}/bundles/offsets values")
    for p in problems:
        print("FAIL:", p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
