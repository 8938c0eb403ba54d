#include "dwipack/format/table.hpp"

namespace dwipack::format {

const char* type_name(Type type) {
  switch (type) {
  case Type::f32:
    return "float32";
  case Type::f32be:
    return ">f4";
  case Type::f64:
    return "float64";
  case Type::i16:
    return "int16";
  case Type::i16be:
    return ">i2";
  case Type::i64:
    return "int64";
  case Type::u16:
    return "uint16";
  case Type::bool_enum:
    return "bool";
  case Type::text:
    return "str";
  case Type::text_list:
    return "str";
  }
  return "?";
}

AttrValue AttrValue::text(std::string value) {
  AttrValue v;
  v.type = Type::text;
  v.texts = {std::move(value)};
  return v;
}

AttrValue AttrValue::text_list(std::vector<std::string> values) {
  AttrValue v;
  v.type = Type::text_list;
  v.dims = {values.size()};
  v.texts = std::move(values);
  return v;
}

AttrValue AttrValue::number(Type type, double value) {
  AttrValue v;
  v.type = type;
  v.numbers = {value};
  return v;
}

AttrValue AttrValue::numbers_of(Type type, Dims dims, std::vector<double> values) {
  AttrValue v;
  v.type = type;
  v.dims = std::move(dims);
  v.numbers = std::move(values);
  return v;
}

namespace {

using Maybe = std::optional<AttrValue>;

template <class Array> std::vector<double> as_doubles(const Array& a) {
  return std::vector<double>(a.begin(), a.end());
}

/// float32 values of a float64 array (the affine of a streamline group is stored as float32).
template <class Array> std::vector<double> rounded_to_f32(const Array& a) {
  std::vector<double> out;
  for (double x : a)
    out.push_back(static_cast<double>(static_cast<float>(x)));
  return out;
}

Dims dims3(const std::array<int64_t, 3>& a) {
  return {static_cast<uint64_t>(a[0]), static_cast<uint64_t>(a[1]), static_cast<uint64_t>(a[2])};
}

/// A rule for a dataset that every group of its kind has exactly once.
std::function<std::vector<DatasetInstance>(const GroupPlan&)>
one(const char* name, Type type, std::function<Dims(const GroupPlan&)> shape) {
  return [name, type, shape](const GroupPlan& g) {
    return std::vector<DatasetInstance>{{name, shape(g), type, type}};
  };
}

uint64_t n_streamlines(const GroupPlan& g) {
  return static_cast<uint64_t>(g.streamlines.n_streamlines);
}

/// An option's value (float64 / int64 scalar, even 0, as dwi_ml writes it) or dwi_ml's text.
template <class T> AttrValue option_value(const std::optional<T>& option, Type type) {
  return option ? AttrValue::number(type, static_cast<double>(*option))
                : AttrValue::text(not_defined_by_user);
}

// ---- the root ----

std::vector<AttributeRule<RootContent>> root_rules(Kind kind) {
  const bool y2021 = kind == Kind::dwi_ml_2021;
  std::vector<AttributeRule<RootContent>> rules;
  if (y2021)
    rules.push_back({"version", [](const RootContent&) -> Maybe { return AttrValue::number(Type::i64, 2); }});
  // sic: dwi_ml's spelling
  rules.push_back(
      {"data_and_time", [](const RootContent& r) -> Maybe { return AttrValue::text(r.plan.data_and_time); }});
  rules.push_back(
      {"chosen_subjs", [](const RootContent& r) -> Maybe { return AttrValue::text_list(r.chosen); }});
  rules.push_back(
      {"groups_config", [](const RootContent& r) -> Maybe { return AttrValue::text(r.plan.groups_config); }});
  rules.push_back(
      {"training_subjs", [](const RootContent& r) -> Maybe { return AttrValue::text_list(r.training); }});
  rules.push_back(
      {"validation_subjs", [](const RootContent& r) -> Maybe { return AttrValue::text_list(r.validation); }});
  if (!y2021)
    rules.push_back(
        {"testing_subjs", [](const RootContent& r) -> Maybe { return AttrValue::text_list(r.testing); }});
  rules.push_back({"step_size", [](const RootContent& r) -> Maybe {
                     return option_value(r.plan.streamline_options.step_size_mm, Type::f64);
                   }});
  if (y2021) {
    rules.push_back(
        {"space", [](const RootContent& r) -> Maybe { return AttrValue::text(r.plan.space_2021); }});
  } else {
    rules.push_back({"nb_points", [](const RootContent& r) -> Maybe {
                       return option_value(r.plan.streamline_options.nb_points, Type::i64);
                     }});
    rules.push_back({"compress", [](const RootContent& r) -> Maybe {
                       return option_value(r.plan.streamline_options.compress_mm, Type::f64);
                     }});
  }
  // Provenance (docs/format.md §3.1): both layouts.
  rules.push_back({"dwipack_version",
                   [](const RootContent& r) -> Maybe { return AttrValue::text(r.provenance.version); }});
  rules.push_back({"dwipack_git_commit",
                   [](const RootContent& r) -> Maybe { return AttrValue::text(r.provenance.git_commit); }});
  rules.push_back({"dwipack_command_line",
                   [](const RootContent& r) -> Maybe { return AttrValue::text(r.provenance.command_line); }});
  rules.push_back({"dwipack_ranks", [](const RootContent& r) -> Maybe {
                     return AttrValue::number(Type::i64, static_cast<double>(r.provenance.ranks));
                   }});
  rules.push_back({"dwipack_rank_hosts", [](const RootContent& r) -> Maybe {
                     return AttrValue::text_list(r.provenance.rank_hosts);
                   }});
  rules.push_back({"dwipack_inputs",
                   [](const RootContent& r) -> Maybe { return AttrValue::text_list(r.provenance.inputs); }});
  rules.push_back({"dwipack_subject_digests", [](const RootContent& r) -> Maybe {
                     return AttrValue::text_list(r.provenance.subject_digests);
                   }});
  rules.push_back({"dwipack_skipped_subjects",
                   [](const RootContent& r) -> Maybe { return AttrValue::text_list(r.provenance.skipped); }});
  return rules;
}

// ---- volume groups ----

GroupRules volume_rules(Kind kind) {
  GroupRules t{GroupType::volume, {}, {}, {}};
  t.attributes.push_back({"type", [](const GroupPlan&) -> Maybe { return AttrValue::text("volume"); }});
  t.attributes.push_back({"affine", [](const GroupPlan& g) -> Maybe {
                            return AttrValue::numbers_of(Type::f64, {4, 4}, as_doubles(g.volume.vox2ras));
                          }});
  if (kind == Kind::dwi_ml) // added to dwi_ml in 2021-11
    t.attributes.push_back({"voxres", [](const GroupPlan& g) -> Maybe {
                              // nibabel's zooms: float64 for a NIfTI-2 header, float32 for NIfTI-1
                              const Type type = g.volume.nifti2 ? Type::f64 : Type::f32;
                              return AttrValue::numbers_of(type, {3}, as_doubles(g.volume.voxel_sizes));
                            }});
  t.attributes.push_back({"nb_features", [](const GroupPlan& g) -> Maybe {
                            return AttrValue::number(Type::i64, static_cast<double>(g.volume.nb_features));
                          }});
  t.datasets.push_back({Role::data, one("data", Type::f32, [](const GroupPlan& g) {
                          Dims d = dims3(g.volume.shape);
                          d.push_back(static_cast<uint64_t>(g.volume.nb_features));
                          return d;
                        })});
  return t;
}

// ---- streamline groups ----

GroupRules streamline_rules(Kind kind) {
  const bool y2021 = kind == Kind::dwi_ml_2021;
  GroupRules t{GroupType::streamlines, {}, {}, {}};
  t.attributes.push_back({"type", [](const GroupPlan&) -> Maybe { return AttrValue::text("streamlines"); }});
  // The space attributes dipy rebuilds a StatefulTractogram from (docs/format.md §3.4; values: §5.1).
  if (y2021) { // dipy's Space enum as str(); no origin attribute: the 2021 reader assumes center
    t.attributes.push_back({"space", [](const GroupPlan& g) -> Maybe {
                              const std::string& sp = g.streamlines.storage_space;
                              return AttrValue::text(sp == "rasmm"   ? "Space.RASMM"
                                                     : sp == "voxmm" ? "Space.VOXMM"
                                                                     : "Space.VOX");
                            }});
  } else {
    t.attributes.push_back({"space", [](const GroupPlan&) -> Maybe { return AttrValue::text("Space.VOX"); }});
    t.attributes.push_back(
        {"origin", [](const GroupPlan&) -> Maybe { return AttrValue::text("Origin.TRACKVIS"); }});
  }
  t.attributes.push_back(
      {"affine", [](const GroupPlan& g) -> Maybe {
         return AttrValue::numbers_of(Type::f32, {4, 4}, rounded_to_f32(g.streamlines.vox2ras));
       }});
  // The reference's header types as numpy holds them: a .trk header's int16 / float32 in its own
  // byte order; a NIfTI-2 reference's int64 / float64 (docs/format.md §3.5).
  t.attributes.push_back(
      {"dimensions", [](const GroupPlan& g) -> Maybe {
         const auto& s = g.streamlines;
         const Type type = s.reference_nifti2 ? Type::i64 : s.header_big_endian ? Type::i16be : Type::i16;
         return AttrValue::numbers_of(type, {3}, as_doubles(s.dimensions));
       }});
  t.attributes.push_back(
      {"voxel_sizes", [](const GroupPlan& g) -> Maybe {
         const auto& s = g.streamlines;
         const Type type = s.reference_nifti2 ? Type::f64 : s.header_big_endian ? Type::f32be : Type::f32;
         return AttrValue::numbers_of(type, {3}, as_doubles(s.voxel_sizes));
       }});
  t.attributes.push_back({"voxel_order", [](const GroupPlan& g) -> Maybe {
                            return AttrValue::text(g.streamlines.voxel_order);
                          }});
  if (!y2021) {
    t.attributes.push_back({"connectivity_matrix_type",
                            [](const GroupPlan& g) -> Maybe {
                              const auto& s = g.streamlines;
                              if (s.connectivity_matrix.empty()) return std::nullopt;
                              return AttrValue::text(s.connectivity_labels.empty() ? "from_blocs"
                                                                                   : "from_labels");
                            },
                            false});
    t.attributes.push_back({"connectivity_nb_blocs",
                            [](const GroupPlan& g) -> Maybe {
                              const auto& s = g.streamlines;
                              if (s.connectivity_matrix.empty() || !s.connectivity_labels.empty())
                                return std::nullopt;
                              return AttrValue::numbers_of(Type::i64, {3},
                                                           as_doubles(s.connectivity_nb_blocs));
                            },
                            false});
  }

  t.datasets.push_back({Role::data, one("data", Type::f32, [](const GroupPlan& g) {
                          return Dims{static_cast<uint64_t>(g.streamlines.n_points), 3};
                        })});
  t.datasets.push_back(
      {Role::offsets, one("offsets", Type::i64, [](const GroupPlan& g) { return Dims{n_streamlines(g)}; })});
  t.datasets.push_back(
      {Role::lengths, one("lengths", Type::i64, [](const GroupPlan& g) { return Dims{n_streamlines(g)}; })});
  // dipy's length() of a streamline of fewer than 2 points is the integer 0, and numpy makes the
  // list float64: the float32 lengths then convert exactly.
  t.datasets.push_back({Role::euclidean_lengths, [](const GroupPlan& g) {
                          const Type stored = g.streamlines.has_short_streamline ? Type::f64 : Type::f32;
                          return std::vector<DatasetInstance>{
                              {"euclidean_lengths", Dims{n_streamlines(g)}, stored, Type::f32}};
                        }});
  if (y2021) return t; // no data per streamline, no connectivity in 2021

  // Always present, possibly empty (dwi_ml's reader looks it up).
  t.subgroups.push_back("data_per_streamline");
  t.datasets.push_back({Role::dps,
                        [](const GroupPlan& g) {
                          std::vector<DatasetInstance> out;
                          for (const auto& key : g.streamlines.dps)
                            out.push_back({"data_per_streamline/" + key.name,
                                           {n_streamlines(g), static_cast<uint64_t>(key.columns)},
                                           Type::f32,
                                           Type::f32});
                          return out;
                        },
                        false});
  t.datasets.push_back({Role::connectivity_matrix,
                        [](const GroupPlan& g) {
                          std::vector<DatasetInstance> out;
                          if (!g.streamlines.connectivity_matrix.empty())
                            out.push_back({"connectivity_matrix", g.streamlines.connectivity_shape,
                                           Type::bool_enum, Type::bool_enum});
                          return out;
                        },
                        false});
  t.datasets.push_back(
      {Role::connectivity_label_volume,
       [](const GroupPlan& g) {
         std::vector<DatasetInstance> out;
         const auto& s = g.streamlines;
         if (!s.connectivity_matrix.empty() && !s.connectivity_labels.empty())
           out.push_back({"connectivity_label_volume", dims3(s.labels_shape), Type::u16, Type::u16});
         return out;
       },
       false});
  return t;
}

Format make_format(Kind kind) {
  const bool y2021 = kind == Kind::dwi_ml_2021;
  Format f{kind,
           root_rules(kind),
           volume_rules(kind),
           streamline_rules(kind),
           VolumeRules{/*mask_nonzero=*/y2021, /*zero_std_to_one=*/y2021},
           /*points_center_origin=*/y2021,
           /*points_space_option=*/y2021,
           /*has_testing_list=*/!y2021,
           /*has_dps_and_connectivity=*/!y2021};
  return f;
}

} // namespace

const Format& format_of(Kind kind) {
  static const Format current = make_format(Kind::dwi_ml);
  static const Format y2021 = make_format(Kind::dwi_ml_2021);
  return kind == Kind::dwi_ml_2021 ? y2021 : current;
}

std::vector<std::string> required_attributes(const Format& format, GroupType type) {
  std::vector<std::string> out;
  for (const auto& rule : format.group(type).attributes)
    if (rule.required) out.push_back(rule.name);
  return out;
}

std::vector<std::string> required_datasets(const Format& format, GroupType type) {
  std::vector<std::string> out;
  GroupPlan empty;
  empty.type = type;
  for (const auto& rule : format.group(type).datasets)
    if (rule.required)
      for (const auto& instance : rule.instances(empty))
        out.push_back(instance.name);
  return out;
}

std::optional<GroupType> group_type_named(const std::string& type_attribute) {
  if (type_attribute == "volume") return GroupType::volume;
  if (type_attribute == "streamlines") return GroupType::streamlines;
  return std::nullopt;
}

} // namespace dwipack::format
