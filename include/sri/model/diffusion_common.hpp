#pragma once

// Pieces shared by the masked-diffusion backbones (LLaDA, Dream): where their weights come from,
// load options, and the hook-point reporting of one forward pass.

#include <ATen/ATen.h>

#include <cmath>
#include <concepts>
#include <cstdint>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "sri/error.hpp"
#include "sri/model/backbone.hpp"

namespace sri::model {

// Anything that returns config.json and loads tensors by their Hugging Face name, such as
// sri::io::Checkpoint.
template <class W>
concept WeightSource = requires(const W& source, std::string_view name, at::ScalarType dtype) {
  // config.json fields decide the architecture numbers.
  { source.config() } -> std::convertible_to<const nlohmann::json&>;
  // Tensors in Hugging Face layout, converted to the requested dtype.
  { source.load(name, dtype) } -> std::convertible_to<at::Tensor>;
};

// Device and dtype of a backbone's weights and computation.
struct LoadOptions {
  at::ScalarType dtype = at::kFloat;  // kFloat or kBFloat16
  at::Device device = at::kCPU;
};

namespace detail {

// Requested column ranges of every hook point of one forward pass, asked once before computing.
class HookRequests {
 public:
  HookRequests(ActivationSink* sink, int64_t num_layers, int64_t step) : sink_(sink), step_(step) {
    if (sink_ == nullptr) return;
    embed_ = sink_->wants(HookPoint::embed_out(), step);
    layers_.reserve(static_cast<std::size_t>(num_layers));
    for (int64_t l = 0; l < num_layers; ++l) layers_.push_back(sink_->wants(HookPoint::resid_post(l), step));
    final_ = sink_->wants(HookPoint::final_norm_out(), step);
  }

  void embed(const at::Tensor& x) { deliver(HookPoint::embed_out(), embed_, x); }
  void layer(int64_t l, const at::Tensor& x) {
    if (sink_ != nullptr) deliver(HookPoint::resid_post(l), layers_[static_cast<std::size_t>(l)], x);
  }
  void final_norm(const at::Tensor& x) { deliver(HookPoint::final_norm_out(), final_, x); }

 private:
  void deliver(const HookPoint& point, const PositionSelection& selection,
               const at::Tensor& x) {  // [batch, seq, hidden]
    if (sink_ == nullptr || selection.empty()) return;
    auto [begin, end] = selection.resolve(x.size(1));
    sink_->receive(point, step_, x.narrow(1, begin, end - begin));
  }

  ActivationSink* sink_;
  int64_t step_;
  PositionSelection embed_;
  std::vector<PositionSelection> layers_;
  PositionSelection final_;
};

// Readers of config.json fields for the diffusion backbones. Each one checks the JSON type
// itself and raises sri.diffusion.config_invalid naming the field and the expected type, so no
// nlohmann exception leaves a constructor. A field set to null counts as absent, as Hugging Face
// configs write unset options.

[[noreturn]] inline void raise_config_invalid(std::string_view family, std::string_view key,
                                              const std::string& problem) {
  raise("sri.diffusion.config_invalid", std::string(family) + " config.json field '" + std::string(key) + "' " +
                                            problem + "; fix the field or use the checkpoint's own config.json");
}

// A JSON value for an error message, cut to a readable length.
inline std::string shown_value(const nlohmann::json& value) {
  std::string text = value.dump();
  if (text.size() > 60) text = text.substr(0, 57) + "...";
  return text;
}

// A double for an error message; JSON would print NaN and infinity as null.
inline std::string shown_number(double value) {
  std::ostringstream text;
  text << value;
  return text.str();
}

inline void require_object(const nlohmann::json& config, std::string_view family) {
  if (!config.is_object()) {
    raise("sri.diffusion.config_invalid", std::string(family) + " config.json is " + shown_value(config) +
                                              ", expected a JSON object; use the checkpoint's own config.json");
  }
}

// The field, or nullptr when it is absent or null.
inline const nlohmann::json* config_field(const nlohmann::json& config, std::string_view key) {
  const auto it = config.find(std::string(key));
  if (it == config.end() || it->is_null()) return nullptr;
  return &*it;
}

inline bool is_int64(const nlohmann::json& value) {
  if (!value.is_number_integer()) return false;  // false for floats such as 314.5 and for booleans
  return !value.is_number_unsigned() || value.get<uint64_t>() <= static_cast<uint64_t>(INT64_MAX);
}

inline std::optional<int64_t> config_optional_int(const nlohmann::json& config, std::string_view key,
                                                  std::string_view family) {
  const nlohmann::json* field = config_field(config, key);
  if (field == nullptr) return std::nullopt;
  if (!is_int64(*field)) raise_config_invalid(family, key, "is " + shown_value(*field) + ", expected an integer");
  return field->get<int64_t>();
}

inline int64_t config_int(const nlohmann::json& config, std::string_view key, std::string_view family) {
  const std::optional<int64_t> value = config_optional_int(config, key, family);
  if (!value) raise_config_invalid(family, key, "is missing, expected an integer");
  return *value;
}

inline void check_positive(std::string_view family, std::string_view key, int64_t value) {
  if (value <= 0) raise_config_invalid(family, key, "is " + std::to_string(value) + ", expected a positive integer");
}

inline int64_t config_positive_int(const nlohmann::json& config, std::string_view key, std::string_view family) {
  const int64_t value = config_int(config, key, family);
  check_positive(family, key, value);
  return value;
}

// Raises unless the value of `divisor_key` divides the value of `dividend_key`; both are positive.
inline void check_divides(std::string_view family, std::string_view dividend_key, int64_t dividend,
                          std::string_view divisor_key, int64_t divisor) {
  if (dividend % divisor != 0) {
    raise_config_invalid(family, dividend_key,
                         "is " + std::to_string(dividend) + ", which is not a multiple of '" + std::string(divisor_key) +
                             "' " + std::to_string(divisor));
  }
}

// A number (integer or float) that must be finite and greater than 0, such as rope_theta or
// rms_norm_eps. Returns `fallback` when the field is absent or null.
inline double config_positive_number(const nlohmann::json& config, std::string_view key, double fallback,
                                     std::string_view family) {
  const nlohmann::json* field = config_field(config, key);
  if (field == nullptr) return fallback;
  if (!field->is_number()) raise_config_invalid(family, key, "is " + shown_value(*field) + ", expected a number");
  const double value = field->get<double>();
  if (!std::isfinite(value) || value <= 0.0) {
    raise_config_invalid(family, key, "is " + shown_number(value) + ", expected a finite number greater than 0");
  }
  return value;
}

inline bool config_bool(const nlohmann::json& config, std::string_view key, bool fallback, std::string_view family) {
  const nlohmann::json* field = config_field(config, key);
  if (field == nullptr) return fallback;
  if (!field->is_boolean()) raise_config_invalid(family, key, "is " + shown_value(*field) + ", expected true or false");
  return field->get<bool>();
}

inline std::string config_string(const nlohmann::json& config, std::string_view key, const std::string& fallback,
                                 std::string_view family) {
  const nlohmann::json* field = config_field(config, key);
  if (field == nullptr) return fallback;
  if (!field->is_string()) raise_config_invalid(family, key, "is " + shown_value(*field) + ", expected a string");
  return field->get<std::string>();
}

// Token ids of a field that Hugging Face allows as an integer or a list of integers, such as
// eos_token_id. Returns an empty vector when the field is absent or null.
inline std::vector<int64_t> config_token_ids(const nlohmann::json& config, std::string_view key,
                                             std::string_view family) {
  const nlohmann::json* field = config_field(config, key);
  if (field == nullptr) return {};
  auto reject = [&] {
    raise_config_invalid(family, key,
                         "is " + shown_value(*field) + ", expected an integer or a non-empty array of integers");
  };
  if (is_int64(*field)) return {field->get<int64_t>()};
  if (!field->is_array() || field->empty()) reject();
  std::vector<int64_t> ids;
  for (const nlohmann::json& element : *field) {
    if (!is_int64(element)) reject();
    ids.push_back(element.get<int64_t>());
  }
  return ids;
}

// Raises unless `id` indexes a row of the token embedding, which has `vocab_size` rows.
inline void check_token_id(std::string_view family, std::string_view key, int64_t id, int64_t vocab_size) {
  if (id < 0 || id >= vocab_size) {
    raise_config_invalid(family, key,
                         "is " + std::to_string(id) + ", outside the vocabulary of " + std::to_string(vocab_size) +
                             " tokens (valid ids are 0 to " + std::to_string(vocab_size - 1) + ")");
  }
}

// The token id in field `key`, checked against the vocabulary. When the field is absent or null,
// returns `fallback` (the id of the released model) if it is inside the vocabulary, and raises
// naming the missing field otherwise.
inline int64_t config_token_id(const nlohmann::json& config, std::string_view key, std::optional<int64_t> fallback,
                               int64_t vocab_size, std::string_view family) {
  if (const std::optional<int64_t> id = config_optional_int(config, key, family)) {
    check_token_id(family, key, *id, vocab_size);
    return *id;
  }
  if (!fallback) raise_config_invalid(family, key, "is missing, expected an integer token id");
  if (*fallback < 0 || *fallback >= vocab_size) {
    raise("sri.diffusion.config_invalid",
          std::string(family) + " config.json has no field '" + std::string(key) + "', and the default " +
              std::to_string(*fallback) + " is outside the vocabulary of " + std::to_string(vocab_size) +
              " tokens; set '" + std::string(key) + "' in config.json");
  }
  return *fallback;
}

// The end-of-sequence ids of "eos_token_id" (an integer or an array of integers), checked against
// the vocabulary; the first one is the sampler's EOS. An absent field gives `fallback` as
// config_token_id does.
inline std::vector<int64_t> config_end_token_ids(const nlohmann::json& config, int64_t fallback, int64_t vocab_size,
                                                 std::string_view family) {
  std::vector<int64_t> ids = config_token_ids(config, "eos_token_id", family);
  if (ids.empty()) return {config_token_id(config, "eos_token_id", fallback, vocab_size, family)};
  for (int64_t id : ids) check_token_id(family, "eos_token_id", id, vocab_size);
  return ids;
}

// Raises when the mask id is also an end-of-sequence id, because the sampler could not tell a
// masked position from a finished one.
inline void check_mask_not_end(std::string_view family, int64_t mask_id, const std::vector<int64_t>& end_ids) {
  for (int64_t end_id : end_ids) {
    if (end_id == mask_id) {
      raise_config_invalid(family, "mask_token_id",
                           "is " + std::to_string(mask_id) +
                               ", the same id as 'eos_token_id', but the sampler needs distinct mask and "
                               "end-of-sequence ids");
    }
  }
}

// Raises when the weights contain the tensor `next_layer_tensor` of the first layer past the
// configured count, since the constructor would otherwise ignore the extra layers. Weight sources
// without contains(name) skip the check.
inline void check_no_extra_layer(const WeightSource auto& source, const std::string& next_layer_tensor,
                                 std::string_view family, std::string_view layers_key, int64_t num_layers) {
  if constexpr (requires { { source.contains(next_layer_tensor) } -> std::convertible_to<bool>; }) {
    if (source.contains(next_layer_tensor)) {
      raise("sri.diffusion.config_invalid",
            std::string(family) + " config.json field '" + std::string(layers_key) + "' is " +
                std::to_string(num_layers) + ", but the weights contain " + next_layer_tensor + " of layer " +
                std::to_string(num_layers) + "; set the field to the number of layers in the checkpoint");
    }
  }
}

inline at::Tensor load_weight(const WeightSource auto& source, const std::string& name, const LoadOptions& options) {
  return source.load(name, options.dtype).to(options.device).contiguous();
}

}  // namespace detail
}  // namespace sri::model
