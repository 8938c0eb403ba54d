"""Independent checks of `dwipack inspect` and `dwipack extract`, through h5py, nibabel and dipy.

usage:
  extract_check.py inspect-json HDF5 JSON_OUTPUT
      the --json document matches h5py's view: subjects, splits, groups, types, dataset shapes and
      dtypes, every attribute (dtype, shape, value), streamline/point counts, dps keys, file size
  extract_check.py inspect-text HDF5 TEXT_OUTPUT
      the text (--all) mentions every root attribute, split, subject, group, dataset shape and
      dtype, in the right subject and group section
  extract_check.py inspect-summary HDF5 TEXT_OUTPUT
      the default text: the first subject in full (as inspect-text), no other subject's section,
      then one line per subject with its splits, its bytes of data (h5py's nbytes summed), and per
      group the data shape (volumes) or the streamline and point counts
  extract_check.py connectivity HDF5 SUBJECT GROUP OUT.npy
      np.load(OUT) is bool and equal to the group's connectivity_matrix
  extract_check.py volume HDF5 SUBJECT GROUP OUT.nii[.gz]
      nibabel loads OUT; data equals the group's `data` bit for bit; affine equals `affine`
  extract_check.py streamlines HDF5 SUBJECT GROUP OUT.trk|.tck REFERENCE.nii SOURCE...
      dipy loads OUT ('same' for .trk, REFERENCE for .tck); its RAS mm points equal, within 1e-4 mm,
      dipy's load_tractogram of the SOURCE files concatenated in order; .trk: the header is the
      group's space and the dps equal the stored ones and the sources' (exactly)
  extract_check.py make-dwiml-file HDF5 REFERENCE.nii.gz EXPECTED.npz
      write a file the way h5py / dwi_ml write them, with every streamline space and origin dwi_ml's
      reader accepts (converted by dipy), a 2021-layout group, and oddities inspect must report;
      EXPECTED.npz holds the RAS mm streamlines every streamline group must extract to
  extract_check.py spaces OUT.trk|.tck REFERENCE.nii.gz EXPECTED.npz
      OUT's points (RAS mm) equal EXPECTED within 1e-4 mm
Exits non-zero with a message listing the mismatches.
"""
import json
import os
import re
import sys

import h5py
import numpy as np

failures = []


def expect(cond, what):
    if not cond:
        failures.append(what)


def finish():
    if failures:
        print("FAILED:\n  " + "\n  ".join(failures[:40]), file=sys.stderr)
        sys.exit(1)


# ------------------------------------------------------------------------------------ inspect

def dtype_name(dt):
    """numpy's / h5py's name of a dtype, as dwipack inspect prints it."""
    s = h5py.check_string_dtype(dt)
    if s is not None:
        return "str" if s.length is None else f"|S{s.length}"
    e = h5py.check_enum_dtype(dt)
    if e is not None and dt.kind != "b":
        return f"enum({np.dtype(dt.str)})"
    if dt.kind == "b":
        return "bool"
    return str(dt)


def same_value(jvalue, h5value, dt, where):
    if isinstance(h5value, h5py.Empty):
        expect(jvalue is None, f"{where}: Empty attribute has value {jvalue!r}")
        return
    kind = dtype_name(dt)
    if kind == "str":
        want = h5value.tolist() if isinstance(h5value, np.ndarray) else h5value
        expect(jvalue == want, f"{where}: {jvalue!r} != {want!r}")
    elif kind.startswith("|S"):
        want = h5value.tolist() if isinstance(h5value, np.ndarray) else h5value
        want = [w.decode() for w in want] if isinstance(want, list) else want.decode()
        expect(jvalue == want, f"{where}: {jvalue!r} != {want!r}")
    elif dt.kind in "biuf":
        want = np.asarray(h5value)
        got = np.array(jvalue, dtype=np.float64 if dt.kind == "f" else want.dtype.newbyteorder("="))
        if dt.kind == "f":
            want = want.astype(np.float64)
        expect(got.shape == want.shape and np.array_equal(got, want, equal_nan=dt.kind == "f"),
               f"{where}: {jvalue!r} != {want.tolist()!r}")
    else:  # complex, compound, ...: described by dtype only
        expect(jvalue is None, f"{where}: value {jvalue!r} for dtype {kind}")


def check_attrs(jattrs, obj, where):
    expect(sorted(jattrs) == sorted(obj.attrs), f"{where}: attributes {sorted(jattrs)} != {sorted(obj.attrs)}")
    for name in obj.attrs:
        if name not in jattrs:
            continue
        a = jattrs[name]
        aid = obj.attrs.get_id(name)
        expect(a["dtype"] == dtype_name(aid.dtype), f"{where}@{name}: dtype {a['dtype']} != {dtype_name(aid.dtype)}")
        value = obj.attrs[name]
        shape = None if isinstance(value, h5py.Empty) else list(aid.shape)
        expect(a["shape"] == shape, f"{where}@{name}: shape {a['shape']} != {shape}")
        same_value(a["value"], value, aid.dtype, f"{where}@{name}")


def datasets_of(group):
    out = {}
    group.visititems(lambda name, obj: out.__setitem__(name, obj) if isinstance(obj, h5py.Dataset) else None)
    return out


def split_list(f, attr):
    if attr not in f.attrs:
        return None
    v = f.attrs[attr]
    if isinstance(v, str):
        return [v]
    return [] if v.size == 0 else [str(x) for x in v]


def resolvable(group, name):
    link = group.get(name, getlink=True)
    return not isinstance(link, h5py.SoftLink) or link.path in group.file


def inspect_json(h5path, json_path):
    with open(json_path) as fh:
        doc = json.load(fh)  # must parse
    with h5py.File(h5path, "r") as f:
        expect(doc["size_bytes"] == os.path.getsize(h5path), "size_bytes")
        check_attrs(doc["attributes"], f, "/")
        for split in ("training", "validation", "testing"):
            want = split_list(f, f"{split}_subjs")
            expect(doc["splits"][split] == want, f"split {split}: {doc['splits'][split]} != {want}")
        subjects = [k for k in f.keys() if resolvable(f, k) and isinstance(f[k], h5py.Group)]
        expect(sorted(doc["subjects"]) == sorted(subjects), f"subjects {sorted(doc['subjects'])} != {subjects}")
        for sid in subjects:
            if sid not in doc["subjects"]:
                continue
            js, s = doc["subjects"][sid], f[sid]
            check_attrs(js["attributes"], s, f"/{sid}")
            groups = [k for k in s.keys() if resolvable(s, k) and isinstance(s[k], h5py.Group)]
            expect(sorted(js["groups"]) == sorted(groups), f"/{sid}: groups {sorted(js['groups'])} != {groups}")
            for gname in groups:
                if gname not in js["groups"]:
                    continue
                jg, g, where = js["groups"][gname], s[gname], f"/{sid}/{gname}"
                check_attrs(jg["attributes"], g, where)
                gtype = g.attrs.get("type")
                expect(jg["type"] == gtype, f"{where}: type {jg['type']!r} != {gtype!r}")
                ds = datasets_of(g)
                expect(sorted(jg["datasets"]) == sorted(ds), f"{where}: datasets {sorted(jg['datasets'])} != {sorted(ds)}")
                for name, d in ds.items():
                    jd = jg["datasets"].get(name, {})
                    expect(jd.get("dtype") == dtype_name(d.dtype), f"{where}/{name}: dtype {jd.get('dtype')} != {d.dtype}")
                    expect(jd.get("shape") == list(d.shape), f"{where}/{name}: shape {jd.get('shape')} != {d.shape}")
                if gtype == "streamlines":
                    st = jg["streamlines"]
                    expect(st["count"] == len(g["lengths"]), f"{where}: count {st['count']} != {len(g['lengths'])}")
                    expect(st["points"] == g["data"].shape[0], f"{where}: points {st['points']} != {g['data'].shape}")
                    keys = sorted(g["data_per_streamline"].keys()) if "data_per_streamline" in g else []
                    expect(st["dps_keys"] == keys, f"{where}: dps_keys {st['dps_keys']} != {keys}")
                    expect(st["space"] == g.attrs.get("space"), f"{where}: space")
                    expect(st["origin"] == g.attrs.get("origin"), f"{where}: origin")
                if gtype == "volume":
                    v = jg["volume"]
                    shape = g["data"].shape
                    expect(v["shape"] == list(shape[:3]), f"{where}: volume shape {v['shape']} != {shape}")
                    expect(v["features"] == (shape[3] if len(shape) == 4 else 1), f"{where}: features")
    finish()


def shape_text(shape):
    return str(tuple(shape))


def inspect_text(h5path, text_path, only_first=False):
    with open(text_path) as fh:
        text = fh.read()
    # sections: "subject ID (...)" then "  group NAME: ..." and its indented members
    sections, subject, group = {}, None, None
    for line in text.splitlines():
        m = re.match(r"subject (\S+) \(", line)
        if m:
            subject, group = m.group(1), None
            sections[(subject, None)] = []
            continue
        m = re.match(r"  group (\S+): ", line)
        if m and subject:
            group = m.group(1)
            sections[(subject, group)] = [line]
            continue
        if subject:
            sections[(subject, group)].append(line)
    with h5py.File(h5path, "r") as f:
        for name in f.attrs:
            expect(f"  @{name}: " in text, f"root attribute {name} not shown")
        for split in ("training", "validation", "testing"):
            ids = split_list(f, f"{split}_subjs") or []
            line = f"  {split}: {len(ids)} subject(s)" + "".join(" " + i for i in ids)
            expect(line in text.splitlines(), f"split line {line!r} missing")
        subjects = list(f.keys())[:1] if only_first else list(f.keys())
        for sid in set(f.keys()) - set(subjects):
            expect((sid, None) not in sections, f"subject {sid} has a section in the short form")
        for sid in subjects:
            expect((sid, None) in sections, f"subject {sid} has no section")
            for gname, g in f[sid].items():
                lines = sections.get((sid, gname))
                expect(lines is not None, f"group /{sid}/{gname} has no section")
                if lines is None:
                    continue
                gtype = g.attrs.get("type")
                expect(lines[0].startswith(f"  group {gname}: {gtype}"), f"/{sid}/{gname}: header {lines[0]!r}")
                if gtype == "streamlines":
                    want = f"{len(g['lengths'])} streamlines, {g['data'].shape[0]} points"
                    expect(want in lines[0], f"/{sid}/{gname}: header lacks {want!r}")
                for name, d in datasets_of(g).items():
                    want = f"    {name}: {dtype_name(d.dtype)} {shape_text(d.shape)}"
                    expect(want in lines, f"/{sid}/{gname}: line {want!r} missing")
                for name in g.attrs:
                    expect(any(line.startswith(f"    @{name}: ") for line in lines), f"/{sid}/{gname}: @{name} missing")
    finish()


def size_text(n):
    units, v, u = ["B", "KiB", "MiB", "GiB", "TiB"], float(n), 0
    while v >= 1024 and u < 4:
        v, u = v / 1024, u + 1
    return f"{v:.0f} {units[u]}" if u == 0 else f"{v:.1f} {units[u]}"


def inspect_summary(h5path, text_path):
    inspect_text(h5path, text_path, only_first=True)  # the first subject in full
    lines = open(text_path).read().splitlines()
    with h5py.File(h5path, "r") as f:
        head = [i for i, line in enumerate(lines) if line.startswith("subjects: ")]
        expect(len(head) == 1, f"one 'subjects: ' line expected, got {len(head)}")
        if not head:
            finish()
        expect(lines[head[0]].startswith(f"subjects: {len(f)}, one line each"), f"header {lines[head[0]]!r}")
        rows = lines[head[0] + 1:head[0] + 1 + len(f)]
        for sid, row in zip(f.keys(), rows):
            splits = [s for s in ("training", "validation", "testing") if sid in (split_list(f, f"{s}_subjs") or [])]
            nbytes = sum(d.size * d.dtype.itemsize for d in datasets_of(f[sid]).values())
            want = f"  {sid} ({', '.join(splits) or 'no split'}) {size_text(nbytes)}: "
            expect(row.startswith(want), f"{sid}: line {row!r} does not start with {want!r}")
            for gname, g in f[sid].items():
                if g.attrs.get("type") == "volume":
                    part = f"{gname} {shape_text(g['data'].shape)}"
                else:
                    part = f"{gname} {len(g['lengths'])} streamlines, {g['data'].shape[0]} points"
                expect(part in row.split(": ", 1)[-1].split("; "), f"{sid}: line {row!r} lacks {part!r}")
        expect(len(rows) == len(f), f"{len(rows)} subject lines for {len(f)} subjects")
    finish()


def connectivity(h5path, subject, group, out):
    got = np.load(out)
    with h5py.File(h5path, "r") as f:
        want = f[subject][group]["connectivity_matrix"][()]
    expect(want.dtype == np.bool_, f"the stored matrix is {want.dtype}, expected bool")
    expect(got.dtype == np.bool_, f"{out}: dtype {got.dtype}, expected bool")
    expect(got.shape == want.shape, f"{out}: shape {got.shape} != {want.shape}")
    if got.shape == want.shape:
        expect(np.array_equal(got, want), f"{out}: values differ from the stored matrix")
    expect(want.any() and not want.all(), "the test matrix should hold both values")
    finish()


# ----------------------------------------------------------------------------------- extract

def volume(h5path, subject, group, out):
    import nibabel as nib
    img = nib.load(out)
    with h5py.File(h5path, "r") as f:
        g = f[subject][group]
        want = g["data"][()]
        affine = g.attrs["affine"]
        voxres = g.attrs["voxres"]
    data = np.asanyarray(img.dataobj)
    expect(img.get_data_dtype() == np.float32, f"{out}: dtype {img.get_data_dtype()}")
    # The stored (X, Y, Z, F) shape is kept, F == 1 included.
    expect(data.shape == want.shape, f"{out}: shape {data.shape} != {want.shape}")
    if data.shape == want.shape:
        expect(np.array_equal(data.view(np.uint32), want.astype(np.float32).view(np.uint32)),
               f"{out}: data differs from /{subject}/{group}/data")
    # NIfTI-1 keeps the affine as a float32 sform
    expect(np.array_equal(img.affine, affine.astype(np.float32).astype(np.float64)),
           f"{out}: affine {img.affine.tolist()} != {affine.tolist()}")
    expect(np.allclose(img.affine, affine, rtol=0, atol=1e-5), f"{out}: affine far from the attribute")
    expect(np.array_equal(np.asarray(img.header.get_zooms()[:3], np.float32), voxres), f"{out}: zooms != voxres")
    finish()


def load_rasmm(path, reference):
    from dipy.io.streamline import load_tractogram
    sft = load_tractogram(path, "same" if path.endswith(".trk") else reference)
    sft.to_rasmm()
    sft.to_center()
    return sft


def compare_points(got, expected, what):
    expect(len(got) == len(expected), f"{what}: {len(got)} streamlines, expected {len(expected)}")
    worst = 0.0
    for i, (a, b) in enumerate(zip(got, expected)):
        if a.shape != b.shape:
            expect(False, f"{what}: streamline {i} has shape {a.shape}, expected {b.shape}")
            return
        if len(a):
            worst = max(worst, float(np.max(np.abs(a.astype(np.float64) - b.astype(np.float64)))))
    expect(worst <= 1e-4, f"{what}: points differ by up to {worst} mm")
    return worst


def streamlines(h5path, subject, group, out, reference, sources):
    sfts = [load_rasmm(p, reference) for p in sources]
    expected = [s for sft in sfts for s in sft.streamlines]
    got = load_rasmm(out, reference)
    worst = compare_points(list(got.streamlines), expected, out)
    with h5py.File(h5path, "r") as f:
        g = f[subject][group]
        expect(np.array_equal(np.asarray(got.streamlines._lengths), g["lengths"][()]), f"{out}: lengths")
        dps_keys = sorted(g["data_per_streamline"].keys())
        if out.endswith(".trk"):
            expect(np.array_equal(got.affine, g.attrs["affine"]), f"{out}: header affine {got.affine.tolist()}")
            expect(np.array_equal(got.dimensions, g.attrs["dimensions"]), f"{out}: header dimensions")
            expect(np.array_equal(got.voxel_sizes, g.attrs["voxel_sizes"]), f"{out}: header voxel sizes")
            expect(got.voxel_order == g.attrs["voxel_order"], f"{out}: header voxel order {got.voxel_order}")
            expect(sorted(got.data_per_streamline.keys()) == dps_keys,
                   f"{out}: dps keys {sorted(got.data_per_streamline.keys())} != {dps_keys}")
            for k in dps_keys:
                if k not in got.data_per_streamline:
                    continue
                value = np.asarray(got.data_per_streamline[k])
                stored = g["data_per_streamline"][k][()]
                source = np.concatenate([np.asarray(s.data_per_streamline[k]) for s in sfts])
                expect(value.shape == stored.shape and np.array_equal(value, stored), f"{out}: dps {k} != stored")
                expect(value.shape == source.shape and np.array_equal(value, source), f"{out}: dps {k} != sources'")
        else:
            expect(len(got.data_per_streamline.keys()) == 0, f"{out}: a .tck with dps?")
    finish()
    print(f"ok: {out}: {len(expected)} streamlines, worst difference {worst:.2e} mm")


# ------------------------------------------------------------------- a file in dwi_ml's style

def make_dwiml_file(h5path, reference, expected_npz):
    import nibabel as nib
    from dipy.io.stateful_tractogram import Origin, Space, StatefulTractogram

    rng = np.random.default_rng(4)
    dims = np.array([10, 12, 8])
    affine = np.array([[-1.5, 0, 0, 7.25], [0, 1.5, 0, -9.5], [0, 0, 2, -8], [0, 0, 0, 1]])  # LAS
    nib.save(nib.Nifti1Image(np.zeros(tuple(dims), np.float32), affine), reference)
    streams = []
    for _ in range(12):
        n = int(rng.integers(4, 15))
        start = rng.uniform(2, dims - 3)
        pts = np.clip(start + np.cumsum(rng.normal(0, 0.4, (n, 3)), axis=0), 0.5, dims - 1.5)
        streams.append(nib.affines.apply_affine(affine, pts).astype(np.float32))
    dps = {"w": rng.random((12, 1)).astype(np.float32), "rgb": rng.random((12, 3)).astype(np.float32)}
    sft0 = StatefulTractogram(streams, reference, Space.RASMM, origin=Origin.NIFTI, data_per_streamline=dps)
    np.savez(expected_npz, **{f"s{i}": s for i, s in enumerate(sft0.streamlines)})

    def streamline_group(parent, name, space, origin, space_text=None, origin_text=None, data_dtype=np.float32):
        sft = StatefulTractogram.from_sft([s.copy() for s in sft0.streamlines], sft0, data_per_streamline=dps)
        sft.to_space(space)
        sft.to_origin(origin)
        g = parent.create_group(name)
        g.attrs["type"] = "streamlines"
        g.attrs["space"] = space_text or str(space)
        if origin_text != "":
            g.attrs["origin"] = origin_text or str(origin)
        aff, dimensions, voxel_sizes, voxel_order = sft.space_attributes
        g.attrs["affine"] = aff
        g.attrs["dimensions"] = dimensions
        g.attrs["voxel_sizes"] = voxel_sizes
        g.attrs["voxel_order"] = voxel_order
        g.create_dataset("data", data=sft.streamlines._data.astype(data_dtype))
        g.create_dataset("offsets", data=sft.streamlines._offsets.astype(np.int64))
        g.create_dataset("lengths", data=sft.streamlines._lengths)
        g.create_dataset("euclidean_lengths", data=np.zeros(len(sft), np.float32))
        d = g.create_group("data_per_streamline")
        for k, v in dps.items():
            d.create_dataset(k, data=v)
        return g

    with h5py.File(h5path, "w") as f:
        f.attrs["version"] = 2
        f.attrs["data_and_time"] = "01 January 2021 12:00:00"
        f.attrs["training_subjs"] = ["subjA", "subjC"]  # subjC is not in the file
        f.attrs["validation_subjs"] = []                # h5py: float64 (0,)
        f.attrs["step_size"] = 0.5
        f.attrs["groups_config"] = str({"dwi": {"type": "volume"}})
        f.create_dataset("readme", data=np.arange(3))   # not a subject
        a = f.create_group("subjA")
        f.create_group("subjB")                         # in no split
        v = a.create_group("dwi")                       # 2021 volume: float64 data, no voxres
        v.attrs["type"] = "volume"
        v.attrs["affine"] = affine
        v.attrs["nb_features"] = 3
        v.create_dataset("data", data=rng.random((10, 12, 8, 3)))
        for space in (Space.VOX, Space.VOXMM, Space.RASMM):
            for origin in (Origin.TRACKVIS, Origin.NIFTI):
                streamline_group(a, f"sl_{space.value}_{origin.value}", space, origin)
        # the reader's other spellings: lower case, no prefix, corner/center
        streamline_group(a, "sl_lower", Space.VOXMM, Origin.TRACKVIS, "voxmm", "corner")
        # dwi_ml 2021: no origin attribute (center), float64 points, uint32 lengths
        g = streamline_group(a, "streamlines", Space.VOX, Origin.NIFTI, origin_text="", data_dtype=np.float64)
        lengths = g["lengths"][()].astype(np.uint32)
        del g["lengths"]
        g.create_dataset("lengths", data=lengths)
        # offsets not packed (streamlines stored in reverse order): read one by one
        g = streamline_group(a, "sl_unpacked", Space.VOX, Origin.TRACKVIS)
        data, offsets, lengths = g["data"][()], g["offsets"][()], g["lengths"][()]
        order = np.arange(len(lengths))[::-1]
        new_offsets = np.zeros_like(offsets)
        new_offsets[order] = np.concatenate([[0], np.cumsum(lengths[order])[:-1]])
        new_data = np.concatenate([data[offsets[i]:offsets[i] + lengths[i]] for i in order])
        g["data"][...] = new_data
        g["offsets"][...] = new_offsets
        # more points than one extraction batch (1 Mi): three long streamlines
        big = []
        for _ in range(3):
            steps = rng.normal(0, 0.05, (400_000, 3))
            walk = np.abs(np.mod(np.cumsum(steps, axis=0) + dims / 2, 2 * (dims - 2)) - (dims - 2)) + 1
            big.append(nib.affines.apply_affine(affine, walk).astype(np.float32))
        big_sft = StatefulTractogram(big, reference, Space.RASMM, origin=Origin.NIFTI)
        np.savez(expected_npz.replace(".npz", "_big.npz"), **{f"s{i}": s for i, s in enumerate(big_sft.streamlines)})
        big_sft.to_vox()
        big_sft.to_corner()
        g = a.create_group("sl_big")
        for k, val in {"type": "streamlines", "space": "Space.VOX", "origin": "Origin.TRACKVIS"}.items():
            g.attrs[k] = val
        for k, val in zip(("affine", "dimensions", "voxel_sizes", "voxel_order"), big_sft.space_attributes):
            g.attrs[k] = val
        g.create_dataset("data", data=big_sft.streamlines._data)
        g.create_dataset("offsets", data=big_sft.streamlines._offsets.astype(np.int64))
        g.create_dataset("lengths", data=big_sft.streamlines._lengths.astype(np.int64))
        g.create_dataset("euclidean_lengths", data=np.zeros(3, np.float32))
        g.create_group("data_per_streamline")
        e = a.create_group("empty")                     # an old empty tractogram
        for k, val in {"type": "streamlines", "space": "Space.VOX", "origin": "Origin.TRACKVIS",
                       "affine": affine.astype(np.float32), "dimensions": dims.astype(np.int16),
                       "voxel_sizes": np.float32([1.5, 1.5, 2]), "voxel_order": "LAS"}.items():
            e.attrs[k] = val
        for k in ("data", "offsets", "euclidean_lengths"):
            e.create_dataset(k, data=np.zeros((0,), np.float64))
        e.create_dataset("lengths", data=np.zeros((0,), np.int64))
        a.create_group("surface").attrs["type"] = "surface"           # unknown type
        a.create_group("notes").create_dataset("text", data=b"hello")  # no type
        a["alias"] = h5py.SoftLink("/subjA/dwi")
        a["broken"] = h5py.SoftLink("/nowhere")
        # attribute types inspect must describe
        a.attrs["fixed"] = np.bytes_("abc")
        a.attrs["big_endian"] = np.array([1.5, 2.5], dtype=">f4")
        a.attrs["flags"] = np.array([True, False])
        a.attrs["half"] = np.float16(0.5)
        a.attrs["cplx"] = np.complex64(1 + 2j)
        a.attrs["nothing"] = h5py.Empty("f")
        a.attrs["color"] = np.array([0, 2], dtype=h5py.enum_dtype({"RED": 0, "GREEN": 1, "BLUE": 2}, basetype="i1"))
        a.attrs["uint"] = np.uint64(2**63 + 5)


def spaces(out, reference, expected_npz):
    z = np.load(expected_npz)
    expected = [z[f"s{i}"] for i in range(len(z.files))]
    got = load_rasmm(out, reference)
    worst = compare_points(list(got.streamlines), expected, out)
    finish()
    print(f"ok: {out}: worst difference {worst:.2e} mm")


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    {"inspect-json": inspect_json, "inspect-text": inspect_text, "inspect-summary": inspect_summary,
     "connectivity": connectivity, "volume": volume,
     "streamlines": lambda *a: streamlines(*a[:5], a[5:]), "make-dwiml-file": make_dwiml_file,
     "spaces": spaces}[cmd](*args)
