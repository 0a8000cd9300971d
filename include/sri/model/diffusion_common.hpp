#pragma once

// Pieces shared by the masked-diffusion backbones (LLaDA, Dream): where their weights come from,
// load options, and the hook-point reporting of one forward pass.

#include <ATen/ATen.h>

#include <concepts>
#include <cstdint>
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

inline int64_t config_int(const nlohmann::json& config, const char* key, std::string_view family) {
  if (!config.contains(key) || !config[key].is_number_integer()) {
    raise("sri.diffusion.config_invalid", std::string(family) + " config.json field '" + key +
                                              "' is missing or not an integer; the checkpoint's config.json must set it");
  }
  return config[key].get<int64_t>();
}

inline at::Tensor load_weight(const WeightSource auto& source, const std::string& name, const LoadOptions& options) {
  return source.load(name, options.dtype).to(options.device).contiguous();
}

}  // namespace detail
}  // namespace sri::model
