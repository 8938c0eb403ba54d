#pragma once
// `dwipack create`: the whole conversion, run by every rank of a communicator.
//
//   rank 0                          workers (ranks 1..N-1; rank 0 itself when N == 1)
//   1. check paths, config, lists
//      ── broadcast setup ──────────────────────────────────────────────────
//   2. hand out subjects  ────────▶ read headers, check, plan shapes  (no data read)
//      ── broadcast the full plan (or the errors: nothing has been written) ──
//   3. rank 0 alone: create the file (temporary name) and its whole layout, close it
//      ── broadcast where each dataset lies; all ranks open the file in parallel ──
//      (--resume: all ranks reopen the existing file and check its layout, collectively)
//   4. hand out subjects, largest first ──▶ read data, standardize, write own datasets (independent I/O)
//      (rank 0 appends each completed subject to the --resume journal)
//   5. all ranks: write the root attributes, close collectively; rank 0 renames the file into
//      place, or removes it on failure (or keeps it, with its journal, after SIGTERM/SIGINT)
#include "dwipack/mpi/comm.hpp"
#include "dwipack/pipeline/plan.hpp"
#include "dwipack/pipeline/streamlines.hpp"

#include <string>

namespace dwipack::pipeline {

/// Process exit codes (documented in the README).
enum ExitCode : int {
  exit_ok = 0,
  exit_input_error = 1, ///< bad arguments, config, lists or input files; nothing left at the output path
  exit_failure = 2,     ///< an internal, MPI or HDF5 failure; the job was aborted
  exit_skipped = 3,     ///< complete, but --on_error skip left out some subjects (named in the file)
  exit_interrupted = 4, ///< SIGTERM/SIGINT: stopped cleanly; run again with --resume to continue
};

/// What happens to a subject whose inputs fail (--on_error).
enum class OnError { abort, skip };

struct CreateOptions {
  std::string dwi_ml_ready; ///< folder holding one sub-folder per subject
  std::string out_file;     ///< .hdf5 appended when there is no extension
  std::string config_file;
  std::string training_list;
  std::string validation_list;
  std::string testing_list;
  bool overwrite = false;             ///< -f
  bool enforce_files_presence = true; ///< !--skip_enforce_files_presence
  StreamlineOptions streamlines;
  /// The seed-era `create_hdf5_dataset` (2021 layout): out_file is DATABASE/hdf5/NAME.hdf5,
  /// dwi_ml_ready is DATABASE/dwi_ml_ready, there is no testing list.
  SeedOptions seed;
  /// --save_intermediate: the processed volumes (.nii.gz) and tractograms (.trk, RAS mm) of every
  /// subject, in <output folder>/intermediate_<date_time>/<subject>_<group>.*
  bool save_intermediate = false;
  /// --allow_outside_subject: config paths may be absolute or contain '..' (refused by default).
  bool allow_outside_subject = false;
  /// --dry-run: check every input and print the plan (subjects, groups, shapes, bytes, memory
  /// per task); write nothing (not even the config copy).
  bool dry_run = false;
  bool independent_modalities = true; ///< seed: --independent_modalities
  /// --resume: make OUT match the current inputs, reusing what is still valid (create_update.cpp):
  /// subjects of an interrupted run's partial file (journaled, read back intact) and unchanged
  /// subjects of a complete OUT are kept; changed and new ones converted; unlisted ones dropped.
  bool resume = false;
  /// --checksum: the digests compare a checksum of each input's content instead of its
  /// modification time (file systems whose mtimes cannot be trusted; reads every input once more).
  bool checksum = false;
  OnError on_error = OnError::abort; ///< --on_error
  std::string log_json;              ///< --log_json FILE: one JSON record per subject
  /// Dataset rows written with O_DIRECT (the default; --buffered_io: through MPI-IO and the page
  /// cache). Falls back to the latter where the file system refuses O_DIRECT.
  bool direct_io = true;
  /// --compression gzip[:LEVEL]: the gzip level (1..9) of the output's chunked, shuffled datasets;
  /// 0: uncompressed (the default). The conversion itself is unchanged (OUT.partial, uncompressed);
  /// then all ranks write the compressed copy, workers compressing (pipeline/compress.hpp).
  int compression_level = 0;
  std::string command_line; ///< for the provenance attribute
};

/// Collective over comm. Returns the exit code, identical on every rank.
int run_create(const CreateOptions& options, const mpi::Comm& comm);

/// dwi_ml's output-name rule: no extension -> ".hdf5" appended; any extension other than
/// ".hdf5" is refused. Throws Error.
std::string output_path(const std::string& out_file);

/// The partial file written during the job, renamed to the output path at the end.
std::string partial_path(const std::string& final_path);

/// Where the config is copied, as dwi_ml does: the output path with '.json' for '.hdf5'.
std::string config_copy_path(const std::string& final_path);

/// The local time as dwi_ml names its folders and default files: %Y_%m_%d_%H%M%S.
std::string folder_timestamp();

} // namespace dwipack::pipeline
