#!/usr/bin/python3
"""Checks of TRX files and of the groups dwipack makes from them, through h5py, numpy and zipfile.

  trx_check.py dump FILE.trx OUTDIR
      Read FILE with tests/python/trx_writer.py's reader (zipfile + numpy; every CRC checked) and
      write OUTDIR/{header.json, points.f32, offsets.i8, dps.json, dps_<name>.f32, listing.json}.
  trx_check.py groups OUT.hdf5 SUBJECT REFERENCE GROUP [GROUP ...] [--f16 GROUP ...] [--data-only GROUP ...]
      Every GROUP of SUBJECT must equal REFERENCE: the same datasets (data, offsets, lengths,
      euclidean_lengths, data_per_streamline/*) bit for bit and the same space attributes. After
      --f16: the groups made from float16 positions: offsets and lengths equal, points within the
      float16 rounding of the RAS positions (mapped to voxels), euclidean lengths within the same.
      After --data-only: the datasets only (a .tck's group takes its attributes from the volume).
  trx_check.py same_group A.hdf5 SUBJECT/GROUP B.hdf5 SUBJECT/GROUP [TOLERANCE]
      The two groups hold the same streamline datasets and space attributes, bit for bit (the
      round trip of `extract` to .trx and `create` from it). With TOLERANCE (voxels), the points
      may differ by that much and the euclidean lengths by TOLERANCE relative; the rest is exact.
"""
import json
import os
import sys

import h5py
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from trx_writer import read_trx  # noqa: E402

DATASETS = ('data', 'offsets', 'lengths', 'euclidean_lengths')
ATTRIBUTES = ('type', 'space', 'origin', 'affine', 'dimensions', 'voxel_sizes', 'voxel_order')


def dump(path, out):
    header, positions, offsets, dps, info = read_trx(path)
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, 'header.json'), 'w') as f:
        json.dump(header, f)
    positions.astype('<f4').tofile(os.path.join(out, 'points.f32'))
    offsets.astype('<i8').tofile(os.path.join(out, 'offsets.i8'))
    for name, values in dps.items():
        values.astype('<f4').tofile(os.path.join(out, f'dps_{name}.f32'))
    with open(os.path.join(out, 'dps.json'), 'w') as f:
        json.dump({k: int(v.shape[1]) for k, v in dps.items()}, f)
    with open(os.path.join(out, 'listing.json'), 'w') as f:
        json.dump(info, f)


def bits_equal(a, b):
    a, b = np.asarray(a), np.asarray(b)
    return a.shape == b.shape and a.dtype == b.dtype and a.tobytes() == b.tobytes()


def attrs_equal(a, b):
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return bits_equal(a, b)
    return a == b


def groups(argv):
    path, subject, reference = argv[:3]
    mode, targets = 'exact', []
    for arg in argv[3:]:
        if arg in ('--f16', '--data-only'):
            mode = arg
            continue
        targets.append((arg, mode))
    f = h5py.File(path, 'r')
    ref = f[subject][reference]
    problems = []
    for name, mode in targets:
        g = f[subject][name]
        where = f'{subject}/{name}'
        for d in ('offsets', 'lengths'):
            if not bits_equal(g[d][()], ref[d][()]):
                problems.append(f'{where}/{d} differs from {reference}')
        if mode == '--f16':
            check_f16(g, ref, where, problems)
        else:
            for d in ('data', 'euclidean_lengths'):
                if not bits_equal(g[d][()], ref[d][()]):
                    a, b = g[d][()], ref[d][()]
                    n = int(np.sum(a != b)) if a.shape == b.shape else -1
                    problems.append(f'{where}/{d} differs from {reference} ({n} values)')
        if mode == 'exact':
            for key in ATTRIBUTES:
                if key in ref.attrs or key in g.attrs:
                    if key not in g.attrs or key not in ref.attrs or not attrs_equal(g.attrs[key], ref.attrs[key]):
                        problems.append(f'{where}: attribute {key} = {g.attrs.get(key)!r}, '
                                        f'{reference} has {ref.attrs.get(key)!r}')
        if mode != '--data-only':
            names = sorted(g['data_per_streamline']), sorted(ref['data_per_streamline'])
            if names[0] != names[1]:
                problems.append(f'{where}: data_per_streamline {names[0]} != {names[1]}')
            for k in set(names[0]) & set(names[1]):
                if not bits_equal(g['data_per_streamline'][k][()], ref['data_per_streamline'][k][()]):
                    problems.append(f'{where}/data_per_streamline/{k} differs from {reference}')
    for p in problems:
        print('MISMATCH:', p)
    return 1 if problems else 0


def check_f16(g, ref, where, problems):
    """Float16 positions are the RAS mm points rounded to 11 significant bits: the stored voxel
    points may differ from the float32 ones by that rounding mapped through ras2vox."""
    affine = ref.attrs['affine'].astype(np.float64)
    ras2vox = np.linalg.inv(affine)[:3, :3]
    a, b = g['data'][()].astype(np.float64), ref['data'][()].astype(np.float64)
    if a.shape != b.shape:
        problems.append(f'{where}/data has shape {a.shape}, {b.shape} expected')
        return
    ras = (b - 0.5) @ affine[:3, :3].T + affine[:3, 3]  # stored: voxel space, corner origin
    half_ulp = np.maximum(np.abs(ras), 6.1e-5) * 2.0 ** -11  # float16: 11 significant bits
    bound = half_ulp @ np.abs(ras2vox).T + 1e-4  # + float32 rounding of the conversion
    worst = np.max(np.abs(a - b) - bound) if len(a) else -1
    if worst > 0:
        problems.append(f'{where}/data: a point is {worst} voxel beyond the float16 rounding')
    la, lb = g['euclidean_lengths'][()], ref['euclidean_lengths'][()]
    if len(la) and np.max(np.abs(la - lb) / np.maximum(lb, 1)) > 2e-3:
        problems.append(f'{where}/euclidean_lengths: beyond the float16 rounding')


def same_group(a_file, a_group, b_file, b_group, tolerance=None):
    a, b = h5py.File(a_file, 'r')[a_group], h5py.File(b_file, 'r')[b_group]
    problems = []
    for d in DATASETS + tuple('data_per_streamline/' + k for k in a['data_per_streamline']):
        if tolerance is not None and d in ('data', 'euclidean_lengths') and d in b:
            x, y = a[d][()].astype(np.float64), b[d][()].astype(np.float64)
            scale = 1.0 if d == 'data' else np.maximum(np.abs(x), 1.0)
            if x.shape != y.shape or (len(x) and np.max(np.abs(x - y) / scale) > float(tolerance)):
                problems.append(f'{b_file}:{b_group}/{d} differs from {a_file}:{a_group} by more than {tolerance}')
            continue
        if d not in b or not bits_equal(a[d][()], b[d][()]):
            x, y = a[d][()], b[d][()] if d in b else None
            detail = ''
            if y is not None and x.shape == y.shape:
                detail = f' ({int(np.sum(x != y))} values, largest difference {np.max(np.abs(x.astype(float) - y))})'
            problems.append(f'{b_file}:{b_group}/{d} differs from {a_file}:{a_group}{detail}')
    for key in ATTRIBUTES:
        if key in a.attrs and (key not in b.attrs or not attrs_equal(a.attrs[key], b.attrs[key])):
            problems.append(f'attribute {key}: {b.attrs.get(key)!r}, expected {a.attrs[key]!r}')
    for p in problems:
        print('MISMATCH:', p)
    return 1 if problems else 0


def main():
    cmd = sys.argv[1]
    if cmd == 'dump':
        dump(sys.argv[2], sys.argv[3])
        return 0
    if cmd == 'groups':
        return groups(sys.argv[2:])
    if cmd == 'same_group':
        return same_group(*sys.argv[2:7])
    sys.exit(__doc__)


if __name__ == '__main__':
    sys.exit(main())
