#pragma once

// A model checkpoint opened from a path: a `.gguf` file or a Hugging Face folder (config.json plus
// model.safetensors, or shards listed in model.safetensors.index.json). Both present the same
// view: a normalized architecture, a Hugging Face style config.json, the end-of-sequence ids and
// tensors under their Hugging Face names in Hugging Face layout.
//
// For GGUF files, `load` undoes what llama.cpp's converter (`convert_hf_to_gguf.py`) changed:
// - `llama` and `llada` files store q_proj/k_proj rows permuted per head from HF's half-split RoPE
//   pairs (j, j + D/2) to interleaved pairs (2j, 2j+1). `load` permutes them back, using
//   num_attention_heads for Q and num_key_value_heads for K. Qwen2, Dream and Gemma files are not
//   permuted (the converter's LlamaModel and LLaDAModel permute, Qwen2Model, DreamModel and the
//   Gemma classes do not).
// - Gemma 2 and Gemma 3 files store every `*norm.weight` as 1 + w, while HF stores w (Gemma's
//   RMSNorm scales by 1 + w). `load` subtracts 1, as transformers' GGUF loader does.
// - Llama 3.1 files store the llama3 RoPE scaling as a `rope_freqs.weight` tensor ([head_dim / 2]
//   divisors of the rotary frequencies) instead of config fields. It is available under that name
//   and config()["sri_rope_freqs_tensor"] is then "rope_freqs.weight".

#include <sri/error.hpp>
#include <sri/io/detail/content_identity.hpp>
#include <sri/io/detail/gguf_hf_mapping.hpp>
#include <sri/io/detail/mapped_file.hpp>
#include <sri/io/gguf.hpp>
#include <sri/io/safetensors.hpp>

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <fmt/std.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

namespace sri::io {

// Architectures sri can run, in their normalized spelling.
inline constexpr std::array<std::string_view, 6> supported_architectures{"llama", "qwen2", "gemma2",
                                                                         "gemma3", "llada", "dream"};

// Maps a GGUF `general.architecture`, a config.json `model_type` or an `architectures` class name to
// its normalized architecture, or nothing when sri does not support it.
[[nodiscard]] inline std::optional<std::string> normalize_architecture(std::string_view name) {
  static const std::map<std::string, std::string, std::less<>> k_aliases{
      {"llama", "llama"},       {"llamaforcausallm", "llama"},    {"qwen2", "qwen2"},
      {"qwen2forcausallm", "qwen2"}, {"gemma2", "gemma2"},         {"gemma2forcausallm", "gemma2"},
      {"gemma3", "gemma3"},     {"gemma3_text", "gemma3"},        {"gemma3forcausallm", "gemma3"},
      {"llada", "llada"},       {"lladamodellm", "llada"},        {"dream", "dream"},
      {"dreammodel", "dream"},
  };
  std::string lower(name);
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
  const auto it = k_aliases.find(lower);
  if (it == k_aliases.end()) return std::nullopt;
  return it->second;
}

class Checkpoint {
 public:
  // Opens a `.gguf` file or a Hugging Face folder. Raises sri.checkpoint.* (and sri.gguf.* or
  // sri.io.* for invalid files).
  static std::unique_ptr<Checkpoint> open(const std::filesystem::path& path);

  virtual ~Checkpoint() = default;

  // "llama", "qwen2", "gemma2", "gemma3", "llada" or "dream".
  [[nodiscard]] virtual std::string architecture() const = 0;
  // config.json fields; for GGUF files synthesized from the metadata.
  [[nodiscard]] virtual const nlohmann::json& config() const = 0;
  // generation_config.json, or an empty object when the checkpoint has none.
  [[nodiscard]] virtual const nlohmann::json& generation_config() const = 0;
  // Every token id that ends generation, sorted and without duplicates.
  [[nodiscard]] virtual std::vector<int64_t> end_token_ids() const = 0;
  [[nodiscard]] virtual bool contains(std::string_view hf_name) const = 0;
  // Tensor names in Hugging Face spelling, sorted.
  [[nodiscard]] virtual std::vector<std::string> tensor_names() const = 0;
  // PyTorch shape of a tensor; raises sri.checkpoint.tensor_not_found.
  [[nodiscard]] virtual std::vector<int64_t> shape(std::string_view hf_name) const = 0;
  // The tensor in Hugging Face layout as `dtype` on the CPU; raises sri.checkpoint.tensor_not_found.
  [[nodiscard]] virtual at::Tensor load(std::string_view hf_name, at::ScalarType dtype = at::kFloat) const = 0;
  // "sri-sampled-sha256:...", see detail/content_identity.hpp for what is hashed.
  [[nodiscard]] virtual std::string identity() const = 0;
  // The file stem of a GGUF file ("SmolLM2-135M-Instruct.Q4_1") or the folder name.
  [[nodiscard]] virtual std::string display_name() const = 0;
  [[nodiscard]] virtual const std::filesystem::path& path() const = 0;
  // The GGUF file, for tokenizer metadata; nullptr for folders.
  [[nodiscard]] virtual const GgufFile* gguf() const { return nullptr; }
  // The Hugging Face folder (tokenizer.json, tokenizer_config.json); nothing for GGUF files.
  [[nodiscard]] virtual std::optional<std::filesystem::path> folder() const { return std::nullopt; }

 protected:
  [[noreturn]] void raise_tensor_not_found(std::string_view hf_name) const {
    raise("sri.checkpoint.tensor_not_found",
          fmt::format("checkpoint {} has no tensor '{}'; tensor names use Hugging Face spelling such as "
                      "'model.layers.0.self_attn.q_proj.weight' (call tensor_names() for the list)",
                      path(), hf_name));
  }
};

namespace detail {

[[noreturn]] inline void raise_unsupported_architecture(const std::filesystem::path& path, std::string_view found) {
  raise("sri.checkpoint.unsupported_architecture",
        fmt::format("checkpoint {} has architecture '{}', which sri does not support; supported architectures are "
                    "{}",
                    path, found, fmt::join(supported_architectures, ", ")));
}

inline nlohmann::json read_json_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    raise("sri.checkpoint.missing_file",
          fmt::format("cannot read {}; a Hugging Face checkpoint folder needs it", path));
  }
  std::ostringstream text;
  text << in.rdbuf();
  try {
    return nlohmann::json::parse(text.str());
  } catch (const nlohmann::json::parse_error& error) {
    raise("sri.checkpoint.invalid_config",
          fmt::format("{} is not valid JSON ({}); restore the file from the model repository", path, error.what()));
  }
}

// Adds an `eos_token_id` field (an integer or a list of integers) to `ids`.
inline void collect_token_ids(const nlohmann::json& object, std::set<int64_t>& ids) {
  if (!object.is_object() || !object.contains("eos_token_id")) return;
  const auto& value = object["eos_token_id"];
  if (value.is_number_integer()) ids.insert(value.get<int64_t>());
  if (value.is_array()) {
    for (const auto& element : value) {
      if (element.is_number_integer()) ids.insert(element.get<int64_t>());
    }
  }
}

// Undoes the converter's per-head row permutation of q_proj/k_proj: GGUF row h*D + 2j + t is HF
// row h*D + t*(D/2) + j.
inline at::Tensor unpermute_rope_rows(const at::Tensor& stored, int64_t head_count, std::string_view name) {
  const int64_t rows = stored.size(0);
  if (head_count <= 0 || rows % (2 * head_count) != 0) {
    raise("sri.checkpoint.invalid_config",
          fmt::format("tensor '{}' has {} rows, which is not a multiple of 2 x {} heads; the GGUF metadata "
                      "head counts do not match the weights",
                      name, rows, head_count));
  }
  const at::Tensor grouped = stored.reshape({head_count, rows / head_count / 2, 2, -1});  // [heads, D/2, 2, rest]
  return grouped.transpose(1, 2).reshape(stored.sizes()).contiguous();  // [rows, ...]
}

class GgufCheckpoint final : public Checkpoint {
 public:
  explicit GgufCheckpoint(const std::filesystem::path& path) : file_(path), path_(path) {
    gguf_architecture_ = file_.get_string("general.architecture");
    const auto normalized = normalize_architecture(gguf_architecture_);
    if (!normalized) raise_unsupported_architecture(path, gguf_architecture_);
    architecture_ = *normalized;
    config_ = synthesize_hf_config(file_, architecture_, gguf_architecture_);

    nlohmann::json generation = nlohmann::json::object();
    if (config_.contains("bos_token_id")) generation["bos_token_id"] = config_["bos_token_id"];
    for (const char* key : {"tokenizer.ggml.eos_token_id", "tokenizer.ggml.eot_token_id", "tokenizer.ggml.eom_token_id"}) {
      if (const auto id = file_.find_int(key)) end_ids_.insert(*id);
    }
    if (!end_ids_.empty()) {
      generation["eos_token_id"] = end_ids_.size() == 1 ? nlohmann::json(*end_ids_.begin()) : nlohmann::json(end_ids_);
    }
    generation_config_ = generation;

    for (const GgufTensorInfo& info : file_.tensors()) {
      // Tensors without a Hugging Face counterpart (rope_freqs.weight, unknown extras) keep their GGUF name.
      std::string hf_name = hf_name_for_gguf_tensor(architecture_, info.name).value_or(info.name);
      names_.emplace(std::move(hf_name), info.name);
    }
    if (file_.contains_tensor("rope_freqs.weight")) config_["sri_rope_freqs_tensor"] = "rope_freqs.weight";
  }

  [[nodiscard]] std::string architecture() const override { return architecture_; }
  [[nodiscard]] const nlohmann::json& config() const override { return config_; }
  [[nodiscard]] const nlohmann::json& generation_config() const override { return generation_config_; }
  [[nodiscard]] std::vector<int64_t> end_token_ids() const override { return {end_ids_.begin(), end_ids_.end()}; }
  [[nodiscard]] bool contains(std::string_view hf_name) const override { return names_.find(hf_name) != names_.end(); }

  [[nodiscard]] std::vector<std::string> tensor_names() const override {
    std::vector<std::string> names;
    names.reserve(names_.size());
    for (const auto& entry : names_) names.push_back(entry.first);
    return names;
  }

  [[nodiscard]] std::vector<int64_t> shape(std::string_view hf_name) const override {
    return file_.tensor_info(gguf_name(hf_name)).shape();
  }

  [[nodiscard]] at::Tensor load(std::string_view hf_name, at::ScalarType dtype) const override {
    const std::string& name = gguf_name(hf_name);
    const bool permuted_q = permutes_rope_rows() && is_projection(hf_name, "q_proj");
    const bool permuted_k = permutes_rope_rows() && is_projection(hf_name, "k_proj");
    const bool shifted_norm = (architecture_ == "gemma2" || architecture_ == "gemma3") && name.ends_with("norm.weight");
    if (!permuted_q && !permuted_k && !shifted_norm) return file_.load(name, dtype);

    at::Tensor values = file_.load(name, at::kFloat);  // [rows, ...] in GGUF row order
    if (permuted_q) values = unpermute_rope_rows(values, config_["num_attention_heads"].get<int64_t>(), name);
    if (permuted_k) values = unpermute_rope_rows(values, config_["num_key_value_heads"].get<int64_t>(), name);
    if (shifted_norm) values.sub_(1.0);
    return dtype == at::kFloat ? values : values.to(dtype);
  }

  [[nodiscard]] std::string identity() const override {
    return sampled_content_identity({{path_.filename().string(), file_.bytes(), file_.data_offset()}});
  }
  [[nodiscard]] std::string display_name() const override { return path_.stem().string(); }
  [[nodiscard]] const std::filesystem::path& path() const override { return path_; }
  [[nodiscard]] const GgufFile* gguf() const override { return &file_; }

 private:
  [[nodiscard]] bool permutes_rope_rows() const { return architecture_ == "llama" || architecture_ == "llada"; }

  [[nodiscard]] static bool is_projection(std::string_view hf_name, std::string_view projection) {
    const std::string weight = "." + std::string(projection) + ".weight";
    const std::string bias = "." + std::string(projection) + ".bias";
    return hf_name.ends_with(weight) || hf_name.ends_with(bias);
  }

  [[nodiscard]] const std::string& gguf_name(std::string_view hf_name) const {
    const auto it = names_.find(hf_name);
    if (it == names_.end()) raise_tensor_not_found(hf_name);
    return it->second;
  }

  GgufFile file_;
  std::filesystem::path path_;
  std::string gguf_architecture_;
  std::string architecture_;
  nlohmann::json config_;
  nlohmann::json generation_config_;
  std::set<int64_t> end_ids_;
  std::map<std::string, std::string, std::less<>> names_;  // HF name -> GGUF name
};

class HfFolderCheckpoint final : public Checkpoint {
 public:
  explicit HfFolderCheckpoint(const std::filesystem::path& folder) : path_(folder) {
    config_ = read_json_file(folder / "config.json");
    copy_rope_parameters();
    architecture_ = read_architecture();
    const auto generation_path = folder / "generation_config.json";
    generation_config_ = std::filesystem::exists(generation_path) ? read_json_file(generation_path)
                                                                  : nlohmann::json::object();
    // HF generate() reads eos_token_id from generation_config.json when the file exists and from
    // config.json otherwise.
    collect_token_ids(generation_config_.contains("eos_token_id") ? generation_config_ : config_, end_ids_);
    open_weights();
  }

  [[nodiscard]] std::string architecture() const override { return architecture_; }
  [[nodiscard]] const nlohmann::json& config() const override { return config_; }
  [[nodiscard]] const nlohmann::json& generation_config() const override { return generation_config_; }
  [[nodiscard]] std::vector<int64_t> end_token_ids() const override { return {end_ids_.begin(), end_ids_.end()}; }
  [[nodiscard]] bool contains(std::string_view hf_name) const override { return shard_of_.find(hf_name) != shard_of_.end(); }

  [[nodiscard]] std::vector<std::string> tensor_names() const override {
    std::vector<std::string> names;
    names.reserve(shard_of_.size());
    for (const auto& entry : shard_of_) names.push_back(entry.first);
    return names;
  }

  [[nodiscard]] std::vector<int64_t> shape(std::string_view hf_name) const override {
    return shard(hf_name).info(hf_name).shape;
  }

  // A tensor already stored as `dtype` comes back as a view over the memory-mapped file (no copy);
  // any other dtype is converted in one copy.
  [[nodiscard]] at::Tensor load(std::string_view hf_name, at::ScalarType dtype) const override {
    at::Tensor stored = shard(hf_name).tensor(hf_name);
    return stored.scalar_type() == dtype ? stored : stored.to(dtype);
  }

  [[nodiscard]] std::string identity() const override {
    std::vector<IdentityPart> parts;
    std::vector<std::unique_ptr<MappedFile>> mappings;
    const std::string config_text = config_.dump();
    parts.push_back({"config.json", std::as_bytes(std::span<const char>(config_text.data(), config_text.size())), config_text.size()});
    for (const auto& [file_name, shard] : shards_) {
      // The safetensors header is 8 bytes of length plus the JSON; hash it whole.
      mappings.push_back(std::make_unique<MappedFile>(shard->path()));
      const auto bytes = mappings.back()->bytes();
      uint64_t header = 0;
      for (int i = 7; i >= 0 && bytes.size() >= 8; --i) header = (header << 8) | static_cast<uint8_t>(bytes[i]);
      parts.push_back({file_name, bytes, static_cast<std::size_t>(std::min<uint64_t>(header + 8, bytes.size()))});
    }
    return sampled_content_identity(parts);
  }

  [[nodiscard]] std::string display_name() const override {
    const auto name = path_.filename().empty() ? path_.parent_path().filename() : path_.filename();
    return name.string();
  }
  [[nodiscard]] const std::filesystem::path& path() const override { return path_; }
  [[nodiscard]] std::optional<std::filesystem::path> folder() const override { return path_; }

 private:
  [[nodiscard]] std::string read_architecture() const {
    std::vector<std::string> candidates;
    if (config_.contains("model_type") && config_["model_type"].is_string()) {
      candidates.push_back(config_["model_type"].get<std::string>());
    }
    if (config_.contains("architectures") && config_["architectures"].is_array()) {
      for (const auto& name : config_["architectures"]) {
        if (name.is_string()) candidates.push_back(name.get<std::string>());
      }
    }
    for (const auto& candidate : candidates) {
      if (const auto normalized = normalize_architecture(candidate)) return *normalized;
    }
    raise_unsupported_architecture(path_ / "config.json",
                                   candidates.empty() ? std::string("(no model_type or architectures)")
                                                      : fmt::format("{}", fmt::join(candidates, "', '")));
  }

  // transformers 5 writes rope_theta and the RoPE scaling inside "rope_parameters". They are copied
  // to the top-level "rope_theta" and "rope_scaling" fields that transformers 4 wrote, so callers
  // read one spelling; fields already present are kept.
  void copy_rope_parameters() {
    if (!config_.contains("rope_parameters") || !config_["rope_parameters"].is_object()) return;
    const auto& parameters = config_["rope_parameters"];
    if (!config_.contains("rope_theta") && parameters.contains("rope_theta")) {
      config_["rope_theta"] = parameters["rope_theta"];
    }
    const bool scaled = parameters.contains("rope_type") && parameters["rope_type"] != "default";
    if (!config_.contains("rope_scaling")) config_["rope_scaling"] = scaled ? parameters : nlohmann::json(nullptr);
  }

  void open_weights() {
    const auto index_path = path_ / "model.safetensors.index.json";
    if (std::filesystem::exists(index_path)) {
      const nlohmann::json index = read_json_file(index_path);
      if (!index.contains("weight_map") || !index["weight_map"].is_object()) {
        raise("sri.checkpoint.invalid_index",
              fmt::format("{} has no \"weight_map\" object; restore the file from the model repository", index_path));
      }
      for (const auto& [tensor_name, file_value] : index["weight_map"].items()) {
        if (!file_value.is_string()) {
          raise("sri.checkpoint.invalid_index",
                fmt::format("{}: weight_map entry '{}' is not a file name", index_path, tensor_name));
        }
        const std::string file_name = file_value.get<std::string>();
        const SafetensorsFile& file = open_shard(file_name);
        if (!file.contains(tensor_name)) {
          raise("sri.checkpoint.invalid_index",
                fmt::format("{} places tensor '{}' in {}, but that file does not contain it; the download is "
                            "incomplete or mixes two revisions",
                            index_path, tensor_name, file_name));
        }
        shard_of_.emplace(tensor_name, file_name);
      }
      return;
    }
    const auto single = path_ / "model.safetensors";
    if (!std::filesystem::exists(single)) {
      raise("sri.checkpoint.missing_file",
            fmt::format("folder {} has neither model.safetensors nor model.safetensors.index.json; download the "
                        "safetensors weights (sri does not read pytorch_model.bin)",
                        path_));
    }
    const SafetensorsFile& file = open_shard("model.safetensors");
    for (const auto& info : file.tensors()) shard_of_.emplace(info.name, "model.safetensors");
  }

  const SafetensorsFile& open_shard(const std::string& file_name) {
    auto it = shards_.find(file_name);
    if (it == shards_.end()) {
      it = shards_.emplace(file_name, std::make_unique<SafetensorsFile>(path_ / file_name)).first;
    }
    return *it->second;
  }

  [[nodiscard]] const SafetensorsFile& shard(std::string_view hf_name) const {
    const auto it = shard_of_.find(hf_name);
    if (it == shard_of_.end()) raise_tensor_not_found(hf_name);
    return *shards_.at(it->second);
  }

  std::filesystem::path path_;
  nlohmann::json config_;
  nlohmann::json generation_config_;
  std::string architecture_;
  std::set<int64_t> end_ids_;
  std::map<std::string, std::unique_ptr<SafetensorsFile>> shards_;   // file name -> mapped file
  std::map<std::string, std::string, std::less<>> shard_of_;        // tensor name -> file name
};

}  // namespace detail

inline std::unique_ptr<Checkpoint> Checkpoint::open(const std::filesystem::path& path) {
  std::error_code error;
  const auto status = std::filesystem::status(path, error);
  if (!std::filesystem::exists(status)) {
    raise("sri.checkpoint.not_found",
          fmt::format("checkpoint {} does not exist; pass a .gguf file or a Hugging Face folder", path));
  }
  if (std::filesystem::is_directory(status)) return std::make_unique<detail::HfFolderCheckpoint>(path);

  // A file is GGUF when it starts with the GGUF magic, whatever its extension.
  char magic[4] = {};
  std::ifstream(path, std::ios::binary).read(magic, 4);
  if (std::string_view(magic, 4) == "GGUF") return std::make_unique<detail::GgufCheckpoint>(path);
  raise("sri.checkpoint.unknown_format",
        fmt::format("{} is neither a GGUF file (it does not start with 'GGUF') nor a folder; pass a .gguf file or "
                    "a Hugging Face folder containing config.json and model.safetensors",
                    path));
}

}  // namespace sri::io
