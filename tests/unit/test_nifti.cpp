// io::read_nifti_header / read_nifti_into checked bit for bit against nibabel: fixtures and
// nibabel's readings of them come from tests/python/nifti_reference.py (every datatype and scaling,
// both byte orders, NIfTI-1/2, .nii/.nii.gz/multi-member gzip, every affine source), plus the real
// files Debian ships with nibabel and dipy, plus every refusal with its message.
#include "dwipack/error.hpp"
#include "dwipack/io/nifti.hpp"
#include "support/compare.hpp"
#include "support/temp_dir.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

using dwipack::Error;
using dwipack::io::NiftiHeader;
using dwipack::io::read_nifti_header;
using dwipack::io::read_nifti_into;
using dwipack::io::ReadScratch;
using dwipack::test::read_file;
using dwipack::test::run_command;
using dwipack::test::shell_quote;
using dwipack::test::TempDir;
using dwipack::test::write_file;
using json = nlohmann::json;
using testing::HasSubstr;
using testing::ThrowsMessage;

using dwipack::test::bits;
using dwipack::test::load_raw;
using dwipack::test::same_bits;

namespace {

const std::string nibabel_data = "/usr/lib/python3/dist-packages/nibabel/tests/data/";
const std::string dipy_data = "/usr/lib/python3/dist-packages/dipy/data/files/";

const std::vector<std::string> debian_files = {
    nibabel_data + "example4d.nii.gz", nibabel_data + "example_nifti2.nii.gz",
    nibabel_data + "standard.nii.gz",  nibabel_data + "anatomical.nii",
    nibabel_data + "functional.nii",   dipy_data + "small_64D.nii",
    dipy_data + "small_101D.nii.gz",   dipy_data + "small_25.nii.gz",
    dipy_data + "S0_10slices.nii.gz",  dipy_data + "aniso_vox.nii.gz"};

/// The fixtures, generated once per test process by nibabel into a temporary folder.
struct Fixtures {
  TempDir dir;
  json manifest;
  std::string failure; ///< non-empty if the generator failed

  Fixtures() {
    std::string cmd = std::string(DWIPACK_PYTHON) + " " +
                      shell_quote(std::string(DWIPACK_TEST_PY_DIR) + "/nifti_reference.py") + " " +
                      shell_quote(dir.path());
    for (const auto& f : debian_files)
      cmd += " " + shell_quote(f);
    const std::string log = dir / "generator.log";
    const int rc = run_command(cmd + " > " + shell_quote(log) + " 2>&1");
    if (rc != 0) {
      failure = "nifti_reference.py failed (exit " + std::to_string(rc) + "):\n" + read_file(log);
      return;
    }
    manifest = json::parse(read_file(dir / "manifest.json"));
  }
  std::string path(const std::string& name) const { return dir / name; }
};

const Fixtures& fixtures() {
  static Fixtures f;
  return f;
}

/// Read a whole file into a fresh (X, Y, Z, F) array.
std::vector<float> read_all(const NiftiHeader& h, ReadScratch& scratch) {
  std::vector<float> out(static_cast<size_t>(h.voxels_per_frame() * h.nb_frames()), -12345.0f);
  read_nifti_into(h, out.data(), h.nb_frames(), 0, scratch);
  return out;
}

void expect_affine_near(const dwipack::Affine& got, const json& want) {
  ASSERT_EQ(want.size(), 16u);
  for (size_t i = 0; i < 16; ++i)
    EXPECT_NEAR(got[i], want[i].get<double>(), 1e-12) << "affine element " << i;
}

class NiftiReference : public testing::Test {
protected:
  void SetUp() override { ASSERT_EQ(fixtures().failure, ""); }
  const json& cases() const { return fixtures().manifest.at("cases"); }
};

TEST_F(NiftiReference, GeneratorCoversTheMatrix) {
  // guards against a generator change silently dropping most cases
  EXPECT_GE(cases().size(), 300u);
  EXPECT_GE(fixtures().manifest.at("refused").size(), 10u);
  EXPECT_GE(fixtures().manifest.at("errors").size(), 25u);
}

TEST_F(NiftiReference, HeadersMatchNibabel) {
  for (const json& c : cases()) {
    const std::string name = c.at("name");
    SCOPED_TRACE(name);
    const NiftiHeader h = read_nifti_header(fixtures().path(c.at("file")));
    const auto shape = c.at("shape").get<std::vector<int64_t>>();
    EXPECT_EQ(h.shape3(), (std::array<int64_t, 3>{shape[0], shape[1], shape[2]}));
    EXPECT_EQ(h.nb_frames(), shape[3]);
    EXPECT_EQ(h.version, c.at("version").get<int>());
    EXPECT_EQ(h.datatype, c.at("datatype").get<int>());
    EXPECT_EQ(h.byte_swapped, c.at("byte_swapped").get<bool>());
    const std::string file = c.at("file");
    EXPECT_EQ(h.gzipped, file.size() > 3 && file.compare(file.size() - 3, 3, ".gz") == 0);
    expect_affine_near(h.vox2ras, c.at("affine"));
    for (size_t i = 0; i < 3; ++i)
      EXPECT_EQ(h.voxel_sizes[i], static_cast<float>(c.at("zooms")[i].get<double>())) << "zoom " << i;
  }
}

TEST_F(NiftiReference, DataMatchesNibabelBitForBit) {
  ReadScratch scratch; // one scratch for every file, as a worker uses it
  for (const json& c : cases()) {
    SCOPED_TRACE(c.at("name").get<std::string>());
    const NiftiHeader h = read_nifti_header(fixtures().path(c.at("file")));
    EXPECT_TRUE(same_bits(read_all(h, scratch), load_raw<float>(fixtures().path(c.at("ref")))));
  }
}

TEST_F(NiftiReference, TinyChunksAndOneFrameBlocksGiveTheSameData) {
  // 7-byte reads cut gzip headers, deflate blocks, members and frames at every possible place
  ReadScratch scratch;
  scratch.chunk_bytes = 7;
  scratch.block_bytes = 1;
  for (const json& c : cases()) {
    const std::string name = c.at("name");
    if (name.rfind("lay_", 0) != 0 && name.rfind("int16_", 0) != 0 && name.rfind("float64_", 0) != 0)
      continue;
    if (name == "lay_many_frames" || name == "lay_big_frames") continue; // slow at 7 bytes a read
    SCOPED_TRACE(name);
    const NiftiHeader h = read_nifti_header(fixtures().path(c.at("file")));
    EXPECT_TRUE(same_bits(read_all(h, scratch), load_raw<float>(fixtures().path(c.at("ref")))));
  }
}

TEST_F(NiftiReference, LandsAtItsFeatureOffsetInAWiderArray) {
  const float sentinel = -4242.0f;
  int checked = 0;
  for (const json& c : cases()) {
    const std::string name = c.at("name");
    if (name.rfind("lay_", 0) != 0) continue;
    SCOPED_TRACE(name);
    const NiftiHeader h = read_nifti_header(fixtures().path(c.at("file")));
    const std::vector<float> want = load_raw<float>(fixtures().path(c.at("ref")));
    const int64_t frames = h.nb_frames(), voxels = h.voxels_per_frame(), f_total = frames + 3, f_offset = 2;
    std::vector<float> out(static_cast<size_t>(voxels * f_total), sentinel);
    ReadScratch scratch;
    scratch.block_bytes = 1; // several blocks, each at its own feature offset
    read_nifti_into(h, out.data(), f_total, f_offset, scratch);
    size_t bad = 0;
    for (int64_t v = 0; v < voxels; ++v)
      for (int64_t f = 0; f < f_total; ++f) {
        const float got = out[static_cast<size_t>(v * f_total + f)];
        const bool mine = f >= f_offset && f < f_offset + frames;
        const float expected = mine ? want[static_cast<size_t>(v * frames + f - f_offset)] : sentinel;
        bad += bits(got) != bits(expected);
      }
    EXPECT_EQ(bad, 0u);
    ++checked;
  }
  EXPECT_GE(checked, 40);
}

TEST_F(NiftiReference, PipelinedDecodeGivesTheSameBytesAsSerial) {
  // The decoder thread + converting thread path (2 slots of k frames, last block split along x)
  // against nibabel and against the serial path, for k that divides the frame count and k that
  // does not, at a feature offset in a wider array, with whole and tiny gzip reads.
  const float sentinel = -4242.0f;
  int checked = 0;
  for (const json& c : cases()) {
    const std::string name = c.at("name");
    const NiftiHeader h = read_nifti_header(fixtures().path(c.at("file")));
    if (h.nb_frames() < 2 || (name.rfind("lay_", 0) != 0 && name.rfind("int16_", 0) != 0 &&
                              name.rfind("float32_", 0) != 0 && name.rfind("uint8_", 0) != 0))
      continue;
    const std::vector<float> want = load_raw<float>(fixtures().path(c.at("ref")));
    const int64_t frames = h.nb_frames(), voxels = h.voxels_per_frame(), f_total = frames + 3, f_offset = 2;
    ReadScratch serial_scratch;
    serial_scratch.threads = 1;
    std::vector<float> serial(static_cast<size_t>(voxels * f_total), sentinel);
    read_nifti_into(h, serial.data(), f_total, f_offset, serial_scratch);
    for (const int64_t k : {int64_t{1}, int64_t{2}, int64_t{3}, frames - 1}) {
      if (k < 1 || k >= frames) continue;
      for (const int64_t chunk : {int64_t{4} << 20, int64_t{61}}) {
        SCOPED_TRACE(name + ", k " + std::to_string(k) + ", chunk " + std::to_string(chunk));
        ReadScratch scratch;
        scratch.threads = 2;
        scratch.pipeline_frames = k;
        scratch.chunk_bytes = chunk;
        std::vector<float> out(static_cast<size_t>(voxels * f_total), sentinel);
        read_nifti_into(h, out.data(), f_total, f_offset, scratch);
        EXPECT_TRUE(same_bits(out, serial));
        size_t bad = 0;
        for (int64_t v = 0; v < voxels; ++v)
          for (int64_t f = 0; f < f_total; ++f) {
            const bool mine = f >= f_offset && f < f_offset + frames;
            const float expected = mine ? want[static_cast<size_t>(v * frames + f - f_offset)] : sentinel;
            bad += bits(out[static_cast<size_t>(v * f_total + f)]) != bits(expected);
          }
        EXPECT_EQ(bad, 0u);
        ++checked;
      }
    }
  }
  EXPECT_GE(checked, 40);
}

TEST_F(NiftiReference, PipelinedScratchIsTwoSlots) {
  // raw memory of the pipelined path: two slots of pipeline_frames frames, not the whole file
  const NiftiHeader big = read_nifti_header(fixtures().path("lay_big_frames.nii.gz"));
  ASSERT_GE(big.nb_frames(), 3);
  ReadScratch scratch;
  scratch.threads = 2;
  scratch.pipeline_frames = 1;
  read_all(big, scratch);
  EXPECT_EQ(scratch.frames.size(), static_cast<size_t>(2 * big.voxels_per_frame() * big.bytes_per_voxel));
}

TEST_F(NiftiReference, RefusesWhatNibabelCannotRead) {
  for (const json& r : fixtures().manifest.at("refused")) {
    const std::string path = fixtures().path(r.at("file"));
    SCOPED_TRACE(r.at("nibabel").get<std::string>());
    EXPECT_THAT([&] { read_nifti_header(path); },
                ThrowsMessage<Error>(HasSubstr("file " + dwipack::quoted(path) + ": scl_slope")));
  }
}

TEST_F(NiftiReference, ScratchBuffersOnlyGrow) {
  ReadScratch scratch;
  const NiftiHeader big = read_nifti_header(fixtures().path("lay_big_frames.nii.gz"));
  read_all(big, scratch);
  const size_t frames_size = scratch.frames.size(), compressed_size = scratch.compressed.size();
  EXPECT_GE(frames_size, static_cast<size_t>(big.data_bytes())); // 5 frames of 480 KiB: one block
  const NiftiHeader small = read_nifti_header(fixtures().path("lay_singleton.nii"));
  read_all(small, scratch);
  EXPECT_EQ(scratch.frames.size(), frames_size);
  EXPECT_EQ(scratch.compressed.size(), compressed_size);
}

// ---- Debian's own files ---------------------------------------------------------------------------

TEST(NiftiDebianFiles, MatchNibabel) {
  ASSERT_EQ(fixtures().failure, "");
  const json& entries = fixtures().manifest.at("debian");
  ASSERT_EQ(entries.size(), debian_files.size());
  ReadScratch scratch;
  for (const json& e : entries) {
    const std::string path = e.at("path");
    SCOPED_TRACE(path);
    ASSERT_TRUE(std::filesystem::exists(path)) << "missing: install python3-nibabel and python3-dipy";
    const bool readable = e.at("nibabel").is_null() && (e.at("ndim") == 3 || e.at("ndim") == 4) &&
                          e.at("datatype") != 32 && e.at("datatype") != 128;
    if (!readable) {
      EXPECT_THROW(read_nifti_header(path), Error);
      continue;
    }
    const NiftiHeader h = read_nifti_header(path);
    const auto shape = e.at("shape").get<std::vector<int64_t>>();
    EXPECT_EQ(h.shape3(), (std::array<int64_t, 3>{shape[0], shape[1], shape[2]}));
    EXPECT_EQ(h.nb_frames(), shape[3]);
    expect_affine_near(h.vox2ras, e.at("affine"));
    for (size_t i = 0; i < 3; ++i)
      EXPECT_EQ(h.voxel_sizes[i], static_cast<float>(e.at("zooms")[i].get<double>()));
    EXPECT_TRUE(same_bits(read_all(h, scratch), load_raw<float>(fixtures().path(e.at("ref")))));
  }
}

TEST(NiftiDebianFiles, AnatomicalIsBigEndianAndNifti2IsVersion2) {
  EXPECT_TRUE(read_nifti_header(nibabel_data + "anatomical.nii").byte_swapped);
  EXPECT_FALSE(read_nifti_header(nibabel_data + "functional.nii").byte_swapped);
  EXPECT_EQ(read_nifti_header(nibabel_data + "example_nifti2.nii.gz").version, 2);
  EXPECT_EQ(read_nifti_header(nibabel_data + "example4d.nii.gz").vox_offset, 416);
}

// ---- refusals -------------------------------------------------------------------------------------

/// Where a refusal must happen: in read_nifti_header, in read_nifti_into, or either (a corrupt
/// small .gz can already fail nifticlib's zlib, which reaches the end of the stream).
enum class Phase { header, data, either };

struct ErrorRow {
  const char* file;
  Phase phase;
  const char* message;
};

const ErrorRow error_rows[] = {
    {"err_2d.nii", Phase::header, "dim[0] is 2, expected 3 or 4 (a 2-D image cannot be a volume group)"},
    {"err_5d.nii.gz", Phase::header, "dim[0] is 5, expected 3 or 4 (5-D images are not supported)"},
    {"err_dim_zero.nii", Phase::header, "dim[2] is 0, expected >= 1"},
    {"err_complex64.nii", Phase::header, "datatype complex64 (code 32) is not supported"},
    {"err_rgb24.nii", Phase::header, "datatype rgb24 (code 128) is not supported"},
    {"err_float128.nii", Phase::header, "datatype float128 (code 1536) is not supported"},
    {"err_binary.nii", Phase::header, "datatype binary (code 1) is not supported"},
    {"err_vox_offset_100.nii", Phase::header,
     "vox_offset is 100, inside the header (a single-file NIfTI-1 needs vox_offset >= 352)"},
    {"err_vox_offset_0.nii", Phase::header, "vox_offset is 0, inside the header"},
    {"err_v2_vox_offset_540.nii", Phase::header,
     "vox_offset is 540, inside the header (a single-file NIfTI-2 needs vox_offset >= 544)"},
    {"err_truncated.nii", Phase::header, "truncated: 240 bytes of voxel data expected, 230 present"},
    {"err_header_only.nii", Phase::header, "truncated: 240 bytes of voxel data expected, 0 present"},
    {"err_truncated.nii.gz", Phase::either, "truncated: expected 9600 bytes of voxel data, got "},
    {"err_no_trailer.nii.gz", Phase::either,
     "truncated: the gzip stream ends before its end-of-stream marker and CRC32"},
    {"err_crc.nii.gz", Phase::either, "corrupt gzip stream: CRC32 or length check failed"},
    {"err_isize.nii.gz", Phase::either, "corrupt gzip stream: CRC32 or length check failed"},
    {"err_data_flip.nii.gz", Phase::either, "corrupt gzip stream: CRC32 or length check failed"},
    {"err_crc_big.nii.gz", Phase::data, "corrupt gzip stream: CRC32 or length check failed (member 1)"},
    {"err_truncated_big.nii.gz", Phase::data, "truncated: expected 1048576 bytes of voxel data, got "},
    {"err_garbage_member.nii.gz", Phase::either, "corrupt gzip stream: invalid gzip header"},
    {"err_gzip_text.nii.gz", Phase::header,
     "not a gzipped NIfTI: the decompressed data has no NIfTI-1 or NIfTI-2 header"},
    {"err_not_gzip.nii.gz", Phase::header, "named .gz but not gzip-compressed"},
    {"err_gzip_named_nii.nii", Phase::header, "gzip-compressed but named .nii (expected '.nii.gz')"},
    {"err_text.nii", Phase::header,
     "not a NIfTI file: it has no NIfTI-1 or NIfTI-2 header (sizeof_hdr is 1819043176, expected 348 or 540)"},
    {"err_empty.nii", Phase::header, "not a NIfTI file: it is too short for a NIfTI header (0 bytes)"},
    {"err_pair_magic.nii", Phase::header, "NIfTI-1 header/image pair (magic 'ni1')"},
    {"err_v2_pair_magic.nii", Phase::header, "NIfTI-2 header/image pair (magic 'ni2')"},
    {"err_bad_magic.nii", Phase::header, "bad NIfTI-1 magic 'xyz' (expected 'n+1')"},
    {"err_v2_eol.nii", Phase::header, "NIfTI-2 end-of-line check bytes are wrong"},
    {"err_bad_intercept.nii", Phase::header,
     "scl_slope is 2 but scl_inter is inf (nibabel: valid slope but invalid intercept)"},
    {"err_quaternion.nii", Phase::header,
     "qform quaternion (b, c, d) = (0.899999976, 0.899999976, 0.100000001) has b²+c²+d² > 1 "
     "(nibabel: w2 should be positive, but is -0.6299999"},
    {"err_tar.tar.gz", Phase::header, "a gzipped volume must be named '*.nii.gz'"},
};

TEST(NiftiErrors, EveryRefusalNamesTheFileAndTheFact) {
  ASSERT_EQ(fixtures().failure, "");
  // every generated error fixture has a row, and every row a fixture
  std::vector<std::string> generated;
  for (const json& e : fixtures().manifest.at("errors"))
    generated.push_back(e.at("file"));
  std::vector<std::string> tabled;
  for (const ErrorRow& r : error_rows)
    tabled.push_back(r.file);
  EXPECT_THAT(tabled, testing::UnorderedElementsAreArray(generated));

  for (const ErrorRow& r : error_rows) {
    const std::string path = fixtures().path(r.file);
    SCOPED_TRACE(r.file);
    const std::string expected = "file " + dwipack::quoted(path) + ": " + r.message;
    if (r.phase == Phase::header) {
      EXPECT_THAT([&] { read_nifti_header(path); }, ThrowsMessage<Error>(HasSubstr(expected)));
      continue;
    }
    if (r.phase == Phase::data) {
      EXPECT_NO_THROW(read_nifti_header(path));
    }
    for (const int64_t chunk : {int64_t{4} << 20, int64_t{5}}) // whole file in one read, and in pieces
      for (const int threads : {1, 2}) {                       // serial; decoder thread, 1-frame slots
        SCOPED_TRACE("chunk " + std::to_string(chunk) + ", threads " + std::to_string(threads));
        auto read_everything = [&] {
          const NiftiHeader h = read_nifti_header(path);
          ReadScratch scratch;
          scratch.chunk_bytes = chunk;
          scratch.threads = threads;
          scratch.pipeline_frames = 1;
          std::vector<float> out(static_cast<size_t>(h.voxels_per_frame() * h.nb_frames()));
          read_nifti_into(h, out.data(), h.nb_frames(), 0, scratch);
        };
        EXPECT_THAT(read_everything, ThrowsMessage<Error>(HasSubstr(expected)));
      }
  }
}

TEST(NiftiErrors, MissingFileWrongExtensionAndDirectory) {
  TempDir dir;
  const std::string missing = dir / "nothing.nii.gz";
  EXPECT_THAT(
      [&] { read_nifti_header(missing); },
      ThrowsMessage<Error>(HasSubstr("file '" + missing + "': cannot open: No such file or directory")));
  EXPECT_THAT(
      [&] { read_nifti_header(nibabel_data + "test.mgz"); },
      ThrowsMessage<Error>(HasSubstr("file '" + nibabel_data +
                                     "test.mgz': extension '.mgz' is not supported (accepted: '.nii', "
                                     "'.nii.gz')")));
  EXPECT_THAT([&] { read_nifti_header(nibabel_data + "analyze.hdr"); },
              ThrowsMessage<Error>(HasSubstr("extension '.hdr' is not supported")));
  EXPECT_THAT([&] { read_nifti_header(dir / "x.img"); }, ThrowsMessage<Error>(HasSubstr("extension '.img'")));
  EXPECT_THAT([&] { read_nifti_header(dir / "x.NII"); }, ThrowsMessage<Error>(HasSubstr("extension '.NII'")));
  EXPECT_THAT([&] { read_nifti_header(dir / "noext"); }, ThrowsMessage<Error>(HasSubstr("extension ''")));
  std::filesystem::create_directory(dir / "folder.nii");
  EXPECT_THAT([&] { read_nifti_header(dir / "folder.nii"); },
              ThrowsMessage<Error>(HasSubstr("is a directory, not a NIfTI file")));
}

TEST(NiftiErrors, ErrorFramesPutTheFileFirst) {
  const std::string path = nibabel_data + "test.mgz";
  try {
    read_nifti_header(path);
    FAIL() << "no error";
  } catch (const Error& e) {
    ASSERT_EQ(e.frames().size(), 2u);
    EXPECT_EQ(e.frames()[0], "file " + dwipack::quoted(path));
  }
}

// ---- nifticlib's sibling-file pitfall -------------------------------------------------------------

TEST(NiftiSiblings, ReadsExactlyTheFileAskedFor) {
  ASSERT_EQ(fixtures().failure, "");
  TempDir dir;
  // x.nii and x.nii.gz with different content: each must be read from itself
  std::filesystem::copy_file(fixtures().path("lay_int16_v1_le_3d.nii"), dir / "x.nii");
  std::filesystem::copy_file(fixtures().path("lay_float32_v1_le_4d_gz.nii.gz"), dir / "x.nii.gz");
  ReadScratch scratch;
  const NiftiHeader plain = read_nifti_header(dir / "x.nii");
  const NiftiHeader gz = read_nifti_header(dir / "x.nii.gz");
  EXPECT_EQ(plain.datatype, 4);
  EXPECT_EQ(gz.datatype, 16);
  EXPECT_TRUE(
      same_bits(read_all(plain, scratch), load_raw<float>(fixtures().path("lay_int16_v1_le_3d.f32"))));
  EXPECT_TRUE(
      same_bits(read_all(gz, scratch), load_raw<float>(fixtures().path("lay_float32_v1_le_4d_gz.f32"))));
  // y.nii missing, y.nii.gz present: nifticlib alone would silently read y.nii.gz
  std::filesystem::copy_file(fixtures().path("lay_float32_v1_le_4d_gz.nii.gz"), dir / "y.nii.gz");
  EXPECT_THAT([&] { read_nifti_header(dir / "y.nii"); },
              ThrowsMessage<Error>(HasSubstr("cannot open: No such file or directory")));
}

} // namespace
