"""Compare two HDF5 files object by object through h5py (an independent reader): the same groups,
datasets (shape, dtype, values bit for bit) and attributes (type and value). Root attributes that
describe the run rather than the data (rank count, command line, hosts) are ignored unless asked.

usage: same_content.py A.hdf5 B.hdf5 [--also-ignore NAME ...] [--compare-all]
Exit code 0 when the same; 1 with the differences listed.
"""
import sys

import h5py
import numpy as np

RUN_ATTRIBUTES = {"dwipack_ranks", "dwipack_command_line", "dwipack_rank_hosts"}


def attrs_of(obj, ignore):
    return {k: obj.attrs[k] for k in obj.attrs.keys() if k not in ignore}


def same_value(a, b):
    a_arr, b_arr = np.asarray(a), np.asarray(b)
    if a_arr.dtype != b_arr.dtype or a_arr.shape != b_arr.shape:
        return False
    if a_arr.dtype.kind in "fc":
        return a_arr.tobytes() == b_arr.tobytes()  # bit for bit, NaNs included
    return bool(np.all(a_arr == b_arr))


def compare(a, b, ignore_root):
    diffs = []

    def visit(path, ga, gb):
        ignore = ignore_root if path == "/" else set()
        aa, ab = attrs_of(ga, ignore), attrs_of(gb, ignore)
        for k in sorted(set(aa) | set(ab)):
            if k not in aa or k not in ab:
                diffs.append(f"{path}: attribute {k!r} only in {'A' if k in aa else 'B'}")
            elif not same_value(aa[k], ab[k]):
                diffs.append(f"{path}: attribute {k!r} differs: {aa[k]!r} vs {ab[k]!r}")
        if isinstance(ga, h5py.Dataset):
            if ga.dtype != gb.dtype or ga.shape != gb.shape:
                diffs.append(f"{path}: {ga.dtype}{ga.shape} vs {gb.dtype}{gb.shape}")
            elif ga[()].tobytes() != gb[()].tobytes():
                diffs.append(f"{path}: values differ")
            return
        ka, kb = set(ga.keys()), set(gb.keys())
        for k in sorted(ka ^ kb):
            diffs.append(f"{path.rstrip('/')}/{k}: only in {'A' if k in ka else 'B'}")
        for k in sorted(ka & kb):
            oa, ob = ga[k], gb[k]
            if type(oa) is not type(ob):
                diffs.append(f"{path.rstrip('/')}/{k}: a {type(oa).__name__} vs a {type(ob).__name__}")
            else:
                visit(f"{path.rstrip('/')}/{k}", oa, ob)

    visit("/", a, b)
    return diffs


def main(argv):
    files = [x for x in argv if not x.startswith("--")]
    ignore = set() if "--compare-all" in argv else set(RUN_ATTRIBUTES)
    if "--also-ignore" in argv:
        ignore |= set(argv[argv.index("--also-ignore") + 1:]) - set(files[:2])
    with h5py.File(files[0], "r") as a, h5py.File(files[1], "r") as b:
        diffs = compare(a, b, ignore)
    for d in diffs[:30]:
        print(d)
    if len(diffs) > 30:
        print(f"... {len(diffs) - 30} more")
    return 1 if diffs else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
