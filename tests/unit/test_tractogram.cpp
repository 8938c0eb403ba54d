// io::read_tractogram_header / read_streamlines checked bit for bit against nibabel 5: the real
// .trk/.tck files Debian ships with nibabel and dipy (minimal_bundles.zip), plus fixtures that
// tests/python/tractogram_reference.py writes with nibabel or patches byte by byte (scalars and
// multi-column properties, big-endian, v1, oblique and permuted voxel orders, Float64 .tck, ...),
// each read with several chunk sizes so that streamlines straddle chunk boundaries; and every
// refusal with its message.
#include "dwipack/error.hpp"
#include "dwipack/io/tractogram.hpp"
#include "support/compare.hpp"
#include "support/temp_dir.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <cctype>
#include <cstring>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

using dwipack::Error;
using dwipack::io::read_streamlines;
using dwipack::io::read_tractogram_header;
using dwipack::io::TractogramFormat;
using dwipack::io::TractogramHeader;
using dwipack::io::TractogramScratch;
using dwipack::test::read_file;
using dwipack::test::run_command;
using dwipack::test::shell_quote;
using dwipack::test::TempDir;
using json = nlohmann::json;
using testing::HasSubstr;

using dwipack::test::bits;
using dwipack::test::load_raw;
using dwipack::test::same_bits;

namespace {

const std::string nibabel_data = "/usr/lib/python3/dist-packages/nibabel/tests/data/";
const std::string minimal_bundles_zip = "/usr/lib/python3/dist-packages/dipy/data/files/minimal_bundles.zip";

const std::vector<std::string> nibabel_files = {"standard.trk",
                                                "standard.tck",
                                                "standard.LPS.trk",
                                                "simple.trk",
                                                "simple.tck",
                                                "complex.trk",
                                                "complex_big_endian.trk",
                                                "simple_big_endian.tck",
                                                "empty.trk",
                                                "empty.tck",
                                                "matlab_nan.tck",
                                                "multiline_header_field.tck",
                                                "no_header_end.tck",
                                                "no_header_end_eof.tck",
                                                "no_magic_number.tck"};

/// The fixtures and nibabel's readings of them, made once per test process.
struct Fixtures {
  TempDir dir;
  json manifest;
  std::string failure; ///< non-empty if the generator failed

  Fixtures() {
    std::string cmd = std::string(DWIPACK_PYTHON) + " " +
                      shell_quote(std::string(DWIPACK_TEST_PY_DIR) + "/tractogram_reference.py") + " " +
                      shell_quote(dir.path());
    for (const auto& f : nibabel_files)
      cmd += " " + shell_quote(nibabel_data + f);
    cmd += " " + shell_quote(minimal_bundles_zip);
    const std::string log = dir / "generator.log";
    const int rc = run_command(cmd + " > " + shell_quote(log) + " 2>&1");
    if (rc != 0) {
      failure = "tractogram_reference.py failed (exit " + std::to_string(rc) + "):\n" + read_file(log);
      return;
    }
    try {
      manifest = json::parse(read_file(dir / "manifest.json"));
    } catch (const std::exception& e) {
      failure = std::string("manifest.json: ") + e.what();
    }
  }
  /// The manifest entry of `key` ("standard.trk", "gen/v1.trk", "minimal_bundles/sub_1/AF_L.trk").
  const json& entry(const std::string& key) const { return manifest.at(key); }
  std::string path(const std::string& key) const { return entry(key).at("path").get<std::string>(); }
};

const Fixtures& fixtures() {
  static Fixtures f;
  return f;
}

/// Everything read_streamlines hands out, concatenated.
struct Streamlines {
  int64_t returned = -1;
  std::vector<float> points;
  std::vector<int64_t> lengths;
  std::vector<float> dps; ///< n_properties per streamline
  bool indices_in_order = true;
  size_t chunk_buffer_bytes = 0;
};

Streamlines read_all(const TractogramHeader& header, size_t chunk_bytes) {
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
  s.chunk_buffer_bytes = scratch.chunk.size();
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

// ---- every valid file against nibabel ----------------------------------------------------------

std::vector<std::string> valid_keys() {
  std::vector<std::string> keys = {"standard.trk",
                                   "standard.tck",
                                   "standard.LPS.trk",
                                   "simple.trk",
                                   "simple.tck",
                                   "complex.trk",
                                   "complex_big_endian.trk",
                                   "simple_big_endian.tck",
                                   "empty.trk",
                                   "empty.tck",
                                   "matlab_nan.tck",
                                   "multiline_header_field.tck",
                                   "gen/props_scalars.trk",
                                   "gen/props_scalars_big_endian.trk",
                                   "gen/lps_oblique.trk",
                                   "gen/permuted_oblique.trk",
                                   "gen/lowercase_order.trk",
                                   "gen/v1.trk",
                                   "gen/no_vox_to_ras.trk",
                                   "gen/empty_order.trk",
                                   "gen/n_count_zero.trk",
                                   "gen/zero_length.trk",
                                   "gen/identity_matrix.trk",
                                   "gen/unnamed_props.trk",
                                   "gen/five.trk",
                                   "gen/generated.tck",
                                   "gen/generated_big_endian.tck",
                                   "gen/float64_le.tck",
                                   "gen/float64_be.tck",
                                   "gen/count_wrong.tck",
                                   "gen/double_delimiter.tck",
                                   "gen/padded_crlf.tck",
                                   "gen/no_datatype.tck",
                                   "gen/no_file.tck",
                                   "gen/empty_generated.tck"};
  for (int sub = 1; sub <= 5; ++sub)
    for (const char* bundle : {"AF_L", "CC_ForcepsMajor", "CST_R"})
      keys.push_back("minimal_bundles/sub_" + std::to_string(sub) + "/" + bundle + ".trk");
  return keys;
}

std::string test_name(const testing::TestParamInfo<std::string>& info) {
  std::string name = info.param;
  for (char& c : name)
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  return name;
}

class TractogramMatchesNibabel : public testing::TestWithParam<std::string> {
protected:
  void SetUp() override {
    ASSERT_EQ(fixtures().failure, "");
    ASSERT_TRUE(fixtures().manifest.contains(GetParam())) << "no fixture " << GetParam();
    entry_ = &fixtures().entry(GetParam());
    ASSERT_FALSE(entry_->at("reference").is_null())
        << "nibabel refuses " << GetParam() << ": " << entry_->at("nibabel_error");
  }
  std::string ref_path(const std::string& field) const {
    return fixtures().dir / entry_->at(field).get<std::string>();
  }
  const json* entry_ = nullptr;
};

TEST_P(TractogramMatchesNibabel, Header) {
  const json& want = entry_->at("header");
  const TractogramHeader h = read_tractogram_header(entry_->at("path").get<std::string>());
  EXPECT_EQ(h.path, entry_->at("path").get<std::string>());
  EXPECT_EQ(h.count_in_header, want.at("count_in_header").get<int64_t>());
  EXPECT_EQ(h.byte_swapped, want.at("byte_swapped").get<bool>());
  if (h.format == TractogramFormat::tck) {
    EXPECT_EQ(h.tck_datatype, want.at("datatype").get<std::string>());
    EXPECT_EQ(h.data_offset, want.at("data_offset").get<int64_t>());
    EXPECT_TRUE(h.dps_keys.empty());
    return;
  }
  EXPECT_EQ(h.version, want.at("version").get<int>());
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(h.dimensions[i], want.at("dimensions")[i].get<int64_t>()) << i;
    EXPECT_EQ(bits(h.voxel_sizes[i]), bits(want.at("voxel_sizes")[i].get<float>())) << i;
  }
  for (size_t i = 0; i < 16; ++i)
    EXPECT_EQ(h.vox_to_ras[i], want.at("vox_to_ras")[i].get<double>()) << "vox_to_ras element " << i;
  EXPECT_EQ(h.voxel_order, want.at("voxel_order").get<std::string>());
  EXPECT_EQ(h.n_scalars, want.at("n_scalars").get<int>());
  EXPECT_EQ(h.n_properties, want.at("n_properties").get<int>());

  const json& dps = entry_->at("dps");
  ASSERT_EQ(h.dps_keys.size(), dps.size());
  for (size_t k = 0; k < dps.size(); ++k) {
    EXPECT_EQ(h.dps_keys[k].name, dps[k].at("name").get<std::string>());
    EXPECT_EQ(h.dps_keys[k].columns, dps[k].at("columns").get<int>());
  }
  const json& dpp = want.at("dpp_keys");
  ASSERT_EQ(h.dpp_keys.size(), dpp.size());
  for (size_t k = 0; k < dpp.size(); ++k) {
    EXPECT_EQ(h.dpp_keys[k].name, dpp[k][0].get<std::string>());
    EXPECT_EQ(h.dpp_keys[k].columns, dpp[k][1].get<int>());
  }

  const std::array<float, 16> m = dwipack::io::trk_voxmm_to_rasmm(h);
  for (size_t i = 0; i < 16; ++i)
    EXPECT_EQ(bits(m[i]), bits(entry_->at("affine_voxmm_to_rasmm")[i].get<float>()))
        << "matrix element " << i;
}

TEST_P(TractogramMatchesNibabel, PointsAndDpsBitExactAtEveryChunkSize) {
  const TractogramHeader h = read_tractogram_header(entry_->at("path").get<std::string>());
  const auto want_points = load_raw<float>(ref_path("points"));
  const auto want_lengths = load_raw<int64_t>(ref_path("lengths"));
  const auto n = entry_->at("n_streamlines").get<int64_t>();
  ASSERT_EQ(static_cast<int64_t>(want_lengths.size()), n);

  // The largest unit the reader must hold whole: a point record, the properties, a count.
  const size_t point_bytes = h.format == TractogramFormat::trk ? 4 * static_cast<size_t>(3 + h.n_scalars)
                             : h.tck_datatype.rfind("Float64", 0) == 0 ? 24
                                                                       : 12;
  const size_t unit = std::max({point_bytes, 4 * static_cast<size_t>(h.n_properties), size_t{4}});

  for (const size_t chunk : {size_t{0}, size_t{7}, size_t{13}, size_t{4096}}) {
    SCOPED_TRACE("chunk_bytes " + std::to_string(chunk));
    const Streamlines got = read_all(h, chunk);
    EXPECT_EQ(got.returned, n);
    EXPECT_TRUE(got.indices_in_order);
    EXPECT_EQ(got.lengths, want_lengths);
    EXPECT_TRUE(same_bits(got.points, want_points));
    if (chunk) {
      EXPECT_LE(got.chunk_buffer_bytes, std::max(chunk, unit)) << "the reader buffered more than a chunk";
    }

    // data_per_streamline: each nibabel key is a column range of our rows, in file order
    size_t column = 0;
    for (const auto& key : entry_->at("dps")) {
      SCOPED_TRACE("dps key " + key.at("name").get<std::string>());
      const auto want = load_raw<float>(fixtures().dir / key.at("file").get<std::string>());
      const auto cols = key.at("columns").get<size_t>();
      std::vector<float> ours;
      for (int64_t s = 0; s < got.returned; ++s)
        for (size_t c = 0; c < cols; ++c)
          ours.push_back(got.dps[static_cast<size_t>(s) * static_cast<size_t>(h.n_properties) + column + c]);
      EXPECT_TRUE(same_bits(ours, want));
      column += cols;
    }
    EXPECT_EQ(column, static_cast<size_t>(h.n_properties));
  }
}

INSTANTIATE_TEST_SUITE_P(Tractogram, TractogramMatchesNibabel, testing::ValuesIn(valid_keys()), test_name);

// ---- refusals ----------------------------------------------------------------------------------

struct Refusal {
  std::string key;                ///< manifest key
  bool at_header;                 ///< read_tractogram_header refuses (else read_streamlines)
  std::vector<std::string> facts; ///< substrings of the message after "file '<path>': "
};

std::vector<Refusal> refusals() {
  return {
      // nibabel's own malformed files
      {"no_header_end.tck", true, {"header has no 'END' line"}},
      {"no_header_end_eof.tck", true, {"header has no 'END' line"}},
      {"no_magic_number.tck", true, {"bad magic 'count: 000000' (expected 'mrtrix tracks')"}},
      // .trk header
      {"gen/hdr_size.trk",
       true,
       {"header 'hdr_size' is 999 little-endian, -419233792 big-endian; expected 1000"}},
      {"gen/bad_magic.trk", true, {"bad magic 'TRACX' (expected 'TRACK')"}},
      {"gen/short.trk", true, {"too short for a TrackVis header: 500 bytes"}},
      {"gen/version4.trk", true, {"header 'version' is 4"}},
      {"gen/zero_voxel_size.trk", true, {"header 'voxel_sizes' is (0, 1, 1)"}},
      {"gen/bad_voxel_order.trk",
       true,
       {"header 'voxel_order' is 'XYZ'; expected 3 axis codes", "one of R/L"}},
      {"gen/repeated_voxel_order.trk", true, {"header 'voxel_order' is 'LLS'"}},
      {"gen/zero_affine_column.trk",
       true,
       {"header 'vox_to_ras' is invalid: the axis directions cannot be determined"}},
      {"gen/props_too_many.trk", true, {"header 'property_name' names 4 columns but 'n_properties' is 3"}},
      {"gen/bad_property_name.trk",
       true,
       {"header 'property_name' [0] 'a\\x003\\x00b': characters after the column count"}},
      {"gen/repeated_property_name.trk", true, {"header 'property_name' names 'a' twice"}},
      // .trk data
      {"gen/truncated_points.trk",
       false,
       {"truncated: streamline 3 has 6 points (72 bytes with its properties) but only 29 bytes remain"}},
      {"gen/truncated_count.trk",
       false,
       {"truncated: streamline 2 is cut short (its point count has only 2 of 4 bytes)"}},
      {"gen/huge_count.trk", false, {"truncated: streamline 4 has 2147483647 points"}},
      {"gen/n_count_more.trk", false, {"header 'n_count' says 7 streamlines but the file ends after 5"}},
      {"gen/n_count_fewer.trk",
       false,
       {"header 'n_count' says 4 streamlines but 88 more bytes follow the last one"}},
      {"gen/negative_points.trk", false, {"streamline 1 has a negative point count (-3)"}},
      {"gen/nan_point.trk",
       false,
       {"streamline 1, point 2 has a non-finite coordinate (", ", nan, ", " voxmm)"}},
      // .tck header
      {"gen/bad_datatype.tck",
       true,
       {"header 'datatype' is 'Int32LE'; expected one of Float32LE, Float32BE"}},
      {"gen/other_file.tck", true, {"header 'file' is 'x 67'; only '. <offset>'"}},
      {"gen/offset_beyond.tck", true, {"is beyond the end of the file"}},
      {"gen/offset_inside_header.tck",
       true,
       {"header 'file' offset 17 points inside the header (which ends at byte 67)"}},
      {"gen/continuation_first.tck", true, {"header line 1 is not 'key: value': 'no colon here'"}},
      {"gen/binary_before_end.tck",
       true,
       {"header has no 'END' line before line 3, which is not UTF-8 text"}},
      // .tck data
      {"gen/truncated_no_end.tck",
       false,
       {"truncated: the data ends without the end-of-file marker (a triplet of Inf), after 3 complete "
        "streamlines"}},
      {"gen/truncated_mid_streamline.tck",
       false,
       {"truncated: the data ends without the end-of-file marker (a triplet of Inf), in streamline 2 after"}},
      {"gen/truncated_mid_point.tck", false, {"truncated: the data ends with 8 bytes, not a whole point"}},
      {"gen/header_only.tck",
       false,
       {"truncated: the data ends without the end-of-file marker", "after 0 complete"}},
      {"gen/data_after_end.tck",
       false,
       {"24 bytes follow the end-of-file marker (a triplet of Inf) at byte"}},
      {"gen/unclosed_before_end.tck",
       false,
       {"streamline 2 (", "points) is not closed by a NaN triplet before the end-of-file marker"}},
      {"gen/partial_nan.tck", false, {"streamline 1, point 2 has a non-finite coordinate ("}},
      {"gen/float64_overflow.tck",
       false,
       {"streamline 0, point 0 has a Float64 coordinate beyond the float32 range"}},
  };
}

class TractogramRefuses : public testing::TestWithParam<Refusal> {
protected:
  void SetUp() override { ASSERT_EQ(fixtures().failure, ""); }
};

TEST_P(TractogramRefuses, NamingTheFileAndTheFact) {
  const Refusal& r = GetParam();
  ASSERT_TRUE(fixtures().manifest.contains(r.key)) << "no fixture " << r.key;
  const std::string path = fixtures().path(r.key);
  const std::string prefix = "file '" + path + "': ";
  if (r.at_header) {
    const std::string msg = message_of([&] { read_tractogram_header(path); });
    EXPECT_EQ(msg.rfind(prefix, 0), 0u) << msg;
    for (const auto& fact : r.facts)
      EXPECT_THAT(msg, HasSubstr(fact));
    return;
  }
  TractogramHeader h;
  ASSERT_NO_THROW(h = read_tractogram_header(path));
  for (const size_t chunk : {size_t{0}, size_t{7}, size_t{13}}) {
    SCOPED_TRACE("chunk_bytes " + std::to_string(chunk));
    const std::string msg = message_of([&] { read_all(h, chunk); });
    EXPECT_EQ(msg.rfind(prefix, 0), 0u) << msg;
    for (const auto& fact : r.facts)
      EXPECT_THAT(msg, HasSubstr(fact));
  }
}

std::string refusal_name(const testing::TestParamInfo<Refusal>& info) {
  std::string name = info.param.key;
  for (char& c : name)
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  return name;
}

INSTANTIATE_TEST_SUITE_P(Tractogram, TractogramRefuses, testing::ValuesIn(refusals()), refusal_name);

// ---- the rest ----------------------------------------------------------------------------------

TEST(TractogramHeaderTest, ExtensionDecidesTheFormat) {
  TempDir dir;
  const std::string vtk = dir.write("a.vtk", "TRACK");
  EXPECT_EQ(message_of([&] { read_tractogram_header(vtk); }),
            "file '" + vtk +
                "': extension '.vtk' is not a tractogram format (accepted: '.trk', '.tck', '.trx')");
  // a .trx holding a TrackVis file: read as a ZIP archive, which it is not
  const std::string trx = dir.write("a.trx", "TRACK");
  EXPECT_THAT(message_of([&] { read_tractogram_header(trx); }),
              HasSubstr("file '" + trx + "': not a ZIP archive: 5 bytes"));
  const std::string upper = dir.write("a.TRK", "TRACK");
  EXPECT_THAT(message_of([&] { read_tractogram_header(upper); }), HasSubstr("extension '.TRK' is not"));
  // a .tck holding a TrackVis file: the extension wins, the magic then refuses it
  const std::string tck = dir / "standard.tck";
  ASSERT_EQ(run_command("cp " + shell_quote(nibabel_data + "standard.trk") + " " + shell_quote(tck)), 0);
  EXPECT_THAT(message_of([&] { read_tractogram_header(tck); }), HasSubstr("bad magic 'TRACK"));
  EXPECT_THAT(message_of([&] { read_tractogram_header(dir / "missing.trk"); }),
              HasSubstr("file '" + dir.path() + "/missing.trk': cannot open: No such file or directory"));
}

TEST(TractogramHeaderTest, FormatSpecificFields) {
  const TractogramHeader trk = read_tractogram_header(nibabel_data + "complex_big_endian.trk");
  EXPECT_EQ(trk.format, TractogramFormat::trk);
  EXPECT_TRUE(trk.byte_swapped);
  EXPECT_EQ(trk.n_scalars, 4);
  ASSERT_EQ(trk.dpp_keys.size(), 2u);
  EXPECT_EQ(trk.dpp_keys[0].name, "colors");
  EXPECT_EQ(trk.dpp_keys[0].columns, 3);
  EXPECT_EQ(trk.dpp_keys[1].name, "fa");
  ASSERT_EQ(trk.dps_keys.size(), 3u);
  EXPECT_EQ(trk.dps_keys[0].name, "mean_colors");
  EXPECT_EQ(trk.dps_keys[0].columns, 3);

  const TractogramHeader tck = read_tractogram_header(nibabel_data + "simple_big_endian.tck");
  EXPECT_EQ(tck.format, TractogramFormat::tck);
  EXPECT_EQ(tck.tck_datatype, "Float32BE");
  EXPECT_EQ(tck.data_offset, 67);
  EXPECT_EQ(tck.count_in_header, 3);
}

TEST(TractogramHeaderTest, WarningsWhereNibabelWarns) {
  ASSERT_EQ(fixtures().failure, "");
  const auto warnings_of = [](const std::string& key) {
    return read_tractogram_header(fixtures().path(key)).warnings;
  };
  EXPECT_TRUE(warnings_of("standard.trk").empty());
  EXPECT_TRUE(warnings_of("standard.tck").empty());
  EXPECT_THAT(warnings_of("gen/v1.trk"), testing::ElementsAre(HasSubstr("version 1 has no 'vox_to_ras'")));
  EXPECT_THAT(warnings_of("gen/no_vox_to_ras.trk"), testing::ElementsAre(HasSubstr("was not recorded")));
  EXPECT_THAT(warnings_of("gen/empty_order.trk"), testing::ElementsAre(HasSubstr("'LPS' assumed")));
  EXPECT_THAT(warnings_of("gen/no_datatype.tck"), testing::ElementsAre(HasSubstr("no 'datatype'")));
  EXPECT_THAT(warnings_of("gen/no_file.tck"), testing::ElementsAre(HasSubstr("no 'file'")));
}

TEST(TractogramVisitorTest, ItsExceptionsPassThroughUnwrapped) {
  const TractogramHeader h = read_tractogram_header(nibabel_data + "standard.trk");
  TractogramScratch scratch;
  int64_t seen = 0;
  try {
    read_streamlines(
        h,
        [&](int64_t index, const float*, int64_t, const float*) {
          seen = index;
          if (index == 2) throw Error("stop at 2");
        },
        scratch);
    FAIL() << "no exception";
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "stop at 2");
    EXPECT_EQ(e.frames().size(), 1u);
  }
  EXPECT_EQ(seen, 2);
}

TEST(TractogramVisitorTest, ScratchIsReusedAcrossFiles) {
  TractogramScratch scratch;
  scratch.chunk_bytes = 1024;
  int64_t total = 0;
  const auto count = [&](int64_t, const float*, int64_t n, const float*) { total += n; };
  for (const char* f : {"standard.trk", "standard.tck", "complex.trk", "simple_big_endian.tck"})
    read_streamlines(read_tractogram_header(nibabel_data + f), count, scratch);
  EXPECT_LE(scratch.chunk.size(), 1024u);
  EXPECT_GT(total, 0);
}

} // namespace
