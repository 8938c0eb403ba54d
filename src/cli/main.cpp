// dwipack command line: parses arguments into option structs and calls the library. Nothing else.
#include "dwipack/config.hpp"
#include "dwipack/error.hpp"
#include "dwipack/h5/handle.hpp"
#include "dwipack/mpi/comm.hpp"
#include "dwipack/pipeline/compress.hpp"
#include "dwipack/pipeline/create.hpp"
#include "dwipack/synth/dataset.hpp"
#include "dwipack/tools/extract.hpp"
#include "dwipack/tools/inspect.hpp"
#include "dwipack/util/interrupt.hpp"
#include "dwipack/util/log.hpp"
#include "dwipack/version.hpp"

#include <boost/program_options.hpp>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <iostream>
#include <string>
#include <vector>

namespace po = boost::program_options;
using namespace dwipack;

namespace {

/// The launcher's rank before MPI is initialised (usage errors are printed by rank 0 only).
int launcher_rank() {
  for (const char* var : {"OMPI_COMM_WORLD_RANK", "PMIX_RANK", "PMI_RANK", "SLURM_PROCID"})
    if (const char* v = std::getenv(var)) return std::atoi(v);
  return 0;
}

const char* const top_usage =
    "dwipack: build dwi_ml HDF5 training files from a dwi_ml_ready folder, in parallel (MPI).\n"
    "\n"
    "Usage:\n"
    "  [mpirun -n N] dwipack create DWI_ML_READY OUT.hdf5 CONFIG.json TRAIN.txt VALID.txt TEST.txt "
    "[options]\n"
    "  dwipack synth OUT_DIR [--subjects N] [--shape X,Y,Z] [--frames F] [--shape_step S] [--streamlines N]\n"
    "                [--mean_points M] [--seed S] [--bundle_format trk|trx]\n"
    "  dwipack inspect FILE.hdf5 [--all] [--json]\n"
    "  dwipack extract FILE.hdf5 SUBJECT GROUP OUT(.nii|.nii.gz|.trk|.tck|.trx|.npy) [-f]\n"
    "  dwipack --version | --help\n"
    "  dwipack COMMAND --help\n"
    "\n"
    "Options are written with underscores, as dwi_ml's (--dry_run); --dry-run is accepted too.\n"
    "\n"
    "Started as dwiml_create_hdf5_dataset (a symlink to dwipack, installed next to it), it is dwi_ml's\n"
    "command: the same arguments and options as `dwipack create`. Started as create_hdf5_dataset\n"
    "(or create_hdf5_dataset.py), it takes the 2021 command line: create_hdf5_dataset --help.\n";

/// The usage line of the conversion as started by `name` ("dwipack create" or dwi_ml's
/// "dwiml_create_hdf5_dataset").
std::string create_synopsis(const std::string& name) {
  return "Usage: [mpirun -n N] " + name +
         " DWI_ML_READY OUT_HDF5 CONFIG TRAINING VALIDATION TESTING [options]\n";
}

const char* const create_description =
    "Convert the subjects named in the three lists (whitespace-separated ids; a list may be empty)\n"
    "from DWI_ML_READY/<subject>/ into one HDF5 file in dwi_ml's layout, as configured by the JSON\n"
    "CONFIG. Rank 0 coordinates; the other ranks convert subjects. With one rank, it does both.\n"
    "OUT_HDF5 gets '.hdf5' appended when it has no extension. The file is written as\n"
    "OUT_HDF5.partial and renamed when complete; after a failure nothing is left at OUT_HDF5.\n"
    "\n"
    "Exit codes: 0 success, 1 bad arguments or inputs (nothing written), 2 aborted (MPI/HDF5 failure),\n"
    "3 complete but subjects skipped (--on_error skip), 4 interrupted by SIGTERM/SIGINT (use --resume).\n";

struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// What a usage error prints after the message: the command's usage line and where to read more.
std::string usage_hint(const std::string& name, const std::string& synopsis) {
  return synopsis + "Run '" + name + " --help' for the options.\n";
}

/// Every option is defined with underscores (dwi_ml's spelling); "--dry-run" or
/// "--skip-enforce-files-presence" are taken as the underscore option of the same words.
/// Arguments after "--" and option values are left alone.
std::vector<std::string> with_underscores(std::vector<std::string> args,
                                          const po::options_description& named) {
  for (auto& arg : args) {
    if (arg == "--") break;
    if (arg.size() < 3 || arg.compare(0, 2, "--") != 0) continue;
    const auto end = std::min(arg.find('='), arg.size());
    const std::string name = arg.substr(2, end - 2);
    std::string underscored = name;
    std::replace(underscored.begin(), underscored.end(), '-', '_');
    if (underscored != name && !named.find_nothrow(name, false) && named.find_nothrow(underscored, false))
      arg = "--" + underscored + arg.substr(end);
  }
  return args;
}

/// " (did you mean '--dry_run'?)" for an unknown option close to a known one, or "".
std::string option_suggestion(const std::string& option, const po::options_description& named) {
  std::vector<std::string> names;
  for (const auto& o : named.options())
    if (!o->long_name().empty()) names.push_back(o->long_name());
  const auto first = option.find_first_not_of('-'); // "--dry_rn=1" -> "dry_rn"
  const std::string name = first == std::string::npos ? "" : option.substr(first, option.find('=') - first);
  const std::string meant = likely_meant(name, names);
  return meant.empty() ? "" : " (did you mean '--" + meant + "'?)";
}

/// Parse `args` with the visible `named` options and positional arguments collected into
/// `positional_name` (at most `max_positional`; -1: any number). Boost errors become UsageError.
po::variables_map parse(const std::vector<std::string>& args,
                        const po::options_description& named,
                        const po::options_description& positional,
                        const std::string& positional_name,
                        int max_positional) {
  po::options_description all;
  all.add(named).add(positional);
  po::positional_options_description pos;
  pos.add(positional_name.c_str(), max_positional);
  po::variables_map vm;
  try {
    po::store(po::command_line_parser(with_underscores(args, named)).options(all).positional(pos).run(), vm);
    po::notify(vm);
  } catch (const po::unknown_option& e) {
    throw UsageError(e.what() + option_suggestion(e.get_option_name(), named));
  } catch (const po::error& e) {
    throw UsageError(e.what());
  }
  return vm;
}

/// The positional arguments collected under `name`; exactly as many as `names` lists, or a
/// UsageError that names them.
std::vector<std::string>
positionals(const po::variables_map& vm, const std::string& name, const std::vector<std::string>& names) {
  const auto values = vm.count(name) ? vm[name].as<std::vector<std::string>>() : std::vector<std::string>{};
  if (values.size() != names.size()) {
    std::string list;
    for (const auto& n : names)
      list += (list.empty() ? "" : " ") + n;
    throw UsageError("expected " + std::to_string(names.size()) + " positional argument" +
                     (names.size() == 1 ? "" : "s") + " (" + list + "), got " +
                     std::to_string(values.size()));
  }
  return values;
}

/// The command line as a shell would need it typed again (provenance).
std::string shell_quoted(int argc, char** argv) {
  std::string out;
  for (int i = 0; i < argc; ++i) {
    const std::string a = argv[i];
    const bool plain = !a.empty() && std::all_of(a.begin(), a.end(), [](unsigned char c) {
      return std::isalnum(c) || std::strchr("@%+=:,./_-", c) != nullptr;
    });
    std::string q = "'";
    for (char c : a)
      q += c == '\'' ? std::string("'\\''") : std::string(1, c);
    out += (i ? " " : "") + (plain ? a : q + "'");
  }
  return out;
}

/// Options every conversion takes (both command lines): restart, error policy, logs.
po::options_description reliability_options() {
  po::options_description o("Reliability and logs");
  // clang-format off
  o.add_options()
      ("resume", "bring OUT up to date with the inputs, reusing what is still valid: subjects complete in an "
                 "interrupted run's OUT.partial, and unchanged subjects of a complete OUT, are kept; changed and "
                 "new ones converted, unlisted ones dropped")
      ("checksum", "record a checksum of each input's content (reading every input once more) and, with "
                   "--resume, compare it instead of the modification time")
      ("on_error", po::value<std::string>()->default_value("abort")->value_name("abort|skip"),
       "abort: a failing subject stops the run (nothing written); skip: leave it out, finish the others, "
       "list it in the file (root attribute dwipack_skipped_subjects) and exit with code 3")
      ("log_json", po::value<std::string>()->value_name("FILE"), "one JSON record per subject (JSON Lines)")
      ("buffered_io", "write the datasets through MPI-IO and the page cache, not with O_DIRECT (the default, "
                      "which bypasses the page cache and falls back to this where the file system refuses it)");
  // clang-format on
  return o;
}

void apply_reliability_options(const po::variables_map& vm, pipeline::CreateOptions& options) {
  options.resume = vm.count("resume") > 0;
  options.checksum = vm.count("checksum") > 0;
  const std::string on_error = vm["on_error"].as<std::string>();
  if (on_error == "abort")
    options.on_error = pipeline::OnError::abort;
  else if (on_error == "skip")
    options.on_error = pipeline::OnError::skip;
  else
    throw UsageError("--on_error takes abort or skip, got '" + on_error + "'");
  if (vm.count("log_json")) options.log_json = vm["log_json"].as<std::string>();
  options.direct_io = vm.count("buffered_io") == 0;
}

/// Options of the output file (both command lines).
po::options_description output_options() {
  po::options_description o("Output");
  // clang-format off
  o.add_options()
      ("compression", po::value<std::string>()->value_name("gzip[:LEVEL]"),
       "store every dataset chunked, with shuffle + gzip at LEVEL 1..9 (default 4), as h5py's "
       "compression='gzip', shuffle=True; the complete file is compressed by all ranks at the end");
  // clang-format on
  return o;
}

void apply_output_options(const po::variables_map& vm, pipeline::CreateOptions& options) {
  if (!vm.count("compression")) return;
  const std::string value = vm["compression"].as<std::string>();
  if (value == "gzip")
    options.compression_level = pipeline::default_gzip_level;
  else if (value.size() == 6 && value.compare(0, 5, "gzip:") == 0 && value[5] >= '1' && value[5] <= '9')
    options.compression_level = value[5] - '0';
  else
    throw UsageError("--compression takes gzip or gzip:LEVEL (LEVEL 1..9), got '" + value + "'");
}

/// Start MPI and run a conversion on every rank.
int run_conversion(pipeline::CreateOptions options, int argc, char** argv) {
  options.command_line = shell_quoted(argc, argv);
  // Before MPI_Init (a signal during start-up is then a clean stop too) and again after it, in
  // case the MPI library installed its own.
  interrupt::install_handlers();
  mpi::Environment env(&argc, &argv);
  interrupt::install_handlers();
  h5::SilenceErrors quiet_hdf5;
  mpi::Comm comm(MPI_COMM_WORLD);
  log::set_rank(comm.size() > 1 ? comm.rank() : -1);
  return pipeline::run_create(options, comm);
}

/// `dwipack create`, or dwi_ml's `dwiml_create_hdf5_dataset` (`name`: as it was started).
int run_create_command(const std::string& name, const std::vector<std::string>& args, int argc, char** argv) {
  po::options_description named("Options");
  // clang-format off
  named.add_options()
      ("help,h", "show this help")
      ("force,f", "overwrite OUT_HDF5 if it exists (replaced only once the new file is complete)")
      ("skip_enforce_files_presence",
       "drop (with a warning) config files missing in a subject, instead of failing")
      ("allow_outside_subject", "accept config paths that are absolute or contain '..' (refused by default)")
      ("dry_run", "check every input and print the plan (shapes, bytes, memory per task); write nothing")
      ("save_intermediate", "also write each subject's processed groups (.nii.gz / .trk in RAS mm) to "
                            "intermediate_<date_time>/ beside the output")
      ("remove_invalid", "drop streamlines with a point within 1e-3 voxel of the volume's border "
                         "(after resampling or compression)")
      ("step_size", po::value<double>()->value_name("MM"),
       "resample streamlines to this step (mm); excludes --nb_points and --compress")
      ("nb_points", po::value<int64_t>()->value_name("N"), "resample every streamline to N points")
      ("compress", po::value<double>()->implicit_value(0.01)->value_name("TOL"),
       "compress streamlines, keeping points within TOL mm (default 0.01) of the polyline")
      ("verbose,v", po::value<std::string>()->implicit_value("INFO")->value_name("LEVEL"),
       "log level: DEBUG, INFO, WARNING (default), ERROR; -v alone means INFO");
  // clang-format on
  named.add(reliability_options());
  named.add(output_options());
  po::options_description hidden;
  hidden.add_options()("positional", po::value<std::vector<std::string>>(), "");
  const po::variables_map vm = parse(args, named, hidden, "positional", -1);
  if (vm.count("help")) {
    if (launcher_rank() == 0)
      std::cout << create_synopsis(name) << "\n" << create_description << "\n" << named << "\n";
    return 0;
  }
  const auto positional = positionals(
      vm, "positional", {"DWI_ML_READY", "OUT_HDF5", "CONFIG", "TRAINING", "VALIDATION", "TESTING"});

  pipeline::CreateOptions options;
  options.dwi_ml_ready = positional[0];
  options.out_file = positional[1];
  options.config_file = positional[2];
  options.training_list = positional[3];
  options.validation_list = positional[4];
  options.testing_list = positional[5];
  options.overwrite = vm.count("force") > 0;
  options.enforce_files_presence = vm.count("skip_enforce_files_presence") == 0;
  options.streamlines.remove_invalid = vm.count("remove_invalid") > 0;
  options.save_intermediate = vm.count("save_intermediate") > 0;
  options.dry_run = vm.count("dry_run") > 0;
  options.allow_outside_subject = vm.count("allow_outside_subject") > 0;
  apply_reliability_options(vm, options);
  apply_output_options(vm, options);
  if (vm.count("step_size") + vm.count("nb_points") + vm.count("compress") > 1)
    throw UsageError("--step_size, --nb_points and --compress are mutually exclusive");
  if (vm.count("step_size")) {
    options.streamlines.step_size_mm = vm["step_size"].as<double>();
    if (!(*options.streamlines.step_size_mm >= 0)) throw UsageError("--step_size must be >= 0");
  }
  if (vm.count("nb_points")) {
    options.streamlines.nb_points = vm["nb_points"].as<int64_t>();
    // dwi_ml: 0 means no resampling; 1 or less is an error (at least 2 points)
    if (*options.streamlines.nb_points != 0 && *options.streamlines.nb_points < 2)
      throw UsageError("--nb_points must be at least 2");
  }
  if (vm.count("compress")) {
    options.streamlines.compress_mm = vm["compress"].as<double>();
    if (!(*options.streamlines.compress_mm >= 0)) throw UsageError("--compress tolerance must be >= 0");
  }
  if (vm.count("verbose")) {
    try {
      log::set_level(log::parse_level(vm["verbose"].as<std::string>()));
    } catch (const Error& e) {
      throw UsageError(e.what());
    }
  }

  return run_conversion(options, argc, argv);
}

/// The usage lines of the 2021 command line as started by `name` ("create_hdf5_dataset" or
/// "create_hdf5_dataset.py").
std::string seed_synopsis(const std::string& name) {
  return "Usage: [mpirun -n N] " + name +
         " [--force] [--name NAME] [--std_mask MASK]\n"
         "           [--bundles B [B ...]] [--space vox|voxmm|rasmm] [--step_size MM | --compress]\n"
         "           [--enforce_bundles_presence True|False] [--enforce_files_presence True|False]\n"
         "           [--independent_modalities True|False] [--logging LEVEL]\n"
         "           DATABASE_FOLDER CONFIG TRAINING VALIDATION\n";
}

const char* const seed_description =
    "dwi_ml's 2021 create_hdf5_dataset.py command line (a symlink to dwipack). DATABASE_FOLDER holds\n"
    "dwi_ml_ready/; the file is DATABASE_FOLDER/hdf5/NAME.hdf5 (NAME: date and time by default), in\n"
    "the 2021 layout (version 2, training/validation lists, file attribute 'space'). The config's\n"
    "groups are volume groups, always standardized (per feature unless --independent_modalities\n"
    "False), with --std_mask ('*' = the subject id) as mask; '*' in a file name is the subject id.\n"
    "Streamlines come from each subject's bundles/ folder (the file starting with each --bundles\n"
    "name, or all of them) into a group 'streamlines', stored in --space with the center origin,\n"
    "compressed (0.01 mm) unless --step_size is given, invalid streamlines removed. True/False\n"
    "options mean what they say. hdf5/ must not exist unless --force (only the file is replaced).\n";

/// "True"/"False" (and true/false, 1/0, yes/no), which the 2021 script took as strings.
bool parse_bool(const std::string& option, const std::string& value) {
  std::string v = value;
  std::transform(v.begin(), v.end(), v.begin(), [](unsigned char c) { return std::tolower(c); });
  if (v == "true" || v == "1" || v == "yes") return true;
  if (v == "false" || v == "0" || v == "no") return false;
  throw UsageError("--" + option + " takes True or False, got '" + value + "'");
}

/// dwi_ml's 2021 `create_hdf5_dataset(.py)` (`program`: as it was started).
int run_seed_command(const std::string& program,
                     const std::vector<std::string>& args,
                     int argc,
                     char** argv) {
  po::options_description named("Options");
  // clang-format off
  named.add_options()
      ("help,h", "show this help")
      ("force,f", "write into an existing DATABASE_FOLDER/hdf5/ (replacing NAME.hdf5 once complete)")
      ("name", po::value<std::string>(), "file name without .hdf5 (default: date and time)")
      ("std_mask", po::value<std::string>(), "standardization mask for every volume group ('*' = subject id)")
      ("bundles", po::value<std::vector<std::string>>()->multitoken(),
       "bundle names: the file of bundles/ starting with each name (default: all .trk/.tck files)")
      ("space", po::value<std::string>()->default_value("vox"), "space of the stored streamlines: vox, voxmm, rasmm")
      ("step_size", po::value<double>()->value_name("MM"), "resample streamlines to this step (mm)")
      ("compress", "compress streamlines (0.01 mm), the default when --step_size is not given")
      ("enforce_bundles_presence", po::value<std::string>()->default_value("True"),
       "True: a missing bundle is an error; False: it is skipped")
      ("enforce_files_presence", po::value<std::string>()->default_value("True"),
       "True: a missing config file is an error; False: it is dropped")
      ("independent_modalities", po::value<std::string>()->default_value("True"),
       "True: standardize each feature on its own; False: all features together")
      ("logging", po::value<std::string>()->default_value("warning"), "error, warning, info or debug")
      ("allow_outside_subject", "accept config paths that are absolute or contain '..' (refused by default)")
      ("save_intermediate", "also write hdf5/<subject>_intermediate/<group>_nonstandardized.nii.gz, "
                            "<group>_standardized.nii.gz and streamlines.trk (RAS mm)");
  // clang-format on
  named.add(reliability_options());
  named.add(output_options());
  po::options_description hidden;
  hidden.add_options()("positional", po::value<std::vector<std::string>>(), "");
  const po::variables_map vm = parse(args, named, hidden, "positional", -1);
  if (vm.count("help")) {
    if (launcher_rank() == 0)
      std::cout << seed_synopsis(program) << "\n" << seed_description << "\n" << named << "\n";
    return 0;
  }
  const auto positional =
      positionals(vm, "positional", {"DATABASE_FOLDER", "CONFIG", "TRAINING", "VALIDATION"});
  if (vm.count("step_size") && vm.count("compress"))
    throw UsageError("--step_size and --compress are mutually exclusive");

  pipeline::CreateOptions options;
  const std::string database = positional[0];
  options.dwi_ml_ready = database + "/dwi_ml_ready";
  const std::string name = vm.count("name") ? vm["name"].as<std::string>() : pipeline::folder_timestamp();
  if (name.empty() || name.find('/') != std::string::npos)
    throw UsageError("--name must be a plain file name");
  options.out_file = database + "/hdf5/" + name + ".hdf5";
  options.config_file = positional[1];
  options.training_list = positional[2];
  options.validation_list = positional[3];
  options.overwrite = vm.count("force") > 0;
  options.enforce_files_presence =
      parse_bool("enforce_files_presence", vm["enforce_files_presence"].as<std::string>());
  options.independent_modalities =
      parse_bool("independent_modalities", vm["independent_modalities"].as<std::string>());
  options.seed.enabled = true;
  apply_reliability_options(vm, options);
  apply_output_options(vm, options);
  options.allow_outside_subject = vm.count("allow_outside_subject") > 0;
  options.save_intermediate = vm.count("save_intermediate") > 0;
  options.seed.enforce_bundles_presence =
      parse_bool("enforce_bundles_presence", vm["enforce_bundles_presence"].as<std::string>());
  if (vm.count("std_mask")) options.seed.std_mask = vm["std_mask"].as<std::string>();
  if (vm.count("bundles")) options.seed.bundles = vm["bundles"].as<std::vector<std::string>>();
  options.seed.space = vm["space"].as<std::string>();
  if (options.seed.space != "vox" && options.seed.space != "voxmm" && options.seed.space != "rasmm")
    throw UsageError("--space must be vox, voxmm or rasmm, got '" + options.seed.space + "'");
  // The 2021 script compressed (0.01 mm) unless resampling, and always removed invalid streamlines.
  if (vm.count("step_size"))
    options.streamlines.step_size_mm = vm["step_size"].as<double>();
  else
    options.streamlines.compress_mm = 0.01;
  options.streamlines.remove_invalid = true;
  try {
    log::set_level(log::parse_level(vm["logging"].as<std::string>()));
  } catch (const Error& e) {
    throw UsageError(e.what());
  }
  return run_conversion(options, argc, argv);
}

const char* const synth_synopsis = "Usage: dwipack synth OUT_DIR [options]\n";

int run_synth_command(const std::vector<std::string>& args) {
  synth::DatasetSpec spec;
  std::string shape = "32,38,32";
  po::options_description named("Options");
  // clang-format off
  named.add_options()
      ("help,h", "show this help")
      ("subjects", po::value<int>(&spec.nb_subjects)->default_value(4), "number of subjects")
      ("shape", po::value<std::string>(&shape)->default_value(shape), "X,Y,Z voxels of the first subject")
      ("frames", po::value<int64_t>(&spec.dwi_frames)->default_value(16), "DWI frames")
      ("shape_step", po::value<int64_t>(&spec.shape_step)->default_value(2),
       "each next subject is this many voxels larger on every axis (uneven sizes)")
      ("seed", po::value<uint32_t>(&spec.seed)->default_value(1), "random seed")
      ("gzip_level", po::value<int>(&spec.gzip_level)->default_value(6), "gzip level of the .nii.gz files")
      ("streamlines", po::value<int64_t>(&spec.streamlines)->default_value(spec.streamlines),
       "streamlines per subject, split between two .trk bundles and united in a .tck (0: none)")
      ("mean_points", po::value<int64_t>(&spec.mean_points)->default_value(spec.mean_points),
       "mean points per streamline (lengths uniform in [mean/2, 3*mean/2])")
      ("bundle_format", po::value<std::string>(&spec.bundle_format)->default_value(spec.bundle_format),
       "format of the two bundles: trk (TrackVis) or trx (TRX, a stored ZIP archive)");
  // clang-format on
  po::options_description hidden;
  hidden.add_options()("out_dir", po::value<std::string>(&spec.out_dir), "");
  const po::variables_map vm = parse(args, named, hidden, "out_dir", 1);
  if (vm.count("help")) {
    std::cout << synth_synopsis
              << "\nWrite a synthetic dwi_ml_ready dataset, a config and subject lists into OUT_DIR.\n\n"
              << named << "\n";
    return 0;
  }
  if (spec.out_dir.empty()) throw UsageError("expected 1 positional argument (OUT_DIR), got 0");
  long long x = 0, y = 0, z = 0;
  if (std::sscanf(shape.c_str(), "%lld,%lld,%lld", &x, &y, &z) != 3 || x < 2 || y < 2 || z < 2)
    throw UsageError("--shape must be X,Y,Z with each value >= 2, got '" + shape + "'");
  spec.shape = {x, y, z};
  std::cout << synth::write_dataset(spec) << "\n";
  return 0;
}

const char* const inspect_synopsis = "Usage: dwipack inspect FILE.hdf5 [--all] [--json]\n";

int run_inspect_command(const std::vector<std::string>& args) {
  po::options_description named("Options");
  // clang-format off
  named.add_options()
      ("help,h", "show this help")
      ("all", "every subject in full (by default: the first subject in full, then one line per subject)")
      ("json", "print one JSON document (stable, sorted keys, every subject) instead of text");
  // clang-format on
  po::options_description hidden;
  hidden.add_options()("file", po::value<std::vector<std::string>>(), "");
  const po::variables_map vm = parse(args, named, hidden, "file", -1);
  if (vm.count("help")) {
    std::cout
        << inspect_synopsis
        << "\nPrint what a dwi_ml HDF5 file holds: root attributes, subjects per split, and for a\n"
           "subject and its groups their type, datasets (shape, dtype), attributes, streamline and point\n"
           "counts, data_per_streamline keys; the file's size. The first subject is shown in full, then\n"
           "one line per subject (groups, shapes, streamline counts, bytes of data); --all shows every\n"
           "subject in full. Oddities (unknown type, missing attribute) are listed under 'problems'.\n\n"
        << named << "\n";
    return 0;
  }
  const auto files = positionals(vm, "file", {"FILE"});
  const auto doc = tools::inspect_file(files[0]);
  if (vm.count("json"))
    std::cout << doc.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
  else
    tools::print_inspection(doc, std::cout, vm.count("all") ? tools::Detail::all : tools::Detail::summary);
  return 0;
}

const char* const extract_synopsis = "Usage: dwipack extract FILE.hdf5 SUBJECT GROUP OUT [-f]\n";

int run_extract_command(const std::vector<std::string>& args) {
  po::options_description named("Options");
  tools::ExtractOptions options;
  // clang-format off
  named.add_options()
      ("help,h", "show this help")
      ("force,f", "overwrite OUT if it exists (replaced only once the new file is complete)");
  // clang-format on
  po::options_description hidden;
  hidden.add_options()("positional", po::value<std::vector<std::string>>(), "");
  const po::variables_map vm = parse(args, named, hidden, "positional", -1);
  if (vm.count("help")) {
    std::cout
        << extract_synopsis
        << "\nWrite one group of a dwi_ml HDF5 file to OUT: a volume group to .nii or .nii.gz (float32,\n"
           "the group's affine and voxres), a streamline group to .trk, .tck or .trx in RAS mm\n"
           "(data_per_streamline become .trk properties or .trx dps arrays; a .tck drops them), or a\n"
           "streamline group's connectivity_matrix to .npy (numpy bool, as dwi_ml stores it).\n\n"
        << named << "\n";
    return 0;
  }
  const auto positional = positionals(vm, "positional", {"FILE", "SUBJECT", "GROUP", "OUT"});
  options.file = positional[0];
  options.subject = positional[1];
  options.group = positional[2];
  options.out = positional[3];
  options.overwrite = vm.count("force") > 0;
  std::cout << tools::extract(options).summary << "\n";
  return 0;
}

} // namespace

/// The name the program was started as (a symlink name selects a dwi_ml-compatible entry point).
std::string program_name(const char* argv0) {
  const std::string path = argv0 ? argv0 : "dwipack";
  const auto slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

/// Run one command; usage errors and input errors are printed (by rank 0) as
/// "<name>: error: ...", with `usage` after a usage error. Returns the exit code.
template <class Command> int guarded(const std::string& name, const std::string& usage, Command&& command) {
  const bool talk = launcher_rank() == 0;
  try {
    return command();
  } catch (const UsageError& e) {
    if (talk) std::cerr << name << ": error: " << e.what() << "\n\n" << usage;
  } catch (const Error& e) {
    if (talk) std::cerr << name << ": error: " << e.what() << "\n";
  }
  // Before MPI started, the silent ranks exit 0: a launcher that saw them fail first could kill
  // rank 0 before it has printed the message. Rank 0's exit code is the job's.
  int mpi_started = 0;
  MPI_Initialized(&mpi_started);
  return talk || mpi_started ? pipeline::exit_input_error : pipeline::exit_ok;
}

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  const bool talk = launcher_rank() == 0;
  // dwi_ml's own command names, so that a user's existing command lines and job scripts run
  // unchanged: the modern one takes `dwipack create`'s arguments; the seed-era one its own. Each
  // shows its usage under the name it was started as.
  const std::string program = program_name(argv[0]);
  if (program == "create_hdf5_dataset" || program == "create_hdf5_dataset.py")
    return guarded(program, usage_hint(program, seed_synopsis(program)),
                   [&] { return run_seed_command(program, args, argc, argv); });
  if (program == "dwiml_create_hdf5_dataset")
    return guarded(program, usage_hint(program, create_synopsis(program)),
                   [&] { return run_create_command(program, args, argc, argv); });
  if (args.empty() || args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
    if (talk) std::cout << top_usage;
    return args.empty() ? 1 : 0;
  }
  if (args[0] == "--version") {
    if (talk) std::cout << "dwipack " << version << " (" << git_commit << ")\n";
    return 0;
  }
  const std::string command = args[0];
  args.erase(args.begin());
  const std::string name = "dwipack " + command;
  if (command == "create")
    return guarded(name, usage_hint(name, create_synopsis(name)),
                   [&] { return run_create_command(name, args, argc, argv); });
  if (command == "synth")
    return guarded(name, usage_hint(name, synth_synopsis), [&] { return run_synth_command(args); });
  if (command == "inspect")
    return guarded(name, usage_hint(name, inspect_synopsis), [&] { return run_inspect_command(args); });
  if (command == "extract")
    return guarded(name, usage_hint(name, extract_synopsis), [&] { return run_extract_command(args); });
  return guarded("dwipack", top_usage, [&]() -> int {
    const std::string meant = likely_meant(command, {"create", "synth", "inspect", "extract"});
    throw UsageError("unknown command '" + command + "'" +
                     (meant.empty() ? "" : " (did you mean '" + meant + "'?)"));
  });
}
