// The threaded writing path of a streamline group (pipeline/streamlines.cpp: reader thread ->
// processing thread -> this thread) against the single-threaded counting path and the pure
// per-streamline functions: same points, lengths and counts whatever the block size, and errors
// reported in file order (a bad streamline before a truncation is reported, not the truncation).
#include "dwipack/error.hpp"
#include "dwipack/io/tractogram_writer.hpp"
#include "dwipack/pipeline/plan.hpp"
#include "dwipack/pipeline/streamlines.hpp"
#include "dwipack/process/streamline.hpp"
#include "support/compare.hpp"
#include "support/temp_dir.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

using namespace dwipack;
using dwipack::test::same_bits;
using dwipack::test::TempDir;
using testing::HasSubstr;

namespace {

/// Collects what the writing path delivers, checking that rows come in order.
class CollectingSink : public pipeline::StreamlineSink {
public:
  void points(int64_t row0, const float* xyz, int64_t n_rows) override {
    EXPECT_EQ(row0 * 3, static_cast<int64_t>(xyz_.size())) << "rows out of order";
    xyz_.insert(xyz_.end(), xyz, xyz + 3 * n_rows);
    ++calls_;
  }
  void points_crc(const Crc32& crc) override { crc_ = crc; }
  void streamline_arrays(const std::vector<int64_t>& offsets,
                         const std::vector<int64_t>& lengths,
                         const std::vector<float>& euclidean_lengths,
                         const std::vector<std::vector<float>>&) override {
    offsets_ = offsets;
    lengths_ = lengths;
    euclidean_ = euclidean_lengths;
  }
  std::vector<float> xyz_;
  std::vector<int64_t> offsets_, lengths_;
  std::vector<float> euclidean_;
  int calls_ = 0;
  Crc32 crc_;
};

const Affine kVox2Ras{1.25, 0, 0, -60, 0, 1.25, 0, -70, 0, 0, 1.5, -40, 0, 0, 0, 1};
const std::array<int64_t, 3> kDims{96, 112, 80};

/// Random walks inside the volume, in RAS mm; streamline `outside` (if >= 0) leaves it.
io::StreamlinesRas random_streamlines(int count, int outside, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> points(0, 300);
  std::uniform_real_distribution<double> start(10, 60), step(-0.5, 0.5);
  io::StreamlinesRas s;
  for (int k = 0; k < count; ++k) {
    const int n = k % 50 == 7 ? 0 : points(rng); // a few empty streamlines
    double v[3] = {start(rng), start(rng), start(rng)};
    for (int i = 0; i < n; ++i) {
      for (double& c : v)
        c = std::clamp(c + step(rng), 1.0, 70.0);
      if (k == outside && i == n / 2) v[0] = -5;
      for (int r = 0; r < 3; ++r)
        s.xyz.push_back(static_cast<float>(kVox2Ras[4 * r] * v[0] + kVox2Ras[4 * r + 1] * v[1] +
                                           kVox2Ras[4 * r + 2] * v[2] + kVox2Ras[4 * r + 3]));
    }
    s.lengths.push_back(n);
  }
  return s;
}

pipeline::StreamlineGroupPlan group_of(const std::vector<std::string>& paths) {
  pipeline::StreamlineGroupPlan plan;
  for (const auto& p : paths)
    plan.files.push_back({p, kVox2Ras, kDims});
  plan.vox2ras = kVox2Ras;
  plan.dimensions = kDims;
  return plan;
}

io::TrkSpace trk_space() {
  io::TrkSpace space;
  space.vox_to_ras = kVox2Ras;
  space.dimensions = kDims;
  space.voxel_sizes = {1.25f, 1.25f, 1.5f};
  return space;
}

} // namespace

TEST(StreamlineGroup, ThreadedWritingMatchesThePureFunctionsAtEveryBlockSize) {
  TempDir dir;
  const io::StreamlinesRas a = random_streamlines(3000, -1, 1), b = random_streamlines(1500, -1, 2);
  io::write_trk(dir / "a.trk", trk_space(), a);
  io::write_trk(dir / "b.trk", trk_space(), b);
  const auto plan = group_of({dir / "a.trk", dir / "b.trk"});

  // The reference: each file read single-threaded, each streamline through the pure functions.
  const process::StreamlineSpace space = process::make_space(kVox2Ras, kDims);
  std::vector<float> want_xyz, want_lengths_mm;
  std::vector<int64_t> want_counts;
  io::TractogramScratch scratch;
  for (const auto& f : plan.files)
    io::read_streamlines(
        io::read_tractogram_header(f.path),
        [&](int64_t, const float* xyz, int64_t n, const float*) {
          std::vector<float> p(xyz, xyz + 3 * n);
          ASSERT_TRUE(process::load_round_trip(space, p.data(), n));
          want_lengths_mm.push_back(process::euclidean_length(p.data(), n));
          process::to_voxel_corner(space, p.data(), n);
          want_xyz.insert(want_xyz.end(), p.begin(), p.end());
          want_counts.push_back(n);
        },
        scratch);

  pipeline::StreamlineBuffers buffers;
  const auto counted = pipeline::process_streamline_group(plan, {}, buffers, nullptr);
  EXPECT_EQ(counted.n_streamlines, 4500);
  EXPECT_EQ(counted.n_points * 3, static_cast<int64_t>(want_xyz.size()));
  // Blocks far smaller than a file (many hand-overs, streamlines longer than a block), and the default.
  for (const size_t block_points : {size_t{1}, size_t{97}, size_t{4096}, size_t{1} << 21}) {
    SCOPED_TRACE("block_points " + std::to_string(block_points));
    pipeline::StreamlineBuffers fresh;
    fresh.block_points = block_points;
    CollectingSink sink;
    const auto counts = pipeline::process_streamline_group(plan, {}, fresh, &sink);
    EXPECT_EQ(counts.n_streamlines, counted.n_streamlines);
    EXPECT_EQ(counts.n_points, counted.n_points);
    EXPECT_TRUE(same_bits(sink.xyz_, want_xyz));
    EXPECT_TRUE(same_bits(sink.euclidean_, want_lengths_mm));
    EXPECT_EQ(sink.lengths_, want_counts);
    Crc32 want_crc; // the producer's running CRC is the CRC of the rows as delivered
    want_crc.update(sink.xyz_.data(), sizeof(float) * sink.xyz_.size());
    EXPECT_EQ(sink.crc_.value, want_crc.value);
    EXPECT_EQ(sink.crc_.bytes, want_crc.bytes);
    if (block_points < 100) {
      EXPECT_GT(sink.calls_, 100);
    }
  }
}

TEST(StreamlineGroup, ErrorsComeInFileOrderDespiteTheReaderThread) {
  TempDir dir;
  // Streamline 40 leaves the volume; the file is then cut short near its end. Single-threaded,
  // the bounding-box error comes first; the reader thread reaches the truncation earlier, but
  // its error must wait until everything read before it was processed.
  io::write_trk(dir / "bad.trk", trk_space(), random_streamlines(2000, 40, 3));
  std::filesystem::resize_file(dir / "bad.trk", std::filesystem::file_size(dir / "bad.trk") - 100);
  pipeline::StreamlineBuffers buffers;
  CollectingSink sink;
  try {
    pipeline::process_streamline_group(group_of({dir / "bad.trk"}), {}, buffers, &sink);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("streamline 40 has points outside the bounding box"));
  }
  // Without the bad streamline, the truncation itself is reported.
  io::write_trk(dir / "cut.trk", trk_space(), random_streamlines(2000, -1, 3));
  std::filesystem::resize_file(dir / "cut.trk", std::filesystem::file_size(dir / "cut.trk") - 100);
  try {
    pipeline::process_streamline_group(group_of({dir / "cut.trk"}), {}, buffers, &sink);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("truncated"));
    EXPECT_THAT(e.what(), HasSubstr("cut.trk"));
  }
}
