// io::read_npy_positive checked against numpy: tests/python/writer_check.py writes .npy files in
// every dtype (bool, i1-i8, u1-u8, f2/f4/f8, both byte orders), C and Fortran order, format
// versions 1.0/2.0/3.0 and 0-d to 3-d shapes, with np.load(file) > 0 as the reference; plus
// malformed and unsupported files, each refused with the file named. io::write_npy_f64 and
// io::write_npy_bool are read back by numpy.
#include "dwipack/error.hpp"
#include "dwipack/io/npy.hpp"
#include "support/temp_dir.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <cstring>
#include <limits>
#include <map>
#include <string>
#include <vector>

using dwipack::Error;
using dwipack::io::read_npy_positive;
using dwipack::io::write_npy_bool;
using dwipack::io::write_npy_f64;
using dwipack::test::read_file;
using dwipack::test::run_command;
using dwipack::test::shell_quote;
using dwipack::test::TempDir;
using dwipack::test::write_file;
using json = nlohmann::json;
using testing::HasSubstr;

namespace {

std::string helper() {
  return std::string(DWIPACK_PYTHON) + " " +
         shell_quote(std::string(DWIPACK_TEST_PY_DIR) + "/writer_check.py");
}

/// Fixtures written once per test process by numpy.
struct NpyFixtures {
  TempDir dir;
  json manifest;
  std::string failure;

  NpyFixtures() {
    const std::string log = dir / "generator.log";
    const int rc = run_command(helper() + " npy_fixtures " + shell_quote(dir.path()) + " > " +
                               shell_quote(log) + " 2>&1");
    if (rc != 0) {
      failure = "writer_check.py npy_fixtures failed (exit " + std::to_string(rc) + "):\n" + read_file(log);
      return;
    }
    manifest = json::parse(read_file(dir / "manifest.json"));
  }
};

const NpyFixtures& fixtures() {
  static NpyFixtures f;
  return f;
}

/// The message of the Error thrown by read_npy_positive, or "" if it did not throw.
std::string read_error(const std::string& path) {
  try {
    read_npy_positive(path);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

json numpy_load(const TempDir& dir, const std::string& path) {
  const std::string out = dir / "numpy_load.json";
  const std::string log = dir / "numpy_load.log";
  const int rc = run_command(helper() + " npy_load " + shell_quote(path) + " " + shell_quote(out) + " > " +
                             shell_quote(log) + " 2>&1");
  if (rc != 0) throw std::runtime_error("npy_load failed: " + read_file(log));
  return json::parse(read_file(out));
}

TEST(Npy, ReadsEveryDtypeOrderAndVersionAsNumpyDoes) {
  const auto& fx = fixtures();
  ASSERT_EQ(fx.failure, "");
  const json& cases = fx.manifest["cases"];
  ASSERT_GE(cases.size(), 200u);
  int fortran = 0, versions[4] = {0, 0, 0, 0};
  for (const json& c : cases) {
    const std::string file = c["file"];
    SCOPED_TRACE(file);
    dwipack::io::NpyBoolArray a;
    ASSERT_NO_THROW(a = read_npy_positive(fx.dir / file));
    EXPECT_EQ(a.shape, c["shape"].get<std::vector<uint64_t>>());
    const std::vector<bool> expected = c["positive"].get<std::vector<bool>>();
    ASSERT_EQ(a.values.size(), expected.size());
    for (size_t i = 0; i < expected.size(); ++i)
      EXPECT_EQ(a.values[i], expected[i] ? 1 : 0) << "element " << i;
    fortran += c["fortran_order"].get<bool>();
    ++versions[c["version"][0].get<int>()];
  }
  // the fixture set really covers what it claims
  EXPECT_GT(fortran, 20);
  EXPECT_GT(versions[1], 0);
  EXPECT_GT(versions[2], 0);
  EXPECT_GT(versions[3], 0);
}

TEST(Npy, RefusesMalformedAndUnsupportedFilesNamingThem) {
  const auto& fx = fixtures();
  ASSERT_EQ(fx.failure, "");
  const json& errors = fx.manifest["errors"];
  ASSERT_GE(errors.size(), 20u);
  const std::map<std::string, std::string> expected_words = {
      {"complex", "complex"},       {"object", "Python objects"}, {"strings", "strings"},
      {"structured", "structured"}, {"datetime", "dates"},        {"long double", "not supported"},
      {"bad magic", "magic"},       {"version", "version"},       {"truncated", "truncated"},
      {"header", "header"}};
  for (const json& e : errors) {
    const std::string file = e["file"];
    SCOPED_TRACE(file);
    const std::string path = fx.dir / file;
    const std::string message = read_error(path);
    ASSERT_NE(message, "") << "accepted";
    EXPECT_THAT(message, HasSubstr("file '" + path + "'"));
    EXPECT_THAT(message, HasSubstr(expected_words.at(e["what"])));
  }
}

TEST(Npy, MissingFileIsAnErrorNamingIt) {
  TempDir dir;
  const std::string message = read_error(dir / "absent.npy");
  EXPECT_THAT(message, HasSubstr("file '" + (dir / "absent.npy") + "': cannot open"));
}

TEST(Npy, HandWrittenHeadersParse) {
  // Headers numpy never writes today but could have: Python 2 longs, no trailing comma, other
  // key order, double quotes; '=' byte order.
  TempDir dir;
  const auto file = [&](const std::string& name, const std::string& dict, const std::string& data) {
    std::string header = dict;
    header.append((64 - (10 + header.size() + 1) % 64) % 64, ' ');
    header += '\n';
    std::string bytes = std::string("\x93NUMPY\x01\x00", 8);
    bytes += static_cast<char>(header.size());
    bytes += '\0';
    return dir.write(name, bytes + header + data);
  };
  const std::string three_i1("\x01\x00\xff", 3);
  auto a = read_npy_positive(
      file("long.npy", "{'descr': '|i1', 'fortran_order': False, 'shape': (3L,)}", three_i1));
  EXPECT_EQ(a.shape, std::vector<uint64_t>{3});
  EXPECT_EQ(a.values, (std::vector<int8_t>{1, 0, 0}));
  a = read_npy_positive(
      file("order.npy", "{\"shape\": (1, 3), \"fortran_order\": True, \"descr\": \"=u1\"}", three_i1));
  EXPECT_EQ(a.shape, (std::vector<uint64_t>{1, 3}));
  EXPECT_EQ(a.values, (std::vector<int8_t>{1, 0, 1}));
}

TEST(Npy, WriteF64IsReadBackByNumpyBitForBit) {
  TempDir dir;
  const std::vector<std::vector<uint64_t>> shapes = {{4, 4}, {5}, {}, {2, 3, 4}, {0, 3}};
  for (const auto& shape : shapes) {
    uint64_t n = 1;
    for (const uint64_t d : shape)
      n *= d;
    std::vector<double> values(n);
    for (size_t i = 0; i < n; ++i)
      values[i] = (i % 3 == 0)
                      ? 0.0
                      : (i % 3 == 1 ? 1.0 / static_cast<double>(i + 1) : -static_cast<double>(i) * 1e-300);
    if (n > 2) values[2] = std::numeric_limits<double>::quiet_NaN();
    const std::string path = dir / ("m" + std::to_string(shape.size()) + ".npy");
    write_npy_f64(path, shape, values);

    const std::string bytes = read_file(path);
    EXPECT_EQ((bytes.size() - 8 * n) % 64, 0u) << "data aligned on 64 bytes as numpy writes it";
    const json loaded = numpy_load(dir, path);
    EXPECT_EQ(loaded["dtype"], "<f8");
    EXPECT_EQ(loaded["shape"].get<std::vector<uint64_t>>(), shape);
    ASSERT_EQ(loaded["bits"].size(), n);
    for (size_t i = 0; i < n; ++i) {
      uint64_t bits;
      std::memcpy(&bits, &values[i], 8);
      EXPECT_EQ(loaded["bits"][i].get<uint64_t>(), bits) << "element " << i << " = " << values[i];
    }
    // and our own reader: > 0
    const auto a = read_npy_positive(path);
    EXPECT_EQ(a.shape, shape);
    for (size_t i = 0; i < n; ++i)
      EXPECT_EQ(a.values[i], values[i] > 0 ? 1 : 0);
  }
}

TEST(Npy, WriteBoolIsReadBackByNumpyAsBool) {
  TempDir dir;
  const std::vector<std::vector<uint64_t>> shapes = {{4, 4}, {3, 5, 2}, {7}, {}, {0, 4}};
  for (const auto& shape : shapes) {
    uint64_t n = 1;
    for (const uint64_t d : shape)
      n *= d;
    std::vector<int8_t> values(n);
    for (size_t i = 0; i < n; ++i)
      values[i] = static_cast<int8_t>(i % 3 == 0 ? 0 : (i % 3 == 1 ? 1 : -5)); // any nonzero is true
    const std::string path = dir / ("b" + std::to_string(shape.size()) + ".npy");
    write_npy_bool(path, shape, values);

    const std::string bytes = read_file(path);
    EXPECT_EQ((bytes.size() - n) % 64, 0u) << "data aligned on 64 bytes as numpy writes it";
    const json loaded = numpy_load(dir, path);
    EXPECT_EQ(loaded["dtype"], "|b1");
    EXPECT_EQ(loaded["shape"].get<std::vector<uint64_t>>(), shape);
    ASSERT_EQ(loaded["bits"].size(), n);
    const double one = 1.0, zero = 0.0;
    uint64_t one_bits, zero_bits;
    std::memcpy(&one_bits, &one, 8);
    std::memcpy(&zero_bits, &zero, 8);
    for (size_t i = 0; i < n; ++i)
      EXPECT_EQ(loaded["bits"][i].get<uint64_t>(), values[i] != 0 ? one_bits : zero_bits) << "element " << i;
    const auto a = read_npy_positive(path); // and our own reader
    EXPECT_EQ(a.shape, shape);
    for (size_t i = 0; i < n; ++i)
      EXPECT_EQ(a.values[i], values[i] != 0 ? 1 : 0);
  }
}

TEST(Npy, WriteErrorsNameTheFile) {
  TempDir dir;
  const std::string missing = dir / "no/such/dir/m.npy";
  EXPECT_THAT(
      [&] {
        write_npy_f64(missing, {2}, {1, 2});
      },
      testing::ThrowsMessage<Error>(HasSubstr("file '" + missing + "': cannot create")));
  const std::string path = dir / "m.npy";
  EXPECT_THAT(
      [&] {
        write_npy_f64(path, {2, 2}, {1, 2, 3});
      },
      testing::ThrowsMessage<Error>(HasSubstr("file '" + path + "': shape (2, 2) holds 4 values, got 3")));
  EXPECT_THAT(
      [&] {
        write_npy_bool(path, {3}, {1, 0});
      },
      testing::ThrowsMessage<Error>(HasSubstr("file '" + path + "': shape (3,) holds 3 values, got 2")));
}

} // namespace
