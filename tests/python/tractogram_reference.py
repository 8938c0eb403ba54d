#!/usr/bin/python3
"""Reference data for tests/unit/test_tractogram.cpp: what nibabel makes of .trk/.tck files.

Usage: tractogram_reference.py OUTDIR [FILE.trk|FILE.tck|FILE.zip ...]

Writes into OUTDIR:
  gen/*.trk, gen/*.tck   generated fixtures (valid ones written by nibabel, odd and broken ones
                         patched byte by byte), see generate();
  zip/<zip name>/...     every .trk/.tck of each given .zip, extracted;
  ref/<key>.*            for each readable file: the streamlines nibabel returns
                         (nib.streamlines.load(path).streamlines, float32 little-endian raw),
                         their lengths (int64), and each data_per_streamline array (float32 raw);
  manifest.json          {key: {path, reference, header, n_streamlines, points, lengths, dps,
                                affine_voxmm_to_rasmm, nibabel_error}}.

`reference` is "nibabel" when nibabel loads the file, "numpy" for the Float64 .tck files nibabel
refuses (then the points are the file's float64 values rounded once to float32, split at the NaN
triplets, as MRtrix reads them), or null for a file nibabel refuses (`nibabel_error` says why).
Uses Debian's python3 (numpy 1.24, nibabel 5.0).
"""
import json
import os
import struct
import sys
import warnings
import zipfile

import numpy as np
import nibabel as nib
from nibabel.streamlines import Field
from nibabel.streamlines.trk import get_affine_trackvis_to_rasmm, header_2_dtype

warnings.simplefilter('ignore')  # nibabel's HeaderWarnings are expected for some fixtures

RNG = np.random.RandomState(20240611)


# ---- generated fixtures ------------------------------------------------------------------------

def random_streamlines(n, min_len=1, max_len=40, empty_at=()):
    out = []
    for i in range(n):
        if i in empty_at:
            out.append(np.zeros((0, 3), np.float32))
            continue
        length = RNG.randint(min_len, max_len + 1)
        start = RNG.uniform(5, 45, size=3)
        steps = RNG.normal(0, 0.7, size=(length, 3))
        out.append((start + np.cumsum(steps, axis=0)).astype(np.float32))
    return out


def rotation(ax, ay, az):
    cx, sx, cy, sy, cz, sz = np.cos(ax), np.sin(ax), np.cos(ay), np.sin(ay), np.cos(az), np.sin(az)
    rx = np.array([[1, 0, 0], [0, cx, -sx], [0, sx, cx]])
    ry = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    rz = np.array([[cz, -sz, 0], [sz, cz, 0], [0, 0, 1]])
    return rz @ ry @ rx


def oblique_affine(zooms, perm=(0, 1, 2), signs=(1, 1, 1), angles=(0.09, -0.05, 0.17),
                   shift=(-20.3, 15.7, -8.1)):
    aff = np.eye(4)
    r = rotation(*angles)
    cols = [r[:, p] * s * z for p, s, z in zip(perm, signs, zooms)]
    aff[:3, :3] = np.stack(cols, axis=1)
    aff[:3, 3] = shift
    return aff.astype(np.float32)


def save_trk(path, streamlines, affine, dims, zooms, order, dps=None, dpp=None):
    tractogram = nib.streamlines.Tractogram(streamlines, data_per_streamline=dps or {},
                                            data_per_point=dpp or {}, affine_to_rasmm=np.eye(4))
    header = {Field.VOXEL_TO_RASMM: affine, Field.DIMENSIONS: np.array(dims, np.int16),
              Field.VOXEL_SIZES: np.array(zooms, np.float32), Field.VOXEL_ORDER: order}
    nib.streamlines.TrkFile(tractogram, header=header).save(path)


def patch(path, out, offset, fmt, *values):
    data = bytearray(open(path, 'rb').read())
    struct.pack_into(fmt, data, offset, *values)
    open(out, 'wb').write(bytes(data))


def write_bytes(path, data):
    with open(path, 'wb') as f:
        f.write(data)


def trk_streamline_offsets(path):
    """Byte offset of each streamline record of a little-endian .trk (for cutting it)."""
    data = open(path, 'rb').read()
    hdr = np.frombuffer(data[:1000], header_2_dtype)[0]
    rec = 4 * (3 + int(hdr['nb_scalars_per_point']))
    props = 4 * int(hdr['nb_properties_per_streamline'])
    offsets, pos = [], 1000
    while pos < len(data):
        offsets.append(pos)
        (n,) = struct.unpack_from('<i', data, pos)
        pos += 4 + n * rec + props
    return offsets


def tck_bytes(points_list, datatype='Float32LE', count=None, extra_header='', pad=0, nan=np.nan,
              end=np.inf, end_marker=True, newline='\n'):
    """A .tck written by hand (nibabel only writes Float32LE)."""
    dtype = {'Float32LE': '<f4', 'Float32BE': '>f4', 'Float64LE': '<f8', 'Float64BE': '>f8'}.get(datatype, '<f4')
    body = []
    for pts in points_list:
        body.append(np.asarray(pts, np.float64))
        body.append(np.full((1, 3), nan))
    if end_marker:
        body.append(np.full((1, 3), end))
    data = np.concatenate(body).astype(dtype).tobytes() if body else b''
    count = len(points_list) if count is None else count
    lines = ['mrtrix tracks', f'count: {count:010d}', f'datatype: {datatype}'] + \
        ([extra_header] if extra_header else [])
    head = (newline.join(lines) + newline).encode()
    # 'file: . OFFSET' where OFFSET counts its own digits
    for digits in range(1, 8):
        offset = len(head) + len(f'file: . {10 ** (digits - 1)}{newline}END{newline}') + pad
        if len(str(offset)) == digits:
            break
    return head + f'file: . {offset}{newline}END{newline}'.encode() + b'\0' * pad + data


def generate(gen):
    os.makedirs(gen, exist_ok=True)
    p = lambda name: os.path.join(gen, name)

    # --- valid .trk written by nibabel ---
    s = random_streamlines(12, max_len=30)
    aff = oblique_affine((1.25, 1.25, 2.0))
    dps = {'weights': RNG.normal(size=(12, 2)).astype(np.float32),
           'zeta': RNG.normal(size=(12, 3)).astype(np.float32),
           'one': RNG.normal(size=(12, 1)).astype(np.float32)}
    dpp = {'colors': [RNG.uniform(0, 255, size=(len(x), 3)).astype(np.float32) for x in s],
           'fa': [RNG.uniform(0, 1, size=(len(x), 1)).astype(np.float32) for x in s]}
    save_trk(p('props_scalars.trk'), s, aff, (40, 50, 30), (1.25, 1.25, 2.0), b'RAS', dps, dpp)

    # big-endian: the same file with every header field and every 4-byte data word swapped
    raw = open(p('props_scalars.trk'), 'rb').read()
    hdr_le = np.frombuffer(raw[:1000], header_2_dtype)
    hdr_be = hdr_le.astype(header_2_dtype.newbyteorder('>'))
    write_bytes(p('props_scalars_big_endian.trk'),
                hdr_be.tobytes() + np.frombuffer(raw[1000:], '<u4').byteswap().tobytes())

    # voxel order LPS against an oblique RAS-like vox_to_ras: flips with the dimensions
    s = random_streamlines(15)
    save_trk(p('lps_oblique.trk'), s, oblique_affine((2.0, 2.5, 1.5)), (61, 73, 45), (2.0, 2.5, 1.5), b'LPS')
    # permuted and flipped both ways: affine axes (A, S, L)-like, header voxel order 'ILA', odd sizes
    s = random_streamlines(15)
    aff = oblique_affine((0.8, 1.1, 1.7), perm=(1, 2, 0), signs=(1, -1, -1), shift=(30.25, -41.5, 12.125))
    save_trk(p('permuted_oblique.trk'), s, aff, (33, 20, 47), (0.8, 1.1, 1.7), b'ILA')
    # lower-case voxel order (nibabel upper-cases it for the maths; dipy keeps it as written)
    save_trk(p('lowercase_order.trk'), random_streamlines(6), oblique_affine((1, 1, 1)), (10, 10, 10),
             (1, 1, 1), b'las')

    # version 1 (no vox_to_ras: nibabel uses the identity, whatever the bytes say)
    save_trk(p('v1.trk'), random_streamlines(8), oblique_affine((2, 3, 4)), (9, 8, 7), (2, 3, 4), b'LAS')
    patch(p('v1.trk'), p('v1.trk'), 992, '<i', 1)
    # v2 whose vox_to_ras is all zeros (not recorded): identity
    save_trk(p('no_vox_to_ras.trk'), random_streamlines(5), np.eye(4, dtype=np.float32), (9, 8, 7),
             (1.5, 1.5, 1.5), b'RAS')
    patch(p('no_vox_to_ras.trk'), p('no_vox_to_ras.trk'), 440, '<16f', *([0.0] * 16))
    # empty voxel order: LPS
    save_trk(p('empty_order.trk'), random_streamlines(7), oblique_affine((1, 2, 1)), (20, 21, 22), (1, 2, 1),
             b'LPS')
    patch(p('empty_order.trk'), p('empty_order.trk'), 948, '4s', b'')
    # n_count 0: read to the end
    patch(p('props_scalars.trk'), p('n_count_zero.trk'), 988, '<i', 0)
    # a streamline with no point, a one-point streamline, and -0.0 coordinates under an identity
    # matrix (nibabel then leaves the stored values untouched)
    s = random_streamlines(6, empty_at=(2,))
    s[4] = s[4][:1]
    s[1][0] = (-0.0, 0.5, -0.0)
    save_trk(p('zero_length.trk'), s, np.eye(4, dtype=np.float32), (10, 10, 10), (1, 1, 1), b'RAS')
    data = bytearray(open(p('zero_length.trk'), 'rb').read())
    off = trk_streamline_offsets(p('zero_length.trk'))[1] + 4
    struct.pack_into('<3f', data, off, -0.0, 0.5, -0.0)  # voxmm -0.0 (RAS -0.5 after the shift)
    write_bytes(p('zero_length.trk'), bytes(data))
    # identity matrix: voxel size 1, RAS, vox_to_ras = translation by +0.5 (cancels nibabel's shift)
    aff = np.eye(4, dtype=np.float32)
    aff[:3, 3] = 0.5
    s = random_streamlines(4)
    s[0][0] = (-0.0, 1.0, -0.0)
    save_trk(p('identity_matrix.trk'), s, aff, (10, 10, 10), (1, 1, 1), b'RAS')
    data = bytearray(open(p('identity_matrix.trk'), 'rb').read())
    struct.pack_into('<3f', data, 1004, -0.0, 1.0, -0.0)
    write_bytes(p('identity_matrix.trk'), bytes(data))
    # the unnamed-columns rule: 5 property columns, names covering 3 -> a 'properties' key of 2
    s = random_streamlines(4)
    save_trk(p('unnamed_props.trk'), s, np.eye(4, dtype=np.float32), (10, 10, 10), (1, 1, 1), b'RAS',
             dps={'ab': RNG.normal(size=(4, 5)).astype(np.float32)})
    patch(p('unnamed_props.trk'), p('unnamed_props.trk'), 240, '20s', b'ab\x003')

    # --- broken .trk ---
    s = [np.arange(3 * n, dtype=np.float32).reshape(n, 3) + 1 for n in (3, 4, 5, 6, 7)]
    save_trk(p('five.trk'), s, oblique_affine((1, 1, 1)), (50, 50, 50), (1, 1, 1), b'RAS')
    offs = trk_streamline_offsets(p('five.trk'))
    raw = open(p('five.trk'), 'rb').read()
    write_bytes(p('truncated_points.trk'), raw[:offs[3] + 4 + 12 * 2 + 5])  # inside streamline 3
    write_bytes(p('truncated_count.trk'), raw[:offs[2] + 2])  # inside streamline 2's count
    patch(p('five.trk'), p('n_count_more.trk'), 988, '<i', 7)
    patch(p('five.trk'), p('n_count_fewer.trk'), 988, '<i', 4)
    patch(p('five.trk'), p('hdr_size.trk'), 996, '<i', 999)
    patch(p('five.trk'), p('bad_magic.trk'), 0, '5s', b'TRACX')
    write_bytes(p('short.trk'), raw[:500])
    patch(p('five.trk'), p('version4.trk'), 992, '<i', 4)
    patch(p('five.trk'), p('negative_points.trk'), offs[1], '<i', -3)
    patch(p('five.trk'), p('nan_point.trk'), offs[1] + 4 + 12 * 2 + 4, '<f', np.nan)
    patch(p('five.trk'), p('zero_voxel_size.trk'), 12, '<3f', 0.0, 1.0, 1.0)
    patch(p('five.trk'), p('bad_voxel_order.trk'), 948, '4s', b'XYZ')
    patch(p('five.trk'), p('repeated_voxel_order.trk'), 948, '4s', b'LLS')
    patch(p('five.trk'), p('zero_affine_column.trk'), 440, '<16f',
          1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1)
    patch(p('five.trk'), p('huge_count.trk'), offs[4], '<i', 2 ** 31 - 1)
    # property names declaring 4 columns for n_properties = 3
    save_trk(p('props_too_many.trk'), s, np.eye(4, dtype=np.float32), (10, 10, 10), (1, 1, 1), b'RAS',
             dps={'a': np.ones((5, 3), np.float32)})
    patch(p('props_too_many.trk'), p('props_too_many.trk'), 240, '20s', b'a\x004')
    patch(p('props_too_many.trk'), p('bad_property_name.trk'), 240, '20s', b'a\x003\x00b')
    patch(p('props_too_many.trk'), p('repeated_property_name.trk'), 240, '40s',
          b'a\x002'.ljust(20, b'\0') + b'a')

    # --- .tck ---
    s = random_streamlines(9)
    nib.streamlines.TckFile(nib.streamlines.Tractogram(s, affine_to_rasmm=np.eye(4))).save(p('generated.tck'))
    write_bytes(p('generated_big_endian.tck'), tck_bytes(s, 'Float32BE'))
    d = [np.cumsum(RNG.normal(0, 1.3, size=(RNG.randint(1, 30), 3)), axis=0) + 17.3 for _ in range(8)]
    d[3][0] = (1e-40, -1e-45, 3.4028235e38)  # float32 subnormals and the largest float32
    write_bytes(p('float64_le.tck'), tck_bytes(d, 'Float64LE'))
    write_bytes(p('float64_be.tck'), tck_bytes(d, 'Float64BE', nan=-np.nan, end=-np.inf))
    write_bytes(p('count_wrong.tck'), tck_bytes(s[:3], count=10))
    write_bytes(p('double_delimiter.tck'), tck_bytes([s[0], np.zeros((0, 3)), s[1]]))
    write_bytes(p('padded_crlf.tck'),
                tck_bytes(s[:4], extra_header='command_history: tckgen a b\r\n  continued\r\n'
                          'command_history: tckedit c\r\nnote: \xe9t\xe9', pad=5, newline='\r\n'))
    no_datatype = tck_bytes(s[:2]).replace(b'datatype: Float32LE\n', b'xdatatyp: Float32LE\n')  # same length
    write_bytes(p('no_datatype.tck'), no_datatype)
    t = tck_bytes(s[:2])
    head, data = t[:t.index(b'END\n') + 4], t[t.index(b'END\n') + 4:]
    head = b'\n'.join(l for l in head.split(b'\n') if not l.startswith(b'file:'))
    write_bytes(p('no_file.tck'), head + data)
    write_bytes(p('empty_generated.tck'), tck_bytes([]))

    # --- broken .tck ---
    t = tck_bytes(s[:3])
    write_bytes(p('truncated_no_end.tck'), t[:-12])          # last NaN kept, Inf marker gone
    write_bytes(p('truncated_mid_point.tck'), t[:-12 - 12 - 4])  # inside the last point
    write_bytes(p('truncated_mid_streamline.tck'), t[:-12 - 12 - 12])  # no NaN, no Inf
    write_bytes(p('data_after_end.tck'), t + np.zeros(6, '<f4').tobytes())
    write_bytes(p('unclosed_before_end.tck'), t[:-24] + np.full(3, np.inf, '<f4').tobytes())
    bad = [x.copy() for x in s[:3]]
    bad[1][2, 1] = np.nan
    write_bytes(p('partial_nan.tck'), tck_bytes(bad))
    write_bytes(p('bad_datatype.tck'), tck_bytes(s[:2], 'Int32LE'))
    write_bytes(p('float64_overflow.tck'), tck_bytes([[(1.0, 2.0, 1e39)]], 'Float64LE'))
    write_bytes(p('other_file.tck'), tck_bytes(s[:2]).replace(b'file: . ', b'file: x '))
    t = tck_bytes(s[:2])
    write_bytes(p('offset_beyond.tck'), t.replace(b'file: . ', b'file: . 999999'))
    write_bytes(p('offset_inside_header.tck'), t.replace(b'file: . 6', b'file: . 1'))
    write_bytes(p('continuation_first.tck'), b'mrtrix tracks\nno colon here\nEND\n')
    write_bytes(p('header_only.tck'), b'mrtrix tracks\ncount: 0\ndatatype: Float32LE\nfile: . 58\nEND\n')
    write_bytes(p('binary_before_end.tck'),
                b'mrtrix tracks\ncount: 1\ndatatype: Float32LE\n' + b'\xff\xfe\x00\x01' * 8)


# ---- reference dumps --------------------------------------------------------------------------

def raw_trk_header(path):
    raw = open(path, 'rb').read(1000)
    rec = np.frombuffer(raw, header_2_dtype)
    if rec['hdr_size'] != 1000:
        rec = rec.newbyteorder()
    return rec[0]


def numpy_tck(path, hdr):
    """Float64 .tck as MRtrix reads it: values rounded once to float32, NaN triplets split."""
    dtype = {'Float64LE': '<f8', 'Float64BE': '>f8'}[hdr['datatype']]
    offset = int(hdr['file'].split()[1])
    with open(path, 'rb') as f:
        f.seek(offset)
        stored = np.frombuffer(f.read(), dtype)
    values = stored.astype(np.float32).reshape(-1, 3)
    if (np.isinf(values.ravel()) & np.isfinite(stored)).any():
        raise ValueError('a Float64 value overflows float32')
    assert np.isinf(values[-1]).all()
    out, start = [], 0
    for i in np.where(np.isnan(values).all(axis=1))[0]:
        if i > start:
            out.append(values[start:i])
        start = i + 1
    assert start == len(values) - 1
    return out


def read_tck_header_dict(path):
    """The key: value lines of a .tck up to END (nibabel's own parser refuses Float64)."""
    hdr = {}
    with open(path, 'rb') as f:
        assert f.readline() == b'mrtrix tracks\n'
        for line in f:
            line = line.decode('utf-8').strip()
            if line == 'END':
                hdr['_offset_data'] = int(hdr['file'].split()[1])
                return hdr
            key, value = line.split(':', 1)
            hdr[key.strip()] = value.strip()
    raise ValueError('no END')


def dump(key, path, refdir):
    entry = {'path': path, 'reference': None, 'nibabel_error': None}
    safe = key.replace('/', '__')
    ext = os.path.splitext(path)[1]
    streamlines, dps = None, {}
    try:
        tfile = nib.streamlines.load(path)
        streamlines = list(tfile.streamlines)
        dps = dict(tfile.tractogram.data_per_streamline.items())
        entry['reference'] = 'nibabel'
        hdr = tfile.header
    except Exception as e:  # noqa: BLE001 - recorded for the report
        entry['nibabel_error'] = f'{type(e).__name__}: {e}'
        hdr = None
        if ext == '.tck':
            try:
                hdr = read_tck_header_dict(path)
                if hdr['datatype'].startswith('Float64'):
                    streamlines = numpy_tck(path, hdr)
                    entry['reference'] = 'numpy'
            except Exception:  # noqa: BLE001
                hdr = None
    if streamlines is None:
        return entry

    header = {}
    if ext == '.trk':
        raw = raw_trk_header(path)
        header = {
            'version': int(raw['version']),
            'count_in_header': int(raw['nb_streamlines']),
            'byte_swapped': hdr[Field.ENDIANNESS] != '<',
            'dimensions': [int(v) for v in hdr[Field.DIMENSIONS]],
            'voxel_sizes': [float(v) for v in hdr[Field.VOXEL_SIZES]],
            'vox_to_ras': [float(v) for v in np.asarray(hdr[Field.VOXEL_TO_RASMM], np.float32).ravel()],
            # what dipy's get_reference_info reports (np.bytes_ decoded, not upper-cased)
            'voxel_order': hdr[Field.VOXEL_ORDER].decode('utf-8') if isinstance(hdr[Field.VOXEL_ORDER], bytes)
            else str(hdr[Field.VOXEL_ORDER]),
            'n_scalars': int(hdr[Field.NB_SCALARS_PER_POINT]),
            'n_properties': int(hdr[Field.NB_PROPERTIES_PER_STREAMLINE]),
            'dpp_keys': [[k, int(v.common_shape[0])] for k, v in tfile.tractogram.data_per_point.items()],
        }
        # JSON has no NaN: a broken header (zero voxel size) gives strings, which the test refuses
        entry['affine_voxmm_to_rasmm'] = [float(v) if np.isfinite(v) else str(v)
                                          for v in get_affine_trackvis_to_rasmm(hdr).ravel()]
    else:
        count = hdr.get('count')
        try:
            count = int(count) if count is not None else -1
        except ValueError:
            count = -1
        header = {'count_in_header': count, 'datatype': hdr['datatype'],
                  'data_offset': int(hdr['_offset_data']),
                  'byte_swapped': hdr['datatype'].endswith('BE')}

    entry['header'] = header
    entry['n_streamlines'] = len(streamlines)
    points = np.concatenate([np.asarray(x, np.float32).reshape(-1, 3) for x in streamlines]) \
        if streamlines else np.zeros((0, 3), np.float32)
    lengths = np.array([len(x) for x in streamlines], '<i8')
    entry['points'] = f'ref/{safe}.points.f32'
    entry['lengths'] = f'ref/{safe}.lengths.i64'
    points.astype('<f4').tofile(os.path.join(refdir, f'{safe}.points.f32'))
    lengths.tofile(os.path.join(refdir, f'{safe}.lengths.i64'))
    entry['dps'] = []
    for i, (k, v) in enumerate(dps.items()):
        v = np.asarray(v)
        fname = f'ref/{safe}.dps{i}.f32'
        v.astype('<f4').tofile(os.path.join(refdir, f'{safe}.dps{i}.f32'))
        entry['dps'].append({'name': k, 'columns': int(v.shape[1]), 'file': fname, 'dtype': str(v.dtype)})
    return entry


def main():
    out = sys.argv[1]
    gen, refdir = os.path.join(out, 'gen'), os.path.join(out, 'ref')
    os.makedirs(refdir, exist_ok=True)
    generate(gen)
    files = {}
    for path in sys.argv[2:]:
        if path.endswith('.zip'):
            zname = os.path.splitext(os.path.basename(path))[0]
            with zipfile.ZipFile(path) as z:
                for info in z.infolist():
                    if info.filename.endswith(('.trk', '.tck')):
                        z.extract(info, os.path.join(out, 'zip', zname))
                        files[f'{zname}/{info.filename}'] = os.path.join(out, 'zip', zname, info.filename)
        else:
            files[os.path.basename(path)] = path
    for name in sorted(os.listdir(gen)):
        files[f'gen/{name}'] = os.path.join(gen, name)
    manifest = {key: dump(key, path, refdir) for key, path in files.items()}
    with open(os.path.join(out, 'manifest.json'), 'w') as f:
        json.dump(manifest, f, indent=1, sort_keys=True, allow_nan=False)


if __name__ == '__main__':
    main()
