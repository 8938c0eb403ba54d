// synth::write_dataset's streamline part, checked with nibabel/dipy (tests/python/writer_check.py
// synth): the .trk bundles and the .tck load with dipy's load_tractogram(file, dwi/dwi.nii.gz,
// bbox_valid_check=True), the .trk headers are compatible with the DWI, every point keeps a
// voxel of margin and stays in the brain ellipsoid, whole.tck is the union of the bundles, the
// connectivity .npy and the config groups are as documented.
#include "dwipack/error.hpp"
#include "dwipack/synth/dataset.hpp"
#include "support/temp_dir.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <string>

using dwipack::Error;
using dwipack::synth::DatasetSpec;
using dwipack::synth::write_dataset;
using dwipack::test::read_file;
using dwipack::test::run_command;
using dwipack::test::shell_quote;
using dwipack::test::TempDir;
using json = nlohmann::json;
using testing::HasSubstr;
using testing::ThrowsMessage;

namespace {

DatasetSpec tiny(const TempDir& dir) {
  DatasetSpec spec;
  spec.out_dir = dir / "data";
  spec.nb_subjects = 2;
  spec.shape = {12, 14, 10};
  spec.shape_step = 3;
  spec.dwi_frames = 3;
  spec.gzip_level = 1;
  spec.streamlines = 41; // 21 + 20
  spec.mean_points = 24;
  spec.seed = 7;
  return spec;
}

json check_with_dipy(const TempDir& dir, const std::string& dataset) {
  const std::string out = dir / "synth_check.json";
  const std::string log = dir / "synth_check.log";
  const int rc = run_command(
      std::string(DWIPACK_PYTHON) + " " + shell_quote(std::string(DWIPACK_TEST_PY_DIR) + "/writer_check.py") +
      " synth " + shell_quote(dataset) + " " + shell_quote(out) + " > " + shell_quote(log) + " 2>&1");
  if (rc != 0) throw std::runtime_error("writer_check.py synth failed:\n" + read_file(log));
  return json::parse(read_file(out));
}

TEST(Synth, StreamlinesLieInsideTheirVolumesForDipy) {
  TempDir dir;
  const DatasetSpec spec = tiny(dir);
  const std::string description = write_dataset(spec);
  EXPECT_THAT(description, HasSubstr("tractography/bundle_a.trk"));
  EXPECT_THAT(description, HasSubstr("whole.tck"));
  EXPECT_THAT(description, HasSubstr("connectivity.npy"));

  const json report = check_with_dipy(dir, spec.out_dir);
  ASSERT_TRUE(report["errors"].empty()) << report["errors"].dump(2);
  ASSERT_EQ(report["subjects"].size(), 2u);
  for (const auto& [id, s] : report["subjects"].items()) {
    SCOPED_TRACE(id);
    for (const std::string name : {"bundle_a.trk", "bundle_b.trk", "whole.tck"}) {
      SCOPED_TRACE(name);
      const json& f = s[name];
      const int expected = name == "whole.tck" ? 41 : name == "bundle_a.trk" ? 21 : 20;
      EXPECT_EQ(f["count"], expected);
      if (name != "whole.tck") {
        EXPECT_EQ(f["header_compatible"], true);
        EXPECT_EQ(f["dps"], json({{"weight", {expected, 1}}, {"color", {expected, 3}}}));
        EXPECT_GT(f["weight_range"][0].get<double>(), 0.0);
        EXPECT_LE(f["weight_range"][1].get<double>(), 1.0);
        EXPECT_GE(f["color_range"][0].get<double>(), 0.0);
        EXPECT_LE(f["color_range"][1].get<double>(), 255.0);
      }
      // lengths uniform in [mean/2, 3*mean/2]; steps of at most 1 mm, never zero
      EXPECT_GE(f["min_points"].get<int>(), 12);
      EXPECT_LE(f["max_points"].get<int>(), 36);
      EXPECT_GT(f["step_range"][0].get<double>(), 0.0);
      EXPECT_LE(f["step_range"][1].get<double>(), 1.0 + 1e-4);
      // voxel corner coordinates: at least one voxel from every face of the bounding box
      for (int axis = 0; axis < 3; ++axis) {
        EXPECT_GE(f["corner_min"][axis].get<double>(), 1.0);
        EXPECT_LE(f["corner_max_minus_dims"][axis].get<double>(), -1.0);
      }
      EXPECT_LT(f["max_r2"].get<double>(), 1.0); // inside the volumes' brain ellipsoid
    }
    EXPECT_EQ(s["tck_is_union"], true);
    EXPECT_EQ(s["connectivity"]["dtype"], "<f8");
    EXPECT_EQ(s["connectivity"]["shape"], json({4, 4}));
    EXPECT_GT(s["connectivity"]["zeros"].get<int>(), 0);
    EXPECT_GT(s["connectivity"]["positive"].get<int>(), 0);
  }
  EXPECT_EQ(report["subjects"]["sub-02"]["dims"], json({15, 17, 13}));

  EXPECT_EQ(report["config_keys"], json({"input", "wm_mask", "bundles", "tracking"}));
  EXPECT_EQ(report["config"]["bundles"], json::parse(R"({"type": "streamlines",
      "files": ["tractography/bundle_*.trk"], "dps_keys": ["weight"],
      "connectivity_matrix": "tractography/connectivity.npy", "connectivity_nb_blocs": 4})"));
  EXPECT_EQ(report["config"]["tracking"],
            json::parse(R"({"type": "streamlines", "files": "tractography/whole.tck"})"));
}

TEST(Synth, SameSeedSameFiles) {
  TempDir a, b;
  write_dataset(tiny(a));
  write_dataset(tiny(b));
  for (const std::string f : {"bundle_a.trk", "bundle_b.trk", "whole.tck", "connectivity.npy"}) {
    const std::string rel = "data/dwi_ml_ready/sub-01/tractography/" + f;
    EXPECT_EQ(read_file(a / rel), read_file(b / rel)) << f;
  }
}

TEST(Synth, NoStreamlinesNoStreamlineGroups) {
  TempDir dir;
  DatasetSpec spec = tiny(dir);
  spec.streamlines = 0;
  const std::string description = write_dataset(spec);
  EXPECT_THAT(description, testing::Not(HasSubstr(".trk")));
  EXPECT_FALSE(std::filesystem::exists(spec.out_dir + "/dwi_ml_ready/sub-01/tractography"));
  const json config = json::parse(read_file(spec.out_dir + "/config.json"));
  EXPECT_EQ(config.size(), 2u);
  EXPECT_TRUE(config.contains("input"));
  EXPECT_TRUE(config.contains("wm_mask"));
}

TEST(Synth, RefusesStreamlineSettingsItCannotHonour) {
  TempDir dir;
  DatasetSpec spec = tiny(dir);
  spec.streamlines = 1;
  EXPECT_THAT([&] { write_dataset(spec); }, ThrowsMessage<Error>(HasSubstr("at least 2 (two bundles)")));
  spec.streamlines = 10;
  spec.mean_points = 1;
  EXPECT_THAT([&] { write_dataset(spec); },
              ThrowsMessage<Error>(HasSubstr("mean_points must be at least 2")));
  spec.mean_points = 10;
  spec.shape = {5, 20, 20};
  EXPECT_THAT([&] { write_dataset(spec); }, ThrowsMessage<Error>(HasSubstr("at least 6 voxels")));
}

} // namespace
