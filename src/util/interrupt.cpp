#include "dwipack/util/interrupt.hpp"

#include "dwipack/error.hpp"

#include <csignal>

namespace dwipack::interrupt {
namespace {

volatile std::sig_atomic_t g_signal = 0;

extern "C" void on_signal(int signal) {
  g_signal = signal;
}

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
  if (const int s = g_signal) throw Error("interrupted by " + signal_name(s));
}

void simulate(int signal) {
  g_signal = signal;
}

} // namespace dwipack::interrupt
