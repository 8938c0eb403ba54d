#pragma once
// NumPy .npy files (format 1.0-3.0): enough for connectivity matrices, read and written.
#include <cstdint>
#include <string>
#include <vector>

namespace dwipack::io {

/// A .npy array read as `value > 0` (what dwi_ml stores: np.load(file) > 0), in C order.
struct NpyBoolArray {
  std::vector<uint64_t> shape;
  std::vector<int8_t> values; ///< 0 or 1, C order whatever the file's order
};

/// Read a .npy of bool, signed/unsigned integer or float dtype (either byte order, C or Fortran
/// order) as `> 0`. Throws Error naming the file for a bad magic, header, dtype or truncation.
NpyBoolArray read_npy_positive(const std::string& path);

/// Write a C-order little-endian float64 .npy (for generated test data).
void write_npy_f64(const std::string& path,
                   const std::vector<uint64_t>& shape,
                   const std::vector<double>& values);

/// Write a C-order numpy bool .npy ('|b1', one byte per value: nonzero values become 1), as
/// np.save writes dwi_ml's connectivity matrices (`dwipack extract`).
void write_npy_bool(const std::string& path,
                    const std::vector<uint64_t>& shape,
                    const std::vector<int8_t>& values);

} // namespace dwipack::io
