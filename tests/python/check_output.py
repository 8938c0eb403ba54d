"""Check a dwipack output file through h5py (an independent reader) against dwi_ml's format spec
and against dwi_ml's own numbers computed with nibabel/numpy (dwiml_reference.py).

usage: check_output.py OUT.hdf5 DWI_ML_READY CONFIG TRAIN VALID TEST
Exits non-zero with a message on the first mismatch.
"""
import json
import os
import sys

import h5py
import numpy as np
from h5py import h5d, h5t

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dwiml_reference as ref  # noqa: E402

failures = []


def expect(cond, what):
    if not cond:
        failures.append(what)


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
    """The access paths of dwi_ml's MultiSubjectDataset.load_data (spec §9.1), step by step."""
    # required file attributes; 'Not defined by user' becomes None
    for name in ("step_size", "compress"):
        value = f.attrs[name]
        expect(value == "Not defined by user" or np.isscalar(value), f"reader: {name} unusable")
    sets = {s: f.attrs[f"{s}_subjs"] for s in ("training", "validation", "testing")}
    # group discovery from the first subject of training, else validation, else testing
    first = next((list(v)[0] for v in sets.values() if len(v)), None)
    expect(first is not None, "reader: no subject at all")
    volume_groups, streamline_groups, nb_features = [], [], []
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


def main():
    out, root, config_path, train_p, valid_p, test_p = sys.argv[1:7]
    with open(config_path) as f:
        config = json.load(f)
    train, valid, test = read_list(train_p), read_list(valid_p), read_list(test_p)
    chosen = list(dict.fromkeys(train + valid + test))

    with h5py.File(out, "r") as f:
        # --- file properties as h5py writes them ---
        fcpl = f.id.get_create_plist()
        expect(fcpl.get_link_creation_order() == 0, "root group tracks link creation order")
        expect(f.id.get_access_plist().get_libver_bounds()[0] == h5py.h5f.LIBVER_EARLIEST, "libver")

        # --- root attributes (spec §3.1) ---
        expected_attrs = {"data_and_time", "chosen_subjs", "groups_config", "training_subjs",
                          "validation_subjs", "testing_subjs", "step_size", "nb_points", "compress"}
        expect(set(f.attrs.keys()) >= expected_attrs, f"root attrs {sorted(f.attrs.keys())}")
        expect("version" not in f.attrs, "HEAD layout has no version attribute")
        for name in ("data_and_time", "groups_config", "step_size", "nb_points", "compress"):
            check_vlen_utf8(f.attrs, name, "/")
            expect(isinstance(f.attrs[name], str), f"attr {name} not read back as str")
        expect(f.attrs["groups_config"] == str(config), "groups_config is not str(dict) of the config: "
               f"{f.attrs['groups_config']!r} != {str(config)!r}")
        for name in ("step_size", "nb_points", "compress"):
            expect(f.attrs[name] == "Not defined by user", f"attr {name} = {f.attrs[name]!r}")
        check_list_attr(f.attrs, "training_subjs", train)
        check_list_attr(f.attrs, "validation_subjs", valid)
        check_list_attr(f.attrs, "testing_subjs", test)
        check_list_attr(f.attrs, "chosen_subjs", chosen)
        expect(sorted(f.keys()) == sorted(chosen), f"subjects {sorted(f.keys())} != {sorted(chosen)}")

        dwi_ml_reader_paths(f)

        # --- subjects and groups ---
        volume_groups = [g for g, c in config.items() if c["type"] == "volume"]
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
                expect(d.id.get_create_plist().get_layout() == h5d.CONTIGUOUS, f"{where}/data not contiguous")
                expect(d.compression is None and d.chunks is None, f"{where}/data chunked or compressed")
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

    if failures:
        print("check_output: FAILED", file=sys.stderr)
        for msg in failures[:30]:
            print("  " + msg, file=sys.stderr)
        sys.exit(1)
    print(f"check_output: OK ({len(chosen)} subjects)")


if __name__ == "__main__":
    main()
