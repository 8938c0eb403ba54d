#!/usr/bin/python3
"""A small TRX writer and reader for the tests, independent of dwipack (numpy + zipfile only).

TRX (the tee-ar-ex format) is a ZIP archive, or a folder, of flat little-endian C-order arrays:
  header.json                    {"VOXEL_TO_RASMM": 4x4, "DIMENSIONS": [3], "NB_VERTICES", "NB_STREAMLINES"}
  positions.3.<float16|32|64>    NB_VERTICES x 3, RAS mm
  offsets.<uint32|uint64>        NB_STREAMLINES entries (first point of each streamline), or one
                                 more entry equal to NB_VERTICES
  dps/<name>[.<k>].<dtype>       NB_STREAMLINES x k
  dpv/, groups/, dpg/            not used by dwi_ml
Debian has no TRX library (trx-python is not packaged), so the tests write their TRX files with
this module: trx_members() builds the arrays from streamlines nibabel loaded, write_members()
stores them (ZIP stored / deflated / bzip2, ZIP64 records forced, a top folder inside the
archive, or a plain folder), so that malformed files are made by editing the member dict.
read_trx() is the independent reader used to check the files dwipack writes.
"""
import io
import json
import os
import zipfile

import numpy as np


def member_name(base, columns, dtype, always_columns=False):
    dt = np.dtype(dtype).name
    if columns == 1 and not always_columns:
        return f'{base}.{dt}'
    return f'{base}.{columns}.{dt}'


def trx_members(streamlines, affine, dimensions, dps=None, positions_dtype='float32',
                offsets_dtype='uint64', offsets_end=False, dps_dtype=None):
    """dict member name -> bytes. `streamlines`: list of (n, 3) float32 arrays in RAS mm.
    `dps`: {name: array (S,) or (S, k)}; each stored as `dps_dtype` (default: its own dtype)."""
    lengths = np.array([len(s) for s in streamlines], np.int64)
    if len(streamlines):
        positions = np.concatenate([np.asarray(s, np.float32).reshape(-1, 3) for s in streamlines])
    else:
        positions = np.zeros((0, 3), np.float32)
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    if not offsets_end:
        offsets = offsets[:-1]
    header = {'VOXEL_TO_RASMM': np.asarray(affine, np.float64).tolist(),
              'DIMENSIONS': [int(d) for d in dimensions],
              'NB_VERTICES': int(len(positions)),
              'NB_STREAMLINES': int(len(streamlines))}
    members = {
        'header.json': json.dumps(header).encode(),
        member_name('positions', 3, positions_dtype, True): positions.astype(np.dtype(positions_dtype).newbyteorder('<')).tobytes(),
        member_name('offsets', 1, offsets_dtype): offsets.astype(np.dtype(offsets_dtype).newbyteorder('<')).tobytes(),
    }
    for name, values in (dps or {}).items():
        a = np.asarray(values)
        dt = np.dtype(dps_dtype or a.dtype)
        k = 1 if a.ndim == 1 else a.shape[1]
        members['dps/' + member_name(name, k, dt)] = a.astype(dt.newbyteorder('<')).tobytes()
    return members


def header_of(members):
    return json.loads(members['header.json'])


def set_header(members, **changes):
    h = header_of(members)
    for k, v in changes.items():
        if v is None:
            h.pop(k, None)
        else:
            h[k] = v
    members['header.json'] = json.dumps(h).encode()


def write_members(path, members, container='stored', prefix='', zip64=False):
    """container: 'stored', 'deflated', 'bzip2' (ZIP methods) or 'folder'. `prefix`: a folder
    inside the archive holding everything ('name.trx/'), as `zip -r` makes. `zip64`: ZIP64 extra
    fields and end records for every member, as zipfile writes them for files over 2 GiB."""
    if container == 'folder':
        os.makedirs(path, exist_ok=True)
        for name, data in members.items():
            full = os.path.join(path, name)
            os.makedirs(os.path.dirname(full), exist_ok=True)
            with open(full, 'wb') as f:
                f.write(data)
        return
    method = {'stored': zipfile.ZIP_STORED, 'deflated': zipfile.ZIP_DEFLATED,
              'bzip2': zipfile.ZIP_BZIP2}[container]
    saved = zipfile.ZIP64_LIMIT, zipfile.ZIP_FILECOUNT_LIMIT
    if zip64:  # zipfile switches to ZIP64 records above these limits: make every value exceed them
        zipfile.ZIP64_LIMIT, zipfile.ZIP_FILECOUNT_LIMIT = 0, 0
    try:
        with zipfile.ZipFile(path, 'w', method) as z:
            for name, data in members.items():
                z.writestr(prefix + name, data)
    finally:
        zipfile.ZIP64_LIMIT, zipfile.ZIP_FILECOUNT_LIMIT = saved


def write_trx(path, streamlines, affine, dimensions, dps=None, container='stored', prefix='',
              zip64=False, **array_options):
    write_members(path, trx_members(streamlines, affine, dimensions, dps, **array_options),
                  container, prefix, zip64)


def _split(name):
    base, dtype = name.rsplit('.', 1)
    columns = 1
    if '.' in base and base.rsplit('.', 1)[1].isdigit():
        base, k = base.rsplit('.', 1)
        columns = int(k)
    return base, columns, np.dtype(dtype).newbyteorder('<')


def read_trx(path):
    """(header dict, positions float32 (P, 3) as stored widened/rounded, offsets int64 (S + 1,),
    {dps name: float32 (S, k)}, zip info or None). Checks the archive's CRCs (zipfile.testzip)."""
    if os.path.isdir(path):
        files = {}
        for root, _, names in os.walk(path):
            for n in names:
                full = os.path.join(root, n)
                files[os.path.relpath(full, path)] = open(full, 'rb').read()
        info = None
    else:
        with zipfile.ZipFile(path) as z:
            bad = z.testzip()
            assert bad is None, f'{path}: member {bad} fails its CRC'
            files = {i.filename: z.read(i.filename) for i in z.infolist() if not i.is_dir()}
            info = [(i.filename, i.compress_type, i.file_size, i.CRC) for i in z.infolist()]
    header = json.loads(files['header.json'])
    S, V = header['NB_STREAMLINES'], header['NB_VERTICES']
    positions = offsets = None
    dps = {}
    for name, data in files.items():
        if name.startswith('dps/'):
            base, k, dt = _split(name[4:])
            dps[base] = np.frombuffer(data, dt).astype(np.float32).reshape(S, k)
        elif name.startswith('positions.'):
            _, k, dt = _split(name)
            assert k == 3
            positions = np.frombuffer(data, dt).astype(np.float32).reshape(V, 3)
        elif name.startswith('offsets.'):
            _, _, dt = _split(name)
            offsets = np.frombuffer(data, dt).astype(np.int64)
    if len(offsets) == S:
        offsets = np.concatenate([offsets, [V]])
    assert len(offsets) == S + 1 and offsets[-1] == V, (len(offsets), S, V)
    return header, positions, offsets, dps, info
