// Rank 0 builds the new file's layout while the workers plan (docs/design.md, "Layout by rank 0"):
// each subject's groups, attributes and datasets are made as soon as its plan and those of all
// the subjects before it in list order have arrived, so that the layout is ready, or nearly, when
// the plan is. It lives under a name of its own until create_layout() takes it.
#include "create_steps.hpp"

#include "dwipack/error.hpp"
#include "dwipack/util/log.hpp"

#include <cstdio>
#include <unistd.h>

namespace dwipack::pipeline {
namespace {

/// What the root lists will need at most (every chosen subject, every rank): whether the early
/// file must allow dense attribute storage. The group attributes are known only with the plan:
/// take() compares with the plan's own answer.
bool dense_for_lists(const Setup& setup, format::Kind kind, size_t ranks) {
  Plan sketch;
  sketch.kind = kind;
  sketch.training = setup.training;
  sketch.validation = setup.validation;
  sketch.testing = setup.testing;
  for (const auto& id : setup.chosen) {
    sketch.subjects.emplace_back();
    sketch.subjects.back().id = id;
  }
  return format::needs_dense_attributes(sketch, ranks);
}

} // namespace

std::unique_ptr<EarlyLayout> EarlyLayout::start(const Setup& setup,
                                                const CreateOptions& options,
                                                const std::string& partial,
                                                format::Kind kind,
                                                size_t ranks) {
  if (options.dry_run) return nullptr; // writes nothing
  const std::string path = partial + ".layout";
  std::remove(path.c_str()); // left by a job killed while planning, if any
  // One rank plans alone: nothing to overlap with (and interleaving the two was slower).
  if (ranks < 2) return nullptr;
  // --resume over an existing file most likely keeps it (or its partial file): no new layout.
  if (options.resume && (access(partial.c_str(), F_OK) == 0 || access(setup.final_path.c_str(), F_OK) == 0))
    return nullptr;
  std::unique_ptr<EarlyLayout> early(new EarlyLayout(path, options.on_error == OnError::skip));
  try {
    early->file_.emplace(h5::File::create_serial(early->path_, dense_for_lists(setup, kind, ranks)));
    early->builder_.emplace(*early->file_, kind);
  } catch (const std::exception& e) { // any failure: the usual way after the plan
    log::debug(std::string("the layout will be made after the plan: ") + e.what());
    return nullptr; // its destructor removes what was made
  }
  return early;
}

EarlyLayout::~EarlyLayout() {
  abandon();
}

void EarlyLayout::abandon() {
  builder_.reset();
  if (file_) {
    try {
      file_->close();
    } catch (...) { // its content is not used (and this runs in a destructor)
    }
    file_.reset();
  }
  if (!path_.empty()) std::remove(path_.c_str());
  path_.clear();
  pending_.clear();
}

void EarlyLayout::on_planned(size_t index, const TaskReport<PlannedSubject>& report) {
  if (!builder_) return;
  if (!report.ok() && !skip_) return abandon(); // nothing will be written
  if (report.ok())
    pending_.emplace(index, report.result->plan);
  else
    pending_.emplace(index, std::nullopt); // --on_error skip: not in the plan
  // At most ~10 ms of building per result, so that rank 0 answers the workers promptly; the rest
  // waits for the next result, or take().
  build(std::chrono::steady_clock::now() + std::chrono::milliseconds(10));
}

void EarlyLayout::build(std::chrono::steady_clock::time_point until) {
  try {
    while (builder_ && !pending_.empty() && pending_.begin()->first == next_) {
      if (pending_.begin()->second) builder_->add(*pending_.begin()->second);
      pending_.erase(pending_.begin());
      ++next_;
      if (std::chrono::steady_clock::now() > until) return;
    }
  } catch (const std::exception& e) { // made again after the plan, where the error is reported in full
    log::debug(std::string("the layout will be made after the plan: ") + e.what());
    abandon();
  }
}

std::optional<format::LayoutPlaces>
EarlyLayout::take(const Plan& plan, const std::string& partial, size_t ranks) {
  build(std::chrono::steady_clock::time_point::max());
  const char* why = !builder_                                      ? "abandoned while planning"
                    : builder_->subjects() != plan.subjects.size() ? "not every subject was built"
                    : file_->dense_attributes() != format::needs_dense_attributes(plan, ranks)
                        ? "other file format bounds needed"
                        : nullptr;
  if (why) {
    log::debug(std::string("layout: made after the plan (") + why + ")");
    abandon();
    return std::nullopt;
  }
  try {
    format::LayoutPlaces places = builder_->finish(plan);
    builder_.reset();
    file_->close();
    file_.reset();
    if (std::rename(path_.c_str(), partial.c_str()) != 0)
      throw Error("renaming " + quoted(path_) + " to " + quoted(partial) + " failed");
    path_.clear();
    log::debug("layout: " + std::to_string(plan.subjects.size()) +
               " subject(s) built while the workers planned");
    return places;
  } catch (const std::exception& e) { // any failure: the usual way after the plan
    log::debug(std::string("the layout will be made again: ") + e.what());
    abandon();
    return std::nullopt;
  }
}

} // namespace dwipack::pipeline
