// The TRX reader and writer and the ZIP reader under them, against files written independently by
// tests/python/trx_fixtures.py (numpy + zipfile) from real tractograms (nibabel's standard.trk,
// complex.trk, empty.trk, dipy's minimal bundles): every container (ZIP stored / deflated / ZIP64 /
// a top folder, plain folder), positions dtype and offsets form, read bit for bit against numpy
// with several chunk sizes; the ZIP directory against zipfile's; every malformed file refused with
// its message; TrxWriter's files read back by zipfile + numpy and by our reader, ZIP64 included.
#include "dwipack/error.hpp"
#include "dwipack/io/files.hpp"
#include "dwipack/io/tractogram.hpp"
#include "dwipack/io/tractogram_writer.hpp"
#include "dwipack/io/trx.hpp"
#include "support/compare.hpp"
#include "support/temp_dir.hpp"

#include "../../src/io/posix_file.hpp" // the ZIP reader is private to src/io: tested directly
#include "../../src/io/zip.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include <unistd.h>

using dwipack::Error;
using dwipack::io::DpsKey;
using dwipack::io::read_streamlines;
using dwipack::io::read_tractogram_header;
using dwipack::io::StreamlinesRas;
using dwipack::io::TractogramFormat;
using dwipack::io::TractogramHeader;
using dwipack::io::TractogramScratch;
using dwipack::io::TrxSpace;
using dwipack::test::bits;
using dwipack::test::load_raw;
using dwipack::test::read_file;
using dwipack::test::run_command;
using dwipack::test::same_bits;
using dwipack::test::shell_quote;
using dwipack::test::TempDir;
using json = nlohmann::json;
using testing::HasSubstr;

namespace {

/// The fixtures and numpy's readings of them. Made once per build folder (ctest runs each test in a
/// process of its own; generating them takes a few seconds): in the current folder, under a name
/// that changes with the generator's source, made under a temporary name and renamed into place.
struct Fixtures {
  std::string dir;
  json manifest, malformed;
  std::string failure;

  Fixtures() {
    const std::string py = DWIPACK_TEST_PY_DIR;
    const size_t version =
        std::hash<std::string>{}(read_file(py + "/trx_fixtures.py") + read_file(py + "/trx_writer.py"));
    char here[4096];
    if (!::getcwd(here, sizeof here)) {
      failure = "getcwd failed";
      return;
    }
    char name[64];
    std::snprintf(name, sizeof name, "/trx-fixtures-%016zx", version);
    dir = here + std::string(name);
    if (!std::ifstream(dir + "/manifest.json").good()) {
      const std::string tmp = dir + ".tmp-" + std::to_string(::getpid());
      const std::string log = tmp + ".log";
      const int rc = run_command(std::string(DWIPACK_PYTHON) + " " + shell_quote(py + "/trx_fixtures.py") +
                                 " unit " + shell_quote(tmp) + " > " + shell_quote(log) + " 2>&1");
      if (rc != 0) {
        failure = "trx_fixtures.py failed (exit " + std::to_string(rc) + "):\n" + read_file(log);
        return;
      }
      std::remove(log.c_str());
      if (std::rename(tmp.c_str(), dir.c_str()) != 0) // another process was first: use its files
        run_command("rm -rf " + shell_quote(tmp));
    }
    manifest = json::parse(read_file(dir + "/manifest.json"));
    malformed = json::parse(read_file(dir + "/malformed/cases.json"));
  }
  std::string file(const std::string& relative) const { return dir + "/" + relative; }
  std::string path(const std::string& key) const {
    return file(manifest.at(key).at("path").get<std::string>());
  }
};

const Fixtures& fixtures() {
  static Fixtures f;
  return f;
}

struct Streamlines {
  int64_t returned = -1;
  std::vector<float> points;
  std::vector<int64_t> lengths;
  std::vector<float> dps;
  bool indices_in_order = true;
};

Streamlines read_all(const TractogramHeader& header, size_t chunk_bytes = 0) {
  TractogramScratch scratch;
  if (chunk_bytes) scratch.chunk_bytes = chunk_bytes;
  Streamlines s;
  s.returned = read_streamlines(
      header,
      [&](int64_t index, const float* xyz, int64_t n, const float* dps) {
        s.indices_in_order = s.indices_in_order && index == static_cast<int64_t>(s.lengths.size());
        s.points.insert(s.points.end(), xyz, xyz + 3 * n);
        s.lengths.push_back(n);
        s.dps.insert(s.dps.end(), dps, dps + header.n_properties);
      },
      scratch);
  return s;
}

std::string message_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

// The files trx_fixtures.py writes (listed here so that registering the tests runs no Python;
// AllFixturesAreListed checks the lists against the manifest).
const std::vector<std::string> variants = {"stored", "deflated", "folder", "f64",      "f64deflated",
                                           "zip64",  "prefixed", "f16",    "f16folder"};

std::vector<std::string> manifest_keys() {
  std::vector<std::string> keys;
  for (const char* source : {"standard", "complex", "empty", "af"})
    for (const auto& v : variants)
      keys.push_back(std::string(source) + "." + v);
  for (const char* k : {"dtypes.stored", "dtypes.folder", "halves", "extras"})
    keys.emplace_back(k);
  return keys;
}

std::vector<std::string> malformed_keys() {
  return {"bad_affine",
          "bad_dimensions",
          "bzip2",
          "corrupt_deflate",
          "crc",
          "cut",
          "dps_size",
          "header_not_json",
          "nan_position",
          "negative_count",
          "no_header",
          "no_nb_vertices",
          "no_offsets",
          "no_positions",
          "offsets_beyond",
          "offsets_decrease",
          "offsets_first",
          "offsets_int64",
          "positions_columns",
          "positions_int",
          "streamlines_mismatch",
          "two_positions",
          "unknown_dtype",
          "vertices_mismatch"};
}

TEST(TrxFixtures, AllFixturesAreListed) {
  const Fixtures& fx = fixtures();
  ASSERT_TRUE(fx.failure.empty()) << fx.failure;
  std::vector<std::string> made, listed = manifest_keys();
  for (const auto& [key, value] : fx.manifest.items())
    made.push_back(key);
  std::sort(listed.begin(), listed.end());
  EXPECT_EQ(made, listed);
  made.clear();
  listed = malformed_keys();
  for (const auto& [key, value] : fx.malformed.items())
    made.push_back(key);
  std::sort(listed.begin(), listed.end());
  EXPECT_EQ(made, listed);
}

std::string test_name(const testing::TestParamInfo<std::string>& info) {
  std::string name;
  for (const char c : info.param)
    name += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
  return name;
}

// ---- every valid file, against numpy ------------------------------------------------------------

class TrxReads : public testing::TestWithParam<std::string> {};

TEST_P(TrxReads, AsNumpyReadsIt) {
  const Fixtures& fx = fixtures();
  ASSERT_TRUE(fx.failure.empty()) << fx.failure;
  const json& e = fx.manifest.at(GetParam());
  const TractogramHeader h = read_tractogram_header(fx.path(GetParam()));
  EXPECT_EQ(h.format, TractogramFormat::trx);
  EXPECT_EQ(h.count_in_header, e.at("n_streamlines").get<int64_t>());
  EXPECT_EQ(h.points_in_header, e.at("n_points").get<int64_t>());
  const auto affine = e.at("affine").get<std::vector<double>>();
  for (size_t i = 0; i < 16; ++i)
    EXPECT_EQ(h.vox_to_ras[i], affine[i]) << "affine[" << i << "]";
  const auto dims = e.at("dimensions").get<std::vector<int64_t>>();
  const auto sizes = e.at("voxel_sizes").get<std::vector<float>>();
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(h.dimensions[i], dims[i]);
    EXPECT_EQ(bits(h.voxel_sizes[i]), bits(sizes[i])) << "voxel size " << i << ": " << h.voxel_sizes[i];
  }
  EXPECT_EQ(h.voxel_order, e.at("voxel_order").get<std::string>());
  ASSERT_EQ(h.dps_keys.size(), e.at("dps").size());
  int columns = 0;
  for (size_t k = 0; k < h.dps_keys.size(); ++k) {
    EXPECT_EQ(h.dps_keys[k].name, e.at("dps")[k].at("name").get<std::string>());
    EXPECT_EQ(h.dps_keys[k].columns, e.at("dps")[k].at("columns").get<int>());
    columns += h.dps_keys[k].columns;
  }
  EXPECT_EQ(h.n_properties, columns);

  const auto points = load_raw<float>(fx.file(e.at("points").get<std::string>()));
  const auto lengths = load_raw<int64_t>(fx.file(e.at("lengths").get<std::string>()));
  const auto dps = load_raw<float>(fx.file(e.at("dps_table").get<std::string>()));
  // planning's scan of the offsets alone: the same counts, and the shortest streamline
  const auto layout = dwipack::io::scan_trx_layout(h);
  ASSERT_TRUE(layout.has_value());
  EXPECT_EQ(layout->n_streamlines, e.at("n_streamlines").get<int64_t>());
  EXPECT_EQ(layout->n_points, e.at("n_points").get<int64_t>());
  EXPECT_EQ(layout->min_points, lengths.empty() ? 0 : *std::min_element(lengths.begin(), lengths.end()));
  for (const size_t chunk : {size_t{0}, size_t{4}, size_t{100}, size_t{4096}}) {
    SCOPED_TRACE("chunk bytes " + std::to_string(chunk));
    const Streamlines s = read_all(h, chunk);
    EXPECT_EQ(s.returned, e.at("n_streamlines").get<int64_t>());
    EXPECT_TRUE(s.indices_in_order);
    EXPECT_EQ(s.lengths, lengths);
    EXPECT_TRUE(same_bits(s.points, points));
    EXPECT_TRUE(same_bits(s.dps, dps));
  }
}

INSTANTIATE_TEST_SUITE_P(Trx, TrxReads, testing::ValuesIn(manifest_keys()), test_name);

TEST(TrxZip, DirectoryAsZipfileListsIt) {
  const Fixtures& fx = fixtures();
  ASSERT_TRUE(fx.failure.empty()) << fx.failure;
  int archives = 0;
  for (const auto& [key, e] : fx.manifest.items()) {
    if (!e.contains("zip")) continue;
    SCOPED_TRACE(key);
    ++archives;
    const std::string path = fx.path(key);
    const auto fd = dwipack::io::detail::open_for_reading(path);
    const int64_t size = dwipack::io::detail::file_size(fd.get());
    const auto members = dwipack::io::detail::read_zip_directory(fd.get(), size);
    const json& want = e.at("zip");
    ASSERT_EQ(members.size(), want.size());
    for (size_t i = 0; i < members.size(); ++i) {
      EXPECT_EQ(members[i].name, want[i].at("name").get<std::string>());
      EXPECT_EQ(members[i].method, want[i].at("method").get<int>());
      EXPECT_EQ(members[i].size, want[i].at("size").get<uint64_t>());
      EXPECT_EQ(members[i].compressed_size, want[i].at("compressed_size").get<uint64_t>());
      EXPECT_EQ(members[i].crc32, want[i].at("crc32").get<uint32_t>());
      // each member's bytes, inflated or read in place, pass the CRC check
      if (members[i].is_directory()) continue;
      auto stream = dwipack::io::detail::open_member(fd.get(), size, members[i]);
      std::vector<unsigned char> bytes(members[i].size);
      if (!bytes.empty()) stream->read(bytes.data(), bytes.size());
      EXPECT_NO_THROW(stream->finish());
    }
  }
  EXPECT_GT(archives, 20);
}

TEST(TrxZip, Zip64RecordsAreRead) {
  // zipfile with its ZIP64 limits at 0: ZIP64 extra fields in every entry, ZIP64 end record
  const Fixtures& fx = fixtures();
  ASSERT_TRUE(fx.failure.empty()) << fx.failure;
  const std::string bytes = read_file(fx.path("standard.zip64"));
  EXPECT_NE(bytes.find(std::string("PK\x06\x06", 4)), std::string::npos) << "no ZIP64 end record";
  EXPECT_NE(bytes.find(std::string("PK\x06\x07", 4)), std::string::npos) << "no ZIP64 locator";
}

// ---- malformed files ------------------------------------------------------------------------------

class TrxRefuses : public testing::TestWithParam<std::string> {};

TEST_P(TrxRefuses, WithItsMessage) {
  const Fixtures& fx = fixtures();
  ASSERT_TRUE(fx.failure.empty()) << fx.failure;
  const json& c = fx.malformed.at(GetParam());
  const std::string path = fx.file("malformed/" + c.at("file").get<std::string>());
  const std::string message = message_of([&] {
    const TractogramHeader h = read_tractogram_header(path);
    read_all(h);
  });
  std::string frame = "file '" + path + "': ";
  if (!c.at("member").is_null()) frame += "member '" + c.at("member").get<std::string>() + "': ";
  RecordProperty("message", message);
  EXPECT_THAT(message, HasSubstr(frame)) << message;
  EXPECT_THAT(message, HasSubstr(c.at("expect").get<std::string>()));
}

INSTANTIATE_TEST_SUITE_P(Trx, TrxRefuses, testing::ValuesIn(malformed_keys()), test_name);

TEST(TrxScan, OffsetsThatDoNotHoldTogetherAreLeftToTheReader) {
  const Fixtures& fx = fixtures();
  ASSERT_TRUE(fx.failure.empty()) << fx.failure;
  for (const char* name : {"offsets_decrease", "offsets_first", "offsets_beyond"}) {
    SCOPED_TRACE(name);
    const TractogramHeader h = read_tractogram_header(fx.file(std::string("malformed/") + name + ".trx"));
    EXPECT_FALSE(dwipack::io::scan_trx_layout(h).has_value());
  }
  // a header that does not match its arrays: the same error as read_tractogram_header
  TractogramHeader h = read_tractogram_header(fx.path("standard.stored"));
  h.path = fx.file("malformed/vertices_mismatch.trx");
  EXPECT_THAT(message_of([&] { dwipack::io::scan_trx_layout(h); }),
              HasSubstr("file '" + h.path + "': member 'positions.3.float32': 4320 bytes"));
}

TEST(TrxRead, ExtrasAreIgnored) {
  const Fixtures& fx = fixtures();
  ASSERT_TRUE(fx.failure.empty()) << fx.failure;
  const TractogramHeader h = read_tractogram_header(fx.path("extras"));
  EXPECT_TRUE(h.dps_keys.empty());
  EXPECT_EQ(read_all(h).returned, 120);
}

TEST(TrxRead, FoldersAreInputFiles) {
  const Fixtures& fx = fixtures();
  ASSERT_TRUE(fx.failure.empty()) << fx.failure;
  TempDir dir;
  ASSERT_EQ(run_command("cp -r " + shell_quote(fx.path("standard.folder")) + " " +
                        shell_quote(dir / "a.trx") + " && cp " + shell_quote(fx.path("standard.stored")) +
                        " " + shell_quote(dir / "b.trx") + " && mkdir " + shell_quote(dir / "c.d")),
            0);
  EXPECT_TRUE(dwipack::io::is_trx_folder(dir / "a.trx"));
  EXPECT_FALSE(dwipack::io::is_trx_folder(dir / "b.trx"));
  EXPECT_FALSE(dwipack::io::is_trx_folder(dir / "c.d"));
  const auto r = dwipack::io::resolve_entries(dir.path(), {"*.trx", "a.trx/", "c.d"});
  EXPECT_EQ(r.files, (std::vector<std::string>{dir / "a.trx", dir / "b.trx", dir / "a.trx"}));
  EXPECT_EQ(r.missing, (std::vector<std::string>{"c.d"}));
}

// ---- the writer ---------------------------------------------------------------------------------

/// Random streamlines (one empty) with two dps keys.
StreamlinesRas sample(size_t n_streamlines, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> coord(-80.0f, 80.0f);
  std::uniform_int_distribution<int64_t> length(1, 30);
  StreamlinesRas s;
  s.dps_keys = {{"weight", 1}, {"color", 3}};
  s.dps_values.assign(2, {});
  for (size_t i = 0; i < n_streamlines; ++i) {
    const int64_t n = i == 2 ? 0 : length(rng);
    for (int64_t p = 0; p < 3 * n; ++p)
      s.xyz.push_back(coord(rng));
    s.lengths.push_back(n);
    s.dps_values[0].push_back(coord(rng));
    for (int c = 0; c < 3; ++c)
      s.dps_values[1].push_back(coord(rng));
  }
  return s;
}

TrxSpace oblique_space() {
  TrxSpace space;
  space.vox_to_ras = {1.2498, 0.031, -0.02,  -90.1, -0.04, 0.9987, 0.05, -120.25,
                      0.02,   -0.06, 1.4993, -70.5, 0,     0,      0,    1};
  space.dimensions = {145, 174, 121};
  return space;
}

void expect_read_back(const std::string& path, const StreamlinesRas& s, const TrxSpace& space) {
  // our reader
  const TractogramHeader h = read_tractogram_header(path);
  for (size_t i = 0; i < 16; ++i)
    EXPECT_EQ(h.vox_to_ras[i], static_cast<double>(static_cast<float>(space.vox_to_ras[i])));
  EXPECT_EQ(h.dimensions, space.dimensions);
  ASSERT_EQ(h.dps_keys.size(), 2u);
  EXPECT_EQ(h.dps_keys[0].name, "color"); // by name
  EXPECT_EQ(h.dps_keys[1].name, "weight");
  const Streamlines r = read_all(h);
  EXPECT_EQ(r.lengths, s.lengths);
  EXPECT_TRUE(same_bits(r.points, s.xyz));
  std::vector<float> dps; // color, weight per streamline
  for (size_t i = 0; i < s.lengths.size(); ++i) {
    for (int c = 0; c < 3; ++c)
      dps.push_back(s.dps_values[1][3 * i + static_cast<size_t>(c)]);
    dps.push_back(s.dps_values[0][i]);
  }
  EXPECT_TRUE(same_bits(r.dps, dps));

  // zipfile + numpy
  TempDir out;
  ASSERT_EQ(run_command(std::string(DWIPACK_PYTHON) + " " +
                        shell_quote(std::string(DWIPACK_TEST_PY_DIR) + "/trx_check.py") + " dump " +
                        shell_quote(path) + " " + shell_quote(out.path())),
            0);
  EXPECT_TRUE(same_bits(load_raw<float>(out / "points.f32"), s.xyz));
  const auto offsets = load_raw<int64_t>(out / "offsets.i8");
  ASSERT_EQ(offsets.size(), s.lengths.size() + 1);
  for (size_t i = 0; i < s.lengths.size(); ++i)
    EXPECT_EQ(offsets[i + 1] - offsets[i], s.lengths[i]);
  EXPECT_TRUE(same_bits(load_raw<float>(out / "dps_weight.f32"), s.dps_values[0]));
  EXPECT_TRUE(same_bits(load_raw<float>(out / "dps_color.f32"), s.dps_values[1]));
  const json header = json::parse(read_file(out / "header.json"));
  EXPECT_EQ(header.at("NB_STREAMLINES").get<size_t>(), s.lengths.size());
  EXPECT_EQ(header.at("DIMENSIONS"), json(space.dimensions));
  const json listing = json::parse(read_file(out / "listing.json"));
  std::vector<std::string> names;
  for (const auto& m : listing) {
    names.push_back(m[0].get<std::string>());
    EXPECT_EQ(m[1].get<int>(), 0) << "stored, not compressed";
  }
  EXPECT_EQ(names, (std::vector<std::string>{"positions.3.float32", "offsets.uint64", "dps/weight.float32",
                                             "dps/color.3.float32", "header.json"}));
}

TEST(TrxWriter, ZipfileAndNumpyReadItBack) {
  const StreamlinesRas s = sample(500, 1);
  const TrxSpace space = oblique_space();
  TempDir dir;
  dwipack::io::TrxWriter w(dir / "out.trx", space, s.dps_keys);
  // in three chunks
  for (size_t part = 0; part < 3; ++part) {
    StreamlinesRas chunk;
    chunk.dps_keys = s.dps_keys;
    chunk.dps_values.assign(2, {});
    size_t first_point = 0;
    for (size_t i = 0; i < part * 200 && i < s.lengths.size(); ++i)
      first_point += static_cast<size_t>(s.lengths[i]);
    for (size_t i = part * 200; i < std::min<size_t>((part + 1) * 200, s.lengths.size()); ++i) {
      const auto n = static_cast<size_t>(s.lengths[i]);
      chunk.xyz.insert(chunk.xyz.end(), s.xyz.begin() + static_cast<std::ptrdiff_t>(3 * first_point),
                       s.xyz.begin() + static_cast<std::ptrdiff_t>(3 * (first_point + n)));
      first_point += n;
      chunk.lengths.push_back(s.lengths[i]);
      chunk.dps_values[0].push_back(s.dps_values[0][i]);
      chunk.dps_values[1].insert(chunk.dps_values[1].end(),
                                 s.dps_values[1].begin() + static_cast<std::ptrdiff_t>(3 * i),
                                 s.dps_values[1].begin() + static_cast<std::ptrdiff_t>(3 * i + 3));
    }
    w.append(chunk);
  }
  w.close();
  EXPECT_EQ(w.count(), 500);
  expect_read_back(dir / "out.trx", s, space);
}

TEST(TrxWriter, Zip64RecordsWhenLarge) {
  // Every size and offset over the limit: the ZIP64 extra fields and end records a >2 GiB file gets.
  const uint64_t saved = dwipack::io::detail::set_zip64_write_limit(0);
  const StreamlinesRas s = sample(50, 2);
  TempDir dir;
  try {
    dwipack::io::write_trx(dir / "big.trx", oblique_space(), s);
  } catch (...) {
    dwipack::io::detail::set_zip64_write_limit(saved);
    throw;
  }
  dwipack::io::detail::set_zip64_write_limit(saved);
  const std::string bytes = read_file(dir / "big.trx");
  EXPECT_NE(bytes.find(std::string("PK\x06\x06", 4)), std::string::npos) << "no ZIP64 end record";
  EXPECT_NE(bytes.find(std::string("PK\x06\x07", 4)), std::string::npos) << "no ZIP64 locator";
  expect_read_back(dir / "big.trx", s, oblique_space());
}

TEST(TrxWriter, EmptyTractogram) {
  TempDir dir;
  StreamlinesRas none;
  dwipack::io::write_trx(dir / "empty.trx", oblique_space(), none);
  const TractogramHeader h = read_tractogram_header(dir / "empty.trx");
  EXPECT_EQ(h.count_in_header, 0);
  EXPECT_EQ(h.points_in_header, 0);
  EXPECT_EQ(read_all(h).returned, 0);
}

TEST(TrxWriter, RefusesAndLeavesNothing) {
  TempDir dir;
  StreamlinesRas s = sample(10, 3);
  s.xyz[7] = std::numeric_limits<float>::quiet_NaN();
  EXPECT_THAT(message_of([&] { dwipack::io::write_trx(dir / "nan.trx", oblique_space(), s); }),
              HasSubstr("file '" + (dir / "nan.trx") + "': a streamline point is not finite"));
  EXPECT_FALSE(std::ifstream(dir / "nan.trx").good());
  TrxSpace flat = oblique_space();
  flat.dimensions[1] = 0;
  EXPECT_THAT(message_of([&] { dwipack::io::TrxWriter(dir / "d.trx", flat, {}); }),
              HasSubstr("dimension 0 is not from 1 to 32767"));
  EXPECT_THAT(message_of([&] {
                dwipack::io::TrxWriter(dir / "k.trx", oblique_space(), {{"a/b", 1}});
              }),
              HasSubstr("data_per_streamline key 'a/b' is not a valid TRX array name"));
  { dwipack::io::TrxWriter unfinished(dir / "unfinished.trx", oblique_space(), s.dps_keys); }
  EXPECT_FALSE(std::ifstream(dir / "unfinished.trx").good());
}

TEST(TrxWriter, DpsNamesThatLookLikeColumnCounts) {
  // "fa.2" with one column is written dps/fa.2.1.float32, which reads back as "fa.2"
  TempDir dir;
  StreamlinesRas s = sample(4, 4);
  s.dps_keys = {{"fa.2", 1}};
  s.dps_values.resize(1);
  dwipack::io::write_trx(dir / "n.trx", oblique_space(), s);
  const TractogramHeader h = read_tractogram_header(dir / "n.trx");
  ASSERT_EQ(h.dps_keys.size(), 1u);
  EXPECT_EQ(h.dps_keys[0].name, "fa.2");
  EXPECT_EQ(h.dps_keys[0].columns, 1);
  EXPECT_TRUE(same_bits(read_all(h).dps, s.dps_values[0]));
}

} // namespace
