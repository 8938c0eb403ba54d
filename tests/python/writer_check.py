#!/usr/bin/python3
"""Independent (nibabel / numpy / dipy) readings of what dwipack's writers produce.

Usage:
  writer_check.py tractogram FILE OUT_JSON
      Load FILE (.trk or .tck) with nibabel 5 and dump what nibabel read: the streamlines in RAS mm
      (float32 values as exact JSON doubles), data_per_streamline, the header fields nibabel
      exposes, and the raw header bytes that matter (property names, hdr_size, version, the TCK
      header text).
  writer_check.py npy_fixtures OUT_DIR
      Write .npy files with numpy (every dtype dwipack reads, both byte orders, C and Fortran
      order, format versions 1.0/2.0/3.0, 0-d to 3-d shapes) and malformed ones; OUT_DIR/manifest.json
      lists {"cases": [{file, shape, positive (np.load(file) > 0, flattened in C order)}],
             "errors": [{file, what}]}.
  writer_check.py npy_load FILE OUT_JSON
      np.load(FILE): {"dtype", "shape", "fortran_order", "values" (C order)}.
  writer_check.py synth DATASET_DIR OUT_JSON
      Check a `dwipack synth` dataset with dipy: every subject's .trk and .tck load with
      load_tractogram(file, dwi/dwi.nii.gz, bbox_valid_check=True), the .trk headers are compatible
      with the NIfTI, all points lie in [1, dim-1] (voxel corner coordinates) and inside the brain
      ellipsoid, whole.tck is the union of the bundles, the connectivity matrix and the config.
      Writes {"errors": [...], "subjects": {...}, "config_keys": [...], "config": {...}}.
"""
import io
import json
import math
import os
import struct
import sys
import traceback

import numpy as np


def floats(a):
    return [float(v) for v in np.asarray(a, dtype=np.float64).ravel()]


def bits32(a):
    """float32 values as their uint32 bit patterns (exact, and JSON has no NaN/Inf)."""
    return [int(v) for v in np.ascontiguousarray(a, dtype="<f4").view("<u4").ravel()]


def bits64(a):
    return [int(v) for v in np.ascontiguousarray(a, dtype="<f8").view("<u8").ravel()]


# ---------------------------------------------------------------- tractogram


def dump_tractogram(path, out):
    import nibabel as nib
    from nibabel.streamlines import Field

    tf = nib.streamlines.load(path)
    streamlines = tf.streamlines
    result = {
        "lengths": [int(len(s)) for s in streamlines],
        "xyz": floats(streamlines.get_data()) if len(streamlines) else [],
        "xyz_dtype": str(streamlines.get_data().dtype) if len(streamlines) else "",
        "dps": {},
        "header": {},
    }
    for key, value in tf.tractogram.data_per_streamline.items():
        value = np.asarray(value)
        result["dps"][key] = {"shape": list(value.shape), "dtype": str(value.dtype), "bits": bits32(value)}
    h = tf.header
    with open(path, "rb") as f:
        raw = f.read()
    if path.endswith(".trk"):
        result["header"] = {
            "vox_to_ras": floats(h[Field.VOXEL_TO_RASMM]),
            "dimensions": [int(v) for v in h[Field.DIMENSIONS]],
            "voxel_sizes": floats(h[Field.VOXEL_SIZES]),
            "voxel_order": h[Field.VOXEL_ORDER].decode("latin1") if isinstance(h[Field.VOXEL_ORDER], bytes)
            else str(h[Field.VOXEL_ORDER]),
            "nb_streamlines": int(h[Field.NB_STREAMLINES]),
            "nb_properties": int(h[Field.NB_PROPERTIES_PER_STREAMLINE]),
            "nb_scalars": int(h[Field.NB_SCALARS_PER_POINT]),
            # raw little-endian fields, independent of nibabel's interpretation
            "magic": raw[0:6].decode("latin1"),
            "property_names": [raw[240 + 20 * k: 260 + 20 * k].decode("latin1") for k in range(10)],
            "n_count": struct.unpack("<i", raw[988:992])[0],
            "version": struct.unpack("<i", raw[992:996])[0],
            "hdr_size": struct.unpack("<i", raw[996:1000])[0],
            "file_size": len(raw),
        }
    else:
        end = raw.index(b"\nEND\n") + 5
        result["header"] = {
            "text": raw[:end].decode("latin1"),
            "count": h["count"],
            "datatype": h["datatype"],
            "file": h["file"],
            "offset": int(h["_offset_data"]),
            "nb_streamlines": int(h[Field.NB_STREAMLINES]),
            "padding": raw[end:int(h["_offset_data"])].decode("latin1"),
            "tail_bits": bits32(np.frombuffer(raw[-12:], dtype="<f4")),
            "file_size": len(raw),
        }
    with open(out, "w") as f:
        json.dump(result, f)


# ---------------------------------------------------------------- npy


def npy_fixtures(out_dir):
    from numpy.lib import format as npf

    os.makedirs(out_dir, exist_ok=True)
    cases = []
    errors = []

    # 128, 384, 32768... have their top bit set in one byte order only: a missing byte swap flips
    # their sign (integer casts wrap, consistently with the np.load reference)
    base = np.array([0, 1, -1, 128, -3, 5, 0, 255, -8, 9, 384, -11, 12, 0, 127, -128, 3, 32768, 1, 0, -2, 65535,
                     8, -256])
    shapes = [(), (1,), (24,), (4, 6), (2, 3, 4), (0, 3)]

    def values_for(dtype, shape):
        n = int(np.prod(shape)) if shape != () else 1
        kind = np.dtype(dtype).kind
        v = base[:n] if n <= len(base) else np.resize(base, n)
        if kind == "b":
            a = (v % 3 == 1)
        elif kind == "u":
            a = np.abs(v)
        elif kind == "f":
            a = v.astype(np.float64) * 0.5
            special = [np.nan, np.inf, -np.inf, -0.0, 1e-30, -1e-30]
            a[: min(n, len(special))] = special[: min(n, len(special))] if n >= 1 else a[:0]
            if np.dtype(dtype).itemsize == 2:
                a = np.where(np.abs(a) == 1e-30, np.sign(a) * 1e-7, a)  # a float16 subnormal
        else:
            a = v
        return np.asarray(a).astype(dtype).reshape(shape)

    dtypes = ["|b1", "|i1", "|u1"]
    for size in (2, 4, 8):
        for order in "<>":
            dtypes += [f"{order}i{size}", f"{order}u{size}"]
    for order in "<>":
        dtypes += [f"{order}f2", f"{order}f4", f"{order}f8"]

    def save(name, arr, version, fortran):
        path = os.path.join(out_dir, name)
        a = np.asfortranarray(arr) if fortran else np.ascontiguousarray(arr)
        with open(path, "wb") as f:
            npf.write_array(f, a, version=version)
        loaded = np.load(path)
        cases.append({
            "file": name,
            "dtype": str(loaded.dtype.str),
            "fortran_order": bool(fortran and arr.ndim > 1),
            "version": list(version),
            "shape": list(loaded.shape),
            "positive": [bool(v) for v in (loaded > 0).ravel(order="C")],
        })

    for dtype in dtypes:
        tag = dtype.replace("<", "le_").replace(">", "be_").replace("|", "")
        for shape in shapes:
            arr = values_for(dtype, shape)
            stag = "x".join(str(s) for s in shape) or "scalar"
            save(f"{tag}_{stag}_c.npy", arr, (1, 0), False)
            if len(shape) > 1:
                save(f"{tag}_{stag}_f.npy", arr, (1, 0), True)
        arr = values_for(dtype, (2, 3, 4))
        save(f"{tag}_v2_f.npy", arr, (2, 0), True)
        save(f"{tag}_v3_c.npy", arr, (3, 0), False)

    def err(name, data, what):
        with open(os.path.join(out_dir, name), "wb") as f:
            f.write(data)
        errors.append({"file": name, "what": what})

    def header(d, version=(1, 0)):
        text = d.encode("latin1")
        total = 6 + 2 + (2 if version[0] == 1 else 4) + len(text) + 1
        text += b" " * ((64 - total % 64) % 64) + b"\n"
        size = struct.pack("<H", len(text)) if version[0] == 1 else struct.pack("<I", len(text))
        return b"\x93NUMPY" + bytes(version) + size + text

    good = np.arange(12, dtype="<f8").reshape(3, 4)
    good_bytes = good.tobytes()
    for dt in ("<c8", "<c16"):
        b = io.BytesIO()
        np.save(b, np.ones((2, 2), dtype=dt))
        err(f"err_complex_{dt[1:]}.npy", b.getvalue(), "complex")
    b = io.BytesIO()
    np.save(b, np.array([1, "a", None], dtype=object), allow_pickle=True)
    err("err_object.npy", b.getvalue(), "object")
    for dt in ("|S4", "<U3"):
        b = io.BytesIO()
        np.save(b, np.array(["ab", "cd"], dtype=dt))
        err(f"err_string_{dt[1]}.npy", b.getvalue(), "strings")
    b = io.BytesIO()
    np.save(b, np.zeros(3, dtype=[("a", "<i4"), ("b", "<f8")]))
    err("err_structured.npy", b.getvalue(), "structured")
    b = io.BytesIO()
    np.save(b, np.zeros(3, dtype="<M8[s]"))
    err("err_datetime.npy", b.getvalue(), "datetime")
    err("err_long_double.npy", header("{'descr': '<f16', 'fortran_order': False, 'shape': (2,), }") + b"\0" * 32,
        "long double")
    err("err_magic.npy", b"\x93NUMPZ\x01\x00" + header("{'descr': '<f8', 'fortran_order': False, 'shape': (3, 4), }")[8:]
        + good_bytes, "bad magic")
    err("err_not_npy.npy", b"PK\x03\x04 this is a zip, not an npy", "bad magic")
    err("err_empty.npy", b"", "bad magic")
    err("err_version.npy", header("{'descr': '<f8', 'fortran_order': False, 'shape': (3, 4), }", (4, 0)) + good_bytes,
        "version")
    full = header("{'descr': '<f8', 'fortran_order': False, 'shape': (3, 4), }") + good_bytes
    err("err_truncated_data.npy", full[:-5], "truncated")
    err("err_truncated_header.npy", full[:40], "truncated")
    err("err_truncated_length.npy", full[:9], "truncated")
    for i, bad in enumerate([
        "{'descr': '<f8', 'fortran_order': False, 'shape': (3, 4), ",
        "{'descr': '<f8' 'fortran_order': False, 'shape': (3, 4)}",
        "{'descr': '<f8', 'fortran_order': Maybe, 'shape': (3, 4), }",
        "{'descr': '<f8', 'fortran_order': False, 'shape': (3, 4.5), }",
        "{'descr': '<f8', 'fortran_order': False, 'shape': (3, -4), }",
        "{'descr': '<f8', 'fortran_order': False}",
        "{'descr': '<f8', 'fortran_order': False, 'shape': (3, 4), 'extra': 1}",
        "{'descr': <f8, 'fortran_order': False, 'shape': (3, 4)}",
        "['descr', '<f8']",
        "{'descr': '<f8', 'fortran_order': 0, 'shape': (3, 4)}",
        "{'descr': '<f8', 'fortran_order': False, 'shape': 12}",
    ]):
        err(f"err_header_{i}.npy", header(bad) + good_bytes, "header")
    # numpy itself must refuse every error fixture
    for e in errors:
        try:
            np.load(os.path.join(out_dir, e["file"]), allow_pickle=False)
            refused = False
        except Exception as ex:  # noqa: BLE001
            refused = True
            e["numpy"] = f"{type(ex).__name__}: {ex}"
        e["numpy_refuses"] = refused
    with open(os.path.join(out_dir, "manifest.json"), "w") as f:
        json.dump({"cases": cases, "errors": errors}, f)


def npy_load(path, out):
    a = np.load(path)
    with open(out, "w") as f:
        json.dump({"dtype": a.dtype.str, "shape": list(a.shape), "fortran_order": bool(np.isfortran(a)),
                   "bits": bits64(a)}, f)


# ---------------------------------------------------------------- synth


def check_synth(dataset, out):
    import nibabel as nib
    from dipy.io.streamline import load_tractogram
    from dipy.io.utils import is_header_compatible

    errors = []
    report = {"errors": errors, "subjects": {}}
    with open(os.path.join(dataset, "config.json")) as f:
        config = json.load(f)
    report["config"] = config
    report["config_keys"] = list(config.keys())
    root = os.path.join(dataset, "dwi_ml_ready")
    for subject in sorted(os.listdir(root)):
        sdir = os.path.join(root, subject)
        ref = os.path.join(sdir, "dwi", "dwi.nii.gz")
        img = nib.load(ref)
        dims = np.array(img.shape[:3])
        facts = {"dims": [int(d) for d in dims]}
        report["subjects"][subject] = facts
        ras = {}
        for name in ("bundle_a.trk", "bundle_b.trk", "whole.tck"):
            path = os.path.join(sdir, "tractography", name)
            info = {}
            facts[name] = info
            try:
                if name.endswith(".trk"):
                    info["header_compatible"] = bool(is_header_compatible(path, ref))
                sft = load_tractogram(path, ref, bbox_valid_check=True)
            except Exception:  # noqa: BLE001
                errors.append(f"{subject}/{name}: {traceback.format_exc()}")
                continue
            info["count"] = len(sft.streamlines)
            lengths = np.array([len(s) for s in sft.streamlines])
            info["min_points"] = int(lengths.min()) if len(lengths) else 0
            info["max_points"] = int(lengths.max()) if len(lengths) else 0
            info["dps"] = {k: list(np.asarray(v).shape) for k, v in sft.data_per_streamline.items()}
            if "weight" in sft.data_per_streamline:
                w = np.asarray(sft.data_per_streamline["weight"])
                info["weight_range"] = [float(w.min()), float(w.max())]
            if "color" in sft.data_per_streamline:
                c = np.asarray(sft.data_per_streamline["color"])
                info["color_range"] = [float(c.min()), float(c.max())]
            sft.to_rasmm()
            ras[name] = [np.asarray(s, dtype=np.float64) for s in sft.streamlines]
            seg = np.concatenate([np.linalg.norm(np.diff(s, axis=0), axis=1) for s in ras[name]])
            info["step_range"] = [float(seg.min()), float(seg.max())]
            sft.to_vox()
            sft.to_corner()
            pts = sft.streamlines.get_data()
            info["corner_min"] = floats(pts.min(axis=0))
            info["corner_max_minus_dims"] = floats(pts.max(axis=0) - dims)
            # the volumes' ellipsoid: (index - (n-1)/2) / (0.42 n), index = corner - 0.5
            u = (pts.astype(np.float64) - 0.5 - (dims - 1) / 2.0) / (0.42 * dims)
            info["max_r2"] = float((u * u).sum(axis=1).max())
        if all(n in ras for n in ("bundle_a.trk", "bundle_b.trk", "whole.tck")):
            union = ras["bundle_a.trk"] + ras["bundle_b.trk"]
            same = len(union) == len(ras["whole.tck"]) and all(
                a.shape == b.shape and np.abs(a - b).max() < 1e-4 for a, b in zip(union, ras["whole.tck"]))
            facts["tck_is_union"] = bool(same)
        m = np.load(os.path.join(sdir, "tractography", "connectivity.npy"))
        facts["connectivity"] = {"dtype": m.dtype.str, "shape": list(m.shape), "zeros": int((m == 0).sum()),
                                 "positive": int((m > 0).sum())}
    with open(out, "w") as f:
        json.dump(report, f)


def main():
    cmd = sys.argv[1]
    if cmd == "tractogram":
        dump_tractogram(sys.argv[2], sys.argv[3])
    elif cmd == "npy_fixtures":
        npy_fixtures(sys.argv[2])
    elif cmd == "npy_load":
        npy_load(sys.argv[2], sys.argv[3])
    elif cmd == "synth":
        check_synth(sys.argv[2], sys.argv[3])
    else:
        sys.exit(f"unknown command {cmd!r}")


if __name__ == "__main__":
    main()
