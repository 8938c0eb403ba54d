// process/chunk_compress: the chunk shapes chosen for dwi_ml's access pattern, HDF5's shuffle,
// and the compressed chunks dwipack makes itself, decoded by HDF5's own filter pipeline (shuffle
// + zlib deflate) after H5Dwrite_chunk: what h5py and dwi_ml will read. (The compressed copy as
// a whole, under MPI: tests/mpi_unit/test_compressed_copy.cpp.)
#include "dwipack/h5/handle.hpp"
#include "dwipack/process/chunk_compress.hpp"
#include "support/temp_dir.hpp"

#include <gtest/gtest.h>
#include <hdf5.h>

#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

using dwipack::h5::check;
using dwipack::h5::check_id;
using dwipack::h5::Handle;
using dwipack::process::chunk_shape;
using dwipack::process::ChunkCompressor;
using dwipack::process::shuffle_bytes;
using dwipack::test::TempDir;
using Dims = std::vector<uint64_t>;

TEST(ChunkShape, FollowsTheAccessPattern) {
  EXPECT_EQ(chunk_shape({10'000'000, 3}, 4, true), (Dims{8192, 3}));           // points: 96 KiB of rows
  EXPECT_EQ(chunk_shape({100, 3}, 4, true), (Dims{100, 3}));                   // never beyond the data
  EXPECT_EQ(chunk_shape({0, 3}, 4, true), (Dims{8192, 3}));                    // empty: as h5py, any size
  EXPECT_EQ(chunk_shape({1'000'000}, 8, false), (Dims{131072}));               // 1-D arrays: 1 MiB
  EXPECT_EQ(chunk_shape({1'000'000, 2}, 4, false), (Dims{131072, 2}));         // dps: whole rows
  EXPECT_EQ(chunk_shape({96, 114, 96, 32}, 4, false), (Dims{2, 114, 96, 32})); // volume: X-slices
  EXPECT_EQ(chunk_shape({96, 114, 96, 1}, 4, false), (Dims{95, 114, 96, 1}));
  // An X-slice larger than 4 MiB: one slice, split along Y.
  EXPECT_EQ(chunk_shape({2, 3000, 1000, 10}, 4, false), (Dims{1, 104, 1000, 10}));
  EXPECT_EQ(chunk_shape({4, 4}, 1, false), (Dims{4, 4}));
}

TEST(Shuffle, IsHdf5sByteTransposition) {
  const std::vector<unsigned char> in = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 99};
  std::vector<unsigned char> out(in.size());
  shuffle_bytes(in.data(), out.data(), in.size(), 4);
  EXPECT_EQ(out, (std::vector<unsigned char>{1, 5, 9, 2, 6, 10, 3, 7, 11, 4, 8, 12, 99}));
  shuffle_bytes(in.data(), out.data(), 12, 2);
  EXPECT_EQ(std::vector<unsigned char>(out.begin(), out.begin() + 12),
            (std::vector<unsigned char>{1, 3, 5, 7, 9, 11, 2, 4, 6, 8, 10, 12}));
  shuffle_bytes(in.data(), out.data(), in.size(), 1);
  EXPECT_EQ(out, in);
}

namespace {

/// Write `values` (a rows x cols float32 or int64 array) as one chunk of a shuffle + deflate
/// dataset with H5Dwrite_chunk, and read it back through HDF5's filters.
template <class T>
std::vector<T> round_trip(const std::vector<T>& values, hsize_t rows, hsize_t cols, int level) {
  TempDir dir;
  const std::string path = dir / "chunk.h5";
  Handle file(check_id(H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT), "create"));
  const hsize_t dims[2] = {rows, cols};
  Handle space(check_id(H5Screate_simple(2, dims, nullptr), "space"));
  Handle dcpl(check_id(H5Pcreate(H5P_DATASET_CREATE), "dcpl"));
  check(H5Pset_chunk(dcpl.id(), 2, dims), "chunk");
  check(H5Pset_shuffle(dcpl.id()), "shuffle");
  check(H5Pset_deflate(dcpl.id(), static_cast<unsigned>(level)), "deflate");
  const hid_t type = sizeof(T) == 4 ? H5T_NATIVE_FLOAT : H5T_NATIVE_INT64;
  Handle dset(
      check_id(H5Dcreate2(file.id(), "d", type, space.id(), H5P_DEFAULT, dcpl.id(), H5P_DEFAULT), "dset"));
  ChunkCompressor compressor(level);
  dwipack::Bytes stored = {42}; // appended after what is there
  const size_t n = compressor.compress(reinterpret_cast<const unsigned char*>(values.data()),
                                       values.size() * sizeof(T), sizeof(T), stored);
  EXPECT_EQ(n + 1, stored.size());
  const hsize_t offset[2] = {0, 0};
  check(H5Dwrite_chunk(dset.id(), H5P_DEFAULT, 0, offset, n, stored.data() + 1), "write chunk");
  std::vector<T> back(values.size());
  check(H5Dread(dset.id(), type, H5S_ALL, H5S_ALL, H5P_DEFAULT, back.data()), "read through the filters");
  return back;
}

} // namespace

TEST(ChunkCompressor, Hdf5DecodesWhatItWrites) {
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> uniform(0.f, 100.f);
  // Noise in the low mantissa bytes (stored planes) and structure in the high ones (deflated).
  std::vector<float> points(8192 * 3);
  for (auto& v : points)
    v = uniform(rng);
  for (int level : {1, 4, 9})
    EXPECT_EQ(round_trip(points, 8192, 3, level), points) << "level " << level;
  // Everything noise: only stored blocks (several, each at most 65535 bytes).
  std::vector<int64_t> noise(40000);
  for (auto& v : noise)
    v = static_cast<int64_t>(rng()) << 32 | rng();
  EXPECT_EQ(round_trip(noise, 40000, 1, 1), noise);
  // Compressible only, and a chunk too small for the estimate.
  std::vector<float> zeros(100000, 0.f), small = {1.5f, -2.f, 3.25f};
  EXPECT_EQ(round_trip(zeros, 1000, 100, 4), zeros);
  EXPECT_EQ(round_trip(small, 1, 3, 4), small);
}

TEST(ChunkCompressor, StoresNoiseWithoutLosingSpace) {
  std::mt19937 rng(3);
  std::vector<uint32_t> noise(65536);
  for (auto& v : noise)
    v = rng();
  ChunkCompressor compressor(9);
  dwipack::Bytes out;
  const size_t n =
      compressor.compress(reinterpret_cast<const unsigned char*>(noise.data()), noise.size() * 4, 4, out);
  // Stored: the data, 5 bytes per stored block of at most 65535 bytes, zlib's 2 + 4.
  EXPECT_LE(n, noise.size() * 4 + 5 * 5 + 6);
  dwipack::Bytes zeros_out;
  std::vector<uint32_t> zeros(65536, 0);
  EXPECT_LT(compressor.compress(reinterpret_cast<const unsigned char*>(zeros.data()), zeros.size() * 4, 4,
                                zeros_out),
            1000u);
}
