#pragma once

// Centers files. The library's own format is safetensors with two float32 [T, D] tensors `harmless`
// and `harmful`, optional accumulator state for resuming (per-group sums, counts and run counts),
// and the build conditions (sri::CentersMetadata) as strings in "__metadata__". The loader also
// accepts the reference implementation's torch.save((harmless, harmful)) file, which has no metadata.

#include <sri/core/centers.hpp>
#include <sri/core/metadata.hpp>
#include <sri/core/types.hpp>
#include <sri/error.hpp>
#include <sri/io/activations.hpp>
#include <sri/io/safetensors.hpp>
#include <sri/io/torch_pt.hpp>

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <fmt/std.h>
#include <nlohmann/json.hpp>

#include <array>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace sri::io {

// Value of the "format" metadata key that marks a file written by write_centers.
inline constexpr std::string_view centers_format_tag = "sri.centers";
// Layout version of that format; a reader rejects versions it does not know.
inline constexpr std::string_view centers_format_version = "1";

enum class CentersSource {
  sri_safetensors,   // written by write_centers, with metadata
  plain_safetensors,  // safetensors with harmless/harmful tensors but no sri metadata
  reference_pt,      // the reference's torch.save((harmless, harmful)); no metadata
};

[[nodiscard]] inline std::string_view to_string(CentersSource source) {
  switch (source) {
    case CentersSource::sri_safetensors: return "sri safetensors";
    case CentersSource::plain_safetensors: return "safetensors without sri metadata";
    case CentersSource::reference_pt: return "reference torch.save file";
  }
  return "unknown";
}

// A loaded centers file.
struct CentersFile {
  CenterPair centers;                         // float32 [steps, hidden] each
  std::optional<CentersMetadata> metadata;    // nullopt when the file carries none (reference .pt)
  CentersSource source = CentersSource::sri_safetensors;
  std::string stored_dtype = "float32";       // dtype in the file before conversion, e.g. "float16"
  // Accumulator groups in CenterAccumulator::groups() order, when the file was written with them.
  std::optional<std::array<CenterGroup, CenterAccumulator::group_count>> accumulator;
};

namespace detail {

inline constexpr std::array<std::string_view, CenterAccumulator::group_count> accumulator_group_names{
    "harmless_kept", "harmless_refused", "harmful_complied", "harmful_refused"};

inline CenterFiltering parse_filtering(const std::filesystem::path& path, std::string_view text) {
  for (const auto filtering : {CenterFiltering::reference, CenterFiltering::unfiltered_harmless,
                               CenterFiltering::unfiltered_harmful, CenterFiltering::unfiltered_both}) {
    if (sri::to_string(filtering) == text) return filtering;
  }
  raise("sri.io.centers_invalid",
        fmt::format("centers file {} has filtering '{}'; expected reference, unfiltered_harmless, unfiltered_harmful "
                    "or unfiltered_both",
                    path, text));
}

inline nlohmann::json profile_to_json(const GenerationProfile& profile) {
  return {{"steps", profile.steps},         {"gen_length", profile.gen_length},
          {"block_length", profile.block_length}, {"temperature", profile.temperature},
          {"cfg_scale", profile.cfg_scale}, {"remasking", profile.remasking},
          {"sig_t", profile.sig_t},         {"eps", profile.eps},
          {"sampler", profile.sampler},     {"seed", profile.seed}};
}

inline nlohmann::json prompt_set_to_json(const PromptSetInfo& set) {
  return {{"name", set.name}, {"source", set.source}, {"n", set.n}, {"refused", set.refused},
          {"refusal_rate", set.refusal_rate()}};
}

// Reads `key` of a JSON object as type Value; names the file and key on a missing or mistyped field.
template <typename Value>
Value json_field(const std::filesystem::path& path, const nlohmann::json& object, std::string_view owner,
                 const char* key) {
  const auto found = object.find(key);
  if (found == object.end()) {
    raise("sri.io.centers_invalid", fmt::format("centers file {}: metadata '{}' has no field '{}'", path, owner, key));
  }
  try {
    return found->get<Value>();
  } catch (const nlohmann::json::exception&) {
    raise("sri.io.centers_invalid",
          fmt::format("centers file {}: field '{}' of metadata '{}' is {}, of the wrong type", path, key, owner,
                      found->dump()));
  }
}

inline GenerationProfile profile_from_json(const std::filesystem::path& path, const nlohmann::json& object) {
  GenerationProfile profile;
  profile.steps = json_field<std::int64_t>(path, object, "profile", "steps");
  profile.gen_length = json_field<std::int64_t>(path, object, "profile", "gen_length");
  profile.block_length = json_field<std::int64_t>(path, object, "profile", "block_length");
  profile.temperature = json_field<double>(path, object, "profile", "temperature");
  profile.cfg_scale = json_field<double>(path, object, "profile", "cfg_scale");
  profile.remasking = json_field<std::string>(path, object, "profile", "remasking");
  profile.sig_t = json_field<double>(path, object, "profile", "sig_t");
  profile.eps = json_field<double>(path, object, "profile", "eps");
  profile.sampler = json_field<std::string>(path, object, "profile", "sampler");
  profile.seed = json_field<std::uint64_t>(path, object, "profile", "seed");
  return profile;
}

inline PromptSetInfo prompt_set_from_json(const std::filesystem::path& path, const nlohmann::json& object,
                                          const char* owner) {
  PromptSetInfo set;
  set.name = json_field<std::string>(path, object, owner, "name");
  set.source = json_field<std::string>(path, object, owner, "source");
  set.n = json_field<std::int64_t>(path, object, owner, "n");
  set.refused = json_field<std::int64_t>(path, object, owner, "refused");
  return set;
}

inline nlohmann::json parse_metadata_json(const std::filesystem::path& path, const std::map<std::string, std::string>& metadata,
                                          const char* key) {
  const auto found = metadata.find(key);
  if (found == metadata.end()) {
    raise("sri.io.centers_invalid", fmt::format("centers file {} has no '{}' metadata entry; write it again with "
                                                "write_centers",
                                                path, key));
  }
  try {
    return nlohmann::json::parse(found->second);
  } catch (const nlohmann::json::parse_error& error) {
    raise("sri.io.centers_invalid",
          fmt::format("centers file {}: metadata entry '{}' is not valid JSON ({})", path, key, error.what()));
  }
}

inline std::int64_t parse_metadata_integer(const std::filesystem::path& path,
                                           const std::map<std::string, std::string>& metadata, const char* key) {
  const nlohmann::json value = parse_metadata_json(path, metadata, key);
  if (!value.is_number_integer()) {
    raise("sri.io.centers_invalid",
          fmt::format("centers file {}: metadata entry '{}' is {}; expected an integer", path, key, value.dump()));
  }
  return value.get<std::int64_t>();
}

inline std::string metadata_string(const std::filesystem::path& path, const std::map<std::string, std::string>& metadata,
                                   const char* key) {
  const auto found = metadata.find(key);
  if (found == metadata.end()) {
    raise("sri.io.centers_invalid",
          fmt::format("centers file {} has no '{}' metadata entry; write it again with write_centers", path, key));
  }
  return found->second;
}

// Checks that both centers are [steps, hidden] of one shape with finite values.
inline void check_center_pair(const std::filesystem::path& path, const CenterPair& pair) {
  if (pair.harmless.rows() != pair.harmful.rows() || pair.harmless.cols() != pair.harmful.cols()) {
    raise("sri.io.centers_invalid",
          fmt::format("centers in {}: harmless is [{}, {}] but harmful is [{}, {}]; both must be [steps, hidden]", path,
                      pair.harmless.rows(), pair.harmless.cols(), pair.harmful.rows(), pair.harmful.cols()));
  }
  if (pair.harmless.size() == 0) {
    raise("sri.io.centers_invalid", fmt::format("centers in {} are empty ([{}, {}])", path, pair.harmless.rows(),
                                                pair.harmless.cols()));
  }
  if (!pair.harmless.allFinite() || !pair.harmful.allFinite()) {
    raise("sri.io.centers_invalid",
          fmt::format("centers in {} contain NaN or infinite values; rebuild them", path));
  }
}

inline std::string shape_text(const at::Tensor& tensor) {
  return fmt::format("[{}]", fmt::join(tensor.sizes().vec(), ", "));
}

inline CenterGroup read_group(const SafetensorsFile& file, std::string_view group_name, Eigen::Index steps,
                              Eigen::Index hidden) {
  const std::string prefix = fmt::format("state.{}.", group_name);
  const at::Tensor sum = file.tensor(prefix + "sum");      // [steps, hidden] float64
  const at::Tensor count = file.tensor(prefix + "count");  // [steps] int64
  const at::Tensor runs = file.tensor(prefix + "runs");    // [] int64
  const bool shapes_ok = sum.scalar_type() == at::kDouble && sum.dim() == 2 && sum.size(0) == steps &&
                         sum.size(1) == hidden && count.scalar_type() == at::kLong && count.dim() == 1 &&
                         count.size(0) == steps && runs.scalar_type() == at::kLong && runs.dim() == 0;
  if (!shapes_ok) {
    raise("sri.io.centers_invalid",
          fmt::format("centers file {}: accumulator group '{}' must hold F64 sum [{}, {}], I64 count [{}] and I64 "
                      "scalar runs, found {} {}, {} {} and {} {}; the file was altered, so rebuild it",
                      file.path(), group_name, steps, hidden, steps, file.info(prefix + "sum").dtype,
                      shape_text(sum), file.info(prefix + "count").dtype, shape_text(count),
                      file.info(prefix + "runs").dtype, shape_text(runs)));
  }
  CenterGroup group(steps, hidden);
  const at::Tensor sum_values = sum.contiguous();
  std::memcpy(group.sum.data(), sum_values.data_ptr<double>(), static_cast<std::size_t>(sum.numel()) * sizeof(double));
  const at::Tensor count_values = count.contiguous();
  std::memcpy(group.count.data(), count_values.data_ptr<int64_t>(), static_cast<std::size_t>(steps) * sizeof(int64_t));
  group.runs = runs.item<int64_t>();
  return group;
}

}  // namespace detail

// Serializes the metadata to the "__metadata__" string map: one entry per field, strings as they
// are and numbers and objects as JSON text.
inline std::map<std::string, std::string> centers_metadata_entries(const CentersMetadata& metadata) {
  return {
      {"format", std::string(centers_format_tag)},
      {"format_version", std::string(centers_format_version)},
      {"model_identity", metadata.model_identity},
      {"model_name", metadata.model_name},
      {"hook_point", metadata.hook_point},
      {"pooling", metadata.pooling},
      {"judge", metadata.judge},
      {"hidden_size", std::to_string(metadata.hidden_size)},
      {"profile", detail::profile_to_json(metadata.profile).dump()},
      {"harmless", detail::prompt_set_to_json(metadata.harmless).dump()},
      {"harmful", detail::prompt_set_to_json(metadata.harmful).dump()},
      {"filtering", std::string(sri::to_string(metadata.filtering))},
      {"library_version", metadata.library_version},
      {"prompt_format", metadata.prompt_format},
  };
}

// Parses the "__metadata__" map written by centers_metadata_entries. Throws sri.io.centers_invalid
// naming the missing or malformed entry.
inline CentersMetadata centers_metadata_from_entries(const std::filesystem::path& path,
                                                     const std::map<std::string, std::string>& entries) {
  const std::string version = detail::metadata_string(path, entries, "format_version");
  if (version != centers_format_version) {
    raise("sri.io.centers_invalid",
          fmt::format("centers file {} has format_version {}; this sri {} reads version {}; upgrade sri or rebuild "
                      "the centers",
                      path, version, version_string, centers_format_version));
  }
  CentersMetadata metadata;
  metadata.model_identity = detail::metadata_string(path, entries, "model_identity");
  metadata.model_name = detail::metadata_string(path, entries, "model_name");
  metadata.hook_point = detail::metadata_string(path, entries, "hook_point");
  metadata.pooling = detail::metadata_string(path, entries, "pooling");
  metadata.judge = detail::metadata_string(path, entries, "judge");
  metadata.hidden_size = detail::parse_metadata_integer(path, entries, "hidden_size");
  metadata.profile = detail::profile_from_json(path, detail::parse_metadata_json(path, entries, "profile"));
  metadata.harmless = detail::prompt_set_from_json(path, detail::parse_metadata_json(path, entries, "harmless"), "harmless");
  metadata.harmful = detail::prompt_set_from_json(path, detail::parse_metadata_json(path, entries, "harmful"), "harmful");
  metadata.filtering = detail::parse_filtering(path, detail::metadata_string(path, entries, "filtering"));
  metadata.library_version = detail::metadata_string(path, entries, "library_version");
  // Optional: files written before the prompt format was recorded lack it.
  if (const auto found = entries.find("prompt_format"); found != entries.end()) metadata.prompt_format = found->second;
  return metadata;
}

// Writes centers in the library's safetensors format, atomically. `accumulator`, when given, is
// stored too so that a later run can resume adding to it. The metadata's hidden size and step count
// must match the centers.
inline void write_centers(const std::filesystem::path& path, const CenterPair& centers,
                          const CentersMetadata& metadata, const CenterAccumulator* accumulator = nullptr) {
  detail::check_center_pair(path, centers);
  const Eigen::Index steps = centers.harmless.rows();
  const Eigen::Index hidden = centers.harmless.cols();
  if (metadata.hidden_size != hidden || metadata.profile.steps != steps) {
    raise("sri.io.invalid_argument",
          fmt::format("cannot write {}: the centers are [{}, {}] but the metadata says steps = {} and hidden_size = {}",
                      path, steps, hidden, metadata.profile.steps, metadata.hidden_size));
  }
  if (accumulator != nullptr && (accumulator->steps() != steps || accumulator->hidden() != hidden)) {
    raise("sri.io.invalid_argument",
          fmt::format("cannot write {}: the accumulator is [{}, {}] but the centers are [{}, {}]", path,
                      accumulator->steps(), accumulator->hidden(), steps, hidden));
  }

  // from_blob views do not copy; write_safetensors reads them before this function returns.
  const auto view = [](const auto& matrix, at::ScalarType type, std::vector<int64_t> shape) {
    return at::from_blob(const_cast<void*>(static_cast<const void*>(matrix.data())), shape,
                         at::TensorOptions().dtype(type));
  };
  std::vector<std::pair<std::string, at::Tensor>> tensors{
      {"harmless", view(centers.harmless, at::kFloat, {steps, hidden})},  // [steps, hidden]
      {"harmful", view(centers.harmful, at::kFloat, {steps, hidden})},    // [steps, hidden]
  };
  if (accumulator != nullptr) {
    for (std::size_t g = 0; g < CenterAccumulator::group_count; ++g) {
      const CenterGroup& group = accumulator->groups()[g];
      const std::string prefix = fmt::format("state.{}.", detail::accumulator_group_names[g]);
      tensors.emplace_back(prefix + "sum", view(group.sum, at::kDouble, {steps, hidden}));  // [steps, hidden]
      tensors.emplace_back(prefix + "count", view(group.count, at::kLong, {steps}));        // [steps]
      tensors.emplace_back(prefix + "runs", at::full({}, group.runs, at::kLong));             // []
    }
  }
  write_safetensors(path, tensors, centers_metadata_entries(metadata));
}

// Loads centers from the library's safetensors format or from the reference's torch.save file
// (recognized by content). Centers come back as float32 whatever the stored dtype. Throws
// sri.io.centers_invalid when the file has no usable pair of [steps, hidden] centers or when its
// metadata disagrees with the tensors.
inline CentersFile load_centers(const std::filesystem::path& path) {
  std::error_code error;
  if (!std::filesystem::exists(path, error)) {
    raise("sri.io.file_not_found", fmt::format("centers file not found: {}; check the path", path));
  }
  CentersFile result;
  if (std::filesystem::is_regular_file(path, error) && detail::starts_with_zip_magic(path)) {
    const TorchCenters centers = read_torch_centers(path);
    result.source = CentersSource::reference_pt;
    result.stored_dtype = c10::toString(centers.harmless.scalar_type());
    result.centers = {detail::to_row_matrix(centers.harmless), detail::to_row_matrix(centers.harmful)};
    detail::check_center_pair(path, result.centers);
    return result;
  }

  const SafetensorsFile file(path);
  for (const char* name : {"harmless", "harmful"}) {
    if (!file.contains(name)) {
      raise("sri.io.centers_invalid",
            fmt::format("{} has no '{}' tensor; a centers file holds 'harmless' and 'harmful' [steps, hidden] tensors",
                        path, name));
    }
    const at::Tensor tensor = file.tensor(name);
    if (tensor.dim() != 2 || !tensor.is_floating_point()) {
      raise("sri.io.centers_invalid", fmt::format("tensor '{}' in {} is {} with {} dimensions; expected a "
                                                  "floating-point [steps, hidden] tensor",
                                                  name, path, file.info(name).dtype, tensor.dim()));
    }
  }
  result.stored_dtype = c10::toString(file.tensor("harmless").scalar_type());
  result.centers = {detail::to_row_matrix(file.tensor("harmless")), detail::to_row_matrix(file.tensor("harmful"))};
  detail::check_center_pair(path, result.centers);
  const Eigen::Index steps = result.centers.harmless.rows();
  const Eigen::Index hidden = result.centers.harmless.cols();

  const auto format = file.metadata().find("format");
  if (format == file.metadata().end()) {
    result.source = CentersSource::plain_safetensors;
    return result;
  }
  if (format->second != centers_format_tag) {
    raise("sri.io.centers_invalid", fmt::format("{} has format '{}' in its metadata; expected '{}'", path,
                                                format->second, centers_format_tag));
  }
  result.source = CentersSource::sri_safetensors;
  result.metadata = centers_metadata_from_entries(path, file.metadata());
  if (result.metadata->hidden_size != hidden || result.metadata->profile.steps != steps) {
    raise("sri.io.centers_invalid",
          fmt::format("centers file {} holds [{}, {}] tensors but its metadata says steps = {} and hidden_size = {}; "
                      "the file was altered, so rebuild it",
                      path, steps, hidden, result.metadata->profile.steps, result.metadata->hidden_size));
  }

  if (file.contains("state.harmless_kept.sum")) {
    std::array<CenterGroup, CenterAccumulator::group_count> groups;
    for (std::size_t g = 0; g < CenterAccumulator::group_count; ++g) {
      groups[g] = detail::read_group(file, detail::accumulator_group_names[g], steps, hidden);
    }
    result.accumulator = std::move(groups);
  }
  return result;
}

}  // namespace sri::io
