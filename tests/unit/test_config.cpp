// Config parsing and validation, Python repr() of the config (checked against real Python),
// subject lists.
#include "dwipack/config.hpp"
#include "dwipack/error.hpp"

#include "support/temp_dir.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <random>
#include <string>
#include <unistd.h>
#include <vector>

using dwipack::Config;
using dwipack::Error;
using dwipack::GroupType;
using dwipack::Standardization;
using testing::ElementsAre;
using testing::HasSubstr;
using testing::IsEmpty;
using testing::ThrowsMessage;
using Json = nlohmann::ordered_json;

using dwipack::test::TempDir;

namespace {

Config parse(const std::string& text) {
  return dwipack::parse_config(text, "cfg.json");
}

/// repr(json.load(f)) for each file, by real Python (tests/python/python_repr_check.py).
std::vector<std::string> python_reprs(const std::vector<std::string>& files) {
  std::string cmd = std::string(DWIPACK_PYTHON) + " " + DWIPACK_TEST_PY_DIR + "/python_repr_check.py";
  for (const auto& f : files)
    cmd += " '" + f + "'";
  FILE* pipe = popen(cmd.c_str(), "r");
  if (pipe == nullptr) throw std::runtime_error("popen failed");
  std::string output;
  char buf[4096];
  std::size_t n = 0;
  while ((n = fread(buf, 1, sizeof buf, pipe)) > 0)
    output.append(buf, n);
  const int status = pclose(pipe);
  if (status != 0) throw std::runtime_error("python failed: " + cmd);
  std::vector<std::string> lines;
  std::size_t start = 0;
  for (std::size_t nl; (nl = output.find('\n', start)) != std::string::npos; start = nl + 1)
    lines.push_back(output.substr(start, nl - start));
  return lines;
}

bool python_available() {
  return access(DWIPACK_PYTHON, X_OK) == 0;
}

/// Compare dwipack::python_repr with Python for each JSON text.
void expect_same_as_python(const std::vector<std::string>& texts) {
  TempDir dir;
  std::vector<std::string> files;
  for (std::size_t i = 0; i < texts.size(); ++i)
    files.push_back(dir.write("case" + std::to_string(i) + ".json", texts[i]));
  const std::vector<std::string> expected = python_reprs(files);
  ASSERT_EQ(expected.size(), texts.size());
  for (std::size_t i = 0; i < texts.size(); ++i)
    EXPECT_EQ(dwipack::python_repr(Json::parse(texts[i])), expected[i]) << "JSON: " << texts[i];
}

const char* const valid_config = R"({
  "input": {"type": "volume", "files": ["dwi/fodf.nii.gz", "anat/*.nii.gz"], "standardization": "per_file",
            "std_mask": "masks/wm.nii.gz"},
  "target": {"type": "volume", "files": "anat/t1.nii.gz", "standardization": "independent",
             "std_mask": ["m1.nii.gz", "m2.nii.gz"]},
  "streamlines": {"type": "streamlines", "files": ["tractography/*.trk"], "dps_keys": "mean_color_dps",
                  "connectivity_matrix": "conn.npy", "connectivity_nb_blocs": [2, 3, 4]},
  "bundles": {"type": "streamlines", "files": "b.tck", "dps_keys": ["a", "b"],
              "connectivity_matrix": "conn.npy", "connectivity_labels": "labels.nii.gz"}
})";

// --------------------------------------------------------------------------------------------
// Valid configs
// --------------------------------------------------------------------------------------------

TEST(ConfigParse, FillsEveryFieldInJsonOrder) {
  const Config c = parse(valid_config);
  ASSERT_EQ(c.groups.size(), 4u);

  const auto& input = c.groups[0];
  EXPECT_EQ(input.name, "input");
  EXPECT_EQ(input.type, GroupType::volume);
  EXPECT_THAT(input.files, ElementsAre("dwi/fodf.nii.gz", "anat/*.nii.gz"));
  EXPECT_EQ(input.standardization, Standardization::per_file);
  EXPECT_THAT(input.std_mask, ElementsAre("masks/wm.nii.gz")); // string -> list

  const auto& target = c.groups[1];
  EXPECT_EQ(target.name, "target");
  EXPECT_THAT(target.files, ElementsAre("anat/t1.nii.gz")); // string -> list
  EXPECT_EQ(target.standardization, Standardization::independent);
  EXPECT_THAT(target.std_mask, ElementsAre("m1.nii.gz", "m2.nii.gz"));

  const auto& sl = c.groups[2];
  EXPECT_EQ(sl.name, "streamlines");
  EXPECT_EQ(sl.type, GroupType::streamlines);
  EXPECT_THAT(sl.files, ElementsAre("tractography/*.trk"));
  EXPECT_THAT(sl.dps_keys, ElementsAre("mean_color_dps"));
  EXPECT_EQ(sl.connectivity_matrix, "conn.npy");
  EXPECT_THAT(sl.connectivity_nb_blocs, ElementsAre(2, 3, 4));
  EXPECT_EQ(sl.connectivity_labels, "");

  const auto& bundles = c.groups[3];
  EXPECT_THAT(bundles.dps_keys, ElementsAre("a", "b"));
  EXPECT_THAT(bundles.connectivity_nb_blocs, IsEmpty());
  EXPECT_EQ(bundles.connectivity_labels, "labels.nii.gz");
}

TEST(ConfigParse, KeepsGroupOrderNotAlphabetical) {
  const Config c = parse(R"({"zeta": {"type": "volume", "files": "z", "standardization": "none"},
                             "alpha": {"type": "volume", "files": "a", "standardization": "all"},
                             "mid": {"type": "streamlines", "files": "m.trk"}})");
  ASSERT_EQ(c.groups.size(), 3u);
  EXPECT_EQ(c.groups[0].name, "zeta");
  EXPECT_EQ(c.groups[1].name, "alpha");
  EXPECT_EQ(c.groups[2].name, "mid");
  EXPECT_EQ(c.groups[1].standardization, Standardization::all);
  EXPECT_EQ(c.python_repr, "{'zeta': {'type': 'volume', 'files': 'z', 'standardization': 'none'}, "
                           "'alpha': {'type': 'volume', 'files': 'a', 'standardization': 'all'}, "
                           "'mid': {'type': 'streamlines', 'files': 'm.trk'}}");
  EXPECT_EQ(c.canonical_json, R"({"zeta":{"type":"volume","files":"z","standardization":"none"},)"
                              R"("alpha":{"type":"volume","files":"a","standardization":"all"},)"
                              R"("mid":{"type":"streamlines","files":"m.trk"}})");
}

TEST(ConfigParse, StreamlineDefaults) {
  const Config c = parse(R"({"t": {"type": "streamlines", "files": "t.trk"}})");
  ASSERT_EQ(c.groups.size(), 1u);
  EXPECT_THAT(c.groups[0].dps_keys, IsEmpty());
  EXPECT_EQ(c.groups[0].connectivity_matrix, "");
  EXPECT_THAT(c.groups[0].connectivity_nb_blocs, IsEmpty());
  EXPECT_EQ(c.groups[0].connectivity_labels, "");
}

TEST(ConfigParse, NbBlocsNormalisation) {
  struct Row {
    const char* json;
    std::vector<int64_t> expected;
  };
  const Row rows[] = {
      {"4", {4, 4, 4}}, {"[5]", {5, 5, 5}}, {"[1, 2, 3]", {1, 2, 3}}, {"[7, 7, 7]", {7, 7, 7}}};
  for (const Row& row : rows) {
    const Config c = parse(std::string(R"({"t": {"type": "streamlines", "files": "t.trk",)") +
                           R"("connectivity_matrix": "m.npy", "connectivity_nb_blocs": )" + row.json + "}}");
    EXPECT_EQ(c.groups[0].connectivity_nb_blocs, row.expected) << row.json;
  }
}

TEST(ConfigParse, CanonicalJsonReparsesToTheSameConfig) {
  const Config a = parse(valid_config);
  const Config b = parse(a.canonical_json);
  EXPECT_EQ(b.canonical_json, a.canonical_json);
  EXPECT_EQ(b.python_repr, a.python_repr);
  ASSERT_EQ(b.groups.size(), a.groups.size());
  for (std::size_t i = 0; i < a.groups.size(); ++i)
    EXPECT_EQ(b.groups[i].name, a.groups[i].name);
}

TEST(ConfigParse, PythonReprIsOfTheRawJson) {
  // groups_config records the config as written: std_mask is kept even though it is ignored.
  testing::internal::CaptureStderr(); // the ignored and unknown keys warn
  const Config c = parse(R"({"dwi": {"type": "volume", "files": ["a.nii.gz"], "standardization": "none",
                                     "std_mask": "m.nii.gz", "step": 0.01, "n": 1, "f": 1.0, "ok": true}})");
  EXPECT_EQ(c.python_repr, "{'dwi': {'type': 'volume', 'files': ['a.nii.gz'], 'standardization': 'none', "
                           "'std_mask': 'm.nii.gz', 'step': 0.01, 'n': 1, 'f': 1.0, 'ok': True}}");
  testing::internal::GetCapturedStderr();
}

TEST(ConfigWarnings, IgnoredAndUnknownKeysAreReportedNotFatal) {
  struct Row {
    const char* json;
    const char* warning;
  };
  const Row rows[] = {
      {R"({"dwi": {"type": "volume", "files": "a", "standardization": "none", "std_mask": "m.nii.gz"}})",
       "config 'cfg.json': /dwi/std_mask: ignored: group 'dwi' has standardization 'none'"},
      {R"({"dwi": {"type": "volume", "files": "a", "standardization": "all", "standardisation": "x"}})",
       "config 'cfg.json': /dwi/standardisation: unknown key 'standardisation' in group 'dwi' (did you mean "
       "'standardization'?), ignored"},
      {R"({"input": {"type": "volume", "files": "a", "standardization": "all", "std_masks": "m"}})",
       "config 'cfg.json': /input/std_masks: unknown key 'std_masks' in group 'input' (did you mean "
       "'std_mask'?), ignored"},
      {R"({"t": {"type": "streamlines", "files": "a", "dps_key": "w"}})",
       "/t/dps_key: unknown key 'dps_key' in group 't' (did you mean 'dps_keys'?), ignored"},
      {R"({"dwi": {"type": "volume", "files": "a", "standardization": "all", "comment": "x"}})",
       "config 'cfg.json': /dwi/comment: unknown key 'comment' in group 'dwi', ignored"},
      {R"({"t": {"type": "streamlines", "files": "a", "connectivity_nb_blocs": 3}})",
       "config 'cfg.json': /t/connectivity_nb_blocs: ignored: group 't' has no 'connectivity_matrix'"},
      {R"({"t": {"type": "streamlines", "files": "a", "connectivity_labels": "l.nii.gz"}})",
       "config 'cfg.json': /t/connectivity_labels: ignored: group 't' has no 'connectivity_matrix'"},
      {R"({"t": {"type": "streamlines", "files": "a", "standardization": "all"}})",
       "/t/standardization: ignored: key 'standardization' does not apply to streamlines group 't'"},
      {R"({"v": {"type": "volume", "files": "a", "standardization": "all", "dps_keys": "k"}})",
       "/v/dps_keys: ignored: key 'dps_keys' does not apply to volume group 'v'"},
      {R"({"v": {"type": "volume", "files": "a", "standardization": "all"},
           "v": {"type": "volume", "files": "b", "standardization": "none"}})",
       "config 'cfg.json': /v: key 'v' is given twice in the same object; the last value is used"},
  };
  for (const Row& row : rows) {
    testing::internal::CaptureStderr();
    Config c;
    EXPECT_NO_THROW(c = parse(row.json)) << row.json;
    EXPECT_THAT(testing::internal::GetCapturedStderr(), HasSubstr(row.warning)) << row.json;
  }
  // The ignored mask is dropped; with duplicates the last value is kept.
  testing::internal::CaptureStderr();
  EXPECT_THAT(parse(rows[0].json).groups[0].std_mask, IsEmpty());
  EXPECT_THAT(parse(std::end(rows)[-1].json).groups[0].files, ElementsAre("b"));
  testing::internal::GetCapturedStderr();
}

// --------------------------------------------------------------------------------------------
// Invalid configs: one row per error, asserting the message
// --------------------------------------------------------------------------------------------

struct ErrorRow {
  const char* name;
  std::string json;
  std::string message;
};

std::string volume_with(const std::string& extra) {
  return R"({"dwi": {"type": "volume", "files": "dwi.nii.gz", "standardization": "all")" + extra + "}}";
}
std::string tracks_with(const std::string& extra) {
  return R"({"tracks": {"type": "streamlines", "files": "t.trk")" + extra + "}}";
}

const ErrorRow error_rows[] = {
    {"bad_json", R"({"dwi": {"type": "volume",}})",
     "config 'cfg.json': invalid JSON: syntax error while parsing object key - unexpected '}'; expected "
     "string literal at line 1, column 27"},
    {"bad_json_multiline", "{\n  \"dwi\": {\n    \"type\": volume\n  }\n}",
     "config 'cfg.json': invalid JSON: syntax error while parsing value - invalid literal; last read: "
     "'\"type\": v' at line 3, column 13"},
    {"empty_text", "",
     "config 'cfg.json': invalid JSON: syntax error while parsing value - unexpected end of input"},
    {"trailing_garbage", R"({"a": {}} x)",
     "config 'cfg.json': invalid JSON: syntax error while parsing value"},
    {"comment", "// c\n{}", "config 'cfg.json': invalid JSON: syntax error"},
    {"top_level_array", "[1, 2]",
     "config 'cfg.json': the top level must be an object of groups, got array [1,2]"},
    {"top_level_string", R"("dwi")",
     "config 'cfg.json': the top level must be an object of groups, got string"},
    {"empty_config", "{}", "config 'cfg.json': the top level object is empty: no groups are configured"},
    {"group_not_object", R"({"dwi": "dwi.nii.gz"})",
     R"(config 'cfg.json': /dwi: a group must be an object, got string "dwi.nii.gz")"},
    {"group_null", R"({"dwi": null})", "config 'cfg.json': /dwi: a group must be an object, got null"},
    {"group_name_slash", R"({"a/b": {"type": "volume", "files": "x", "standardization": "all"}})",
     "config 'cfg.json': /a~1b: group name 'a/b' must not contain '/' (it separates HDF5 paths)"},
    {"group_name_dot", R"({".hidden": {"type": "volume", "files": "x", "standardization": "all"}})",
     "config 'cfg.json': /.hidden: group name '.hidden' must not start with '.'"},
    {"group_name_empty", R"({"": {"type": "volume", "files": "x", "standardization": "all"}})",
     "config 'cfg.json': /: a group name must not be empty"},
    {"missing_type", R"({"dwi": {"files": "x", "standardization": "all"}})",
     "config 'cfg.json': /dwi: missing required key 'type'"},
    {"type_not_string", R"({"dwi": {"type": 1, "files": "x"}})",
     "config 'cfg.json': /dwi/type: expected a string, got number 1"},
    {"unknown_type", R"({"dwi": {"type": "surface", "files": "x"}})",
     "config 'cfg.json': /dwi/type: 'surface' is not one of volume, streamlines"},
    {"missing_files", R"({"dwi": {"type": "volume", "standardization": "all"}})",
     "config 'cfg.json': /dwi: missing required key 'files'"},
    {"files_empty_list", R"({"dwi": {"type": "volume", "files": [], "standardization": "all"}})",
     "config 'cfg.json': /dwi/files: the list is empty"},
    {"files_empty_string", R"({"dwi": {"type": "volume", "files": "", "standardization": "all"}})",
     "config 'cfg.json': /dwi/files: the string is empty"},
    {"files_number", R"({"dwi": {"type": "volume", "files": 3, "standardization": "all"}})",
     "config 'cfg.json': /dwi/files: expected a string or a list of strings, got number 3"},
    {"files_object", R"({"dwi": {"type": "volume", "files": {"a": 1}, "standardization": "all"}})",
     R"(config 'cfg.json': /dwi/files: expected a string or a list of strings, got object {"a":1})"},
    {"files_item_number", R"({"dwi": {"type": "volume", "files": ["a", 2], "standardization": "all"}})",
     "config 'cfg.json': /dwi/files/1: expected a string, got number 2"},
    {"files_item_empty", R"({"dwi": {"type": "volume", "files": ["a", ""], "standardization": "all"}})",
     "config 'cfg.json': /dwi/files/1: the string is empty"},
    {"missing_standardization", R"({"dwi": {"type": "volume", "files": "x"}})",
     "config 'cfg.json': /dwi: missing required key 'standardization'"},
    {"misspelt_standardization", R"({"dwi": {"type": "volume", "files": "x", "standardisation": "all"}})",
     "config 'cfg.json': /dwi: missing required key 'standardization'; found 'standardisation'"},
    {"misspelt_files", R"({"dwi": {"type": "volume", "file": "x", "standardization": "all"}})",
     "config 'cfg.json': /dwi: missing required key 'files'; found 'file'"},
    {"misspelt_type_case", R"({"dwi": {"Type": "volume", "files": "x", "standardization": "all"}})",
     "config 'cfg.json': /dwi: missing required key 'type'; found 'Type'"},
    {"bad_standardization", R"({"dwi": {"type": "volume", "files": "x", "standardization": "zscore"}})",
     "config 'cfg.json': /dwi/standardization: 'zscore' is not one of all, independent, per_file, none"},
    {"standardization_case", R"({"dwi": {"type": "volume", "files": "x", "standardization": "None"}})",
     "config 'cfg.json': /dwi/standardization: 'None' is not one of all, independent, per_file, none"},
    {"standardization_bool", R"({"dwi": {"type": "volume", "files": "x", "standardization": false}})",
     "config 'cfg.json': /dwi/standardization: expected a string, got boolean false"},
    {"std_mask_number", volume_with(R"(, "std_mask": 1)"),
     "config 'cfg.json': /dwi/std_mask: expected a string or a list of strings, got number 1"},
    {"std_mask_item", volume_with(R"(, "std_mask": ["m", null])"),
     "config 'cfg.json': /dwi/std_mask/1: expected a string, got null"},
    {"conn_without_blocs_or_labels", tracks_with(R"(, "connectivity_matrix": "c.npy")"),
     "config 'cfg.json': /tracks: 'connectivity_matrix' needs exactly one of 'connectivity_nb_blocs' or "
     "'connectivity_labels', got neither"},
    {"conn_with_both",
     tracks_with(
         R"(, "connectivity_matrix": "c.npy", "connectivity_nb_blocs": 3, "connectivity_labels": "l")"),
     "config 'cfg.json': /tracks: 'connectivity_matrix' needs exactly one of 'connectivity_nb_blocs' or "
     "'connectivity_labels', got both"},
    {"conn_matrix_not_string",
     tracks_with(R"(, "connectivity_matrix": ["c.npy"], "connectivity_nb_blocs": 3)"),
     R"(config 'cfg.json': /tracks/connectivity_matrix: expected a string, got array ["c.npy"])"},
    {"conn_labels_not_string", tracks_with(R"(, "connectivity_matrix": "c.npy", "connectivity_labels": 5)"),
     "config 'cfg.json': /tracks/connectivity_labels: expected a string, got number 5"},
    {"nb_blocs_zero", tracks_with(R"(, "connectivity_matrix": "c.npy", "connectivity_nb_blocs": 0)"),
     "config 'cfg.json': /tracks/connectivity_nb_blocs: expected a positive integer or a list of 1 or 3 "
     "positive integers, got number 0"},
    {"nb_blocs_two", tracks_with(R"(, "connectivity_matrix": "c.npy", "connectivity_nb_blocs": [1, 2])"),
     "/tracks/connectivity_nb_blocs: expected a positive integer or a list of 1 or 3 positive integers, got "
     "array [1,2]"},
    {"nb_blocs_string", tracks_with(R"(, "connectivity_matrix": "c.npy", "connectivity_nb_blocs": "x")"),
     R"(/tracks/connectivity_nb_blocs: expected a positive integer or a list of 1 or 3 positive integers, got string "x")"},
    {"nb_blocs_negative", tracks_with(R"(, "connectivity_matrix": "c.npy", "connectivity_nb_blocs": -3)"),
     "/tracks/connectivity_nb_blocs: expected a positive integer or a list of 1 or 3 positive integers, got "
     "number -3"},
    {"nb_blocs_float", tracks_with(R"(, "connectivity_matrix": "c.npy", "connectivity_nb_blocs": 2.0)"),
     "/tracks/connectivity_nb_blocs: expected a positive integer or a list of 1 or 3 positive integers, got "
     "number 2.0"},
    {"nb_blocs_zero_in_list",
     tracks_with(R"(, "connectivity_matrix": "c.npy", "connectivity_nb_blocs": [1, 0, 2])"),
     "got array [1,0,2]"},
    {"nb_blocs_four",
     tracks_with(R"(, "connectivity_matrix": "c.npy", "connectivity_nb_blocs": [1, 2, 3, 4])"),
     "got array [1,2,3,4]"},
    {"nb_blocs_huge",
     tracks_with(R"(, "connectivity_matrix": "c.npy", "connectivity_nb_blocs": 18446744073709551615)"),
     "got number 18446744073709551615"},
    {"dps_keys_number", tracks_with(R"(, "dps_keys": 5)"),
     "config 'cfg.json': /tracks/dps_keys: expected a string or a list of strings, got number 5"},
    {"dps_keys_nested", tracks_with(R"(, "dps_keys": [["a"]])"),
     R"(config 'cfg.json': /tracks/dps_keys/0: expected a string, got array ["a"])"},
    {"integer_too_big", volume_with(R"(, "note": [1, {"n": 123456789012345678901234567890}])"),
     "config 'cfg.json': /dwi/note/1/n: integer 123456789012345678901234567890 does not fit in 64 bits"},
    {"float_overflow", volume_with(R"(, "x": 1e400)"),
     "config 'cfg.json': /dwi/x: number 1e400 is out of the range of a 64-bit float"},
};

class ConfigErrors : public testing::TestWithParam<ErrorRow> {};

TEST_P(ConfigErrors, MessageNamesFileAndLocation) {
  const ErrorRow& row = GetParam();
  testing::internal::CaptureStderr(); // some rows also warn
  EXPECT_THAT([&] { parse(row.json); }, ThrowsMessage<Error>(HasSubstr(row.message))) << row.json;
  testing::internal::GetCapturedStderr();
}

INSTANTIATE_TEST_SUITE_P(ConfigTable,
                         ConfigErrors,
                         testing::ValuesIn(error_rows),
                         [](const testing::TestParamInfo<ErrorRow>& row) {
                           return std::string(row.param.name);
                         });

TEST(ConfigErrorsFrames, OuterFrameIsTheFileThenThePointer) {
  try {
    parse(R"({"dwi": {"type": "volume", "files": "x", "standardization": "zscore"}})");
    FAIL() << "no throw";
  } catch (const Error& e) {
    EXPECT_THAT(e.frames(), ElementsAre("config 'cfg.json'", "/dwi/standardization",
                                        "'zscore' is not one of all, independent, per_file, none"));
  }
}

TEST(ConfigEnums, ToString) {
  EXPECT_STREQ(dwipack::to_string(GroupType::volume), "volume");
  EXPECT_STREQ(dwipack::to_string(GroupType::streamlines), "streamlines");
  EXPECT_STREQ(dwipack::to_string(Standardization::all), "all");
  EXPECT_STREQ(dwipack::to_string(Standardization::independent), "independent");
  EXPECT_STREQ(dwipack::to_string(Standardization::per_file), "per_file");
  EXPECT_STREQ(dwipack::to_string(Standardization::none), "none");
}

// --------------------------------------------------------------------------------------------
// load_config
// --------------------------------------------------------------------------------------------

TEST(ConfigLoad, ReadsTheFixture) {
  const std::string path = std::string(DWIPACK_TEST_DATA_DIR) + "/configs/valid.json";
  const Config c = dwipack::load_config(path);
  ASSERT_EQ(c.groups.size(), 3u);
  EXPECT_EQ(c.groups[0].name, "input");
  EXPECT_EQ(c.groups[1].name, "target");
  EXPECT_EQ(c.groups[2].name, "streamlines");
  EXPECT_THAT(c.groups[2].connectivity_nb_blocs, ElementsAre(4, 4, 4));
}

TEST(ConfigLoad, ErrorsNameTheFile) {
  TempDir dir;
  const std::string missing = dir.path() + "/nope.json";
  EXPECT_THAT(
      [&] { dwipack::load_config(missing); },
      ThrowsMessage<Error>(HasSubstr("config '" + missing + "': cannot open: No such file or directory")));
  EXPECT_THAT([&] { dwipack::load_config(dir.path()); },
              ThrowsMessage<Error>(HasSubstr("config '" + dir.path() + "': cannot read: it is a directory")));
  const std::string bad = dir.write("bad.json", "{\"a\": {\"type\": \"volume\", \"files\": \"x\"}}");
  EXPECT_THAT(
      [&] { dwipack::load_config(bad); },
      ThrowsMessage<Error>(HasSubstr("config '" + bad + "': /a: missing required key 'standardization'")));
}

// --------------------------------------------------------------------------------------------
// python_repr
// --------------------------------------------------------------------------------------------

TEST(PythonRepr, Floats) {
  struct Row {
    double value;
    const char* repr;
  };
  const Row rows[] = {
      {0.01, "0.01"},
      {1e-05, "1e-05"},
      {1.0, "1.0"},
      {100.0, "100.0"},
      {1e16, "1e+16"},
      {1.5e-07, "1.5e-07"},
      {123456789012345.0, "123456789012345.0"},
      {0.0001, "0.0001"},
      {1e15, "1000000000000000.0"},
      {1234567890123456.8, "1234567890123456.8"},
      {0.0, "0.0"},
      {-0.0, "-0.0"},
      {-2.5, "-2.5"},
      {0.1 + 0.2, "0.30000000000000004"},
      {5e-324, "5e-324"},
      {1.7976931348623157e308, "1.7976931348623157e+308"},
      {1e100, "1e+100"},
      {12345.678, "12345.678"},
      {std::numeric_limits<double>::infinity(), "inf"},
      {-std::numeric_limits<double>::infinity(), "-inf"},
      {std::numeric_limits<double>::quiet_NaN(), "nan"},
  };
  for (const Row& row : rows)
    EXPECT_EQ(dwipack::python_repr(Json(row.value)), row.repr) << row.repr;
}

TEST(PythonRepr, ScalarsAndContainers) {
  EXPECT_EQ(dwipack::python_repr(Json::parse("{}")), "{}");
  EXPECT_EQ(dwipack::python_repr(Json::parse("[]")), "[]");
  EXPECT_EQ(dwipack::python_repr(Json::parse("[true, false, null, 1, -1, 1.0]")),
            "[True, False, None, 1, -1, 1.0]");
  EXPECT_EQ(dwipack::python_repr(Json::parse(R"({"b": [1, [2, {}]], "a": {"x": "y"}})")),
            "{'b': [1, [2, {}]], 'a': {'x': 'y'}}");
  EXPECT_EQ(dwipack::python_repr(Json::parse("18446744073709551615")), "18446744073709551615");
  EXPECT_EQ(dwipack::python_repr(Json::parse("-9223372036854775808")), "-9223372036854775808");
}

TEST(PythonRepr, Strings) {
  struct Row {
    const char* json;
    const char* repr;
  };
  const Row rows[] = {
      {R"("plain")", "'plain'"},
      {R"("it's")", R"("it's")"},
      {R"("say \"hi\"")", R"('say "hi"')"},
      {R"("both ' and \"")", R"('both \' and "')"},
      {R"("back\\slash")", R"('back\\slash')"},
      {R"("tab\tnl\ncr\r")", R"('tab\tnl\ncr\r')"},
      {R"("\u0000\u001f\u007f")", R"('\x00\x1f\x7f')"},
      {R"("caf\u00e9 中文 😀")", "'café 中文 😀'"},
      {R"("\u00a0\u00ad\u0085")", R"('\xa0\xad\x85')"},
      {R"("\u200b\u2028\ufeff")", R"('\u200b\u2028\ufeff')"},
      {R"("\udb40\udc01")", R"('\U000e0001')"},
  };
  for (const Row& row : rows)
    EXPECT_EQ(dwipack::python_repr(Json::parse(row.json)), row.repr) << row.json;
}

TEST(PythonRepr, MatchesRealPythonOnTrickyConfigs) {
  if (!python_available()) GTEST_SKIP() << DWIPACK_PYTHON << " not found";
  expect_same_as_python({
      valid_config,
      R"({"dwi": {"type": "volume", "files": ["a.nii.gz"], "standardization": "none"}})",
      R"({"quotes": ["it's", "say \"hi\"", "both ' and \"", "\\", "\\'", "'", "\"", ""]})",
      R"({"ctrl": "\u0000\u0001\b\f\n\r\t\u001b\u007f", "esc": "a\\nb"})",
      R"({"unicode": ["café", "中文", "😀", "\u00a0", "\u00ad", "\u0085", "\u00ff", "\u0100", "Ω"]})",
      R"({"format": ["\u200b", "\u2028", "\u2029", "\u202f", "\u2060", "\u2066", "\ufeff", "\u3000",
                     "\u0600", "\u061c", "\u06dd", "\ue000", "\uf8ff", "\udb40\udc01", "\udb80\udc00",
                     "\udbff\udffd", "\ud834\udd73", "\u1680", "\u180e"]})",
      R"({"k\u00e9y's": {"n\"ested": [[1, [2.5, [true, false, null]]], {}, []]}})",
      R"({"floats": [0.01, 1e-05, 1.0, 100.0, 1e16, 1.5e-07, 123456789012345.0, 0.0001, 0.00001,
                     1e15, 9999999999999998.0, 1e22, 1e-7, 5e-324, 1.7976931348623157e308, -0.0, 0.0,
                     2.5E+3, 1E2, 3.14159, 0.1, 0.30000000000000004, 1e-4, 12345678.9, 4.35, 2.675]})",
      R"({"ints": [0, -0, 1, -1, 9007199254740993, 9223372036854775807, -9223372036854775808,
                   9223372036854775808, 18446744073709551615]})",
      R"({"dup": 1, "other": 2, "dup": 3})",
      R"({"": {"": ""}})",
      "{\"raw\": \"caf\xc3\xa9 \xe4\xb8\xad \xf0\x9f\x98\x80\"}",
  });
}

TEST(PythonRepr, MatchesRealPythonOnRandomNumbers) {
  if (!python_available()) GTEST_SKIP() << DWIPACK_PYTHON << " not found";
  std::mt19937_64 rng(20240611);
  Json doubles = Json::array();
  // Random bit patterns cover every exponent; decimal-looking values cover the fixed/exponent switch.
  while (doubles.size() < 3000) {
    const uint64_t bits = rng();
    double d = 0;
    std::memcpy(&d, &bits, sizeof d);
    if (std::isfinite(d)) doubles.push_back(d);
  }
  std::uniform_int_distribution<int> digits(1, 17), exponent(-25, 25);
  for (int i = 0; i < 3000; ++i) {
    std::string text = std::to_string(rng() % 100000000000000000ULL).substr(0, std::size_t(digits(rng)));
    text += "e" + std::to_string(exponent(rng));
    doubles.push_back(std::stod(text));
  }
  Json ints = Json::array();
  for (int i = 0; i < 500; ++i) {
    ints.push_back(static_cast<int64_t>(rng()));
    ints.push_back(static_cast<uint64_t>(rng()));
  }
  expect_same_as_python({doubles.dump(), ints.dump()});
}

TEST(PythonRepr, MatchesRealPythonOnRandomStrings) {
  if (!python_available()) GTEST_SKIP() << DWIPACK_PYTHON << " not found";
  // Assigned code points only (Python also escapes unassigned ones; see config.cpp).
  std::vector<uint32_t> alphabet;
  for (uint32_t c = 0; c < 0x250; ++c)
    alphabet.push_back(c);
  for (uint32_t c :
       {0x600u,   0x605u,   0x61cu,   0x6ddu,   0x70fu,    0x890u,   0x8e2u,   0x1680u,  0x180eu,  0x2000u,
        0x200bu,  0x200fu,  0x2010u,  0x2027u,  0x2028u,   0x202fu,  0x2030u,  0x205eu,  0x205fu,  0x2064u,
        0x2066u,  0x206fu,  0x2070u,  0x3000u,  0x3001u,   0x4e2du,  0xe000u,  0xf8ffu,  0xf900u,  0xfeffu,
        0xfff9u,  0xfffbu,  0xfffcu,  0x110bdu, 0x110cdu,  0x13430u, 0x1d173u, 0x1f600u, 0xe0001u, 0xe0020u,
        0xe007fu, 0xe0100u, 0xf0000u, 0xffffdu, 0x100000u, 0x10fffdu})
    alphabet.push_back(c);
  std::mt19937 rng(7);
  std::uniform_int_distribution<std::size_t> pick(0, alphabet.size() - 1), length(0, 12);
  Json strings = Json::array();
  for (int i = 0; i < 2000; ++i) {
    std::string s;
    const std::size_t n = length(rng);
    for (std::size_t k = 0; k < n; ++k) {
      const uint32_t c = alphabet[pick(rng)];
      if (c < 0x80) {
        s += static_cast<char>(c);
      } else if (c < 0x800) {
        s += static_cast<char>(0xc0 | (c >> 6));
        s += static_cast<char>(0x80 | (c & 0x3f));
      } else if (c < 0x10000) {
        s += static_cast<char>(0xe0 | (c >> 12));
        s += static_cast<char>(0x80 | ((c >> 6) & 0x3f));
        s += static_cast<char>(0x80 | (c & 0x3f));
      } else {
        s += static_cast<char>(0xf0 | (c >> 18));
        s += static_cast<char>(0x80 | ((c >> 12) & 0x3f));
        s += static_cast<char>(0x80 | ((c >> 6) & 0x3f));
        s += static_cast<char>(0x80 | (c & 0x3f));
      }
    }
    strings.push_back(s);
  }
  expect_same_as_python({strings.dump()});
}

// --------------------------------------------------------------------------------------------
// Subject lists
// --------------------------------------------------------------------------------------------

TEST(SubjectList, TokensInFileOrder) {
  TempDir dir;
  struct Row {
    const char* content;
    std::vector<std::string> ids;
  };
  const Row rows[] = {
      {"sub-03\nsub-01\nsub-02\n", {"sub-03", "sub-01", "sub-02"}},
      {"sub-03 sub-01\tsub-02", {"sub-03", "sub-01", "sub-02"}},
      {"  \n\n sub-b \r\n\r\nsub-a\n\n", {"sub-b", "sub-a"}},
      {"a\vb\fc\x1c"
       "d",
       {"a", "b", "c", "d"}},
      {"only", {"only"}},
      {"", {}},
      {" \n\t\n", {}},
  };
  for (const Row& row : rows) {
    const std::string path = dir.write("list.txt", row.content);
    EXPECT_EQ(dwipack::read_subject_list(path), row.ids) << row.content;
  }
}

TEST(SubjectList, DuplicateIsAnError) {
  TempDir dir;
  const std::string path = dir.write("train.txt", "sub-01\nsub-02\nsub-01\n");
  EXPECT_THAT(
      [&] { dwipack::read_subject_list(path); },
      ThrowsMessage<Error>(HasSubstr("subject list '" + path + "': subject 'sub-01' is listed twice")));
}

TEST(SubjectList, MissingFileIsAnError) {
  TempDir dir;
  const std::string path = dir.path() + "/valid.txt";
  EXPECT_THAT(
      [&] { dwipack::read_subject_list(path); },
      ThrowsMessage<Error>(HasSubstr("subject list '" + path + "': cannot open: No such file or directory")));
}

TEST(SubjectList, UnionKeepsFirstOccurrenceInSetOrder) {
  EXPECT_THAT(dwipack::union_of_lists({"t2", "t1"}, {"v1", "t1"}, {"x", "v1", "t2", "y"}),
              ElementsAre("t2", "t1", "v1", "x", "y"));
  EXPECT_THAT(dwipack::union_of_lists({}, {}, {}), IsEmpty());
  EXPECT_THAT(dwipack::union_of_lists({}, {}, {"a"}), ElementsAre("a"));
}

// --------------------------------------------------------------------------------------------
// Spelling: the edit distance and the suggestions built on it
// --------------------------------------------------------------------------------------------

TEST(EditDistance, CountsInsertionsDeletionsSubstitutionsAndSwaps) {
  using dwipack::edit_distance;
  EXPECT_EQ(edit_distance("", ""), 0u);
  EXPECT_EQ(edit_distance("", "abc"), 3u);
  EXPECT_EQ(edit_distance("abc", ""), 3u);
  EXPECT_EQ(edit_distance("std_mask", "std_mask"), 0u);
  EXPECT_EQ(edit_distance("std_masks", "std_mask"), 1u);              // one insertion
  EXPECT_EQ(edit_distance("standardisation", "standardization"), 1u); // one substitution
  EXPECT_EQ(edit_distance("tpye", "type"), 1u);                       // one swap of neighbours
  EXPECT_EQ(edit_distance("kitten", "sitting"), 3u);
  EXPECT_EQ(edit_distance("ca", "abc"), 3u); // optimal string alignment: a swapped pair is not edited again
  EXPECT_EQ(edit_distance("files", "type"), edit_distance("type", "files"));
  // Symmetric on random words (the swaps included).
  std::mt19937 random(7);
  std::uniform_int_distribution<int> letter('a', 'd'), size(0, 8);
  for (int i = 0; i < 500; ++i) {
    std::string a(static_cast<std::size_t>(size(random)), ' '),
        b(static_cast<std::size_t>(size(random)), ' ');
    for (char& c : a)
      c = static_cast<char>(letter(random));
    for (char& c : b)
      c = static_cast<char>(letter(random));
    ASSERT_EQ(edit_distance(a, b), edit_distance(b, a)) << a << " " << b;
    ASSERT_LE(edit_distance(a, b), std::max(a.size(), b.size())) << a << " " << b;
  }
}

TEST(LikelyMeant, TheClosestCandidateWhenCloseEnough) {
  using dwipack::likely_meant;
  const std::vector<std::string> keys = {"type", "files", "standardization", "std_mask"};
  EXPECT_EQ(likely_meant("std_masks", keys), "std_mask");
  EXPECT_EQ(likely_meant("standardisation", keys), "standardization");
  EXPECT_EQ(likely_meant("Standardisation", keys), "standardization"); // case is ignored
  EXPECT_EQ(likely_meant("TYPE", keys), "type");
  EXPECT_EQ(likely_meant("tpye", keys), "type");
  EXPECT_EQ(likely_meant("file", keys), "files");
  EXPECT_EQ(likely_meant("type", keys), ""); // a candidate itself
  EXPECT_EQ(likely_meant("ty", keys), "");   // 2 edits from a 4-letter key: too far
  EXPECT_EQ(likely_meant("comment", keys), "");
  EXPECT_EQ(likely_meant("std", keys), "");
  EXPECT_EQ(likely_meant("x", {}), "");
  // A 15-letter key allows 15 / 4 = 3 edits.
  EXPECT_EQ(likely_meant("standrdizaton", keys), "standardization"); // 2 deletions
  EXPECT_EQ(likely_meant("stndrdzaton", keys), "");                  // 4 deletions
}

TEST(ConfigWarnings, EachUnknownKeyIsWarnedOncePerParse) {
  testing::internal::CaptureStderr();
  parse(R"({"input": {"type": "volume", "files": "a", "standardization": "all", "std_masks": "m"},
            "t": {"type": "streamlines", "files": "a", "dps_key": "w"}})");
  const std::string err = testing::internal::GetCapturedStderr();
  const auto count = [&](const std::string& text) {
    std::size_t n = 0;
    for (std::size_t at = err.find(text); at != std::string::npos; at = err.find(text, at + 1))
      ++n;
    return n;
  };
  EXPECT_EQ(count("unknown key 'std_masks'"), 1u) << err;
  EXPECT_EQ(count("unknown key 'dps_key'"), 1u) << err;
  EXPECT_EQ(count("WARNING"), 2u) << err;
}

} // namespace
