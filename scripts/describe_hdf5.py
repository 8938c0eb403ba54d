"""Print what a dwi_ml HDF5 file holds: root attributes, subjects per split, and each subject's
groups with type, shape, dtype and attributes. (A complete `dwipack inspect` is planned.)"""
import sys

import h5py
import numpy as np


def short(value):
    if isinstance(value, np.ndarray):
        if value.size > 6:
            return f"{value.dtype}{list(value.shape)}"
        return np.array2string(value, precision=4, separator=", ").replace("\n", "")
    return repr(value)


def main(path):
    with h5py.File(path, "r") as f:
        print(f"file: {path}")
        for name in sorted(f.attrs):
            print(f"  @{name} = {short(f.attrs[name])}")
        for split in ("training_subjs", "validation_subjs", "testing_subjs"):
            print(f"  {split}: {len(f.attrs[split])} subject(s)")
        for subj in sorted(f.keys()):
            print(f"/{subj}")
            for gname in sorted(f[subj].keys()):
                g = f[subj][gname]
                attrs = ", ".join(f"{k}={short(g.attrs[k])}" for k in sorted(g.attrs) if k != "affine")
                print(f"  /{subj}/{gname}: {attrs}")
                if g.attrs.get("type") == "streamlines":
                    print(f"    {len(g['lengths'])} streamlines, {len(g['data'])} points")
                g.visititems(lambda name, d: print(f"    {name}: {d.dtype} {d.shape}")
                             if isinstance(d, h5py.Dataset) else None)


if __name__ == "__main__":
    main(sys.argv[1])
