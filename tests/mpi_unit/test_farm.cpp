// pipeline::run_farm under 1..4 ranks: every task runs exactly once, results land at their
// task's index, on_result sees each result once (in hand-out order on one rank), a task that
// throws becomes a failed result carrying its message, and stop_on_error hands out nothing new
// after a failure.
#include "mpi_test.hpp"

#include "dwipack/error.hpp"
#include "dwipack/pipeline/farm.hpp"
#include "dwipack/util/interrupt.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <numeric>
#include <stdexcept>
#include <string>
#include <vector>

using dwipack::Error;
using dwipack::pipeline::FarmResults;
using dwipack::pipeline::run_farm;
using dwipack::pipeline::TaskResult;
using dwipack::test::world;

namespace {

/// How many times each task ran, summed over the ranks (on every rank).
std::vector<int> runs_over_ranks(std::vector<int> local) {
  std::vector<int> total(local.size(), 0);
  MPI_Allreduce(local.data(), total.data(), static_cast<int>(local.size()), MPI_INT, MPI_SUM, world().get());
  return total;
}

std::string payload_of(size_t task) {
  return "result of task " + std::to_string(task) + std::string(task % 5, '+');
}

} // namespace

TEST(Farm, EveryTaskRunsOnceAndResultsLandAtTheirIndex) {
  const auto& comm = world();
  const size_t n = 37;
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::reverse(order.begin(), order.end()); // hand-out order differs from the index order
  std::vector<int> ran(n, 0);
  std::vector<size_t> seen; // on_result's calls, rank 0
  const FarmResults results = run_farm(
      comm, n, order,
      [&](size_t task) {
        ++ran[task];
        return payload_of(task);
      },
      /*stop_on_error=*/true, [&](size_t task, const TaskResult&) { seen.push_back(task); });

  const std::vector<int> total = runs_over_ranks(ran);
  for (size_t t = 0; t < n; ++t)
    EXPECT_EQ(total[t], 1) << "task " << t;
  if (comm.rank() != 0) {
    EXPECT_TRUE(results.empty());
    EXPECT_TRUE(seen.empty());
    return;
  }
  ASSERT_EQ(results.size(), n);
  for (size_t t = 0; t < n; ++t) {
    ASSERT_TRUE(results[t].has_value()) << "task " << t;
    EXPECT_TRUE(results[t]->ok);
    EXPECT_EQ(results[t]->payload, payload_of(t));
    EXPECT_EQ(results[t]->rank >= 1, comm.size() > 1) << "rank 0 runs tasks only when alone";
  }
  std::vector<size_t> sorted = seen;
  std::sort(sorted.begin(), sorted.end());
  std::vector<size_t> all(n);
  std::iota(all.begin(), all.end(), 0);
  EXPECT_EQ(sorted, all) << "on_result once per task";
  if (comm.size() == 1) {
    EXPECT_EQ(seen, order) << "one rank: results in hand-out order";
  }
}

TEST(Farm, ATaskThatThrowsFailsAloneWithoutStopOnError) {
  const auto& comm = world();
  const size_t n = 12;
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::vector<int> ran(n, 0);
  const FarmResults results = run_farm(
      comm, n, order,
      [&](size_t task) -> std::string {
        ++ran[task];
        if (task == 3) throw Error(Error("the fact"), "task 3");
        if (task == 7) throw std::runtime_error("not ours");
        return payload_of(task);
      },
      /*stop_on_error=*/false);
  const std::vector<int> total = runs_over_ranks(ran);
  for (size_t t = 0; t < n; ++t)
    EXPECT_EQ(total[t], 1) << "task " << t;
  if (comm.rank() != 0) return;
  ASSERT_EQ(results.size(), n);
  for (size_t t = 0; t < n; ++t) {
    ASSERT_TRUE(results[t].has_value()) << "task " << t;
    EXPECT_EQ(results[t]->ok, t != 3 && t != 7) << "task " << t;
  }
  EXPECT_EQ(results[3]->payload, "task 3: the fact");
  EXPECT_EQ(results[7]->payload, "unexpected error: not ours");
  EXPECT_EQ(results[5]->payload, payload_of(5));
}

TEST(Farm, StopOnErrorHandsOutNothingNewAfterAFailure) {
  const auto& comm = world();
  // The first task handed out fails at once; the others take a few ms each, so that rank 0
  // sees the failure long before the workers could have run them all.
  const size_t n = 200;
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::vector<int> ran(n, 0);
  std::vector<size_t> seen;
  const FarmResults results = run_farm(
      comm, n, order,
      [&](size_t task) -> std::string {
        ++ran[task];
        if (task == 0) throw Error("task 0 failed");
        dwipack::mpi::sleep_us(5000);
        return payload_of(task);
      },
      /*stop_on_error=*/true, [&](size_t task, const TaskResult&) { seen.push_back(task); });
  const std::vector<int> total = runs_over_ranks(ran);
  int ran_tasks = 0;
  for (size_t t = 0; t < n; ++t) {
    EXPECT_LE(total[t], 1) << "task " << t;
    ran_tasks += total[t];
  }
  EXPECT_EQ(total[0], 1);
  if (comm.size() == 1) {
    EXPECT_EQ(ran_tasks, 1) << "alone, rank 0 stops at once";
  }
  EXPECT_LT(ran_tasks, static_cast<int>(n)) << "tasks were handed out after the failure";
  if (comm.rank() != 0) return;
  ASSERT_EQ(results.size(), n);
  ASSERT_TRUE(results[0].has_value());
  EXPECT_FALSE(results[0]->ok);
  EXPECT_EQ(results[0]->payload, "task 0 failed");
  EXPECT_EQ(seen.size(), static_cast<size_t>(ran_tasks)) << "on_result for every task that ran";
  for (size_t t = 0; t < n; ++t)
    EXPECT_EQ(results[t].has_value(), total[t] == 1) << "a result exactly for the tasks that ran: " << t;
}

TEST(Farm, OnlyTheListedTasksAndNoneAtAll) {
  const auto& comm = world();
  const size_t n = 10;
  const std::vector<size_t> order = {9, 2, 4};
  std::vector<int> ran(n, 0);
  const FarmResults results = run_farm(
      comm, n, order,
      [&](size_t task) {
        ++ran[task];
        return payload_of(task);
      },
      false);
  const std::vector<int> total = runs_over_ranks(ran);
  for (size_t t = 0; t < n; ++t)
    EXPECT_EQ(total[t], t == 9 || t == 2 || t == 4 ? 1 : 0) << "task " << t;
  if (comm.rank() == 0) {
    ASSERT_EQ(results.size(), n);
    for (size_t t = 0; t < n; ++t)
      EXPECT_EQ(results[t].has_value(), total[t] == 1) << "task " << t;
  }
  // No task at all: every worker is told to stop at its first request.
  const FarmResults none = run_farm(
      comm, 0, {}, [](size_t) { return std::string(); }, true);
  EXPECT_TRUE(none.empty());
}

TEST(Farm, AnInterruptedRunStartsNoTask) {
  // After SIGTERM/SIGINT a task fails before it starts ("interrupted by SIGTERM").
  const auto& comm = world();
  dwipack::interrupt::simulate(SIGTERM);
  std::vector<int> ran(4, 0);
  const FarmResults results = run_farm(
      comm, 4, {0, 1, 2, 3},
      [&](size_t task) {
        ++ran[task];
        return std::string();
      },
      /*stop_on_error=*/false);
  dwipack::interrupt::simulate(0);
  const std::vector<int> total = runs_over_ranks(ran);
  for (int r : total)
    EXPECT_EQ(r, 0);
  if (comm.rank() != 0) return;
  for (const auto& r : results) {
    ASSERT_TRUE(r.has_value());
    EXPECT_FALSE(r->ok);
    EXPECT_NE(r->payload.find("interrupted by SIGTERM"), std::string::npos) << r->payload;
  }
}

TEST(Farm, ShortTasksKeepTheWorkersBusy) {
  // 400 tasks of 1 ms (asleep: no CPU, so a loaded machine still measures the hand-out): the
  // workers must not wait for rank 0 between them. Rank 0 polls with sleeps of up to 2 ms, so a
  // hand-out of one task per request would take ~2x the ideal time or more.
  const auto& comm = world();
  const size_t n = 400;
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  const auto t0 = std::chrono::steady_clock::now();
  const FarmResults results = run_farm(
      comm, n, order,
      [](size_t task) {
        dwipack::mpi::sleep_us(1000);
        return payload_of(task);
      },
      /*stop_on_error=*/true);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const int workers = std::max(1, comm.size() - 1);
  const double ideal = 1e-3 * static_cast<double>(n) / workers;
  if (comm.rank() == 0) {
    std::printf("[ farm     ] %zu tasks of 1 ms on %d worker(s): %.3f s (ideal %.3f s)\n", n, workers,
                seconds, ideal);
    EXPECT_LT(seconds, 1.5 * ideal + 0.15) << "workers waited between short tasks";
  }
}
