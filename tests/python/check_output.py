"""Check a dwipack output file through h5py (an independent reader) against dwi_ml's format spec
and against dwi_ml's own numbers computed with nibabel/numpy (dwiml_reference.py).

usage: check_output.py OUT.hdf5 DWI_ML_READY CONFIG TRAIN VALID TEST
                       [--step_size S | --nb_points N | --compress TOL] [--remove_invalid]
                       [--gzip]   (written with --compression gzip: datasets chunked, shuffle + gzip)
Exits non-zero with a message listing the mismatches.
"""
import argparse
import json
import os
import sys

import h5py
import numpy as np
from h5py import h5d, h5t

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dwiml_reference as ref  # noqa: E402

failures = []
gzip = False  # --gzip: datasets are chunked with shuffle + gzip (h5py's compression="gzip", shuffle=True)


def expect(cond, what):
    if not cond:
        failures.append(what)


def expect_layout(d, where):
    """Contiguous and unfiltered, as h5py writes by default; with --gzip, chunked + shuffle + gzip."""
    if gzip:
        expect(d.chunks is not None and d.shuffle and d.compression == "gzip", f"{where} not shuffle + gzip")
        return
    expect(d.id.get_create_plist().get_layout() == h5d.CONTIGUOUS, f"{where} not contiguous")
    expect(d.compression is None and d.chunks is None, f"{where} chunked or compressed")


def iso_utc_ns(ns):
    import datetime
    t = datetime.datetime.fromtimestamp(ns // 10**9, datetime.timezone.utc)
    return t.strftime("%Y-%m-%dT%H:%M:%S") + f".{ns % 10**9:09d}Z"


def check_provenance(f, dwi_ml_ready, chosen):
    """dwipack's root attributes: version, commit, command line, rank count and hosts, and every written
    subject's input files with the sizes and modification times os.stat gives now."""
    for name in ("dwipack_version", "dwipack_git_commit", "dwipack_command_line"):
        expect(name in f.attrs, f"root attr {name} missing")
        if name in f.attrs:
            check_vlen_utf8(f.attrs, name, "/")
    ranks = f.attrs.get("dwipack_ranks")
    expect(isinstance(ranks, np.int64) and ranks >= 1, f"dwipack_ranks = {ranks!r}")
    hosts = f.attrs.get("dwipack_rank_hosts")  # one host name per rank, as strings
    expect(hosts is not None and len(hosts) == ranks and all(isinstance(h, str) and h for h in hosts),
           f"dwipack_rank_hosts = {hosts!r} for {ranks} ranks")
    expect(f.attrs.get("dwipack_command_line", "").find(" create ") > 0 or
           "dwiml_create_hdf5_dataset" in f.attrs.get("dwipack_command_line", ""),
           "dwipack_command_line does not show the command")
    inputs = [json.loads(x) for x in f.attrs.get("dwipack_inputs", [])]
    expect([i["subject"] for i in inputs] == chosen, "dwipack_inputs subjects != chosen_subjs")
    for entry in inputs:
        expect(len(entry["files"]) > 0, f"dwipack_inputs: no files for {entry['subject']}")
        for path, size, mtime in entry["files"]:
            full = path if os.path.isabs(path) else os.path.join(dwi_ml_ready, entry["subject"], path)
            st = os.stat(full)
            expect(st.st_size == size, f"dwipack_inputs: {full} size {size} != {st.st_size}")
            expect(iso_utc_ns(st.st_mtime_ns) == mtime, f"dwipack_inputs: {full} mtime {mtime}")
    expect("dwipack_skipped_subjects" in f.attrs, "root attr dwipack_skipped_subjects missing")


def read_list(path):
    with open(path) as f:
        return f.read().split()


def check_vlen_utf8(attrs, name, where):
    t = attrs.get_id(name).get_type()
    expect(isinstance(t, h5py.h5t.TypeStringID) and t.is_variable_str() and t.get_cset() == h5t.CSET_UTF8,
           f"{where}: attr {name} is not a variable-length UTF-8 string")


def check_list_attr(attrs, name, expected):
    value = attrs[name]
    if expected:
        expect(attrs.get_id(name).get_type().is_variable_str(), f"attr {name}: not vlen strings")
        expect(list(value) == expected, f"attr {name}: {list(value)} != {expected}")
        expect(all(isinstance(v, str) for v in value), f"attr {name}: items not read back as str")
    else:
        expect(value.dtype == np.float64 and value.shape == (0,), f"attr {name}: empty list must be float64 (0,)")


def dwi_ml_reader_paths(f):
    """The access paths of dwi_ml's MultiSubjectDataset.load_data (docs/format.md §6.1), step by step."""
    # required file attributes; 'Not defined by user' becomes None
    for name in ("step_size", "compress"):
        value = f.attrs[name]
        expect(value == "Not defined by user" or np.isscalar(value), f"reader: {name} unusable")
    sets = {s: f.attrs[f"{s}_subjs"] for s in ("training", "validation", "testing")}
    # group discovery from the first subject of training, else validation, else testing
    first = next((list(v)[0] for v in sets.values() if len(v)), None)
    expect(first is not None, "reader: no subject at all")
    volume_groups, streamline_groups, nb_features = [], [], []  # noqa
    for name in f[first].keys():  # h5py order: by name (no creation-order tracking)
        group_type = f[first][name].attrs["type"]
        if group_type == "volume":
            volume_groups.append(name)
            nb_features.append(int(f[first][name].attrs["nb_features"]))
        elif group_type == "streamlines":
            streamline_groups.append(name)
        else:
            expect(False, f"reader: group {name} has type {group_type!r} (NotImplementedError in dwi_ml)")
    expect(volume_groups == sorted(volume_groups), "reader: groups not listed in name order")
    # each subset loads sorted(ids); non-lazy MRIData reads data whole as float32, needs voxres/affine
    for ids in sets.values():
        for subj in sorted(ids):
            for i, name in enumerate(volume_groups):
                g = f[subj][name]
                data = np.array(g["data"], dtype=np.float32)
                expect(data.ndim == 4, f"reader: /{subj}/{name} data is not 4-D")
                np.array(g.attrs["voxres"], dtype=np.float32)
                np.array(g.attrs["affine"], dtype=np.float32)
                # lazy LazyMRIData: same reads, on demand, through the open file
                expect(g["data"][0:1].dtype == np.float32, "reader: lazy slice dtype")
            for name in streamline_groups:
                g = f[subj][name]
                for attr in ("affine", "dimensions", "voxel_sizes", "voxel_order", "space", "origin"):
                    expect(attr in g.attrs, f"reader: /{subj}/{name} lacks attr {attr}")
                space = g.attrs["space"].lower().replace("space.", "")
                origin = g.attrs["origin"].lower().replace("origin.", "")
                expect(space in ("vox", "voxmm", "rasmm") and origin in ("trackvis", "nifti", "corner", "center"),
                       f"reader: /{subj}/{name} space/origin {space}/{origin}")
                dims = g.attrs["dimensions"]
                expect(all(float(d).is_integer() and d > 0 for d in dims), "reader: dimensions not integers > 0")
                offsets, lengths = g["offsets"][()], g["lengths"][()]
                n = len(lengths)
                expect(len(g["euclidean_lengths"]) == n, "reader: euclidean_lengths not aligned")
                expect(np.issubdtype(offsets.dtype, np.signedinteger), "reader: offsets not signed")
                for key in g["data_per_streamline"]:
                    expect(g["data_per_streamline"][key].shape[0] == n, f"reader: dps {key} not aligned")
                # lazy access of chosen streamlines: three small reads each
                for i in sorted({0, n // 2, n - 1}) if n else []:
                    pts = g["data"][offsets[i]:offsets[i] + lengths[i]]
                    expect(pts.shape == (lengths[i], 3), f"reader: lazy streamline {i} shape {pts.shape}")
                expect(np.all(lengths.astype(np.int16) == lengths), "reader: lengths overflow int16")


def check_streamline_group(g, where, want, options):
    expect(g.attrs["type"] == "streamlines", f"{where}: type {g.attrs['type']!r}")
    for name in ("type", "space", "origin", "voxel_order"):
        check_vlen_utf8(g.attrs, name, where)
    expect(g.attrs["space"] == "Space.VOX" and g.attrs["origin"] == "Origin.TRACKVIS", f"{where}: space/origin")
    affine, dims, sizes = g.attrs["affine"], g.attrs["dimensions"], g.attrs["voxel_sizes"]
    expect(affine.dtype == np.float32 and affine.shape == (4, 4), f"{where}: affine {affine.dtype}{affine.shape}")
    expect(dims.dtype == np.int16 and dims.shape == (3,), f"{where}: dimensions {dims.dtype}")
    expect(sizes.dtype == np.float32 and sizes.shape == (3,), f"{where}: voxel_sizes {sizes.dtype}")
    space = want["space"]
    expect(np.allclose(affine, space["affine"], rtol=1e-6, atol=1e-6), f"{where}: affine {affine}")
    expect(np.array_equal(dims, space["dimensions"]), f"{where}: dimensions {dims}")
    expect(np.allclose(sizes, space["voxel_sizes"]), f"{where}: voxel_sizes {sizes}")
    expect(g.attrs["voxel_order"] == space["voxel_order"], f"{where}: voxel_order {g.attrs['voxel_order']}")
    types = {"data": "<f4", "offsets": "<i8", "lengths": "<i8", "euclidean_lengths": "<f4"}
    for name, dtype in types.items():
        d = g[name]
        expect(d.dtype == np.dtype(dtype), f"{where}/{name}: dtype {d.dtype}")
        expect_layout(d, f"{where}/{name}")
    data = g["data"][()]
    expect(data.ndim == 2 and data.shape[1] == 3, f"{where}/data shape {data.shape}")
    expect(np.array_equal(g["lengths"][()], want["lengths"]), f"{where}/lengths differ from dipy's")
    expect(np.array_equal(g["offsets"][()], want["offsets"]), f"{where}/offsets differ")
    if data.shape == want["data"].shape:
        err = np.max(np.abs(data.astype(np.float64) - want["data"])) if data.size else 0.0
        expect(err <= 1e-4, f"{where}/data: {err} voxel from dipy's points")
    else:
        expect(False, f"{where}/data shape {data.shape} != {want['data'].shape}")
    el, wl = g["euclidean_lengths"][()], want["euclidean_lengths"]
    if el.shape == wl.shape and el.size:
        rel = np.max(np.abs(el.astype(np.float64) - wl) / np.maximum(np.abs(wl), 1e-12))
        expect(rel <= 1e-4, f"{where}/euclidean_lengths off by {rel} (relative)")
    else:
        expect(el.shape == wl.shape, f"{where}/euclidean_lengths shape {el.shape} != {wl.shape}")
    dps = g["data_per_streamline"]
    expect(sorted(dps.keys()) == sorted(want["dps"].keys()), f"{where}: dps keys {list(dps.keys())}")
    for key, values in want["dps"].items():
        if key in dps:
            got = dps[key][()]
            expect(got.ndim == 2 and got.shape[0] == len(want["lengths"]), f"{where}: dps {key} shape {got.shape}")
            expect(np.array_equal(got.reshape(values.shape), values), f"{where}: dps {key} values")


def check_connectivity(g, where, cfg, subject_dir):
    if "connectivity_matrix" not in cfg:
        expect("connectivity_matrix" not in g, f"{where}: unexpected connectivity_matrix")
        return
    m = g["connectivity_matrix"]
    t = m.id.get_type()
    expect(isinstance(t, h5py.h5t.TypeEnumID) and t.get_nmembers() == 2, f"{where}: matrix is not an enum")
    expect(m.dtype == np.bool_, f"{where}: matrix read back as {m.dtype}, not bool")
    want = np.load(os.path.join(subject_dir, cfg["connectivity_matrix"])) > 0
    expect(np.array_equal(m[()], want), f"{where}: connectivity_matrix values")
    if "connectivity_nb_blocs" in cfg:
        n = cfg["connectivity_nb_blocs"]
        n = [n] * 3 if isinstance(n, int) else (n * 3 if len(n) == 1 else n)
        blocs = g.attrs["connectivity_nb_blocs"]
        expect(blocs.dtype == np.int64 and list(blocs) == n, f"{where}: nb_blocs {blocs}")
        expect(g.attrs["connectivity_matrix_type"] == "from_blocs", f"{where}: matrix type")


def main():
    parser = argparse.ArgumentParser()
    for name in ("out", "root", "config", "train", "valid", "test"):
        parser.add_argument(name)
    parser.add_argument("--step_size", type=float)
    parser.add_argument("--nb_points", type=int)
    parser.add_argument("--compress", type=float, nargs="?", const=0.01)
    parser.add_argument("--remove_invalid", action="store_true")
    parser.add_argument("--gzip", action="store_true")
    args = parser.parse_args()
    global gzip
    gzip = args.gzip
    out, root, config_path = args.out, args.root, args.config
    train_p, valid_p, test_p = args.train, args.valid, args.test
    with open(config_path) as f:
        config = json.load(f)
    train, valid, test = read_list(train_p), read_list(valid_p), read_list(test_p)
    chosen = list(dict.fromkeys(train + valid + test))

    with h5py.File(out, "r") as f:
        # --- file properties as h5py writes them ---
        fcpl = f.id.get_create_plist()
        expect(fcpl.get_link_creation_order() == 0, "root group tracks link creation order")
        expect(f.id.get_access_plist().get_libver_bounds()[0] == h5py.h5f.LIBVER_EARLIEST, "libver")

        # --- root attributes (docs/format.md §3.1) ---
        expected_attrs = {"data_and_time", "chosen_subjs", "groups_config", "training_subjs",
                          "validation_subjs", "testing_subjs", "step_size", "nb_points", "compress"}
        expect(set(f.attrs.keys()) >= expected_attrs, f"root attrs {sorted(f.attrs.keys())}")
        expect("version" not in f.attrs, "HEAD layout has no version attribute")
        for name in ("data_and_time", "groups_config") + tuple(
                n for n in ("step_size", "nb_points", "compress") if getattr(args, n) is None):
            check_vlen_utf8(f.attrs, name, "/")
            expect(isinstance(f.attrs[name], str), f"attr {name} not read back as str")
        expect(f.attrs["groups_config"] == str(config), "groups_config is not str(dict) of the config: "
               f"{f.attrs['groups_config']!r} != {str(config)!r}")
        for name, kind in (("step_size", np.float64), ("nb_points", np.int64), ("compress", np.float64)):
            given = getattr(args, name)
            if given is None:
                expect(f.attrs[name] == "Not defined by user", f"attr {name} = {f.attrs[name]!r}")
            else:
                value = f.attrs[name]
                expect(isinstance(value, kind) and value == given, f"attr {name} = {value!r}, expected {given}")
        check_list_attr(f.attrs, "training_subjs", train)
        check_list_attr(f.attrs, "validation_subjs", valid)
        check_list_attr(f.attrs, "testing_subjs", test)
        check_list_attr(f.attrs, "chosen_subjs", chosen)
        expect(sorted(f.keys()) == sorted(chosen), f"subjects {sorted(f.keys())} != {sorted(chosen)}")
        check_provenance(f, args.root, chosen)

        dwi_ml_reader_paths(f)

        # --- subjects and groups ---
        volume_groups = [g for g, c in config.items() if c["type"] == "volume"]
        streamline_groups = [g for g, c in config.items() if c["type"] == "streamlines"]
        for subj in chosen:
            sg = f[subj]
            expect(len(sg.attrs) == 0, f"/{subj} has attributes")
            expect(sg.id.get_create_plist().get_link_creation_order() == 0, f"/{subj} tracks order")
            expect(sorted(sg.keys()) == sorted(config.keys()), f"/{subj} children {list(sg.keys())}")
            expect(h5py.h5g.get_objinfo(f.id, subj.encode()).mtime == 0, f"/{subj} has a timestamp")
            for gname in volume_groups:
                where = f"/{subj}/{gname}"
                g = sg[gname]
                # dwi_ml's reader: type detection by string equality
                expect(g.attrs["type"] == "volume", f"{where}: type {g.attrs['type']!r}")
                check_vlen_utf8(g.attrs, "type", where)
                d = g["data"]
                for parent, child in ((sg, gname), (g, "data")):
                    expect(h5py.h5g.get_objinfo(parent.id, child.encode()).mtime == 0, f"{where}: timestamp")
                expect(d.dtype == np.dtype("<f4"), f"{where}/data dtype {d.dtype}")
                expect_layout(d, f"{where}/data")
                affine = g.attrs["affine"]
                expect(affine.dtype == np.float64 and affine.shape == (4, 4), f"{where}: affine {affine.dtype}")
                voxres = g.attrs["voxres"]
                expect(voxres.dtype == np.float32 and voxres.shape == (3,), f"{where}: voxres {voxres.dtype}")
                nbf = g.attrs["nb_features"]
                expect(isinstance(nbf, np.int64) and nbf.shape == (), f"{where}: nb_features {type(nbf)}")
                expect(nbf == d.shape[-1], f"{where}: nb_features {nbf} != {d.shape[-1]}")

                want, want_affine, want_res = ref.process_volume_group(config[gname], os.path.join(root, subj))
                got = d[()]
                expect(got.shape == want.shape, f"{where}: shape {got.shape} != {want.shape}")
                expect(np.array_equal(affine, want_affine), f"{where}: affine {affine} != {want_affine}")
                expect(np.array_equal(voxres, want_res), f"{where}: voxres {voxres} != {want_res}")
                if got.shape == want.shape:
                    if config[gname]["standardization"] == "none":
                        expect(np.array_equal(got, want, equal_nan=True), f"{where}: raw data not bit-identical")
                    else:
                        err = np.max(np.abs(got.astype(np.float64) - want))
                        expect(err <= 5e-4, f"{where}: standardized data off by {err}")

            if streamline_groups:
                subject_dir = os.path.join(root, subj)
                first_volume = config[volume_groups[0]] if volume_groups else None
                reference = ref.format_filelist(first_volume["files"], subject_dir)[0] if first_volume else None
                for gname in streamline_groups:
                    where = f"/{subj}/{gname}"
                    want = ref.process_streamline_group(config[gname], subject_dir, reference, args.step_size,
                                                        args.nb_points, args.compress, args.remove_invalid)
                    check_streamline_group(sg[gname], where, want, args)
                    check_connectivity(sg[gname], where, config[gname], subject_dir)

    if failures:
        print("check_output: FAILED", file=sys.stderr)
        for msg in failures[:30]:
            print("  " + msg, file=sys.stderr)
        sys.exit(1)
    print(f"check_output: OK ({len(chosen)} subjects)")


if __name__ == "__main__":
    main()
