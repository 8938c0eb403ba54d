"""Generate the bad (and a few good) input files of the bad-input corpus (tests/integration/mpi_corpus.sh)
with nibabel/dipy/numpy. Every command writes new files; none changes its sources.

usage: make_corpus.py COMMAND ARGS...
  shift_affine SRC DST DX          SRC's data and header with the affine's x translation moved by DX mm
  reshape SRC DST X,Y,Z            a volume of shape X,Y,Z (+ SRC's frames) with SRC's affine and dtype
  volume_2d DST                    a 2-D NIfTI-1 (8x9, float32)
  vox_offset SRC DST OFFSET        SRC as an uncompressed .nii whose header says vox_offset = OFFSET
  gzip_crc SRC DST                 SRC (a .gz) with its CRC32 trailer flipped (data intact)
  tck_variants SRC_TCK DIR         the malformed .tck files of nibabel's test_tck.py, made from a valid
                                   one: big_endian.tck (datatype says Float32BE), int32.tck (datatype
                                   Int32LE), other_file.tck (file: dummy.mat), no_delimiter.tck (last
                                   streamline delimiter missing), no_eof.tck (end-of-file marker missing)
  trk_hdr_size SRC DST VALUE       a .trk with header field hdr_size (bytes 996-999) set to VALUE
  trk_dps_columns REF_NII DST      a valid .trk in REF's space with a 2-column dps 'weight'
  trk_outside REF_NII DST          a .trk in REF's space with one point 1.5 voxels outside the volume
  empty_trk REF_NII DST            a .trk in REF's space with no streamline
  check_empty OUT.hdf5 SUBJECT GROUP...  assert well-typed empty streamline datasets
"""
import os
import struct
import sys

import numpy as np


def load(path):
    import nibabel as nib
    return nib.load(path)


def shift_affine(src, dst, dx):
    import nibabel as nib
    img = load(src)
    aff = img.affine.copy()
    aff[0, 3] += float(dx)
    nib.save(nib.Nifti1Image(np.asanyarray(img.dataobj), aff, img.header), dst)


def reshape(src, dst, shape):
    import nibabel as nib
    img = load(src)
    xyz = tuple(int(v) for v in shape.split(","))
    data = np.ones(xyz + img.shape[3:], dtype=img.get_data_dtype())
    nib.save(nib.Nifti1Image(data, img.affine), dst)


def volume_2d(dst):
    import nibabel as nib
    nib.save(nib.Nifti1Image(np.ones((8, 9), dtype=np.float32), np.eye(4)), dst)


def vox_offset(src, dst, offset):
    import nibabel as nib
    img = load(src)
    tmp = dst + ".tmp.nii"
    nib.save(nib.Nifti1Image(np.asanyarray(img.dataobj), img.affine, img.header), tmp)
    with open(tmp, "rb") as f:
        raw = bytearray(f.read())
    os.remove(tmp)
    assert struct.unpack_from("<i", raw, 0)[0] == 348, "expected a little-endian NIfTI-1 file"
    struct.pack_into("<f", raw, 108, float(offset))
    with open(dst, "wb") as f:
        f.write(raw)


def gzip_crc(src, dst):
    with open(src, "rb") as f:
        raw = bytearray(f.read())
    raw[-8] ^= 0xFF  # first byte of the CRC32 trailer
    with open(dst, "wb") as f:
        f.write(raw)


def split_tck(raw):
    end = raw.index(b"\nEND\n") + 5
    header = raw[:end].decode("latin-1")
    fields = dict(line.split(": ", 1) for line in header.splitlines()[1:-1])
    offset = int(fields["file"].split()[1])
    return header, offset


def tck_variants(src, out_dir):
    with open(src, "rb") as f:
        raw = f.read()
    header, offset = split_tck(raw)
    assert "datatype: Float32LE" in header, header
    eof = np.array([np.inf] * 3, dtype="<f4").tobytes()
    eos = np.array([np.nan] * 3, dtype="<f4").tobytes()
    assert raw.endswith(eos + eof), "expected a tck ending with a delimiter and the end-of-file marker"

    def write(name, data):
        with open(os.path.join(out_dir, name), "wb") as f:
            f.write(data)

    # Same-length replacements keep the data offset valid.
    write("big_endian.tck", raw.replace(b"datatype: Float32LE", b"datatype: Float32BE", 1))
    write("int32.tck", raw.replace(b"datatype: Float32LE", b"datatype: Int32LE  ", 1))
    # 'file: dummy.mat N': the data is in another file (nibabel: HeaderError). As in test_tck.py,
    # the header grows by 8 bytes and the offset by 8 (same digit count for the offsets used here).
    old_line, new_line = b"file: . %d\n" % offset, b"file: dummy.mat %d\n" % (offset + 8)
    assert len(new_line) == len(old_line) + 8 and old_line in raw[:offset]
    write("other_file.tck", raw.replace(old_line, new_line, 1))
    write("no_delimiter.tck", raw[: -(len(eos) + len(eof))] + eof)
    write("no_eof.tck", raw[: -len(eof)])


def trk_hdr_size(src, dst, value):
    with open(src, "rb") as f:
        raw = bytearray(f.read())
    assert struct.unpack_from("<i", raw, 996)[0] == 1000
    struct.pack_into("<i", raw, 996, int(value))
    with open(dst, "wb") as f:
        f.write(raw)


def save_trk(ref_path, dst, streamlines, dps=None):
    from dipy.io.stateful_tractogram import Origin, Space, StatefulTractogram
    from dipy.io.streamline import save_tractogram
    ref = load(ref_path)
    sft = StatefulTractogram([s.astype(np.float32) for s in streamlines], ref, Space.VOX,
                             origin=Origin.TRACKVIS, data_per_streamline=dps or {})
    save_tractogram(sft, dst, bbox_valid_check=False)


def inside_streamlines(ref_path, n=4):
    dims = np.array(load(ref_path).shape[:3], dtype=np.float64)
    rng = np.random.default_rng(11)
    return [np.linspace(dims * 0.3, dims * 0.7, 6) + rng.normal(0, 0.05, (6, 3)) for _ in range(n)]


def trk_dps_columns(ref_path, dst):
    lines = inside_streamlines(ref_path)
    save_trk(ref_path, dst, lines, {"weight": np.ones((len(lines), 2), dtype=np.float32)})


def trk_outside(ref_path, dst):
    lines = inside_streamlines(ref_path)
    dims = np.array(load(ref_path).shape[:3], dtype=np.float64)
    bad = np.linspace(dims / 2, dims / 2, 4)
    bad[:, 2] = np.linspace(dims[2] / 2, dims[2] + 1.5, 4)
    save_trk(ref_path, dst, lines + [bad])


def empty_trk(ref_path, dst):
    save_trk(ref_path, dst, [])


def check_empty(path, subject, *groups):
    import h5py
    with h5py.File(path, "r") as f:
        for name in groups:
            g = f[subject][name]
            assert g.attrs["type"] == "streamlines", (name, g.attrs["type"])
            want = {"data": ((0, 3), "<f4"), "offsets": ((0,), "<i8"), "lengths": ((0,), "<i8"),
                    "euclidean_lengths": ((0,), "<f4")}
            for ds, (shape, dtype) in want.items():
                got = (g[ds].shape, g[ds].dtype)
                assert got == (shape, np.dtype(dtype)), f"{subject}/{name}/{ds}: {got}, expected {shape} {dtype}"
            assert "data_per_streamline" in g and len(g["data_per_streamline"]) == 0, f"{name}: data_per_streamline"


COMMANDS = {
    "shift_affine": shift_affine, "reshape": reshape, "volume_2d": volume_2d, "vox_offset": vox_offset,
    "gzip_crc": gzip_crc, "tck_variants": tck_variants, "trk_hdr_size": trk_hdr_size,
    "trk_dps_columns": trk_dps_columns, "trk_outside": trk_outside, "empty_trk": empty_trk,
    "check_empty": check_empty,
}

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        raise SystemExit(__doc__)
    COMMANDS[sys.argv[1]](*sys.argv[2:])
