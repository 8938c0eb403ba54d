// util/unique_fd and util/aligned_buffer: the one owner of file descriptors and the one aligned
// buffer, and the explicit close() of the writers built on them. Ownership is checked against the
// kernel (fcntl on the descriptor number), not against the type's own bookkeeping.
#include "dwipack/error.hpp"
#include "dwipack/h5/direct_writer.hpp"
#include "dwipack/pipeline/journal.hpp"
#include "dwipack/util/aligned_buffer.hpp"
#include "dwipack/util/unique_fd.hpp"
#include "support/temp_dir.hpp"

#include <gtest/gtest.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <fcntl.h>
#include <functional>
#include <string>
#include <type_traits>
#include <unistd.h>
#include <utility>
#include <vector>

using dwipack::AlignedBuffer;
using dwipack::Error;
using dwipack::UniqueFd;
using dwipack::test::read_file;
using dwipack::test::TempDir;
using dwipack::test::write_file;

namespace {

bool fd_is_open(int fd) {
  return ::fcntl(fd, F_GETFD) != -1;
}

std::string message_of(const std::function<void()>& body) {
  try {
    body();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

} // namespace

static_assert(!std::is_copy_constructible_v<UniqueFd> && !std::is_copy_assignable_v<UniqueFd>);
static_assert(std::is_nothrow_move_constructible_v<UniqueFd> && std::is_nothrow_move_assignable_v<UniqueFd>);
static_assert(std::is_nothrow_destructible_v<UniqueFd>);
static_assert(!std::is_copy_constructible_v<AlignedBuffer> &&
              std::is_nothrow_move_constructible_v<AlignedBuffer>);

TEST(UniqueFd, ClosesWhenDestroyedAndMovesOwnership) {
  TempDir dir;
  const std::string path = dir.write("f", "hello");
  int number = -1;
  {
    UniqueFd fd = UniqueFd::open(path, O_RDONLY);
    number = fd.get();
    EXPECT_TRUE(fd.valid());
    EXPECT_EQ(fd.path(), path);
    EXPECT_TRUE(fd_is_open(number));
    EXPECT_NE(::fcntl(number, F_GETFD) & FD_CLOEXEC, 0) << "O_CLOEXEC is added";

    UniqueFd moved(std::move(fd));
    EXPECT_FALSE(fd.valid()); // NOLINT(bugprone-use-after-move): the moved-from state is the point
    EXPECT_EQ(moved.get(), number);
    EXPECT_TRUE(fd_is_open(number));
    char text[5];
    EXPECT_EQ(::pread(moved.get(), text, 5, 0), 5);
    EXPECT_EQ(std::string(text, 5), "hello");
  }
  EXPECT_FALSE(fd_is_open(number)) << "closed with its last owner";
}

TEST(UniqueFd, MoveAssignmentClosesWhatItOwned) {
  TempDir dir;
  const std::string a = dir.write("a", "a"), b = dir.write("b", "b");
  UniqueFd first = UniqueFd::open(a, O_RDONLY);
  UniqueFd second = UniqueFd::open(b, O_RDONLY);
  const int first_number = first.get(), second_number = second.get();
  first = std::move(second);
  EXPECT_FALSE(fd_is_open(first_number));
  EXPECT_EQ(first.get(), second_number);
  EXPECT_EQ(first.path(), b);
  EXPECT_TRUE(fd_is_open(second_number));
}

TEST(UniqueFd, ExplicitCloseReportsFailuresWithThePath) {
  TempDir dir;
  const std::string path = dir.write("f", "");
  UniqueFd fd = UniqueFd::open(path, O_RDONLY);
  const int number = fd.get();
  fd.close();
  EXPECT_FALSE(fd.valid());
  EXPECT_FALSE(fd_is_open(number));
  EXPECT_NO_THROW(fd.close()) << "closing nothing is not an error";

  // A descriptor someone else already closed: close(2) fails with EBADF, and the message says
  // which file.
  UniqueFd stale = UniqueFd::open(path, O_RDONLY);
  ::close(stale.get());
  const std::string message = message_of([&] { stale.close(); });
  EXPECT_EQ(message, "closing '" + path + "': " + std::strerror(EBADF));
  EXPECT_FALSE(stale.valid()) << "released even when close(2) failed";
}

TEST(UniqueFd, OpenFailuresNameTheFileOrLeaveErrno) {
  TempDir dir;
  const std::string missing = dir / "missing";
  EXPECT_EQ(message_of([&] { UniqueFd::open(missing, O_RDONLY); }),
            "cannot open '" + missing + "': " + std::strerror(ENOENT));
  errno = 0;
  const UniqueFd none = UniqueFd::try_open(missing, O_RDONLY);
  EXPECT_FALSE(none.valid());
  EXPECT_EQ(errno, ENOENT);
}

TEST(UniqueFd, CreatesWithTheModeAndReleases) {
  TempDir dir;
  const std::string path = dir / "new";
  UniqueFd fd = UniqueFd::open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  ASSERT_EQ(::write(fd.get(), "xyz", 3), 3);
  fd.close();
  EXPECT_EQ(read_file(path), "xyz");

  UniqueFd again = UniqueFd::open(path, O_RDONLY);
  const int number = again.release();
  EXPECT_FALSE(again.valid());
  EXPECT_TRUE(fd_is_open(number)) << "release() does not close";
  ::close(number);
}

TEST(AlignedBuffer, IsAlignedAndGrowsOnly) {
  AlignedBuffer empty;
  EXPECT_EQ(empty.size(), 0u);
  EXPECT_EQ(empty.data(), nullptr);

  AlignedBuffer page(10);
  EXPECT_EQ(page.size(), 10u);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(page.data()) % AlignedBuffer::page_bytes, 0u);
  page.data()[9] = 7; // usable to the end (ASan catches an overrun)

  page.reserve(5); // smaller: nothing changes
  EXPECT_EQ(page.size(), 10u);
  EXPECT_EQ(page.data()[9], 7);
  page.reserve(3 * AlignedBuffer::page_bytes + 1);
  EXPECT_EQ(page.size(), 3 * AlignedBuffer::page_bytes + 1);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(page.data()) % AlignedBuffer::page_bytes, 0u);
  page.data()[page.size() - 1] = 1;

  AlignedBuffer wide(100, 1 << 16);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(wide.data()) % (1 << 16), 0u);
  EXPECT_EQ(wide.alignment(), size_t{1} << 16);
  wide.reserve(1000);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(wide.data()) % (1 << 16), 0u) << "the alignment survives a growth";

  EXPECT_THROW(AlignedBuffer(10, 3000), std::invalid_argument);
}

TEST(AlignedBuffer, MovesItsMemory) {
  AlignedBuffer a(64);
  unsigned char* const memory = a.data();
  AlignedBuffer b(std::move(a));
  EXPECT_EQ(b.data(), memory);
  EXPECT_EQ(b.size(), 64u);
  AlignedBuffer c;
  c = std::move(b);
  EXPECT_EQ(c.data(), memory);
}

TEST(AlignedBuffer, TakesODirectReads) {
  // The reason the type exists: the kernel accepts it for O_DIRECT at page offsets.
  TempDir dir; // under /tmp: ext4 here, which takes O_DIRECT
  std::string content(3 * AlignedBuffer::page_bytes, '\0');
  for (size_t i = 0; i < content.size(); ++i)
    content[i] = static_cast<char>(i * 7);
  const std::string path = dir.write("direct", content);
  UniqueFd fd = UniqueFd::try_open(path, O_RDONLY | O_DIRECT);
  if (!fd.valid()) GTEST_SKIP() << "O_DIRECT refused by the file system of " << path;
  AlignedBuffer buffer(2 * AlignedBuffer::page_bytes);
  const ssize_t n = ::pread(fd.get(), buffer.data(), buffer.size(), AlignedBuffer::page_bytes);
  ASSERT_EQ(n, static_cast<ssize_t>(buffer.size())) << std::strerror(errno);
  EXPECT_EQ(std::memcmp(buffer.data(), content.data() + AlignedBuffer::page_bytes, buffer.size()), 0);
}

TEST(Writers, CloseExplicitlyAndThenRefuseToWrite) {
  TempDir dir;
  const std::string journal = dir / "j";
  auto writer = dwipack::pipeline::JournalWriter::create(journal, "L");
  writer.record("sub-01", {"p", nlohmann::json::object()});
  writer.close();
  EXPECT_NE(read_file(journal).find("sub-01"), std::string::npos);
  EXPECT_NE(message_of([&] {
              writer.record("sub-02", {"p", nlohmann::json::object()});
            }).find(journal),
            std::string::npos)
      << "a write after close names the journal";

  const std::string data = dir.write("data", std::string(2 * AlignedBuffer::page_bytes, '\0'));
  auto direct = dwipack::h5::DirectWriter::open(data);
  if (!direct) GTEST_SKIP() << "O_DIRECT refused by the file system of " << data;
  const std::string rows(AlignedBuffer::page_bytes + 10, 'r');
  direct->write(rows.data(), rows.size(), 5, "rows");
  direct->close();
  EXPECT_EQ(read_file(data).substr(5, rows.size()), rows);
  EXPECT_NE(message_of([&] { direct->write(rows.data(), 1, 0, "rows"); }).find(data), std::string::npos)
      << "a write after close names the file";
}
