#include "dwipack/tools/inspect.hpp"

#include "dwipack/error.hpp"
#include "dwipack/format/table.hpp"
#include "dwipack/h5/read.hpp"

#include <array>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <set>

namespace dwipack::tools {
namespace {

using nlohmann::json;

/// The three split attributes in dwi_ml's order, with the names the JSON document uses.
constexpr std::array<std::pair<const char*, const char*>, 3> split_attrs{
    {{"training", "training_subjs"}, {"validation", "validation_subjs"}, {"testing", "testing_subjs"}}};

json shape_json(const std::vector<uint64_t>& shape, bool null_space) {
  if (null_space) return nullptr;
  json s = json::array();
  for (uint64_t d : shape)
    s.push_back(d);
  return s;
}

/// Every attribute of `obj`; one that cannot be read is reported and kept with a null value.
json attributes_json(hid_t obj, const std::string& where, std::vector<std::string>& problems) {
  json attrs = json::object();
  std::vector<std::string> names;
  try {
    names = h5::attribute_names(obj, where);
  } catch (const Error& e) {
    problems.push_back(e.what());
  }
  for (const auto& name : names) {
    try {
      const h5::Value v = h5::read_attribute(obj, name, where);
      attrs[name] = {{"dtype", v.dtype}, {"shape", shape_json(v.shape, v.null_space)}, {"value", v.value}};
    } catch (const Error& e) {
      problems.push_back(e.what());
      attrs[name] = {{"dtype", nullptr}, {"shape", nullptr}, {"value", nullptr}};
    }
  }
  return attrs;
}

json dataset_json(hid_t parent, const std::string& name, const std::string& where) {
  h5::Handle ds = h5::open_dataset(parent, name, where);
  const h5::DatasetInfo info = h5::dataset_info(ds.id(), where);
  return {{"dtype", info.dtype}, {"shape", shape_json(info.shape, false)}};
}

/// Datasets (by path relative to the group) and sub-groups below `group`, recursively.
void walk(hid_t group,
          const std::string& where,
          const std::string& prefix,
          json& datasets,
          json& subgroups,
          std::vector<std::string>& problems) {
  for (const auto& child : h5::list_children(group, where)) {
    const std::string path = h5::child_path(where, child.name);
    const std::string rel = prefix.empty() ? child.name : prefix + "/" + child.name;
    try {
      if (child.kind == h5::ObjectKind::dataset) {
        datasets[rel] = dataset_json(group, child.name, path);
      } else if (child.kind == h5::ObjectKind::group) {
        subgroups.push_back(rel);
        h5::Handle g = h5::open_group(group, child.name, path);
        walk(g.id(), path, rel, datasets, subgroups, problems);
      } else {
        problems.push_back(quoted(path) + ": neither a group nor a dataset (a link or a named type)");
      }
    } catch (const Error& e) {
      problems.push_back(e.what());
    }
  }
}

/// The value of a string attribute already in `attrs`, or null.
json text_attr(const json& attrs, const std::string& name) {
  if (!attrs.contains(name)) return nullptr;
  json v = attrs[name]["value"];
  while (v.is_array() && v.size() == 1)
    v = json(v[0]);
  return v.is_string() ? v : json(nullptr);
}

json dim0(const json& datasets, const std::string& name) {
  if (!datasets.contains(name)) return nullptr;
  const json& shape = datasets[name]["shape"];
  return shape.is_array() && !shape.empty() ? shape[0] : json(nullptr);
}

json group_json(const format::Format& format,
                hid_t subject,
                const std::string& name,
                const std::string& where,
                std::vector<std::string>& problems) {
  h5::Handle g = h5::open_group(subject, name, where);
  json out;
  out["attributes"] = attributes_json(g.id(), where, problems);
  json datasets = json::object(), subgroups = json::array();
  walk(g.id(), where, "", datasets, subgroups, problems);
  const json& attrs = out["attributes"];
  out["type"] = text_attr(attrs, "type");
  const auto need = [&](const auto& names, const json& have, const char* kind) {
    for (const auto& n : names)
      if (!have.contains(n)) problems.push_back(quoted(where) + ": missing " + kind + " " + quoted(n));
  };
  if (!attrs.contains("type")) {
    problems.push_back(quoted(where) + ": missing attribute 'type' (not a dwi_ml group)");
  } else if (out["type"].is_null()) {
    problems.push_back(quoted(where) + ": attribute 'type' is not a string");
  } else if (out["type"] == "volume") {
    need(format::required_attributes(format, GroupType::volume), attrs, "attribute");
    need(format::required_datasets(format, GroupType::volume), datasets, "dataset");
    json volume = {{"shape", nullptr}, {"features", nullptr}};
    if (datasets.contains("data") && datasets["data"]["shape"].is_array()) {
      const json& s = datasets["data"]["shape"];
      if (s.size() == 3 || s.size() == 4) {
        volume["shape"] = json::array({s[0], s[1], s[2]});
        volume["features"] = s.size() == 4 ? s[3] : json(1);
      } else {
        problems.push_back(quoted(h5::child_path(where, "data")) + ": " + std::to_string(s.size()) +
                           " dimensions, expected 4 (X, Y, Z, F)");
      }
    }
    if (attrs.contains("nb_features") && !volume["features"].is_null() &&
        attrs["nb_features"]["value"] != volume["features"])
      problems.push_back(quoted(where) + ": attribute 'nb_features' is " +
                         attrs["nb_features"]["value"].dump() + " but 'data' has " +
                         volume["features"].dump() + " features");
    out["volume"] = volume;
  } else if (out["type"] == "streamlines") {
    need(format::required_attributes(format, GroupType::streamlines), attrs, "attribute");
    need(format::required_datasets(format, GroupType::streamlines), datasets, "dataset");
    json s;
    s["count"] = datasets.contains("lengths") ? dim0(datasets, "lengths") : dim0(datasets, "offsets");
    s["points"] = dim0(datasets, "data");
    s["space"] = text_attr(attrs, "space");
    s["origin"] = text_attr(attrs, "origin");
    json keys = json::array();
    if (h5::has_child(g.id(), "data_per_streamline")) {
      h5::Handle dps =
          h5::open_group(g.id(), "data_per_streamline", h5::child_path(where, "data_per_streamline"));
      for (const auto& c : h5::list_children(dps.id(), h5::child_path(where, "data_per_streamline")))
        if (c.kind == h5::ObjectKind::dataset) keys.push_back(c.name);
    }
    s["dps_keys"] = keys;
    for (const char* per_streamline : {"offsets", "euclidean_lengths"}) {
      const json n = dim0(datasets, per_streamline);
      if (!n.is_null() && !s["count"].is_null() && n != s["count"])
        problems.push_back(quoted(h5::child_path(where, per_streamline)) + ": " + n.dump() + " rows for " +
                           s["count"].dump() + " streamlines");
    }
    for (const auto& k : keys) {
      const json n = dim0(datasets, "data_per_streamline/" + k.get<std::string>());
      if (n != s["count"])
        problems.push_back(quoted(h5::child_path(where, "data_per_streamline/" + k.get<std::string>())) +
                           ": " + n.dump() + " rows for " + s["count"].dump() + " streamlines");
    }
    out["streamlines"] = s;
  } else {
    problems.push_back(quoted(where) + ": unknown type " + quoted(out["type"].get<std::string>()));
  }
  out["datasets"] = datasets;
  out["subgroups"] = subgroups;
  return out;
}

/// A split attribute as a list of ids: strings, or h5py's float64 (0,) for an empty list.
json split_json(const json& attrs, const std::string& attr, std::vector<std::string>& problems) {
  if (!attrs.contains(attr)) {
    problems.push_back("'/': missing root attribute " + quoted(attr));
    return nullptr;
  }
  const json& v = attrs[attr]["value"];
  if (v.is_string()) return json::array({v});
  if (v.is_array()) {
    if (v.empty()) return json::array();
    if (std::all_of(v.begin(), v.end(), [](const json& x) { return x.is_string(); })) return v;
  }
  problems.push_back("'/': root attribute " + quoted(attr) + " is not a list of subject ids");
  return nullptr;
}

// ------------------------------------------------------------------------------- text rendering

std::string shape_text(const json& shape) {
  if (!shape.is_array()) return "Empty";
  std::string s = "(";
  for (size_t i = 0; i < shape.size(); ++i)
    s += (i ? ", " : "") + shape[i].dump();
  return s + (shape.size() == 1 ? ",)" : ")");
}

/// Shortest text that reads back as the same value (float32 precision for float32 data).
std::string number_text(double v, bool single) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  char buf[40];
  if (v == std::floor(v) && std::fabs(v) < 1e15) { // integral: no exponent ("-20", not "-2e+01")
    std::snprintf(buf, sizeof buf, "%.0f", v);
    return buf;
  }
  for (int precision = 1; precision <= 17; ++precision) {
    std::snprintf(buf, sizeof buf, "%.*g", precision, v);
    const double back = std::strtod(buf, nullptr);
    if (single ? static_cast<float>(back) == static_cast<float>(v) : back == v) break;
  }
  return buf;
}

size_t leaf_count(const json& v) {
  if (!v.is_array()) return 1;
  size_t n = 0;
  for (const auto& x : v)
    n += leaf_count(x);
  return n;
}

std::string value_text(const json& v, bool single) {
  constexpr size_t max_chars = 80;
  if (v.is_string()) {
    const std::string s = v.get<std::string>();
    if (s.size() <= max_chars) return "'" + s + "'";
    return "'" + s.substr(0, max_chars - 20) + "...' (" + std::to_string(s.size()) + " characters)";
  }
  if (v.is_boolean()) return v.get<bool>() ? "True" : "False";
  if (v.is_number_float()) return number_text(v.get<double>(), single);
  if (v.is_number()) return v.dump();
  if (v.is_null()) return "?";
  std::string s = "[";
  for (size_t i = 0; i < v.size(); ++i)
    s += (i ? ", " : "") + value_text(v[i], single);
  return s + "]";
}

std::string attribute_text(const std::string& name, const json& a) {
  std::string line = "@" + name + ": " + (a["dtype"].is_string() ? a["dtype"].get<std::string>() : "?") +
                     " " + shape_text(a["shape"]);
  const json& v = a["value"];
  if (a["shape"].is_null()) return line;
  const bool single = a["dtype"] == "float32" || a["dtype"] == "float16";
  constexpr size_t max_values = 16; // an affine is shown; longer arrays are not
  if (leaf_count(v) > max_values) return line + " (" + std::to_string(leaf_count(v)) + " values, not shown)";
  std::string text = value_text(v, single);
  if (text.size() > 200) text = text.substr(0, 180) + "... (shortened)";
  return line + " = " + text;
}

std::string size_text(uint64_t bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(bytes);
  int u = 0;
  while (v >= 1024 && u < 4) {
    v /= 1024;
    ++u;
  }
  char buf[64];
  std::snprintf(buf, sizeof buf, u == 0 ? "%.0f %s" : "%.1f %s", v, units[u]);
  return buf;
}

void print_members(const json& node, const std::string& indent, std::ostream& out) {
  for (const auto& [name, a] : node["attributes"].items())
    out << indent << attribute_text(name, a) << "\n";
  for (const auto& [name, d] : node["datasets"].items())
    out << indent << name << ": " << d["dtype"].get<std::string>() << " " << shape_text(d["shape"]) << "\n";
}

std::string group_summary(const json& g) {
  if (g.contains("volume")) {
    const json& v = g["volume"];
    if (v["shape"].is_null()) return "volume";
    return "volume, " + v["shape"][0].dump() + " x " + v["shape"][1].dump() + " x " + v["shape"][2].dump() +
           " voxels, " + v["features"].dump() + " feature(s)";
  }
  if (g.contains("streamlines")) {
    const json& s = g["streamlines"];
    std::string keys;
    for (const auto& k : s["dps_keys"])
      keys += (keys.empty() ? "" : ", ") + k.get<std::string>();
    return "streamlines, " + (s["count"].is_null() ? "?" : s["count"].dump()) + " streamlines, " +
           (s["points"].is_null() ? "?" : s["points"].dump()) +
           " points, data_per_streamline: " + (keys.empty() ? "none" : keys) + ", space " +
           value_text(s["space"], false) + ", origin " + value_text(s["origin"], false);
  }
  return g["type"].is_string() ? "type " + value_text(g["type"], false) : "no type";
}

/// Bytes per element of a numpy dtype name ("float32": 4, "bool": 1); 0 when unknown ("str").
uint64_t item_bytes(const std::string& dtype) {
  if (dtype == "bool") return 1;
  const auto digits = dtype.find_first_of("0123456789");
  if (digits == std::string::npos) return 0;
  return std::strtoull(dtype.c_str() + digits, nullptr, 10) / 8;
}

/// Bytes of data the datasets hold (elements x element size, before any compression).
uint64_t data_bytes(const json& datasets) {
  uint64_t total = 0;
  for (const auto& [name, d] : datasets.items()) {
    (void)name;
    if (!d["shape"].is_array() || !d["dtype"].is_string()) continue;
    uint64_t elements = 1;
    for (const auto& n : d["shape"])
      elements *= n.get<uint64_t>();
    total += elements * item_bytes(d["dtype"].get<std::string>());
  }
  return total;
}

std::string splits_text(const json& subject) {
  std::string in;
  for (const auto& split : subject["splits"])
    in += (in.empty() ? "" : ", ") + split.get<std::string>();
  return in.empty() ? "no split" : in;
}

void print_subject(const std::string& id, const json& s, std::ostream& out) {
  out << "subject " << id << " (" << splits_text(s) << "), " << s["groups"].size() << " group(s)\n";
  print_members(s, "  ", out);
  for (const auto& [name, g] : s["groups"].items()) {
    out << "  group " << name << ": " << group_summary(g) << "\n";
    print_members(g, "    ", out);
    for (const auto& sub : g["subgroups"])
      out << "    " << sub.get<std::string>() << "/ (group)\n";
  }
}

/// "sub-02 (validation) 1.2 MiB: dwi (14, 16, 12, 5); bundles 200 streamlines, 8000 points"
std::string subject_line(const std::string& id, const json& s) {
  uint64_t bytes = data_bytes(s["datasets"]);
  std::string groups;
  for (const auto& [name, g] : s["groups"].items()) {
    bytes += data_bytes(g["datasets"]);
    std::string what;
    if (g.contains("volume") && g["datasets"].contains("data")) {
      what = shape_text(g["datasets"]["data"]["shape"]);
    } else if (g.contains("streamlines")) {
      const json& sl = g["streamlines"];
      what = (sl["count"].is_null() ? "?" : sl["count"].dump()) + " streamlines, " +
             (sl["points"].is_null() ? "?" : sl["points"].dump()) + " points";
    } else {
      what = "(" + group_summary(g) + ")";
    }
    groups += (groups.empty() ? "" : "; ") + name + " " + what;
  }
  return id + " (" + splits_text(s) + ") " + size_text(bytes) + ": " +
         (groups.empty() ? "no groups" : groups);
}

} // namespace

json inspect_file(const std::string& path) {
  h5::SilenceErrors quiet; // failures become Error messages or "problems", not HDF5 stack dumps
  h5::File file = h5::open_file_read(path);
  std::vector<std::string> problems;
  json doc;
  doc["file"] = path;
  doc["size_bytes"] = std::filesystem::file_size(path);
  doc["attributes"] = attributes_json(file.id(), "/", problems);
  // Groups are checked against what dwi_ml's current reader needs (its format table), whoever
  // wrote the file: a 2021 file is reported with what it lacks for that reader.
  const format::Format& format = format::format_of(format::Kind::dwi_ml);

  json splits = json::object();
  std::map<std::string, std::vector<std::string>> split_of; // subject -> splits listing it
  for (const auto& [split, attr] : split_attrs) {
    splits[split] = split_json(doc["attributes"], attr, problems);
    if (splits[split].is_array())
      for (const auto& id : splits[split])
        split_of[id.get<std::string>()].push_back(split);
  }
  doc["splits"] = splits;

  json subjects = json::object(), other = json::object();
  for (const auto& child : h5::list_children(file.id(), "/")) {
    const std::string where = h5::child_path("/", child.name);
    if (child.kind != h5::ObjectKind::group) {
      other[where] = child.kind == h5::ObjectKind::dataset ? "dataset" : "other";
      problems.push_back(quoted(where) + ": a root member that is not a subject group");
      continue;
    }
    try {
      h5::Handle s = h5::open_group(file.id(), child.name, where);
      json subject;
      subject["splits"] = split_of.count(child.name) ? json(split_of[child.name]) : json::array();
      if (!split_of.count(child.name)) problems.push_back(quoted(where) + ": subject in no split");
      subject["attributes"] = attributes_json(s.id(), where, problems);
      json datasets = json::object(), groups = json::object();
      for (const auto& member : h5::list_children(s.id(), where)) {
        const std::string mwhere = h5::child_path(where, member.name);
        try {
          if (member.kind == h5::ObjectKind::group) {
            groups[member.name] = group_json(format, s.id(), member.name, mwhere, problems);
          } else if (member.kind == h5::ObjectKind::dataset) {
            datasets[member.name] = dataset_json(s.id(), member.name, mwhere);
          } else {
            problems.push_back(quoted(mwhere) + ": neither a group nor a dataset (a link or a named type)");
          }
        } catch (const Error& e) {
          problems.push_back(e.what());
        }
      }
      subject["datasets"] = datasets;
      subject["groups"] = groups;
      subjects[child.name] = subject;
    } catch (const Error& e) {
      problems.push_back(e.what());
    }
  }
  for (const auto& [id, in] : split_of)
    if (!subjects.contains(id))
      for (const auto& split : in)
        problems.push_back("'/': subject " + quoted(id) + " of the " + split + " split is not in the file");
  doc["subjects"] = subjects;
  doc["other"] = other;
  doc["problems"] = problems;
  return doc;
}

void print_inspection(const json& doc, std::ostream& out, Detail detail) {
  out << "file: " << doc["file"].get<std::string>() << "\n";
  const auto bytes = doc["size_bytes"].get<uint64_t>();
  out << "size on disk: " << size_text(bytes) << " (" << bytes << " bytes)\n";
  out << "root attributes:\n";
  for (const auto& [name, a] : doc["attributes"].items())
    out << "  " << attribute_text(name, a) << "\n";
  out << "subjects per split:\n";
  for (const auto& [split, attr] : split_attrs) {
    const json& ids = doc["splits"][split];
    out << "  " << split << ": ";
    if (ids.is_null()) {
      out << "(no valid attribute " << attr << ")\n";
      continue;
    }
    out << ids.size() << " subject(s)";
    for (const auto& id : ids)
      out << " " << id.get<std::string>();
    out << "\n";
  }
  const json& subjects = doc["subjects"];
  if (detail == Detail::all) {
    for (const auto& [id, s] : subjects.items())
      print_subject(id, s, out);
  } else if (!subjects.empty()) {
    // A file of many subjects: the first one in full shows the layout, one line each the rest.
    print_subject(subjects.begin().key(), subjects.begin().value(), out);
    out << "subjects: " << subjects.size() << ", one line each (data bytes before compression; --all: "
        << "every subject in full)\n";
    for (const auto& [id, s] : subjects.items())
      out << "  " << subject_line(id, s) << "\n";
  }
  for (const auto& [where, kind] : doc["other"].items())
    out << "other member: " << where << " (" << kind.get<std::string>() << ")\n";
  const json& problems = doc["problems"];
  out << "problems: " << (problems.empty() ? "none" : std::to_string(problems.size())) << "\n";
  for (const auto& p : problems)
    out << "  " << p.get<std::string>() << "\n";
}

} // namespace dwipack::tools
