#!/usr/bin/python3
"""TRX test files made from real tractograms (nibabel's and dipy's test data), with trx_writer.py.

  trx_fixtures.py unit OUTDIR
      For tests/unit/test_trx.cpp: every variant (ZIP stored / deflated / ZIP64 / a top folder,
      plain folder; float16/32/64 positions; uint32/uint64 offsets in both forms; dps of several
      dtypes) of nibabel's standard.trk, complex.trk (3 dps keys), empty.trk and dipy's
      minimal_bundles AF_L.trk, the malformed files, and OUTDIR/manifest.json: for each file, what
      numpy reads (points as float32, lengths, dps in name order, header fields, the ZIP listing);
      paths in it are relative to OUTDIR.
  trx_fixtures.py subject SUBJECT_DIR SOURCE.trk [SOURCE.trk ...] [--dps KEY,...] [--reference NII]
      For tests/integration/mpi_trx.sh: SOURCE i is loaded with nibabel (its streamlines in RAS mm
      as dwi_ml gets them) and written into SUBJECT_DIR/tractography/ as src_i.trk (a copy),
      src_i.tck (nibabel), and the TRX variants src_i.<variant>.trx (see VARIANTS), with the dps
      KEYs. --reference: write SUBJECT_DIR/anat/ref.nii.gz in the .trk's space first.
  trx_fixtures.py rewrite OUT_REF.nii.gz OUT_PREFIX SOURCE.trk [SOURCE.trk ...]
      The streamlines of the SOURCEs (dipy's minimal bundles, whose headers have no space) in one
      oblique LAS space that holds them all, as OUT_PREFIX<i>.trk, plus a reference volume of it.
  trx_fixtures.py malformed SOURCE.trk OUTDIR
      One broken TRX per case, in SOURCE's space, and OUTDIR/cases.json {case: {file (relative to
      OUTDIR), member, expect}}: the message dwipack must give.
"""
import json
import os
import shutil
import sys
import warnings
import zipfile

import numpy as np
import nibabel as nib
from nibabel.streamlines import Field

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from trx_writer import trx_members, write_members, set_header, header_of  # noqa: E402

warnings.simplefilter('ignore')

NIB = '/usr/lib/python3/dist-packages/nibabel/tests/data'
DIPY = '/usr/lib/python3/dist-packages/dipy/data/files'

# name: (container, positions dtype, offsets dtype, offsets with the final NB_VERTICES entry, options)
VARIANTS = {
    'stored': ('stored', 'float32', 'uint64', False, {}),
    'deflated': ('deflated', 'float32', 'uint32', True, {}),
    'folder': ('folder', 'float32', 'uint64', True, {}),
    'f64': ('stored', 'float64', 'uint64', False, {}),
    'f64deflated': ('deflated', 'float64', 'uint32', False, {}),
    'zip64': ('stored', 'float32', 'uint64', True, {'zip64': True}),
    'prefixed': ('deflated', 'float32', 'uint64', False, {'prefix': 'top.trx/'}),
    'f16': ('stored', 'float16', 'uint32', False, {}),
    'f16folder': ('folder', 'float16', 'uint64', True, {}),
}


def load(path):
    """Streamlines (float32 RAS mm, as nibabel gives them to dipy and dwi_ml), dps, header."""
    t = nib.streamlines.load(path)
    dps = {k: np.asarray(v) for k, v in t.tractogram.data_per_streamline.items()}
    return [np.asarray(s, np.float32) for s in t.streamlines], dps, t.header


def space_of(header):
    return np.asarray(header[Field.VOXEL_TO_RASMM], np.float32), [int(d) for d in header[Field.DIMENSIONS]]


def write_variant(path, streamlines, affine, dims, dps, variant, dps_dtype=None):
    container, pdt, odt, end, opts = VARIANTS[variant]
    members = trx_members(streamlines, affine, dims, dps, positions_dtype=pdt, offsets_dtype=odt,
                          offsets_end=end, dps_dtype=dps_dtype)
    write_members(path, members, container, **opts)
    return members


def expected(path, members, streamlines, dps, affine, refdir, key, dps_dtype=None):
    """What a reader must hand out, computed with numpy from the arrays as stored."""
    h = header_of(members)
    pos_name = next(n for n in members if n.startswith('positions.'))
    pdt = np.dtype(pos_name.rsplit('.', 1)[1]).newbyteorder('<')
    points = np.frombuffer(members[pos_name], pdt).astype(np.float32)
    lengths = np.array([len(s) for s in streamlines], np.int64)
    safe = key.replace('/', '_')
    points.astype('<f4').tofile(os.path.join(refdir, safe + '.points.f32'))
    lengths.astype('<i8').tofile(os.path.join(refdir, safe + '.lengths.i8'))
    names = sorted(dps)
    cols = []
    for n in names:
        a = np.asarray(dps[n])
        dt = np.dtype(dps_dtype or a.dtype)
        a = a.astype(dt).astype(np.float32)
        cols.append(a.reshape(len(streamlines), -1))
    table = np.concatenate(cols, axis=1) if cols else np.zeros((len(streamlines), 0), np.float32)
    table.astype('<f4').tofile(os.path.join(refdir, safe + '.dps.f32'))
    a32 = np.asarray(affine, np.float32)
    entry = {
        'path': os.path.basename(path), 'n_streamlines': h['NB_STREAMLINES'], 'n_points': h['NB_VERTICES'],
        'affine': a32.astype(np.float64).ravel().tolist(), 'dimensions': h['DIMENSIONS'],
        'voxel_sizes': nib.affines.voxel_sizes(a32).astype(np.float32).tolist(),
        'voxel_order': ''.join(nib.aff2axcodes(a32)),
        'dps': [{'name': n, 'columns': int(c.shape[1])} for n, c in zip(names, cols)],
        'points': f'ref/{safe}.points.f32', 'lengths': f'ref/{safe}.lengths.i8', 'dps_table': f'ref/{safe}.dps.f32',
    }
    if os.path.isfile(path):
        with zipfile.ZipFile(path) as z:
            entry['zip'] = [{'name': i.filename, 'method': i.compress_type, 'size': i.file_size,
                             'compressed_size': i.compress_size, 'crc32': i.CRC} for i in z.infolist()]
    return entry


# ---- malformed files ---------------------------------------------------------------------------

def malformed_cases(streamlines, affine, dims, dps):
    """(case, member dict editor or None, container, member named in the message, expected text)."""
    S = len(streamlines)
    V = sum(len(s) for s in streamlines)

    def edit(fn):
        def make():
            m = trx_members(streamlines, affine, dims, dps)
            fn(m)
            return m
        return make

    def rename(old, new):
        def fn(m):
            m[new] = m.pop(old)
        return fn

    def offsets_with(values, dtype='<u8', name='offsets.uint64'):
        def fn(m):
            del m['offsets.uint64']
            m[name] = np.asarray(values, dtype).tobytes()
        return fn

    good = np.concatenate([[0], np.cumsum([len(s) for s in streamlines])])
    decreasing = good[:-1].copy()
    decreasing[3], decreasing[4] = decreasing[4], decreasing[3]
    beyond = good.copy()
    beyond[-1] = V + 2
    first = good[:-1].copy()
    first[0] = 1
    nan_positions = lambda m: m.__setitem__(  # noqa: E731
        'positions.3.float32', np.concatenate([np.frombuffer(m['positions.3.float32'], '<f4')[:7],
                                               [np.nan], np.frombuffer(m['positions.3.float32'], '<f4')[8:]])
        .astype('<f4').tobytes())
    cases = [
        ('no_header', edit(lambda m: m.pop('header.json')), 'stored', None, "no member 'header.json'"),
        ('header_not_json', edit(lambda m: m.__setitem__('header.json', b'{"NB_VERTICES": 3,')), 'stored',
         'header.json', 'not valid JSON'),
        ('no_nb_vertices', edit(lambda m: set_header(m, NB_VERTICES=None)), 'deflated', 'header.json',
         "'NB_VERTICES' is missing"),
        ('negative_count', edit(lambda m: set_header(m, NB_STREAMLINES=-1)), 'stored', 'header.json',
         "'NB_STREAMLINES' is -1, expected a non-negative integer"),
        ('bad_affine', edit(lambda m: set_header(m, VOXEL_TO_RASMM=[[1, 0, 0], [0, 1, 0], [0, 0, 1]])), 'stored',
         'header.json', "'VOXEL_TO_RASMM' is [[1,0,0],[0,1,0],[0,0,1]], expected a 4 x 4 array of numbers"),
        ('bad_dimensions', edit(lambda m: set_header(m, DIMENSIONS=[4, 5])), 'folder', 'header.json',
         "'DIMENSIONS' is [4,5], expected 3 integers"),
        ('vertices_mismatch', edit(lambda m: set_header(m, NB_VERTICES=V + 1)), 'stored', 'positions.3.float32',
         f"{12 * V} bytes; 'NB_VERTICES' {V + 1} needs {12 * (V + 1)}"),
        ('streamlines_mismatch', edit(lambda m: set_header(m, NB_STREAMLINES=S + 5)), 'deflated', 'offsets.uint64',
         f"{8 * S} bytes; 'NB_STREAMLINES' {S + 5} needs {S + 5} entries"),
        ('offsets_decrease', edit(offsets_with(decreasing)), 'stored', 'offsets.uint64',
         f'entry 4 ({decreasing[4]}) is less than entry 3 ({decreasing[3]}): offsets must not decrease'),
        ('offsets_first', edit(offsets_with(first)), 'folder', 'offsets.uint64',
         'its first entry is 1; the first streamline starts at 0'),
        ('offsets_beyond', edit(offsets_with(beyond)), 'stored', 'offsets.uint64',
         f"entry {S} ({V + 2}) is beyond 'NB_VERTICES' ({V})"),
        ('offsets_int64', edit(offsets_with(good[:-1], '<i8', 'offsets.int64')), 'stored', 'offsets.int64',
         'offsets are int64; TRX offsets are uint32 or uint64'),
        ('unknown_dtype', edit(rename('positions.3.float32', 'positions.3.float8')), 'stored', 'positions.3.float8',
         "unknown dtype 'float8'"),
        ('positions_int', edit(rename('positions.3.float32', 'positions.3.int32')), 'stored', 'positions.3.int32',
         'positions are int32; TRX positions are float16, float32 or float64'),
        ('positions_columns', edit(rename('positions.3.float32', 'positions.4.float32')), 'stored',
         'positions.4.float32', 'positions must have 3 columns'),
        ('no_positions', edit(lambda m: m.pop('positions.3.float32')), 'deflated', None, 'no positions array'),
        ('no_offsets', edit(lambda m: m.pop('offsets.uint64')), 'folder', None, 'no offsets array'),
        ('two_positions', edit(lambda m: m.__setitem__('positions.3.float64',
                                                       np.zeros((V, 3), '<f8').tobytes())), 'stored', None,
         "two positions arrays: 'positions.3.float32' and 'positions.3.float64'"),
        ('dps_size', edit(lambda m: m.__setitem__('dps/weight.float32', np.zeros(S + 1, '<f4').tobytes())),
         'stored', 'dps/weight.float32', f"{4 * (S + 1)} bytes; 'NB_STREAMLINES' {S} needs {4 * S}"),
        ('nan_position', edit(nan_positions), 'stored', 'positions.3.float32',
         'streamline 0, point 2 has a non-finite coordinate ('),
        ('bzip2', edit(lambda m: None), 'bzip2', 'header.json', 'compression method 12 (bzip2) is not supported'),
    ]
    return cases


def write_malformed(src, outdir):
    streamlines, dps, header = load(src)
    affine, dims = space_of(header)
    os.makedirs(outdir, exist_ok=True)
    manifest = {}
    for case, make, container, member, expect in malformed_cases(streamlines, affine, dims, dps):
        path = os.path.join(outdir, case + '.trx')
        write_members(path, make(), container)
        manifest[case] = {'file': case + '.trx', 'member': member, 'expect': expect}
    # Byte-level damage to valid archives.
    members = trx_members(streamlines, affine, dims, dps)
    stored = os.path.join(outdir, 'crc.trx')
    write_members(stored, members, 'stored')
    with zipfile.ZipFile(stored) as z:
        info = z.getinfo('positions.3.float32')
        at = info.header_offset + 30 + len(info.filename) + len(info.extra) + 20
    data = bytearray(open(stored, 'rb').read())
    data[at] ^= 0x40
    open(stored, 'wb').write(bytes(data))
    manifest['crc'] = {'file': 'crc.trx', 'member': 'positions.3.float32',
                       'expect': 'the ZIP directory says 0x%08x (corrupt archive)' % info.CRC}
    deflated = os.path.join(outdir, 'corrupt_deflate.trx')
    write_members(deflated, members, 'deflated')
    with zipfile.ZipFile(deflated) as z:
        info = z.getinfo('positions.3.float32')
        at = info.header_offset + 30 + len(info.filename) + len(info.extra)
    data = bytearray(open(deflated, 'rb').read())
    for i in range(8):
        data[at + info.compress_size // 2 + i] ^= 0xff
    open(deflated, 'wb').write(bytes(data))
    manifest['corrupt_deflate'] = {'file': 'corrupt_deflate.trx', 'member': 'positions.3.float32',
                                   'expect': 'deflate data'}
    cut = os.path.join(outdir, 'cut.trx')
    write_members(cut, members, 'stored')
    whole = open(cut, 'rb').read()
    open(cut, 'wb').write(whole[:len(whole) // 2])
    manifest['cut'] = {'file': 'cut.trx', 'member': None, 'expect': 'not a ZIP archive: no end of central directory record'}
    with open(os.path.join(outdir, 'cases.json'), 'w') as f:
        json.dump(manifest, f, indent=1, sort_keys=True)


# ---- commands ------------------------------------------------------------------------------------

def unit(out):
    refdir = os.path.join(out, 'ref')
    os.makedirs(refdir, exist_ok=True)
    sources = {'standard': os.path.join(NIB, 'standard.trk'), 'complex': os.path.join(NIB, 'complex.trk'),
               'empty': os.path.join(NIB, 'empty.trk')}
    with zipfile.ZipFile(os.path.join(DIPY, 'minimal_bundles.zip')) as z:
        z.extract('sub_1/AF_L.trk', os.path.join(out, 'src'))
    sources['af'] = os.path.join(out, 'src', 'sub_1', 'AF_L.trk')
    manifest = {}
    for name, src in sources.items():
        streamlines, dps, header = load(src)
        affine, dims = space_of(header)
        if name == 'af':  # an oblique LAS space, as real data has
            affine, dims = oblique_space(streamlines)
        for variant in VARIANTS:
            key = f'{name}.{variant}'
            path = os.path.join(out, key + '.trx')
            members = write_variant(path, streamlines, affine, dims, dps, variant)
            manifest[key] = expected(path, members, streamlines, dps, affine, refdir, key)
    # dps in every dtype, and names with dots
    streamlines, _, header = load(sources['standard'])
    affine, dims = space_of(header)
    rng = np.random.RandomState(7)
    S = len(streamlines)
    dps = {'i8': rng.randint(-128, 127, S).astype(np.int8), 'u16': rng.randint(0, 65535, (S, 2)).astype(np.uint16),
           'i32': rng.randint(-2**31, 2**31 - 1, S).astype(np.int32), 'u64': rng.randint(0, 2**62, S).astype(np.uint64),
           'f16': rng.normal(0, 100, (S, 3)).astype(np.float16), 'f64': rng.normal(0, 1e3, S),
           'fa.mean': rng.uniform(0, 1, S).astype(np.float32)}
    for variant in ('stored', 'folder'):
        key = f'dtypes.{variant}'
        path = os.path.join(out, key + '.trx')
        members = write_variant(path, streamlines, affine, dims, dps, variant)
        manifest[key] = expected(path, members, streamlines, dps, affine, refdir, key)
    # every finite float16, as one streamline: the widening must match numpy's for all of them
    halves = np.arange(65536, dtype=np.uint16).view(np.float16)
    halves = halves[np.isfinite(halves)][:63486].astype(np.float32).reshape(-1, 3)
    path = os.path.join(out, 'halves.trx')
    members = write_variant(path, [halves], affine, dims, {}, 'f16')
    manifest['halves'] = expected(path, members, [halves], {}, affine, refdir, 'halves')
    # data per vertex, groups, data per group: ignored
    members = trx_members(streamlines, affine, dims, None)
    V = sum(len(s) for s in streamlines)
    members['dpv/fa.float32'] = np.zeros(V, '<f4').tobytes()
    members['groups/left.uint32'] = np.arange(10, dtype='<u4').tobytes()
    members['dpg/left/mean.float32'] = np.zeros(1, '<f4').tobytes()
    path = os.path.join(out, 'extras.trx')
    write_members(path, members, 'deflated')
    manifest['extras'] = expected(path, members, streamlines, {}, affine, refdir, 'extras')
    write_malformed(sources['standard'], os.path.join(out, 'malformed'))
    with open(os.path.join(out, 'manifest.json'), 'w') as f:
        json.dump(manifest, f, indent=1, sort_keys=True)


def oblique_space(streamlines):
    """An oblique LAS space (zooms 1.25, 1, 1.5; a small rotation) whose volume holds the points
    with a margin of 3 voxels."""
    angles = (0.06, -0.04, 0.11)
    cx, sx, cy, sy, cz, sz = (np.cos(angles[0]), np.sin(angles[0]), np.cos(angles[1]), np.sin(angles[1]),
                              np.cos(angles[2]), np.sin(angles[2]))
    r = (np.array([[cz, -sz, 0], [sz, cz, 0], [0, 0, 1]]) @ np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
         @ np.array([[1, 0, 0], [0, cx, -sx], [0, sx, cx]]))
    lin = r @ np.diag([-1.25, 1.0, 1.5])
    pts = np.concatenate(streamlines).astype(np.float64)
    vox = np.linalg.solve(lin, pts.T).T
    lo, hi = vox.min(0) - 3, vox.max(0) + 3
    affine = np.eye(4)
    affine[:3, :3] = lin
    affine[:3, 3] = lin @ lo
    dims = [int(np.ceil(h - l)) + 1 for l, h in zip(lo, hi)]
    return affine.astype(np.float32), dims


def rewrite(out_ref, out_prefix, sources):
    loaded = [load(src)[0] for src in sources]
    affine, dims = oblique_space([s for streamlines in loaded for s in streamlines])
    for n, streamlines in enumerate(loaded):
        write_trk(f'{out_prefix}{n}.trk', streamlines, affine, dims, {})
    write_reference(out_ref, affine, dims)


def write_reference(path, affine, dims):
    img = nib.Nifti1Image(np.zeros(dims, np.uint8), np.asarray(affine, np.float64))
    img.header.set_zooms(nib.affines.voxel_sizes(np.asarray(affine, np.float32)))
    os.makedirs(os.path.dirname(path), exist_ok=True)
    nib.save(img, path)


def write_trk(path, streamlines, affine, dims, dps):
    a32 = np.asarray(affine, np.float32)
    header = {Field.VOXEL_TO_RASMM: a32, Field.DIMENSIONS: np.array(dims, np.int16),
              Field.VOXEL_SIZES: nib.affines.voxel_sizes(a32).astype(np.float32),
              Field.VOXEL_ORDER: ''.join(nib.aff2axcodes(a32))}
    t = nib.streamlines.Tractogram(streamlines, data_per_streamline=dps, affine_to_rasmm=np.eye(4))
    nib.streamlines.TrkFile(t, header=header).save(path)


def subject(argv):
    subject_dir, rest = argv[0], argv[1:]
    keys = []
    reference = None
    sources = []
    i = 0
    while i < len(rest):
        if rest[i] == '--dps':
            keys = rest[i + 1].split(',')
            i += 2
        elif rest[i] == '--reference':
            reference = rest[i + 1]
            i += 2
        else:
            sources.append(rest[i])
            i += 1
    tdir = os.path.join(subject_dir, 'tractography')
    os.makedirs(tdir, exist_ok=True)
    for n, src in enumerate(sources):
        trk = os.path.join(tdir, f'src_{n}.trk')
        if os.path.abspath(src) != os.path.abspath(trk):
            shutil.copyfile(src, trk)
        streamlines, dps, header = load(trk)  # what dwi_ml reads from the .trk
        dps = {k: v for k, v in dps.items() if k in keys}
        affine, dims = space_of(header)
        if reference and n == 0:
            write_reference(reference, affine, dims)
        nib.streamlines.save(nib.streamlines.Tractogram(streamlines, affine_to_rasmm=np.eye(4)),
                             os.path.join(tdir, f'src_{n}.tck'))
        for variant in VARIANTS:
            write_variant(os.path.join(tdir, f'src_{n}.{variant}.trx'), streamlines, affine, dims, dps, variant)


def main():
    cmd = sys.argv[1]
    if cmd == 'unit':
        unit(sys.argv[2])
    elif cmd == 'subject':
        subject(sys.argv[2:])
    elif cmd == 'rewrite':
        rewrite(sys.argv[2], sys.argv[3], sys.argv[4:])
    elif cmd == 'malformed':
        write_malformed(sys.argv[2], sys.argv[3])
    else:
        sys.exit(__doc__)


if __name__ == '__main__':
    main()
