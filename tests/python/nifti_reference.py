#!/usr/bin/python3
"""NIfTI fixtures for dwipack's reader tests, with nibabel's own reading of each as the reference.

Usage: nifti_reference.py OUT_DIR [DEBIAN_FILE ...]

Writes into OUT_DIR:
  * one NIfTI file per case (every supported datatype x several scl_slope/scl_inter pairs, both
    byte orders, NIfTI-1 and NIfTI-2, 3-D and 4-D, .nii, .nii.gz and multi-member .nii.gz,
    qform-only / sform / neither / oblique / invalid-code affines, padded vox_offset, extensions);
  * for each case NAME.f32: nibabel's img.get_fdata(dtype=np.float32), a 3-D image given a trailing
    axis of 1, as C-order (X, Y, Z, F) native float32 bytes;
  * error fixtures (files dwipack must refuse) under err_*;
  * manifest.json: {"cases", "refused", "errors", "debian"}, each case with file, ref,
    shape [X, Y, Z, F], affine (16 floats, row-major, = img.affine), zooms (get_zooms()[:3]),
    version, datatype, byte_swapped; "refused" lists the cases nibabel itself cannot read (dwipack
    must refuse them too); each error with file and what nibabel says of it.

The files are built byte by byte from nibabel header objects (so that scl_slope/scl_inter, codes
and offsets are exactly what we ask for: nib.save would recompute scaling), but the references
always come from nib.load() of the file written to disk.
Each DEBIAN_FILE (a real file shipped by Debian) gets a reference too (or its nibabel error).
"""
import gzip
import json
import math
import os
import sys

import numpy as np
import nibabel as nib

OUT = sys.argv[1]
DEBIAN = sys.argv[2:]
os.makedirs(OUT, exist_ok=True)

RNG = np.random.default_rng(20240607)
NAN = float("nan")

DTYPES = {  # name -> (numpy dtype, NIfTI code)
    "uint8": (np.uint8, 2),
    "int8": (np.int8, 256),
    "int16": (np.int16, 4),
    "uint16": (np.uint16, 512),
    "int32": (np.int32, 8),
    "uint32": (np.uint32, 768),
    "int64": (np.int64, 1024),
    "uint64": (np.uint64, 1280),
    "float32": (np.float32, 16),
    "float64": (np.float64, 64),
}

manifest = {"cases": [], "refused": [], "errors": [], "debian": []}


def values_for(dtype, n):
    """n values of dtype covering the extremes (and NaN/Inf/-0/denormals for floats)."""
    dt = np.dtype(dtype)
    if dt.kind in "iu":
        info = np.iinfo(dt)
        special = [info.min, info.max, 0, 1, info.max - 1, info.min + 1]
        if dt.kind == "i":
            special += [-1, -2, 100, -100]
        if dt.itemsize == 8:
            # int64 -> float64 -> float32 rounds twice; these differ from a direct cast
            special += [2**60 + 2**36 + 1, 2**62 + 2**38 + 1, 2**53 + 1]
            if dt.kind == "u":
                special += [2**63 + 2**39 + 1, 2**64 - 2**39]
            else:
                special += [-(2**60 + 2**36 + 1)]
        lo = int(info.min) // 2 if dt.kind == "i" else 0
        rand = RNG.integers(lo, int(info.max) // 2 + 1, size=n, dtype=np.int64 if dt.itemsize < 8 or dt.kind == "i" else np.uint64)
        out = np.array(rand, dtype=dt)
        sp = np.array(special, dtype=dt)
        out[: min(n, len(sp))] = sp[:n]
        return out
    info = np.finfo(dt)
    special = [NAN, np.inf, -np.inf, -0.0, 0.0, float(info.max), -float(info.max), float(info.tiny),
               float(info.tiny) / 8, 1.0, -1.0, 0.1, 1e-30, 3.4e38, -3.5e38]
    if dt == np.float64:
        special += [1e300, -1e300, 3.4028235677973366e38, 3.4028235677973362e38, 1e-310, 1.0000000596046448]
    out = (RNG.standard_normal(n) * 10.0 ** RNG.integers(-5, 6, n)).astype(dt)
    sp = np.array(special, dtype=np.float64).astype(dt)
    out[: min(n, len(sp))] = sp[:n]
    # NaNs with payloads: a quiet one and a signalling one
    bits = out.view(np.uint32 if dt == np.float32 else np.uint64)
    if n > len(sp) + 2:
        if dt == np.float32:
            bits[len(sp)] = 0x7FC00123
            bits[len(sp) + 1] = 0x7F800001
        else:
            bits[len(sp)] = 0x7FF8000000000123
            bits[len(sp) + 1] = 0x7FF0000000000001
    return out


def header(version, endian, code, shape, zooms=None, slope=NAN, inter=NAN, vox_offset=None):
    klass = nib.Nifti1Header if version == 1 else nib.Nifti2Header
    h = klass(endianness=endian)
    h.set_data_dtype(code)
    h.set_data_shape(shape)
    if zooms is None:
        zooms = (2.0, 2.5, 3.0, 1.5, 1.0)[: len(shape)]
    h.set_zooms(zooms)
    h["scl_slope"] = slope
    h["scl_inter"] = inter
    h["vox_offset"] = vox_offset if vox_offset is not None else (352 if version == 1 else 544)
    return h


def nifti_bytes(h, data_bytes):
    block = h.binaryblock
    offset = int(h["vox_offset"])
    pad = max(0, offset - len(block))
    return block + b"\0" * pad + data_bytes


def raw_bytes(arr, endian):
    return np.asarray(arr).astype(arr.dtype.newbyteorder(endian)).tobytes(order="F")


def gz(b, level=6):
    return gzip.compress(b, compresslevel=level, mtime=0)


def write(name, content):
    path = os.path.join(OUT, name)
    with open(path, "wb") as f:
        f.write(content)
    return path


def add_case(name, filename):
    path = os.path.join(OUT, filename)
    try:
        img = nib.load(path)
        data = img.get_fdata(dtype=np.float32)
    except Exception as exc:  # noqa: BLE001 - dwipack must refuse it too
        manifest["refused"].append({"name": name, "file": filename, "nibabel": f"{type(exc).__name__}: {exc}"})
        return
    if data.ndim == 3:
        data = data[..., None]
    ref = name + ".f32"
    with open(os.path.join(OUT, ref), "wb") as f:
        f.write(np.ascontiguousarray(data, dtype="=f4").tobytes())
    hdr = img.header
    manifest["cases"].append({
        "name": name,
        "file": filename,
        "ref": ref,
        "shape": [int(s) for s in data.shape],
        "affine": [float(v) for v in np.asarray(img.affine, dtype=np.float64).ravel()],
        "zooms": [float(z) for z in hdr.get_zooms()[:3]],
        "version": 2 if isinstance(img, nib.Nifti2Image) else 1,
        "datatype": int(hdr["datatype"]),
        "byte_swapped": hdr.endianness != nib.volumeutils.native_code,
    })


def case(name, version=1, endian="<", dtype="int16", shape=(5, 4, 3, 2), slope=NAN, inter=NAN,
         kind="nii", qform=None, sform=None, vox_offset=None, zooms=None, tweak=None, data=None):
    """Write one file (kind: nii, gz, multigz) and register nibabel's reading of it."""
    npdt, code = DTYPES[dtype]
    h = header(version, endian, code, shape, zooms, slope, inter, vox_offset)
    if qform is not None:
        h.set_qform(qform[0], code=qform[1])
    if sform is not None:
        h.set_sform(sform[0], code=sform[1])
    if tweak is not None:
        tweak(h)
    if data is None:
        data = values_for(npdt, int(np.prod(shape))).reshape(shape, order="F")
    b = nifti_bytes(h, raw_bytes(np.asarray(data, dtype=npdt), endian))
    if kind == "nii":
        filename = name + ".nii"
        write(filename, b)
    elif kind == "gz":
        filename = name + ".nii.gz"
        write(filename, gz(b))
    elif kind == "multigz":  # members split inside the header, inside the data, and an empty one
        filename = name + ".nii.gz"
        cuts = [0, 100, len(b) // 2 + 3, len(b)]
        members = [gz(b[cuts[i]:cuts[i + 1]]) for i in range(3)]
        write(filename, members[0] + gz(b"") + members[1] + members[2])
    else:
        raise ValueError(kind)
    add_case(name, filename)


def rotation(ax, ay, az):
    cx, sx, cy, sy, cz, sz = math.cos(ax), math.sin(ax), math.cos(ay), math.sin(ay), math.cos(az), math.sin(az)
    rx = np.array([[1, 0, 0], [0, cx, -sx], [0, sx, cx]])
    ry = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    rz = np.array([[cz, -sz, 0], [sz, cz, 0], [0, 0, 1]])
    return rz @ ry @ rx


def affine(rot, zooms, trans, flip_x=False):
    a = np.eye(4)
    z = np.array(zooms, dtype=float)
    if flip_x:
        z[0] = -z[0]
    a[:3, :3] = rot @ np.diag(z)
    a[:3, 3] = trans
    return a


# ---- every datatype x scaling -----------------------------------------------------------------
SCALINGS_N1 = [
    ("noscale", NAN, NAN), ("zero", 0.0, 0.0), ("s2.5_i10", 2.5, 10.0), ("s0_i5", 0.0, 5.0),
    ("s1_i0", 1.0, 0.0), ("snan_i3", NAN, 3.0), ("sinf_i3", np.inf, 3.0), ("s1_i3", 1.0, 3.0),
    ("sm0.5_i0", -0.5, 0.0), ("s0.1_im7.3", 0.1, -7.3), ("s1e36_i0", 1e36, 0.0),
    ("s1e-3_i1e5", 1e-3, 1e5), ("sfltmax_i0", float(np.finfo(np.float32).max), 0.0),
    ("s3_i3.3e38", 3.0, 3.3e38), ("s0.3_i0.7", 0.3, 0.7),
]
SCALINGS_N2 = [  # float64 factors: rounded to float32 by nibabel unless |v| >= 3.4e38
    ("n2_s0.1_i0.2", 0.1, 0.2), ("n2_s1e300", 1e300, 0.0), ("n2_s2_i1e39", 2.0, 1e39),
    ("n2_s1p1e-10", 1.0 + 1e-10, 0.0), ("n2_s1e-50_i1", 1e-50, 1.0), ("n2_s0.1_i1e39", 0.1, 1e39),
]
for dtype in DTYPES:
    for tag, slope, inter in SCALINGS_N1:
        case(f"{dtype}_{tag}", dtype=dtype, slope=slope, inter=inter, kind="gz")
    for tag, slope, inter in SCALINGS_N2:
        case(f"{dtype}_{tag}", version=2, dtype=dtype, slope=slope, inter=inter, kind="gz")

# ---- layouts: byte order, version, 3-D/4-D, compression, offsets -----------------------------
for dtype in ("uint8", "int16", "int32", "int64", "float32", "float64", "uint16", "uint64"):
    for version in (1, 2):
        for endian in ("<", ">"):
            e = "le" if endian == "<" else "be"
            case(f"lay_{dtype}_v{version}_{e}_3d", version, endian, dtype, shape=(6, 5, 4), kind="nii")
            case(f"lay_{dtype}_v{version}_{e}_4d_gz", version, endian, dtype, shape=(3, 5, 4, 3), kind="gz",
                 slope=1.5, inter=-2.0)
            case(f"lay_{dtype}_v{version}_{e}_multigz", version, endian, dtype, shape=(4, 3, 5, 2), kind="multigz")
case("lay_offset416_nii", vox_offset=416, kind="nii")
case("lay_offset1000_gz", version=2, vox_offset=1000, kind="gz", dtype="float32")
case("lay_4d_one_frame", shape=(4, 3, 2, 1), kind="nii")
case("lay_wide_x_tiles", dtype="int16", shape=(70, 5, 19, 3), kind="gz", slope=0.5, inter=1.0)
case("lay_many_frames", dtype="int16", shape=(65, 1, 2, 1100), kind="gz")
case("lay_big_frames", dtype="float32", shape=(64, 48, 40, 5), kind="gz")
case("lay_singleton", dtype="float64", shape=(1, 1, 1), kind="nii")
case("lay_level1", dtype="int16", shape=(30, 20, 10, 4), kind="gz",
     data=np.arange(24000, dtype=np.int16).reshape((30, 20, 10, 4), order="F"))

# a file with a real NIfTI extension, written by nib.save itself
img = nib.Nifti1Image(values_for(np.float32, 60).reshape((5, 4, 3)), affine(rotation(0.1, 0, 0), (1, 2, 3), (4, 5, 6)))
img.header.extensions.append(nib.nifti1.Nifti1Extension("comment", b"dwipack test extension" * 5))
nib.save(img, os.path.join(OUT, "lay_extension.nii.gz"))
add_case("lay_extension", "lay_extension.nii.gz")

# ---- affines ------------------------------------------------------------------------------------
OBLIQUE = affine(rotation(0.3, -0.2, 0.7), (2.0, 2.5, 3.0), (-90.5, 102.25, -70.125))
OBLIQUE_FLIP = affine(rotation(-0.1, 0.25, 1.3), (2.0, 2.5, 3.0), (10.0, -20.0, 30.0), flip_x=True)
SHEAR = OBLIQUE.copy()
SHEAR[0, 1] += 0.4
SHEAR[2, 0] -= 0.3
for version in (1, 2):
    v = f"v{version}"
    case(f"aff_{v}_qform_oblique", version, qform=(OBLIQUE, 1), sform=(OBLIQUE, 0))
    case(f"aff_{v}_qform_flip", version, qform=(OBLIQUE_FLIP, 2), sform=(OBLIQUE_FLIP, 0))
    case(f"aff_{v}_sform_shear", version, qform=(OBLIQUE, 0), sform=(SHEAR, 4))
    case(f"aff_{v}_both", version, qform=(OBLIQUE_FLIP, 1), sform=(SHEAR, 2))
    case(f"aff_{v}_neither_odd", version, shape=(5, 7, 3))
    case(f"aff_{v}_neither_even", version, shape=(6, 4, 2, 2), zooms=(0.7, 1.3, 2.9, 1.0))
    case(f"aff_{v}_qform_be", version, endian=">", qform=(OBLIQUE, 1), sform=(OBLIQUE, 0), kind="gz")
    case(f"aff_{v}_sform_be", version, endian=">", qform=(OBLIQUE, 0), sform=(SHEAR, 1), kind="gz")


def set_field(**fields):
    def tweak(h):
        for k, val in fields.items():
            if isinstance(val, tuple):
                index, value = val
                h[k][index] = value
            else:
                h[k] = val
    return tweak


case("aff_qform_code7", qform=(OBLIQUE, 1), sform=(OBLIQUE, 0), tweak=set_field(qform_code=7))
case("aff_sform_code_neg", qform=(OBLIQUE, 1), sform=(SHEAR, 1), tweak=set_field(sform_code=-1))
case("aff_sform_code5", qform=(OBLIQUE, 1), sform=(SHEAR, 1), tweak=set_field(sform_code=5))
case("aff_pixdim_zero", qform=(OBLIQUE, 1), sform=(OBLIQUE, 0), tweak=set_field(pixdim=(2, 0.0)))
case("aff_pixdim_negative", qform=(OBLIQUE, 1), sform=(OBLIQUE, 0), tweak=set_field(pixdim=(1, -2.0)))
case("aff_pixdim_negative_fallback", tweak=set_field(pixdim=(3, -3.0)))
case("aff_qfac_zero", qform=(OBLIQUE, 1), sform=(OBLIQUE, 0), tweak=set_field(pixdim=(0, 0.0)))
case("aff_qfac_half", qform=(OBLIQUE_FLIP, 1), sform=(OBLIQUE_FLIP, 0), tweak=set_field(pixdim=(0, -0.5)))
case("aff_quat_w0", qform=(OBLIQUE, 1), sform=(OBLIQUE, 0),
     tweak=set_field(quatern_b=np.float32(1.0000001), quatern_c=0.0, quatern_d=0.0))
case("aff_quat_w0_v2", version=2, qform=(OBLIQUE, 1), sform=(OBLIQUE, 0),
     tweak=set_field(quatern_b=0.6, quatern_c=0.8, quatern_d=2e-16))
case("aff_quat_unnormalised", qform=(OBLIQUE, 1), sform=(OBLIQUE, 0),
     tweak=set_field(quatern_b=0.1, quatern_c=0.2, quatern_d=0.3))

# ---- error fixtures -----------------------------------------------------------------------------


def nibabel_says(path):
    try:
        nib.load(path).get_fdata(dtype=np.float32)
        return None
    except Exception as exc:  # noqa: BLE001 - recorded as information only
        return f"{type(exc).__name__}: {exc}"


def error(filename, content):
    path = write(filename, content)
    manifest["errors"].append({"file": filename, "nibabel": nibabel_says(path)})


def good_bytes(version=1, dtype="int16", shape=(5, 4, 3, 2), **kw):
    npdt, code = DTYPES[dtype]
    h = header(version, "<", code, shape, **kw)
    return nifti_bytes(h, raw_bytes(values_for(npdt, int(np.prod(shape))), "<"))


def header_with(version=1, code=4, shape=(5, 4, 3, 2), **fields):
    """A file of 1000 data bytes whose header has the given raw fields (a tuple value is
    (index, value) into an array field); nothing is checked or fixed."""
    klass = nib.Nifti1Header if version == 1 else nib.Nifti2Header
    h = klass()
    h["datatype"] = code
    h.set_data_shape(shape)
    for k, val in fields.items():
        if isinstance(val, tuple):
            h[k][val[0]] = val[1]
        else:
            h[k] = val
    h["vox_offset"] = fields.get("vox_offset", 352 if version == 1 else 544)
    return nifti_bytes(h, bytes(range(256)) * 3 + bytes(232))


error("err_2d.nii", nifti_bytes(header(1, "<", 4, (5, 4)), b"\0" * 40))
error("err_5d.nii.gz", gz(nifti_bytes(header(1, "<", 4, (2, 2, 2, 2, 2)), b"\0" * 64)))
error("err_dim_zero.nii", header_with(shape=(5, 4, 3, 2), dim=(2, 0)))
error("err_complex64.nii", nifti_bytes(header(1, "<", np.complex64, (2, 2, 2)), b"\0" * 64))
error("err_rgb24.nii", header_with(code=128, shape=(2, 2, 2), bitpix=24))
error("err_float128.nii", header_with(code=1536, shape=(2, 2, 2), bitpix=128))
error("err_binary.nii", header_with(code=1, shape=(8, 2, 2), bitpix=1))
error("err_vox_offset_100.nii", header_with(vox_offset=100))
error("err_vox_offset_0.nii", header_with(vox_offset=0))
error("err_v2_vox_offset_540.nii", header_with(version=2, vox_offset=540))
full = good_bytes()
error("err_truncated.nii", full[:-10])
error("err_header_only.nii", full[:352])
compressed = gz(good_bytes(shape=(20, 10, 8, 3)))
error("err_truncated.nii.gz", compressed[: len(compressed) // 2])
error("err_no_trailer.nii.gz", compressed[:-8])
crc = bytearray(compressed)
crc[-6] ^= 0x40  # inside the CRC32 field of the trailer
error("err_crc.nii.gz", bytes(crc))
isize = bytearray(compressed)
isize[-2] ^= 0x01  # inside the ISIZE field
error("err_isize.nii.gz", bytes(isize))
stored = gzip.compress(good_bytes(shape=(20, 10, 8, 3)), compresslevel=0, mtime=0)  # stored blocks
flipped = bytearray(stored)
flipped[len(flipped) // 2] ^= 0x10  # a data byte: only the CRC can tell
error("err_data_flip.nii.gz", bytes(flipped))
# the same, large enough that nifticlib's zlib header read stops long before the end
big = gz(nifti_bytes(header(1, "<", 16, (64, 64, 32, 2)), RNG.standard_normal(64 * 64 * 32 * 2).astype("<f4").tobytes()))
big_crc = bytearray(big)
big_crc[-7] ^= 0x01
error("err_crc_big.nii.gz", bytes(big_crc))
error("err_truncated_big.nii.gz", big[: len(big) * 3 // 4])
error("err_gzip_text.nii.gz", gz(b"this is not a NIfTI file\n" * 40))
error("err_not_gzip.nii.gz", good_bytes())
error("err_gzip_named_nii.nii", gz(good_bytes()))
error("err_pair_magic.nii", header_with(magic=b"ni1"))
error("err_bad_magic.nii", header_with(magic=b"xyz"))
error("err_v2_pair_magic.nii", header_with(version=2, magic=b"ni2"))
error("err_bad_intercept.nii", header_with(scl_slope=2.0, scl_inter=np.inf))
error("err_quaternion.nii", header_with(qform_code=1, sform_code=0, quatern_b=0.9, quatern_c=0.9, quatern_d=0.1))
error("err_tar.tar.gz", gz(good_bytes()))
error("err_text.nii", b"hello\n" * 100)
error("err_empty.nii", b"")
# the data stops inside the first member; what follows is no gzip member
error("err_garbage_member.nii.gz", gz(good_bytes(shape=(20, 10, 8, 3))[:600]) + b"garbage!" * 8)
error("err_v2_eol.nii", header_with(version=2, eol_check=[13, 13, 26, 10]))

# ---- the real files shipped by Debian ----------------------------------------------------------
for path in DEBIAN:
    name = "debian_" + os.path.basename(path).split(".")[0]
    entry = {"path": path, "nibabel": None}
    try:
        img = nib.load(path)
        data = img.get_fdata(dtype=np.float32)
        if data.ndim == 3:
            data = data[..., None]
        ref = name + ".f32"
        with open(os.path.join(OUT, ref), "wb") as f:
            f.write(np.ascontiguousarray(data, dtype="=f4").tobytes())
        entry.update({
            "ref": ref,
            "shape": [int(s) for s in data.shape],
            "ndim": int(img.ndim),
            "affine": [float(v) for v in np.asarray(img.affine, dtype=np.float64).ravel()],
            "zooms": [float(z) for z in img.header.get_zooms()[:3]],
            "datatype": int(img.header["datatype"]),
        })
    except Exception as exc:  # noqa: BLE001
        entry["nibabel"] = f"{type(exc).__name__}: {exc}"
    manifest["debian"].append(entry)

with open(os.path.join(OUT, "manifest.json"), "w") as f:
    json.dump(manifest, f, indent=1, allow_nan=True)
print(f"{len(manifest['cases'])} cases, {len(manifest['refused'])} refused by nibabel, {len(manifest['errors'])} error fixtures, {len(manifest['debian'])} Debian files")
