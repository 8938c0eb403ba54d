// pipeline::write_compressed_copy under 1..4 ranks, on a file with every kind of content it
// meets: volumes (one whose X-slice exceeds a chunk, so chunks split along Y and edge chunks are
// padded), streamline arrays, an empty dataset, a scalar, a chunked source dataset and a
// never-written one (both read through HDF5 instead of the raw byte range), attributes of every
// kind (variable-length strings, UTF-8 names). Checked: the values through h5py (an independent
// reader), every dataset's filters through HDF5, the copy byte for byte equal to the one rank 0
// makes alone (the file does not depend on the number of ranks), the progress reported on rank 0
// (from 0 to the data's bytes, rising), and a stop signal on any rank returning it on every rank
// with nothing left behind.
#include "mpi_test.hpp"

#include "dwipack/h5/handle.hpp"
#include "dwipack/pipeline/compress.hpp"
#include "dwipack/util/interrupt.hpp"

#include <gtest/gtest.h>
#include <hdf5.h>

#include <csignal>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <sys/stat.h>
#include <utility>
#include <vector>

using dwipack::h5::check;
using dwipack::h5::check_id;
using dwipack::h5::Handle;
using dwipack::pipeline::write_compressed_copy;
using dwipack::test::SharedTempDir;
using dwipack::test::world;

namespace {

template <class T>
void dataset(hid_t parent,
             const char* name,
             hid_t type,
             const std::vector<hsize_t>& dims,
             const std::vector<T>& values,
             const std::vector<hsize_t>& source_chunks = {}) {
  Handle space(check_id(H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr), "space"));
  Handle dcpl(check_id(H5Pcreate(H5P_DATASET_CREATE), "dcpl"));
  if (!source_chunks.empty())
    check(H5Pset_chunk(dcpl.id(), static_cast<int>(source_chunks.size()), source_chunks.data()), "chunks");
  Handle d(check_id(H5Dcreate2(parent, name, type, space.id(), H5P_DEFAULT, dcpl.id(), H5P_DEFAULT), name));
  if (!values.empty())
    check(H5Dwrite(d.id(), type, H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data()), std::string("write ") + name);
}

void string_attribute(hid_t obj, const char* name, const std::string& value, bool utf8_name) {
  Handle type(check_id(H5Tcopy(H5T_C_S1), "type"));
  check(H5Tset_size(type.id(), H5T_VARIABLE), "vlen");
  check(H5Tset_cset(type.id(), H5T_CSET_UTF8), "utf8");
  Handle space(check_id(H5Screate(H5S_SCALAR), "scalar"));
  Handle acpl(check_id(H5Pcreate(H5P_ATTRIBUTE_CREATE), "acpl"));
  if (utf8_name) check(H5Pset_char_encoding(acpl.id(), H5T_CSET_UTF8), "name encoding");
  Handle a(check_id(H5Acreate2(obj, name, type.id(), space.id(), acpl.id(), H5P_DEFAULT), name));
  const char* text = value.c_str();
  check(H5Awrite(a.id(), type.id(), &text), name);
}

void array_attribute(hid_t obj, const char* name, const std::vector<double>& values) {
  const hsize_t n = values.size();
  Handle space(check_id(H5Screate_simple(1, &n, nullptr), "space"));
  Handle a(check_id(H5Acreate2(obj, name, H5T_NATIVE_DOUBLE, space.id(), H5P_DEFAULT, H5P_DEFAULT), name));
  check(H5Awrite(a.id(), H5T_NATIVE_DOUBLE, values.data()), name);
}

/// Float values with the structure of real data: smooth high bytes, noisy low mantissa bytes.
std::vector<float> smooth_floats(size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> noise(0.f, 0.01f);
  std::vector<float> v(n);
  for (size_t i = 0; i < n; ++i)
    v[i] = static_cast<float>(i % 1000) * 0.5f + noise(rng);
  return v;
}

/// The source file: written by rank 0 with the HDF5 C API.
void make_source(const std::string& path) {
  Handle file(check_id(H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT), "create"));
  string_attribute(file.id(), "version", "dwipack test", false);
  string_attribute(file.id(), "d\xc3\xa9j\xc3\xa0", "caf\xc3\xa9", true);
  array_attribute(file.id(), "affine", {1, 0, 0, -10, 0, 1, 0, 2.5});
  Handle subject(check_id(H5Gcreate2(file.id(), "sub-01", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), "group"));
  Handle input(check_id(H5Gcreate2(subject.id(), "input", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), "group"));
  array_attribute(input.id(), "voxres", {1.25, 1.25, 2});
  // (200, 32, 32, 8) float32: X-slices of 32 KiB, chunks of 128 of them, one edge chunk.
  dataset(input.id(), "data", H5T_NATIVE_FLOAT, {200, 32, 32, 8}, smooth_floats(200 * 32 * 32 * 8, 1));
  Handle wide(check_id(H5Gcreate2(subject.id(), "wide", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), "group"));
  // An X-slice of 4.4 MB: chunks of one slice, split along Y (1048 of 1100 rows: an edge chunk).
  dataset(wide.id(), "data", H5T_NATIVE_FLOAT, {3, 1100, 1000}, smooth_floats(3 * 1100 * 1000, 2));
  Handle bundle(check_id(H5Gcreate2(subject.id(), "bundle", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), "group"));
  dataset(bundle.id(), "data", H5T_NATIVE_FLOAT, {100000, 3}, smooth_floats(300000, 3));
  std::vector<int64_t> offsets(5000);
  for (size_t i = 0; i < offsets.size(); ++i)
    offsets[i] = static_cast<int64_t>(i * 20);
  dataset(bundle.id(), "offsets", H5T_NATIVE_INT64, {5000}, offsets);
  dataset(bundle.id(), "empty", H5T_NATIVE_FLOAT, {0, 3}, std::vector<float>());
  dataset(bundle.id(), "chunked_source", H5T_NATIVE_DOUBLE, {300000}, std::vector<double>(300000, 3.5),
          /*source_chunks=*/{999});
  dataset(bundle.id(), "never_written", H5T_NATIVE_INT16, {1000}, std::vector<int16_t>());
  Handle scalar_space(check_id(H5Screate(H5S_SCALAR), "scalar"));
  Handle scalar(check_id(H5Dcreate2(subject.id(), "count", H5T_NATIVE_INT32, scalar_space.id(), H5P_DEFAULT,
                                    H5P_DEFAULT, H5P_DEFAULT),
                         "scalar"));
  const int32_t value = 42;
  check(H5Dwrite(scalar.id(), H5T_NATIVE_INT32, H5S_ALL, H5S_ALL, H5P_DEFAULT, &value), "scalar");
  scalar.close("scalar");
  file.close("source");
}

std::string bytes_of(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

bool exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}

/// Every dataset of `path` with its filters: "<path> chunked shuffle,deflate(level)" or
/// "<path> not chunked".
std::vector<std::string> storage_of(const std::string& path) {
  std::vector<std::string> out;
  Handle file(check_id(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), "open"));
  struct Visit {
    static herr_t call(hid_t root, const char* name, const H5O_info_t* info, void* data) {
      if (info->type != H5O_TYPE_DATASET) return 0;
      Handle d(H5Dopen2(root, name, H5P_DEFAULT));
      Handle dcpl(H5Dget_create_plist(d.id()));
      std::string text = std::string(name);
      if (H5Pget_layout(dcpl.id()) != H5D_CHUNKED) {
        text += " not chunked";
      } else {
        text += " chunked";
        for (int i = 0; i < H5Pget_nfilters(dcpl.id()); ++i) {
          unsigned flags = 0, values[4] = {};
          size_t n_values = 4;
          char filter_name[64];
          const H5Z_filter_t id = H5Pget_filter2(dcpl.id(), static_cast<unsigned>(i), &flags, &n_values,
                                                 values, sizeof filter_name, filter_name, nullptr);
          text += id == H5Z_FILTER_SHUFFLE   ? " shuffle"
                  : id == H5Z_FILTER_DEFLATE ? " deflate(" + std::to_string(values[0]) + ")"
                                             : " other";
        }
      }
      static_cast<std::vector<std::string>*>(data)->push_back(text);
      return 0;
    }
  };
  check(H5Ovisit(file.id(), H5_INDEX_NAME, H5_ITER_INC, Visit::call, &out), "visit");
  return out;
}

} // namespace

TEST(CompressedCopy, SameContentFiltersAndBytesWhateverTheRanks) {
  const auto& comm = world();
  SharedTempDir dir(comm);
  const std::string from = dir / "source.h5", to = dir / "copy.h5", alone = dir / "alone.h5";
  if (comm.rank() == 0) {
    EXPECT_NO_THROW(make_source(from));
  }
  comm.sleepy_barrier();

  std::vector<std::pair<uint64_t, uint64_t>> reported; // (stored, total) per call
  EXPECT_EQ(
      write_compressed_copy(from, to, 1, comm,
                            [&](uint64_t stored, uint64_t total) { reported.emplace_back(stored, total); }),
      0);
  comm.sleepy_barrier();
  if (comm.rank() != 0) {
    EXPECT_TRUE(reported.empty()) << "only rank 0 reports progress";
  } else {
    // The datasets' bytes (the scalar is not compressed): input, wide, bundle data, offsets,
    // chunked_source, never_written (the empty one has none).
    const uint64_t data =
        200 * 32 * 32 * 8 * 4 + 3 * 1100 * 1000 * 4 + 100000 * 3 * 4 + 5000 * 8 + 300000 * 8 + 1000 * 2;
    ASSERT_GE(reported.size(), 3u);
    EXPECT_EQ(reported.front(), std::make_pair(uint64_t{0}, data)) << "first: nothing stored yet";
    EXPECT_EQ(reported.back(), std::make_pair(data, data)) << "last: everything stored";
    for (size_t i = 1; i < reported.size(); ++i) {
      EXPECT_GT(reported[i].first, reported[i - 1].first) << "call " << i;
      EXPECT_EQ(reported[i].second, data);
    }

    const dwipack::mpi::Comm self(MPI_COMM_SELF);
    EXPECT_EQ(write_compressed_copy(from, alone, 1, self), 0);
    EXPECT_TRUE(bytes_of(to) == bytes_of(alone))
        << "the copy made by " << comm.size() << " rank(s) differs from the one rank 0 made alone";

    const std::string command = std::string(DWIPACK_PYTHON) + " " + DWIPACK_TEST_PY_DIR +
                                "/same_content.py " + from + " " + to + " --compare-all";
    EXPECT_EQ(std::system(command.c_str()), 0) << command;

    const std::vector<std::string> expected = {
        "sub-01/bundle/chunked_source chunked shuffle deflate(1)",
        "sub-01/bundle/data chunked shuffle deflate(1)",
        "sub-01/bundle/empty chunked shuffle deflate(1)",
        "sub-01/bundle/never_written chunked shuffle deflate(1)",
        "sub-01/bundle/offsets chunked shuffle deflate(1)",
        "sub-01/count not chunked", // a scalar is stored as it is
        "sub-01/input/data chunked shuffle deflate(1)",
        "sub-01/wide/data chunked shuffle deflate(1)",
    };
    EXPECT_EQ(storage_of(to), expected);
  }
  dir.done();
}

TEST(CompressedCopy, AStopSignalOnAnyRankStopsEveryRank) {
  const auto& comm = world();
  SharedTempDir dir(comm);
  const std::string from = dir / "source.h5";
  if (comm.rank() == 0) {
    EXPECT_NO_THROW(make_source(from));
  }
  comm.sleepy_barrier();
  for (int stopped = 0; stopped < comm.size(); ++stopped) {
    const std::string to = dir / ("stopped_by_" + std::to_string(stopped) + ".h5");
    if (comm.rank() == stopped) dwipack::interrupt::simulate(SIGTERM);
    EXPECT_EQ(write_compressed_copy(from, to, 1, comm), SIGTERM) << "rank " << stopped << " was signalled";
    dwipack::interrupt::simulate(0);
    comm.sleepy_barrier();
    if (comm.rank() == 0) {
      EXPECT_FALSE(exists(to)) << "the unfinished copy is removed";
    }
  }
  dir.done();
}
