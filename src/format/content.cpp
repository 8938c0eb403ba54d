#include "dwipack/format/content.hpp"

namespace dwipack::format {

int64_t SubjectPlan::output_bytes() const {
  int64_t total = 0;
  for (const auto& g : groups)
    total += g.type == GroupType::volume ? g.volume.bytes() : g.streamlines.bytes();
  return total;
}

void to_json(nlohmann::json& j, const StreamlineOptions& o) {
  j = {{"step_size", o.step_size_mm ? nlohmann::json(*o.step_size_mm) : nlohmann::json()},
       {"nb_points", o.nb_points ? nlohmann::json(*o.nb_points) : nlohmann::json()},
       {"compress", o.compress_mm ? nlohmann::json(*o.compress_mm) : nlohmann::json()},
       {"remove_invalid", o.remove_invalid}};
}

void from_json(const nlohmann::json& j, StreamlineOptions& o) {
  o = {};
  if (!j.at("step_size").is_null()) o.step_size_mm = j["step_size"].get<double>();
  if (!j.at("nb_points").is_null()) o.nb_points = j["nb_points"].get<int64_t>();
  if (!j.at("compress").is_null()) o.compress_mm = j["compress"].get<double>();
  o.remove_invalid = j.at("remove_invalid").get<bool>();
}

} // namespace dwipack::format
