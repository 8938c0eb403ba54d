// The --resume journal (pipeline/journal) and the O_DIRECT row writer (h5/direct_writer): the
// pieces that decide what an interrupted run keeps, tested without MPI.
#include "dwipack/error.hpp"
#include "dwipack/h5/direct_writer.hpp"
#include "dwipack/pipeline/journal.hpp"
#include "support/temp_dir.hpp"

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <map>
#include <memory>
#include <random>

using dwipack::pipeline::JournalEntry;
using dwipack::pipeline::JournalWriter;
using dwipack::pipeline::read_journal;
using dwipack::test::read_file;
using dwipack::test::TempDir;
using dwipack::test::write_file;

namespace {

std::map<std::string, JournalEntry> read_ok(const std::string& path, const std::string& layout) {
  std::map<std::string, JournalEntry> entries;
  std::string why;
  EXPECT_TRUE(read_journal(path, layout, entries, why)) << why;
  return entries;
}

} // namespace

TEST(Journal, RecordsReadBackAndLaterEntriesWin) {
  TempDir dir;
  const std::string path = dir / "out.hdf5.partial.journal";
  {
    JournalWriter w = JournalWriter::create(path, "layout-1");
    w.record("sub-01", {"plan-a", {{"/sub-01/dwi/data", {123u, 400u}}}});
    w.record("sub-02", {"plan-b", {{"/sub-02/dwi/data", {7u, 8u}}}});
  }
  {
    JournalWriter w = JournalWriter::append_to(path); // a resumed run redid sub-01
    w.record("sub-01", {"plan-c", {{"/sub-01/dwi/data", {5u, 400u}}}});
  }
  const auto entries = read_ok(path, "layout-1");
  ASSERT_EQ(entries.size(), 2u);
  EXPECT_EQ(entries.at("sub-01").plan_digest, "plan-c");
  EXPECT_EQ(entries.at("sub-01").datasets["/sub-01/dwi/data"][0].get<uint32_t>(), 5u);
  EXPECT_EQ(entries.at("sub-02").plan_digest, "plan-b");
}

TEST(Journal, ATornLastLineIsNotARecord) {
  TempDir dir;
  const std::string path = dir / "j";
  {
    JournalWriter w = JournalWriter::create(path, "L");
    w.record("sub-01", {"p", nlohmann::json::object()});
  }
  // The writer died in the middle of its second line.
  write_file(path, read_file(path) + R"({"subject":"sub-02","plan":"p","datas)");
  auto entries = read_ok(path, "L");
  EXPECT_EQ(entries.size(), 1u);
  EXPECT_TRUE(entries.count("sub-01"));
  // A resumed run appends after the torn line, on a line of its own.
  {
    JournalWriter w = JournalWriter::append_to(path);
    w.record("sub-03", {"p", nlohmann::json::object()});
  }
  entries = read_ok(path, "L");
  EXPECT_EQ(entries.size(), 2u);
  EXPECT_TRUE(entries.count("sub-03"));
}

TEST(Journal, RefusedWhenMissingForeignOrMadeForAnotherLayout) {
  TempDir dir;
  std::map<std::string, JournalEntry> entries;
  std::string why;
  EXPECT_FALSE(read_journal(dir / "none", "L", entries, why));
  EXPECT_NE(why.find("no journal"), std::string::npos) << why;

  write_file(dir / "empty", "");
  EXPECT_FALSE(read_journal(dir / "empty", "L", entries, why));
  EXPECT_NE(why.find("empty"), std::string::npos) << why;

  write_file(dir / "foreign", "{\"something\": 1}\n");
  EXPECT_FALSE(read_journal(dir / "foreign", "L", entries, why));
  EXPECT_NE(why.find("no valid first line"), std::string::npos) << why;

  { JournalWriter::create(dir / "other", "layout-A"); }
  EXPECT_FALSE(read_journal(dir / "other", "layout-B", entries, why));
  EXPECT_NE(why.find("layout differs"), std::string::npos) << why;
}

TEST(Journal, DigestIsStableAndSensitive) {
  using dwipack::pipeline::digest;
  EXPECT_EQ(digest("abc"), digest("abc"));
  EXPECT_NE(digest("abc"), digest("abd"));
  EXPECT_EQ(digest("").size(), 16u);
}

TEST(DirectWriter, UnalignedRangesLandExactlyWhereAsked) {
  TempDir dir; // under /tmp: ext4 here, which takes O_DIRECT
  const std::string path = dir / "f.bin";
  std::string expected(5 * 4096 + 333, '\x11');
  write_file(path, expected);
  auto writer = dwipack::h5::DirectWriter::open(path);
  ASSERT_NE(writer, nullptr) << "O_DIRECT refused on the test folder's file system";
  std::mt19937 rng(7);
  // Head and tail partial pages, whole pages in the middle, a range inside one page, and a
  // source buffer that is not page-aligned.
  const std::pair<size_t, size_t> ranges[] = {{100, 3 * 4096 + 17}, {4096 * 4 + 5, 40}, {0, 4096}, {13, 1}};
  for (const auto& [offset, size] : ranges) {
    std::string bytes(size + 1, '\0');
    for (auto& c : bytes)
      c = static_cast<char>(rng());
    writer->write(bytes.data() + 1, size, offset, "test range");
    expected.replace(offset, size, bytes.substr(1));
  }
  writer.reset();
  EXPECT_EQ(read_file(path), expected);
}

TEST(DirectWriter, DataAtTheFilesPagePhaseIsWrittenWithoutTheBounceBuffer) {
  // The streamline blocks are laid out so that memory and file share their position within a
  // page: the whole pages then go to O_DIRECT straight from the caller's memory. Every phase
  // (page-aligned, float-aligned, odd) and a range shorter than a page land exactly.
  TempDir dir;
  const std::string path = dir / "f.bin";
  std::string expected(9 * 4096, '\x22');
  write_file(path, expected);
  auto writer = dwipack::h5::DirectWriter::open(path);
  ASSERT_NE(writer, nullptr) << "O_DIRECT refused on the test folder's file system";
  void* memory = nullptr;
  ASSERT_EQ(posix_memalign(&memory, 4096, 8 * 4096), 0);
  std::unique_ptr<unsigned char, decltype(&std::free)> page_aligned(static_cast<unsigned char*>(memory),
                                                                    &std::free);
  std::mt19937 rng(11);
  for (const size_t phase : {size_t{0}, size_t{12}, size_t{1001}, size_t{4092}}) {
    for (const size_t size : {size_t{3 * 4096 + 5}, size_t{4096 - phase}, size_t{2 * 4096}}) {
      SCOPED_TRACE("phase " + std::to_string(phase) + ", size " + std::to_string(size));
      unsigned char* data = page_aligned.get() + phase;
      for (size_t i = 0; i < size; ++i)
        data[i] = static_cast<unsigned char>(rng());
      const size_t offset = 4096 + phase; // same position within a page as `data`
      writer->write(data, size, offset, "test range");
      expected.replace(offset, size, reinterpret_cast<const char*>(data), size);
    }
  }
  writer.reset();
  EXPECT_EQ(read_file(path), expected);
}

TEST(DirectWriter, AFailedWriteNamesTheDatasetAndTheReason) {
  TempDir dir;
  const std::string path = dir / "f.bin";
  write_file(path, std::string(4096, '\0'));
  auto writer = dwipack::h5::DirectWriter::open(path);
  ASSERT_NE(writer, nullptr);
  // Beyond what a file can hold: the kernel refuses, and the message says where and why.
  try {
    writer->write("x", 1, uint64_t{1} << 62, "/sub-01/dwi/data");
    FAIL() << "no error";
  } catch (const dwipack::Error& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("/sub-01/dwi/data"), std::string::npos) << m;
    EXPECT_NE(m.find(path), std::string::npos) << m;
  }
}
