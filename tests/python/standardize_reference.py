"""dwi_ml's standardize_data (HEAD, docs/format.md §4.4) applied with numpy, as the reference for
dwipack's process::standardize. Reads a raw float32 C-order (X,Y,Z,F) array and an optional
uint8 mask, writes the standardized float32 array.

usage: standardize_reference.py DATA.raw X Y Z F MODE OUT.raw [MASK.raw]
MODE: all | independent (per_file is 'all' applied to each file's features by the caller).
"""
import sys

import numpy as np


def standardize_data(data, mask=None, independent=False):
    # Verbatim logic of dwi_ml/general/data/processing/dwi/dwi.py (HEAD).
    if mask is None:
        mask = np.all(data != 0, axis=-1)
    else:
        assert mask.shape == data.shape[:3]
    if independent:
        mean = np.mean(data[mask], axis=0)
        std = np.std(data[mask], axis=0)
        std = np.maximum(std, 1e-6)
    else:
        mean = np.mean(data[mask])
        std = np.std(data[mask])
        std = max(std, 1e-6)
    return (data - mean) / std


def main():
    path, x, y, z, f, mode, out = sys.argv[1:8]
    shape = (int(x), int(y), int(z), int(f))
    data = np.fromfile(path, dtype=np.float32).reshape(shape)
    mask = None
    if len(sys.argv) > 8:
        mask = np.fromfile(sys.argv[8], dtype=np.uint8).reshape(shape[:3]) > 0
    result = standardize_data(data, mask, independent=(mode == "independent"))
    np.asarray(result, dtype=np.float32).tofile(out)


if __name__ == "__main__":
    main()
