// Interrupts of `dwipack create`: a signal that reached one rank stops all of them, and the run
// ends with one line saying what is complete and the exact command that continues it.
#include "create_steps.hpp"

#include "dwipack/util/interrupt.hpp"

#include <cstdlib>
#include <string>

namespace dwipack::pipeline {

StopRelay::StopRelay(const mpi::Comm& comm) : comm_(comm.duplicate()) {
  if (comm_.rank() == 0) return;
  // Workers: between the blocks of a subject (interrupt::check_interrupted() on this thread),
  // look for rank 0's word that the run is interrupted.
  interrupt::set_poll([this] {
    if (!comm_.message_waiting(0, mpi::Tag::stop)) return 0;
    take_stop();
    return signal_;
  });
}

StopRelay::~StopRelay() {
  if (comm_.rank() != 0) interrupt::set_poll({});
}

void StopRelay::take_stop() {
  std::string bytes;
  comm_.recv(bytes, 0, mpi::Tag::stop);
  signal_ = std::atoi(bytes.c_str());
  received_ = true;
}

void StopRelay::relay(int signal) {
  if (comm_.rank() != 0 || sent_ || signal == 0) return;
  // Rank 0 counts itself interrupted too: no new task starts, and phase 5 keeps the partial file.
  if (interrupt::received() == 0) interrupt::simulate(signal);
  for (int worker = 1; worker < comm_.size(); ++worker)
    comm_.send(std::to_string(signal), worker, mpi::Tag::stop);
  sent_ = true;
}

void StopRelay::finish() {
  if (comm_.broadcast(sent_ ? 1 : 0, 0) == 0 || comm_.rank() == 0) return;
  if (!received_) take_stop(); // sent, not seen during a task: it is on its way
  if (interrupt::received() == 0) interrupt::simulate(signal_);
}

std::string continue_command(const std::string& command_line, int ranks) {
  std::string command = command_line;
  const std::string flag = " --resume";
  const auto at = command.find(flag);
  const bool has_resume =
      at != std::string::npos && (at + flag.size() == command.size() || command[at + flag.size()] == ' ');
  if (!has_resume) command += flag;
  const std::string n = std::to_string(ranks);
  if (std::getenv("SLURM_JOB_ID") && std::getenv("SLURM_STEP_ID"))
    return "srun -n " + n + " " + command + " (or submit the same job again: the job scripts add --resume)";
  if (ranks > 1 || std::getenv("OMPI_COMM_WORLD_SIZE") || std::getenv("PMIX_RANK"))
    return "mpirun -n " + n + " " + command;
  return command;
}

} // namespace dwipack::pipeline
