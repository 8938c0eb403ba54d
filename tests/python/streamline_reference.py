"""dipy / nibabel / numpy (Debian: dipy 1.6, nibabel 5.0, numpy 1.24) as the reference for
dwipack's process/streamline.cpp. Each command reads raw little-endian files written by the C++
test and writes raw results back; no comparison is made here.

A "bundle" is two files: POINTS (float32, total_points x 3, C order) and COUNTS (int64, the
number of points of each streamline, in order).

usage:
  streamline_reference.py sum VALUES SIZES OUT                   np.sum of consecutive float32 arrays
                                                                  of the given sizes (int64)
  streamline_reference.py lengths POINTS COUNTS OUT32 OUT64       dipy.tracking.utils.length (float32)
                                                                  and the Cython length (float64)
  streamline_reference.py nb_points POINTS COUNTS N OUT_POINTS    set_number_of_points(ArraySequence, N)
  streamline_reference.py step_size POINTS COUNTS STEP OUT_POINTS OUT_COUNTS
                                                                  scilpy resample_streamlines_step_size
  streamline_reference.py compress POINTS COUNTS TOL MAXSEG OUT_POINTS OUT_COUNTS
                                                                  dipy compress_streamlines
  streamline_reference.py affine AFFINE POINTS OUT_POINTS OUT_INV nibabel apply_affine in place, float32
  streamline_reference.py sft AFFINE DIMS POINTS COUNTS OUT_DIR   StatefulTractogram round trips

AFFINE is 16 float64 (row-major 4x4), DIMS 3 int64.

dipy 1.6 vs dipy 1.10 (what dwi_ml pins): from dipy 1.7 on, get_reference_info casts the affine to
float32 and the StatefulTractogram keeps float32(inv(affine)). dipy 1.6 keeps whatever it is given,
so every affine below is handed over already cast to float32 (np.linalg.inv of a float32 matrix
computes in double and returns float32, which is the 1.10 inverse). With a float64 affine, dipy 1.6
would silently turn the points into float64.
"""
import os
import sys

import numpy as np
from nibabel.affines import apply_affine
from nibabel.streamlines import ArraySequence

from dipy.io.stateful_tractogram import Origin, Space, StatefulTractogram, set_sft_logger_level
from dipy.tracking.streamline import set_number_of_points
from dipy.tracking.streamline import length as cython_length
from dipy.tracking.streamlinespeed import compress_streamlines
import dipy.tracking.utils


def read_bundle(points_path, counts_path):
    points = np.fromfile(points_path, dtype="<f4").reshape((-1, 3))
    counts = np.fromfile(counts_path, dtype="<i8")
    assert counts.sum() == len(points), (counts.sum(), len(points))
    offsets = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
    return [points[o:o + c].copy() for o, c in zip(offsets, counts)]


def write_bundle(streamlines, points_path, counts_path):
    counts = np.array([len(s) for s in streamlines], dtype="<i8")
    if len(streamlines) and counts.sum() > 0:
        points = np.concatenate([np.asarray(s, dtype="<f4").reshape((-1, 3)) for s in streamlines])
    else:
        points = np.zeros((0, 3), dtype="<f4")
    points.astype("<f4").tofile(points_path)
    if counts_path is not None:
        counts.tofile(counts_path)


def read_affine32(path):
    # The float32 affine of dipy 1.7-1.11 (see the module docstring).
    return np.fromfile(path, dtype="<f8").reshape((4, 4)).astype(np.float32)


def cmd_sum(values_path, sizes_path, out):
    values = np.fromfile(values_path, dtype="<f4")
    sizes = np.fromfile(sizes_path, dtype="<i8")
    assert sizes.sum() == len(values)
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    # Each slice is a fresh contiguous copy, as np.sum sees a 1-D array of its own.
    sums = [np.sum(values[s:s + n].copy()) for s, n in zip(starts, sizes)]
    np.array(sums, dtype="<f4").tofile(out)


def cmd_lengths(points_path, counts_path, out32, out64):
    streamlines = read_bundle(points_path, counts_path)
    # dwi_ml: euclidean_lengths = list(dipy.tracking.utils.length(sft.streamlines)), i.e.
    # metrics.length per streamline: float32 (or the int 0 below 2 points).
    f32 = np.array([np.float32(v) for v in dipy.tracking.utils.length(streamlines)], dtype="<f4")
    # scilpy's step-size path: dipy.tracking.streamline.length(sft.streamlines), an ArraySequence.
    f64 = np.asarray(cython_length(ArraySequence(streamlines)), dtype="<f8")
    # The list path (c_length) must give the same doubles as the ArraySequence path.
    f64_list = np.array([cython_length(s) if len(s) else 0.0 for s in streamlines], dtype="<f8")
    assert np.array_equal(f64, f64_list, equal_nan=True)
    f32.tofile(out32)
    f64.tofile(out64)


def cmd_nb_points(points_path, counts_path, n, out_points):
    streamlines = read_bundle(points_path, counts_path)
    # scilpy 2.1.0 resample_streamlines_num_points: set_number_of_points(sft.streamlines, n), the
    # ArraySequence path (np.zeros output, no check for fewer than 2 points).
    result = set_number_of_points(ArraySequence(streamlines), int(n))
    write_bundle(list(result), out_points, None)


def cmd_step_size(points_path, counts_path, step, out_points, out_counts):
    streamlines = read_bundle(points_path, counts_path)
    step = float(step)
    # scilpy 2.1.0 resample_streamlines_step_size, with dipy.
    lengths = cython_length(ArraySequence(streamlines))
    with np.errstate(invalid="ignore"):
        nb_points = np.ceil(lengths / step).astype(int)
    nb_points[nb_points == 1] = 2
    result = []
    for s, n in zip(streamlines, nb_points):
        try:
            result.append(set_number_of_points(s, int(n)))
        except ValueError:
            # dipy refuses (n < 2 or fewer than 2 points): scilpy would fail; record 0 points.
            result.append(np.zeros((0, 3), dtype=np.float32))
    write_bundle(result, out_points, out_counts)


def cmd_compress(points_path, counts_path, tol, max_segment, out_points, out_counts):
    streamlines = read_bundle(points_path, counts_path)
    result = compress_streamlines(streamlines, tol_error=float(tol),
                                  max_segment_length=float(max_segment))
    write_bundle(result, out_points, out_counts)


def cmd_affine(affine_path, points_path, out_points, out_inv):
    affine = read_affine32(affine_path)
    points = np.fromfile(points_path, dtype="<f4").reshape((-1, 3)).copy()
    # What Tractogram.apply_affine does: nibabel's apply_affine in place on the float32 data.
    result = apply_affine(affine, points, inplace=True)
    assert result.dtype == np.float32
    result.astype("<f4").tofile(out_points)
    np.linalg.inv(affine).astype("<f4").tofile(out_inv)


def make_sft(streamlines, affine, dims):
    # dims as int16, like a NIfTI header's dim[1:4] or a TRK header's dimensions.
    voxel_sizes = np.sqrt(np.sum(affine[:3, :3].astype(np.float64) ** 2, axis=0)).astype(np.float32)
    reference = (affine, np.asarray(dims, dtype=np.int16), voxel_sizes, "RAS")
    return StatefulTractogram(streamlines, reference, Space.RASMM, origin=Origin.NIFTI)


def data_of(sft):
    return np.asarray(sft.streamlines.get_data(), dtype="<f4")


def cmd_sft(affine_path, dims_path, points_path, counts_path, out_dir):
    affine = read_affine32(affine_path)
    dims = np.fromfile(dims_path, dtype="<i8")
    streamlines = read_bundle(points_path, counts_path)
    os.makedirs(out_dir, exist_ok=True)

    def out(name):
        return os.path.join(out_dir, name)

    sft = make_sft(streamlines, affine, dims)
    assert sft._inv_affine.dtype == np.float32
    sft._inv_affine.astype("<f4").tofile(out("inv.f32"))

    # load_tractogram's bbox check, per streamline (a file holding it alone) and for the file.
    each = [make_sft([s], affine, dims).is_bbox_in_vox_valid() if len(s) else True
            for s in streamlines]
    np.array(each, dtype=np.uint8).tofile(out("bbox_each.u8"))
    np.array([sft.is_bbox_in_vox_valid()], dtype=np.uint8).tofile(out("bbox_file.u8"))
    # is_bbox_in_vox_valid moved the points to vox/corner and back: the load-time round trip.
    assert sft.space == Space.RASMM and sft.origin == Origin.NIFTI
    data_of(sft).tofile(out("roundtrip.f32"))

    # Final storage of dwi_ml: to_vox() then to_corner(), here on the round-tripped points.
    sft.to_vox()
    sft.to_corner()
    data_of(sft).tofile(out("corner.f32"))

    # remove_invalid_streamlines on the input points as given (RASMM, center).
    sft2 = make_sft(streamlines, affine, dims)
    _, kept = sft2.remove_invalid_streamlines()
    np.array(kept, dtype="<i8").tofile(out("kept.i64"))
    data_of(sft2).tofile(out("kept.f32"))


def main():
    set_sft_logger_level("CRITICAL")  # the bbox check logs every failure; the test reports them
    command, args = sys.argv[1], sys.argv[2:]
    commands = {"sum": cmd_sum, "lengths": cmd_lengths, "nb_points": cmd_nb_points,
                "step_size": cmd_step_size, "compress": cmd_compress, "affine": cmd_affine,
                "sft": cmd_sft}
    with np.errstate(invalid="ignore", over="ignore"):
        commands[command](*args)


if __name__ == "__main__":
    main()
