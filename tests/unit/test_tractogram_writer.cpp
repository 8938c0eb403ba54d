// io::write_trk / io::write_tck (and the streaming TrkWriter / TckWriter) checked by nibabel 5:
// tests/python/writer_check.py loads each file with nib.streamlines.load and dumps what it read
// (RAS mm points, data_per_streamline bit patterns, header fields and raw header bytes). The
// colleague's C++ readers are deliberately not used here.
#include "dwipack/error.hpp"
#include "dwipack/io/tractogram_writer.hpp"
#include "support/compare.hpp"
#include "support/temp_dir.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <limits>
#include <random>
#include <string>
#include <vector>

using dwipack::Affine;
using dwipack::Error;
using dwipack::io::DpsKey;
using dwipack::io::StreamlinesRas;
using dwipack::io::TckWriter;
using dwipack::io::TrkSpace;
using dwipack::io::TrkWriter;
using dwipack::io::write_tck;
using dwipack::io::write_trk;
using dwipack::test::read_file;
using dwipack::test::run_command;
using dwipack::test::shell_quote;
using dwipack::test::TempDir;
using json = nlohmann::json;
using testing::HasSubstr;
using testing::ThrowsMessage;

using dwipack::test::bits;
using dwipack::test::load_raw;
using dwipack::test::same_bits;

namespace {

/// What nibabel reads from `path` (see writer_check.py tractogram).
json nibabel_read(const TempDir& dir, const std::string& path) {
  const std::string out = dir / "nibabel.json";
  const std::string log = dir / "nibabel.log";
  const std::string cmd =
      std::string(DWIPACK_PYTHON) + " " + shell_quote(std::string(DWIPACK_TEST_PY_DIR) + "/writer_check.py") +
      " tractogram " + shell_quote(path) + " " + shell_quote(out) + " > " + shell_quote(log) + " 2>&1";
  const int rc = run_command(cmd);
  if (rc != 0) throw std::runtime_error("nibabel could not load " + path + ":\n" + read_file(log));
  return json::parse(read_file(out));
}

/// Random smooth-ish streamlines (RAS mm) inside the box [lo, hi] on each axis, with `keys` dps.
StreamlinesRas
random_streamlines(int n, const std::vector<DpsKey>& keys, double lo, double hi, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> pos(lo, hi), step(-0.8, 0.8), value(-1000, 1000);
  std::uniform_int_distribution<int> len(1, 30);
  StreamlinesRas s;
  s.dps_keys = keys;
  s.dps_values.resize(keys.size());
  for (int i = 0; i < n; ++i) {
    const int points = i == 0 ? 1 : len(rng); // a one-point streamline first
    double p[3] = {pos(rng), pos(rng), pos(rng)};
    for (int k = 0; k < points; ++k) {
      for (double& c : p) {
        c = std::fmin(hi, std::fmax(lo, c + step(rng)));
        s.xyz.push_back(static_cast<float>(c));
      }
    }
    s.lengths.push_back(points);
    for (size_t k = 0; k < keys.size(); ++k)
      for (int c = 0; c < keys[k].columns; ++c)
        s.dps_values[k].push_back(static_cast<float>(value(rng)) * (c == 0 && i == 3 ? 0.0f : 1.0f));
  }
  return s;
}

const std::vector<DpsKey> three_keys = {{"weight", 1}, {"color", 3}, {"pair", 2}};

void expect_same_streamlines(const StreamlinesRas& s, const json& got, double tolerance) {
  ASSERT_EQ(got["lengths"].get<std::vector<int64_t>>(), s.lengths);
  ASSERT_EQ(got["xyz"].size(), s.xyz.size());
  double worst = 0;
  for (size_t i = 0; i < s.xyz.size(); ++i)
    worst = std::fmax(worst, std::fabs(got["xyz"][i].get<double>() - static_cast<double>(s.xyz[i])));
  EXPECT_LE(worst, tolerance);
}

void expect_same_dps(const StreamlinesRas& s, const json& got) {
  ASSERT_EQ(got["dps"].size(), s.dps_keys.size());
  for (size_t k = 0; k < s.dps_keys.size(); ++k) {
    const DpsKey& key = s.dps_keys[k];
    SCOPED_TRACE(key.name);
    ASSERT_TRUE(got["dps"].contains(key.name));
    const json& d = got["dps"][key.name];
    EXPECT_EQ(d["dtype"], "float32");
    EXPECT_EQ(d["shape"], json::array({s.lengths.size(), key.columns}));
    ASSERT_EQ(d["bits"].size(), s.dps_values[k].size());
    for (size_t i = 0; i < s.dps_values[k].size(); ++i)
      EXPECT_EQ(d["bits"][i].get<uint32_t>(), bits(s.dps_values[k][i])) << "value " << i; // bit-exact
  }
}

TrkSpace diagonal_space() {
  TrkSpace space;
  space.vox_to_ras = {2, 0, 0, -40, 0, 2, 0, -48, 0, 0, 2, -40, 0, 0, 0, 1};
  space.dimensions = {40, 48, 40};
  space.voxel_sizes = {2, 2, 2};
  space.voxel_order = "RAS";
  return space;
}

/// An oblique affine with unequal voxel sizes (1.25, 1.5, 2): rotations about z then x.
TrkSpace oblique_space() {
  const double a = 0.35, b = -0.2; // radians
  const double vs[3] = {1.25, 1.5, 2.0};
  const double rz[9] = {std::cos(a), -std::sin(a), 0, std::sin(a), std::cos(a), 0, 0, 0, 1};
  const double rx[9] = {1, 0, 0, 0, std::cos(b), -std::sin(b), 0, std::sin(b), std::cos(b)};
  TrkSpace space;
  for (int r = 0; r < 3; ++r)
    for (int c = 0; c < 3; ++c) {
      double v = 0;
      for (int k = 0; k < 3; ++k)
        v += rx[3 * r + k] * rz[3 * k + c];
      space.vox_to_ras[static_cast<size_t>(4 * r + c)] = v * vs[c];
    }
  space.vox_to_ras[3] = -31.7;
  space.vox_to_ras[7] = -52.25;
  space.vox_to_ras[11] = -18.5;
  space.dimensions = {50, 60, 30};
  space.voxel_sizes = {1.25f, 1.5f, 2.0f};
  space.voxel_order = dwipack::axcodes(space.vox_to_ras);
  return space;
}

void expect_trk_header(const TrkSpace& space, const StreamlinesRas& s, const json& h) {
  EXPECT_EQ(h["magic"], std::string("TRACK\0", 6));
  EXPECT_EQ(h["hdr_size"], 1000);
  EXPECT_EQ(h["version"], 2);
  EXPECT_EQ(h["n_count"], s.lengths.size());
  EXPECT_EQ(h["nb_streamlines"], s.lengths.size());
  EXPECT_EQ(h["nb_scalars"], 0);
  for (size_t i = 0; i < 16; ++i)
    EXPECT_EQ(h["vox_to_ras"][i].get<double>(), static_cast<double>(static_cast<float>(space.vox_to_ras[i])));
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(h["dimensions"][i], space.dimensions[i]);
    EXPECT_EQ(h["voxel_sizes"][i].get<double>(), static_cast<double>(space.voxel_sizes[i]));
  }
  EXPECT_EQ(h["voxel_order"], space.voxel_order);
  int columns = 0;
  for (size_t k = 0; k < 10; ++k) {
    std::string expected;
    if (k < s.dps_keys.size()) {
      expected = s.dps_keys[k].name;
      if (s.dps_keys[k].columns > 1) expected += std::string(1, '\0') + std::to_string(s.dps_keys[k].columns);
      columns += s.dps_keys[k].columns;
    }
    expected.resize(20, '\0');
    EXPECT_EQ(h["property_names"][k].get<std::string>(), expected) << "property " << k;
  }
  EXPECT_EQ(h["nb_properties"], columns);
}

TEST(TrkWriter, RoundTripsThroughNibabel) {
  TempDir dir;
  const TrkSpace space = diagonal_space();
  const StreamlinesRas s = random_streamlines(60, three_keys, -38, 36, 1);
  const std::string path = dir / "diag.trk";
  write_trk(path, space, s);
  const json got = nibabel_read(dir, path);
  expect_same_streamlines(s, got, 1e-4);
  expect_same_dps(s, got);
  expect_trk_header(space, s, got["header"]);
}

TEST(TrkWriter, RoundTripsAnObliqueAffine) {
  TempDir dir;
  const TrkSpace space = oblique_space();
  ASSERT_EQ(space.voxel_order, "RAS");
  const StreamlinesRas s = random_streamlines(40, {{"w", 1}}, -20, 20, 2);
  const std::string path = dir / "oblique.trk";
  write_trk(path, space, s);
  const json got = nibabel_read(dir, path);
  expect_same_streamlines(s, got, 1e-4);
  expect_same_dps(s, got);
  expect_trk_header(space, s, got["header"]);
}

TEST(TrkWriter, HeaderVoxelOrderOtherThanTheAffines) {
  // nibabel reorients TrackVis voxmm when the header's voxel order differs from the affine's:
  // the writer applies the inverse, so the RAS points still come back.
  for (const std::string order : {"LPS", "LAS", "ASR", "ipl"}) {
    SCOPED_TRACE(order);
    TempDir dir;
    TrkSpace space = diagonal_space();
    space.voxel_order = order;
    const StreamlinesRas s = random_streamlines(20, {}, -38, 36, 3);
    const std::string path = dir / "reoriented.trk";
    write_trk(path, space, s);
    const json got = nibabel_read(dir, path);
    expect_same_streamlines(s, got, 1e-4);
    std::string upper = order;
    for (char& c : upper)
      c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    EXPECT_EQ(got["header"]["voxel_order"], upper);
  }
  // an LAS affine written as LAS
  TempDir dir;
  TrkSpace space = diagonal_space();
  space.vox_to_ras[0] = -2;
  space.vox_to_ras[3] = 40;
  space.voxel_order = "LAS";
  const StreamlinesRas s = random_streamlines(20, {{"k", 4}}, -38, 36, 4);
  write_trk(dir / "las.trk", space, s);
  const json got = nibabel_read(dir, dir / "las.trk");
  expect_same_streamlines(s, got, 1e-4);
  expect_same_dps(s, got);
  expect_trk_header(space, s, got["header"]);
}

TEST(TrkWriter, EmptyTractogram) {
  TempDir dir;
  StreamlinesRas s;
  s.dps_keys = {{"weight", 1}};
  s.dps_values = {{}};
  write_trk(dir / "empty.trk", diagonal_space(), s);
  const json got = nibabel_read(dir, dir / "empty.trk");
  EXPECT_EQ(got["lengths"].size(), 0u);
  EXPECT_EQ(got["header"]["n_count"], 0);
  EXPECT_EQ(got["header"]["file_size"], 1000);
  // as nibabel writes an empty tractogram (it cannot load properties of no streamline)
  EXPECT_EQ(got["header"]["nb_properties"], 0);
  EXPECT_EQ(got["header"]["property_names"][0], std::string(20, '\0'));
}

TEST(TrkWriter, StreamingInChunksWritesTheSameBytes) {
  TempDir dir;
  const TrkSpace space = oblique_space();
  const StreamlinesRas all = random_streamlines(50, three_keys, -20, 20, 5);
  write_trk(dir / "one.trk", space, all);

  TrkWriter w(dir / "chunks.trk", space, three_keys);
  size_t point = 0;
  for (size_t first = 0; first < all.lengths.size(); first += 7) {
    StreamlinesRas chunk;
    chunk.dps_keys = three_keys;
    chunk.dps_values.resize(three_keys.size());
    for (size_t i = first; i < std::min(all.lengths.size(), first + 7); ++i) {
      const auto n = static_cast<size_t>(all.lengths[i]);
      chunk.xyz.insert(chunk.xyz.end(), all.xyz.begin() + static_cast<std::ptrdiff_t>(3 * point),
                       all.xyz.begin() + static_cast<std::ptrdiff_t>(3 * (point + n)));
      point += n;
      chunk.lengths.push_back(all.lengths[i]);
      for (size_t k = 0; k < three_keys.size(); ++k) {
        const auto c = static_cast<size_t>(three_keys[k].columns);
        for (size_t j = 0; j < c; ++j)
          chunk.dps_values[k].push_back(all.dps_values[k][i * c + j]);
      }
    }
    w.append(chunk);
  }
  EXPECT_EQ(w.count(), 50);
  w.close();
  EXPECT_EQ(read_file(dir / "chunks.trk"), read_file(dir / "one.trk"));
}

TEST(TrkWriter, ErrorsNameTheFileAndLeaveNoFile) {
  TempDir dir;
  const TrkSpace space = diagonal_space();
  const std::string path = dir / "bad.trk";
  const std::string named = "file '" + path + "': ";
  const auto fails = [&](const TrkSpace& sp, const StreamlinesRas& s, const std::string& what) {
    EXPECT_THAT([&] { write_trk(path, sp, s); },
                ThrowsMessage<Error>(testing::AllOf(testing::StartsWith(named), HasSubstr(what))));
    EXPECT_FALSE(std::filesystem::exists(path)) << what;
  };
  const std::string missing = dir / "no/such/dir/x.trk";
  EXPECT_THAT([&] { write_trk(missing, space, random_streamlines(2, {}, 0, 1, 6)); },
              ThrowsMessage<Error>(HasSubstr("file '" + missing + "': cannot create")));

  StreamlinesRas s = random_streamlines(5, three_keys, -10, 10, 7);
  s.dps_values[1].pop_back();
  fails(space, s, "data_per_streamline 'color' holds 14 values, expected 15 (5 streamlines x 3 columns)");
  s = random_streamlines(5, three_keys, -10, 10, 7);
  s.dps_values.pop_back();
  fails(space, s, "3 data_per_streamline keys and 2 value arrays");
  s = random_streamlines(5, {}, -10, 10, 7);
  s.lengths[2] += 1;
  fails(space, s, "streamline lengths add up to");
  s = random_streamlines(5, {}, -10, 10, 7);
  s.lengths[1] = -1;
  fails(space, s, "negative streamline length");
  s = random_streamlines(5, {}, -10, 10, 7);
  s.xyz[4] = std::numeric_limits<float>::quiet_NaN();
  fails(space, s, "not finite");
  fails(space, random_streamlines(2, {{"a_name_of_19_chars_", 2}}, 0, 1, 8), "too long");
  fails(space, random_streamlines(2, std::vector<DpsKey>(11, DpsKey{"k", 1}), 0, 1, 8), "at most 10");
  fails(space, random_streamlines(2, {{"zero", 0}}, 0, 1, 8), "has no columns");
  TrkSpace sp = space;
  sp.voxel_order = "RAR";
  fails(sp, random_streamlines(2, {}, 0, 1, 8), "voxel_order 'RAR'");
  sp = space;
  sp.dimensions[1] = 0;
  fails(sp, random_streamlines(2, {}, 0, 1, 8), "dimension 0");
  sp = space;
  sp.voxel_sizes[2] = 0;
  fails(sp, random_streamlines(2, {}, 0, 1, 8), "voxel size");
  sp = space;
  sp.vox_to_ras[5] = 0; // no A/P axis
  fails(sp, random_streamlines(2, {}, 0, 1, 8), "no orientation");

  // streaming: a chunk with other keys; append after close
  {
    TrkWriter w(path, space, three_keys);
    EXPECT_THAT(
        [&] {
          w.append(random_streamlines(2, {{"weight", 1}, {"color", 2}, {"pair", 2}}, 0, 1, 9));
        },
        ThrowsMessage<Error>(HasSubstr(named + "data_per_streamline key 1 is 'color' (2 columns)")));
  }
  EXPECT_FALSE(std::filesystem::exists(path)) << "an unclosed writer removes its file";
  TrkWriter w(path, space, {});
  w.append(random_streamlines(2, {}, 0, 1, 9));
  w.close();
  EXPECT_THAT([&] { w.append(random_streamlines(2, {}, 0, 1, 9)); },
              ThrowsMessage<Error>(HasSubstr(named + "the writer is already closed")));
  EXPECT_TRUE(std::filesystem::exists(path));
}

TEST(TckWriter, RoundTripsThroughNibabel) {
  TempDir dir;
  const StreamlinesRas s = random_streamlines(70, three_keys, -50, 50, 10); // dps: ignored
  const std::string path = dir / "t.tck";
  write_tck(path, s);
  const json got = nibabel_read(dir, path);
  expect_same_streamlines(s, got, 0.0); // stored as RAS float32: exact
  EXPECT_EQ(got["dps"].size(), 0u);
  const json& h = got["header"];
  EXPECT_EQ(h["count"], "0000000070");
  EXPECT_EQ(h["nb_streamlines"], 70);
  EXPECT_EQ(h["datatype"], "Float32LE");
  const int64_t offset = h["offset"];
  EXPECT_EQ(offset % 4, 0) << "data aligned as MRtrix does";
  EXPECT_EQ(h["file"], ". " + std::to_string(offset));
  EXPECT_EQ(h["text"], "mrtrix tracks\ncount: 0000000070\ndatatype: Float32LE\nfile: . " +
                           std::to_string(offset) + "\nEND\n");
  EXPECT_EQ(h["padding"].get<std::string>(), std::string(h["padding"].get<std::string>().size(), '\0'));
  size_t points = s.xyz.size() / 3;
  EXPECT_EQ(h["file_size"], offset + 12 * static_cast<int64_t>(points + s.lengths.size() + 1));
  const uint32_t inf = bits(std::numeric_limits<float>::infinity());
  EXPECT_EQ(h["tail_bits"], json::array({inf, inf, inf}));
}

TEST(TckWriter, EmptyAndStreamed) {
  TempDir dir;
  write_tck(dir / "empty.tck", StreamlinesRas{});
  const json got = nibabel_read(dir, dir / "empty.tck");
  EXPECT_EQ(got["lengths"].size(), 0u);
  EXPECT_EQ(got["header"]["count"], "0000000000");

  const StreamlinesRas a = random_streamlines(9, {}, -5, 5, 11), b = random_streamlines(4, {}, -5, 5, 12);
  TckWriter w(dir / "two.tck");
  w.append(a);
  w.append(StreamlinesRas{});
  w.append(b);
  EXPECT_EQ(w.count(), 13);
  w.close();
  StreamlinesRas both = a;
  both.xyz.insert(both.xyz.end(), b.xyz.begin(), b.xyz.end());
  both.lengths.insert(both.lengths.end(), b.lengths.begin(), b.lengths.end());
  write_tck(dir / "one.tck", both);
  EXPECT_EQ(read_file(dir / "two.tck"), read_file(dir / "one.tck"));
  expect_same_streamlines(both, nibabel_read(dir, dir / "two.tck"), 0.0);
}

TEST(TckWriter, ErrorsNameTheFile) {
  TempDir dir;
  const std::string missing = dir / "no/such/dir/x.tck";
  EXPECT_THAT([&] { write_tck(missing, StreamlinesRas{}); },
              ThrowsMessage<Error>(HasSubstr("file '" + missing + "': cannot create")));
  const std::string path = dir / "bad.tck";
  StreamlinesRas s = random_streamlines(3, {}, 0, 1, 13);
  s.xyz[0] = std::numeric_limits<float>::infinity();
  EXPECT_THAT([&] { write_tck(path, s); },
              ThrowsMessage<Error>(HasSubstr("file '" + path + "': a streamline point")));
  EXPECT_FALSE(std::filesystem::exists(path));
  s = random_streamlines(3, {}, 0, 1, 13);
  s.xyz.pop_back();
  EXPECT_THAT([&] { write_tck(path, s); },
              ThrowsMessage<Error>(HasSubstr("file '" + path + "': streamline lengths")));
}

} // namespace
