// io::scan_trk_layout against the truth of .trk bodies written here: random point counts (0 and 1
// included), scalars and properties, both byte orders, streamlines longer than the scan's read
// window, and every way the counts can fail to add up (cut, trailing bytes, a negative count, a
// count other than the header's). The scan reads only the bytes after the 1000-byte header, so
// the header bytes are filler and the TractogramHeader is filled in directly.
#include "dwipack/io/trk_scan.hpp"
#include "support/temp_dir.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

using dwipack::io::scan_trk_layout;
using dwipack::io::TractogramHeader;
using dwipack::test::TempDir;

namespace {

struct Body {
  std::string bytes; ///< the whole file: 1000 filler bytes, then the streamlines
  int64_t n_points = 0;
  int64_t min_points = 0;
};

void append_int32(std::string& out, int32_t v, bool swap) {
  uint32_t u;
  std::memcpy(&u, &v, 4);
  if (swap) u = __builtin_bswap32(u);
  out.append(reinterpret_cast<const char*>(&u), 4);
}

/// A .trk with one streamline per entry of `counts`; point and property values are arbitrary
/// bytes (the scan must not read them), one float per value.
Body make_trk(const std::vector<int32_t>& counts, int n_scalars, int n_properties, bool swap) {
  Body b;
  b.bytes.assign(1000, '\x7f');
  b.min_points = counts.empty() ? 0 : *std::min_element(counts.begin(), counts.end());
  for (const int32_t n : counts) {
    append_int32(b.bytes, n, swap);
    b.bytes.append(static_cast<size_t>(n) * 4 * (3 + n_scalars), '\xab');
    b.bytes.append(static_cast<size_t>(n_properties) * 4, '\xcd');
    b.n_points += n;
  }
  return b;
}

TractogramHeader
header_for(const std::string& path, int n_scalars, int n_properties, bool swap, int64_t count) {
  TractogramHeader h;
  h.path = path;
  h.n_scalars = n_scalars;
  h.n_properties = n_properties;
  h.byte_swapped = swap;
  h.count_in_header = count;
  return h;
}

std::vector<int32_t> random_counts(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int32_t> points(0, 300);
  std::vector<int32_t> out(n);
  for (auto& c : out)
    c = points(rng);
  return out;
}

} // namespace

TEST(TrkScan, CountsMatchTheBodyInBothByteOrdersWithScalarsAndProperties) {
  const TempDir dir;
  for (const bool swap : {false, true})
    for (const auto& [scalars, properties] :
         {std::pair{0, 0}, std::pair{2, 0}, std::pair{0, 3}, std::pair{1, 2}}) {
      const auto counts = random_counts(20000, 7 + scalars + properties); // ~50 MB: many windows
      const Body b = make_trk(counts, scalars, properties, swap);
      const std::string path = dir.write("a.trk", b.bytes);
      for (const int64_t announced : {static_cast<int64_t>(counts.size()), int64_t{0}}) {
        const auto layout = scan_trk_layout(header_for(path, scalars, properties, swap, announced));
        ASSERT_TRUE(layout) << "swap " << swap << ", scalars " << scalars << ", properties " << properties;
        EXPECT_EQ(layout->n_streamlines, static_cast<int64_t>(counts.size()));
        EXPECT_EQ(layout->n_points, b.n_points);
        EXPECT_EQ(layout->min_points, b.min_points);
      }
    }
}

TEST(TrkScan, ShortStreamlinesAreSeenWherever) {
  const TempDir dir;
  for (const size_t where : {size_t{0}, size_t{4999}, size_t{9999}}) {
    auto counts = random_counts(10000, 3);
    for (auto& c : counts)
      c = std::max(c, 2);
    counts[where] = 1;
    const std::string path = dir.write("short.trk", make_trk(counts, 0, 0, false).bytes);
    const auto layout = scan_trk_layout(header_for(path, 0, 0, false, 0));
    ASSERT_TRUE(layout);
    EXPECT_EQ(layout->min_points, 1) << "a 1-point streamline at " << where;
  }
}

TEST(TrkScan, StreamlinesLongerThanTheReadWindow) {
  // 200,000 points with 2 scalars: 4 MB per streamline, past any cache-sized window.
  const TempDir dir;
  const std::vector<int32_t> counts = {200000, 3, 200000, 0, 150000};
  const Body b = make_trk(counts, 2, 1, false);
  const std::string path = dir.write("long.trk", b.bytes);
  const auto layout = scan_trk_layout(header_for(path, 2, 1, false, 5));
  ASSERT_TRUE(layout);
  EXPECT_EQ(layout->n_streamlines, 5);
  EXPECT_EQ(layout->n_points, b.n_points);
  EXPECT_EQ(layout->min_points, 0);
}

TEST(TrkScan, AnEmptyBodyHasNoStreamlines) {
  const TempDir dir;
  const std::string path = dir.write("empty.trk", make_trk({}, 0, 0, false).bytes);
  const auto layout = scan_trk_layout(header_for(path, 0, 0, false, 0));
  ASSERT_TRUE(layout);
  EXPECT_EQ(layout->n_streamlines, 0);
  EXPECT_EQ(layout->n_points, 0);
  EXPECT_EQ(layout->min_points, 0);
}

TEST(TrkScan, CountsThatDoNotAddUpGiveNothing) {
  const TempDir dir;
  const auto counts = random_counts(3000, 11);
  const Body b = make_trk(counts, 1, 1, false);
  const int64_t n = static_cast<int64_t>(counts.size());
  auto scan = [&](const std::string& bytes, int64_t announced) {
    return scan_trk_layout(header_for(dir.write("bad.trk", bytes), 1, 1, false, announced));
  };
  ASSERT_TRUE(scan(b.bytes, n)); // the intact file, for contrast
  for (const size_t cut : {size_t{1}, size_t{2}, size_t{4}, size_t{16}, b.bytes.size() / 2})
    EXPECT_FALSE(scan(b.bytes.substr(0, b.bytes.size() - cut), 0)) << "cut by " << cut << " bytes";
  EXPECT_FALSE(scan(b.bytes + std::string(3, '\0'), n)) << "3 trailing bytes";
  EXPECT_FALSE(scan(b.bytes + std::string(4, '\0'), n)) << "an extra empty streamline against n_count";
  EXPECT_FALSE(scan(b.bytes, n + 1)) << "n_count one more than the streamlines";
  std::string negative = b.bytes;
  const int32_t minus_one = -1;
  std::memcpy(&negative[1000], &minus_one, 4);
  EXPECT_FALSE(scan(negative, 0)) << "a negative count";
}
