#include "dwipack/util/interrupt.hpp"

#include "dwipack/error.hpp"

#include <chrono>
#include <csignal>
#include <thread>

namespace dwipack::interrupt {
namespace {

volatile std::sig_atomic_t g_signal = 0;

extern "C" void on_signal(int signal) {
  g_signal = signal;
}

/// The poll and its thread; touched only by that thread once installed.
struct Poll {
  std::function<int()> function;
  std::thread::id owner;
  std::chrono::steady_clock::duration interval{};
  std::chrono::steady_clock::time_point last{};
};
Poll g_poll;

} // namespace

void install_handlers() {
  struct sigaction action {};
  action.sa_handler = on_signal;
  sigemptyset(&action.sa_mask);
  // SA_RESTART: system calls inside MPI-IO and HDF5 are not all written to retry on EINTR.
  action.sa_flags = SA_RESTART;
  sigaction(SIGTERM, &action, nullptr);
  sigaction(SIGINT, &action, nullptr);
}

int received() {
  return g_signal;
}

std::string signal_name(int signal) {
  switch (signal) {
  case SIGTERM:
    return "SIGTERM";
  case SIGINT:
    return "SIGINT";
  default:
    return "signal " + std::to_string(signal);
  }
}

void check_interrupted() {
  if (g_signal == 0 && g_poll.function && std::this_thread::get_id() == g_poll.owner) {
    const auto now = std::chrono::steady_clock::now();
    if (now - g_poll.last >= g_poll.interval) {
      g_poll.last = now;
      if (const int s = g_poll.function()) g_signal = s;
    }
  }
  if (const int s = g_signal) throw Error("interrupted by " + signal_name(s));
}

void simulate(int signal) {
  g_signal = signal;
}

void set_poll(std::function<int()> poll, double interval_seconds) {
  g_poll.function = std::move(poll);
  g_poll.owner = std::this_thread::get_id();
  g_poll.interval = std::chrono::duration_cast<std::chrono::steady_clock::duration>(
      std::chrono::duration<double>(interval_seconds));
  g_poll.last = {};
}

} // namespace dwipack::interrupt
