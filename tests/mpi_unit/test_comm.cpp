// mpi::Comm under 1..4 ranks: the collectives (broadcast, max, gather), point-to-point messages
// with their tags, and the non-blocking pieces the compressed copy uses (isend and its Request,
// message_waiting, receiving a message of unknown size, a duplicate communicator).
#include "mpi_test.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <set>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

using dwipack::Bytes;
using dwipack::mpi::Comm;
using dwipack::mpi::Request;
using dwipack::mpi::Tag;
using dwipack::test::world;

static_assert(!std::is_copy_constructible_v<Request> && std::is_nothrow_move_constructible_v<Request>);
static_assert(std::is_nothrow_move_assignable_v<Request> && std::is_nothrow_destructible_v<Request>);
static_assert(!std::is_copy_constructible_v<Comm>);

namespace {

/// A message's bytes that tell sender, receiver and size apart.
Bytes pattern(size_t n, int from, int to) {
  Bytes b(n);
  for (size_t i = 0; i < n; ++i)
    b[i] = static_cast<unsigned char>(i * 31 + static_cast<size_t>(from) * 7 + static_cast<size_t>(to));
  return b;
}

/// Poll (sleeping) until a message with `tag` from `source` is waiting on `comm`; false after 30 s.
bool await_message(const Comm& comm, int source, Tag tag) {
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (!comm.message_waiting(source, tag)) {
    if (std::chrono::steady_clock::now() > give_up) return false;
    dwipack::mpi::sleep_us(200);
  }
  return true;
}

} // namespace

TEST(Comm, RankAndSizeAreThoseOfTheParent) {
  int rank = -1, size = -1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  EXPECT_EQ(world().rank(), rank);
  EXPECT_EQ(world().size(), size);
  EXPECT_NE(world().get(), MPI_COMM_WORLD) << "a duplicate, never WORLD itself";
  int same = MPI_UNEQUAL;
  MPI_Comm_compare(world().get(), MPI_COMM_WORLD, &same);
  EXPECT_EQ(same, MPI_CONGRUENT);
}

TEST(Comm, TagsAreDistinct) {
  const std::set<int> values = {static_cast<int>(Tag::result), static_cast<int>(Tag::task),
                                static_cast<int>(Tag::stop), static_cast<int>(Tag::compressed_chunks),
                                static_cast<int>(Tag::compression_over)};
  EXPECT_EQ(values.size(), 5u);
}

TEST(Comm, BroadcastFromEveryRoot) {
  const Comm& comm = world();
  for (int root = 0; root < comm.size(); ++root) {
    std::string text = comm.rank() == root ? "from rank " + std::to_string(root) : "garbage to be replaced";
    comm.broadcast(text, root);
    EXPECT_EQ(text, "from rank " + std::to_string(root));
    EXPECT_EQ(comm.broadcast(comm.rank() == root ? 100 + root : -1, root), 100 + root);
  }
  std::string empty = comm.rank() == 0 ? "" : "not empty";
  comm.broadcast(empty, 0);
  EXPECT_EQ(empty, "");
  // Large (several MPI messages' worth of eager limits) and binary.
  std::string big;
  if (comm.rank() == 0)
    for (int i = 0; i < (3 << 20); ++i)
      big.push_back(static_cast<char>(i * 13));
  comm.broadcast(big, 0);
  ASSERT_EQ(big.size(), size_t{3} << 20);
  bool same = true;
  for (int i = 0; i < (3 << 20); ++i)
    same = same && big[static_cast<size_t>(i)] == static_cast<char>(i * 13);
  EXPECT_TRUE(same);
}

TEST(Comm, MaxAndGather) {
  const Comm& comm = world();
  EXPECT_EQ(comm.max(comm.rank() * 10), (comm.size() - 1) * 10);
  EXPECT_EQ(comm.max(-comm.rank()), 0);
  for (int root = 0; root < comm.size(); ++root) {
    std::vector<int64_t> values{-5};
    comm.gather_i64((int64_t{1} << 40) + comm.rank(), values, root);
    if (comm.rank() == root) {
      ASSERT_EQ(values.size(), static_cast<size_t>(comm.size()));
      for (int r = 0; r < comm.size(); ++r)
        EXPECT_EQ(values[static_cast<size_t>(r)], (int64_t{1} << 40) + r) << "in rank order";
    } else {
      EXPECT_TRUE(values.empty()) << "nothing outside the root";
    }
  }
}

TEST(Comm, GatherTexts) {
  const Comm& comm = world();
  // Texts of different lengths, an empty one among them (rank 1), in rank order on each root.
  const auto text_of = [](int rank) {
    return rank == 1 ? std::string() : "rank " + std::string(rank * 7, 'x');
  };
  for (int root = 0; root < comm.size(); ++root) {
    std::vector<std::string> texts{"stale"};
    comm.gather(text_of(comm.rank()), texts, root);
    if (comm.rank() == root) {
      ASSERT_EQ(texts.size(), static_cast<size_t>(comm.size()));
      for (int r = 0; r < comm.size(); ++r)
        EXPECT_EQ(texts[static_cast<size_t>(r)], text_of(r)) << "rank " << r;
    } else {
      EXPECT_TRUE(texts.empty()) << "nothing outside the root";
    }
  }
}

TEST(Comm, SendAndReceiveAroundARing) {
  const Comm& comm = world();
  const int next = (comm.rank() + 1) % comm.size();
  const int previous = (comm.rank() + comm.size() - 1) % comm.size();
  // Small messages: MPI_Send returns before the receive is posted (with one rank, to itself).
  comm.send("hello from " + std::to_string(comm.rank()), next, Tag::task);
  comm.send("", next, Tag::stop);
  std::string got;
  EXPECT_EQ(comm.recv(got, previous, Tag::task), previous);
  EXPECT_EQ(got, "hello from " + std::to_string(previous));
  got = "x";
  EXPECT_EQ(comm.recv_any_tag(got, previous), Tag::stop);
  EXPECT_EQ(got, "");
  comm.sleepy_barrier();
}

TEST(Comm, ReceiveFromAnySourceAndTagsInSendingOrder) {
  const Comm& comm = world();
  if (comm.rank() != 0) {
    comm.send(std::to_string(comm.rank()), 0, Tag::result);
    comm.send("task", 0, Tag::task);
    comm.send("stop", 0, Tag::stop);
  } else {
    std::set<int> senders;
    std::string text;
    for (int i = 1; i < comm.size(); ++i) {
      const int from = comm.recv(text, MPI_ANY_SOURCE, Tag::result);
      EXPECT_EQ(text, std::to_string(from));
      senders.insert(from);
    }
    EXPECT_EQ(senders.size(), static_cast<size_t>(comm.size() - 1));
    for (int w = 1; w < comm.size(); ++w) { // one sender's messages arrive in the order sent
      EXPECT_EQ(comm.recv_any_tag(text, w), Tag::task);
      EXPECT_EQ(text, "task");
      EXPECT_EQ(comm.recv_any_tag(text, w), Tag::stop);
      EXPECT_EQ(text, "stop");
    }
  }
  comm.sleepy_barrier();
}

TEST(Request, DefaultIsInactiveAndWaitsAtOnce) {
  Request r;
  EXPECT_FALSE(r.active());
  EXPECT_TRUE(r.test());
  r.wait();
  Request moved(std::move(r));
  EXPECT_FALSE(moved.active());
}

TEST(Request, NonBlockingSendOfUnknownSizeAroundARing) {
  const Comm& comm = world();
  const int next = (comm.rank() + 1) % comm.size();
  const int previous = (comm.rank() + comm.size() - 1) % comm.size();
  // 6 MB + 7: above any eager limit (the send completes only once it is received) and odd.
  const size_t n = (size_t{6} << 20) + 7;
  const Bytes sent = pattern(n, comm.rank(), next);
  Request request = comm.isend(sent.data(), sent.size(), next, Tag::compressed_chunks);
  EXPECT_TRUE(request.active());
  Request moved = std::move(request);
  EXPECT_FALSE(request.active()); // NOLINT(bugprone-use-after-move): the moved-from state is the point
  EXPECT_TRUE(moved.active());

  EXPECT_TRUE(await_message(comm, previous, Tag::compressed_chunks));
  EXPECT_FALSE(comm.message_waiting(previous, Tag::compression_over)) << "another tag";
  Bytes received(3, 0xee); // replaced, whatever its size
  EXPECT_EQ(comm.recv(received, previous, Tag::compressed_chunks), previous);
  EXPECT_EQ(received, pattern(n, previous, comm.rank()));
  EXPECT_FALSE(comm.message_waiting(previous, Tag::compressed_chunks)) << "received once";
  moved.wait();
  EXPECT_FALSE(moved.active());
  EXPECT_TRUE(moved.test());
  comm.sleepy_barrier();
}

TEST(Request, AWindowOfSendsCompletesInOrder) {
  // The compressed copy's pattern: a worker keeps up to 8 sends in flight, rank 0 takes them one
  // by one (and here, with one rank, rank 0 sends to itself).
  const Comm& comm = world();
  const int to = 0;
  std::vector<Bytes> messages;
  std::vector<Request> window(8);
  // Alone, rank 0 sends to itself before it receives: no more than the window, so that it never
  // waits for a send only its own later receive would complete.
  const int n_messages = comm.size() == 1 ? 8 : 20;
  for (int i = 0; i < n_messages; ++i)
    messages.push_back(pattern(static_cast<size_t>(1000 * i + 1), comm.rank(), i));
  if (comm.rank() != 0 || comm.size() == 1) {
    for (size_t i = 0; i < messages.size(); ++i) {
      Request& slot = window[i % window.size()];
      slot.wait(); // the slot's previous message has left
      slot = comm.isend(messages[i].data(), messages[i].size(), to, Tag::compressed_chunks);
    }
  }
  if (comm.rank() == 0) {
    Bytes got;
    for (int w = comm.size() == 1 ? 0 : 1; w < comm.size(); ++w)
      for (size_t i = 0; i < messages.size(); ++i) {
        comm.recv(got, w, Tag::compressed_chunks);
        EXPECT_EQ(got, pattern(1000 * i + 1, w, static_cast<int>(i)))
            << "from rank " << w << ", message " << i;
      }
  }
  for (auto& r : window)
    r.wait();
  comm.sleepy_barrier();
}

TEST(Request, AReleasedSendStillArrives) {
  // Destroying a request in flight never blocks; the message is still delivered (its bytes live).
  const Comm& comm = world();
  const int next = (comm.rank() + 1) % comm.size();
  const int previous = (comm.rank() + comm.size() - 1) % comm.size();
  const Bytes sent = pattern(size_t{1} << 20, comm.rank(), next);
  {
    Request request = comm.isend(sent.data(), sent.size(), next, Tag::compression_over);
    EXPECT_TRUE(request.active());
  }
  Bytes received;
  comm.recv(received, previous, Tag::compression_over);
  EXPECT_EQ(received, pattern(size_t{1} << 20, previous, comm.rank()));
  comm.sleepy_barrier(); // every rank has received: the sent bytes may go
}

TEST(Comm, ADuplicateKeepsItsMessagesToItself) {
  const Comm& comm = world();
  const Comm dup = comm.duplicate();
  EXPECT_EQ(dup.rank(), comm.rank());
  EXPECT_EQ(dup.size(), comm.size());
  EXPECT_NE(dup.get(), comm.get());
  const int next = (comm.rank() + 1) % comm.size();
  const int previous = (comm.rank() + comm.size() - 1) % comm.size();
  const std::string text = "on the duplicate";
  Request request = dup.isend(text.data(), text.size(), next, Tag::result);
  EXPECT_TRUE(await_message(dup, previous, Tag::result));
  EXPECT_FALSE(comm.message_waiting(previous, Tag::result)) << "not visible on the parent";
  std::string got;
  dup.recv(got, previous, Tag::result);
  EXPECT_EQ(got, text);
  request.wait();
  dup.sleepy_barrier();
}
