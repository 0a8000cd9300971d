#pragma once

// Dream backbone (Dream-v0-Instruct-7B): the Qwen2 decoder layout (q/k/v projections with bias,
// grouped-query attention, SwiGLU MLP, untied lm_head) with bidirectional attention, as in the
// Hugging Face remote code modeling_dream.py.
//
// forward() returns the model's raw logits, where column j predicts the token at column j + 1
// (Dream keeps the next-token convention of its autoregressive initialisation). Samplers shift
// them right by one column first; see logits_shift and shift_dream_logits().
//
// With left padding, real tokens get positions 0, 1, ... in every row and padding keys are hidden.
// The reference also hides every key from padding queries. Here padding queries attend to the
// real keys instead, which changes only the unused outputs at padding columns.

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <cmath>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "sri/error.hpp"
#include "sri/model/backbone.hpp"
#include "sri/model/diffusion_common.hpp"
#include "sri/model/layers.hpp"

namespace sri::model {

// Shifts raw Dream logits so that column j predicts the token at column j: column 0 keeps its
// own prediction and column j takes column j - 1.
inline at::Tensor shift_dream_logits(const at::Tensor& logits) {  // [batch, seq, vocab]
  if (logits.size(1) <= 1) return logits;
  return at::cat({logits.narrow(1, 0, 1), logits.narrow(1, 0, logits.size(1) - 1)}, 1);
}

class Dream {
 public:
  static constexpr AttentionKind attention_kind = AttentionKind::bidirectional;
  // Column j of the raw logits predicts the token at column j + 1.
  static constexpr int64_t logits_shift = 1;

  template <WeightSource W>
  explicit Dream(const W& source, LoadOptions options = {}) : options_(options) {
    read_config(source.config());
    detail::check_no_extra_layer(source,
                                 "model.layers." + std::to_string(config_.num_layers) + ".input_layernorm.weight",
                                 family_name, "num_hidden_layers", config_.num_layers);
    embed_ = detail::load_weight(source, "model.embed_tokens.weight", options_);
    norm_ = detail::load_weight(source, "model.norm.weight", options_);
    head_ = config_.tie_word_embeddings ? embed_ : detail::load_weight(source, "lm_head.weight", options_);
    for (int64_t n = 0; n < config_.num_layers; ++n) {
      const std::string p = "model.layers." + std::to_string(n) + ".";
      Layer layer;
      layer.input_norm = detail::load_weight(source, p + "input_layernorm.weight", options_);
      layer.post_norm = detail::load_weight(source, p + "post_attention_layernorm.weight", options_);
      layer.q = detail::load_weight(source, p + "self_attn.q_proj.weight", options_);
      layer.q_bias = detail::load_weight(source, p + "self_attn.q_proj.bias", options_);
      layer.k = detail::load_weight(source, p + "self_attn.k_proj.weight", options_);
      layer.k_bias = detail::load_weight(source, p + "self_attn.k_proj.bias", options_);
      layer.v = detail::load_weight(source, p + "self_attn.v_proj.weight", options_);
      layer.v_bias = detail::load_weight(source, p + "self_attn.v_proj.bias", options_);
      layer.o = detail::load_weight(source, p + "self_attn.o_proj.weight", options_);
      layer.gate_up = at::cat({detail::load_weight(source, p + "mlp.gate_proj.weight", options_),
                               detail::load_weight(source, p + "mlp.up_proj.weight", options_)},
                              0);
      layer.down = detail::load_weight(source, p + "mlp.down_proj.weight", options_);
      layers_.push_back(std::move(layer));
    }
    check_shapes();
    auto f32 = at::TensorOptions().dtype(at::kFloat).device(options_.device);
    at::Tensor exponent = at::arange(0, config_.head_dim, 2, f32) / static_cast<double>(config_.head_dim);  // [head_dim / 2]
    inv_freq_ = at::pow(config_.rope_theta, exponent).reciprocal();
  }

  // Builds the model from a checkpoint (sri::io::Checkpoint or any type with config() and
  // load(name, dtype)). Throws sri.model.architecture_unsupported for other families.
  template <class CheckpointLike>
  static Dream from_checkpoint(const CheckpointLike& checkpoint, RuntimeOptions options = {}) {
    const std::string arch = checkpoint.architecture();
    if (arch != "dream") {
      raise("sri.model.architecture_unsupported",
            "architecture '" + arch + "' is not a Dream model; sri::model::Dream loads dream checkpoints");
    }
    set_cpu_threads(options.threads);
    return Dream(checkpoint, LoadOptions{options.dtype, options.device});
  }

  [[nodiscard]] const ModelConfig& config() const { return config_; }
  [[nodiscard]] const std::vector<int64_t>& end_token_ids() const { return config_.end_token_ids; }
  [[nodiscard]] at::Device device() const { return options_.device; }
  // <|mask|> from config.json "mask_token_id".
  [[nodiscard]] int64_t mask_token_id() const { return mask_token_id_; }
  [[nodiscard]] KvCache make_cache(int64_t, int64_t) const { return {}; }

  ForwardOutput forward(const ForwardInput& input, KvCache* cache, ActivationSink* sink) const {
    if (cache != nullptr && cache->capacity != 0) {
      raise("sri.diffusion.cache_unsupported",
            "Dream attends bidirectionally and recomputes the canvas each step; pass no key/value cache");
    }
    at::Tensor tokens = input.tokens.to(options_.device);  // [batch, seq]
    const int64_t batch = tokens.size(0), seq = tokens.size(1);
    detail::HookRequests hooks(sink, config_.num_layers, input.step);

    at::Tensor mask;  // [batch, 1, seq, seq] additive; undefined without padding
    at::Tensor positions = at::arange(seq, tokens.options()).unsqueeze(0).expand({batch, seq});  // [batch, seq]
    if (input.token_valid.defined()) {
      at::Tensor valid = input.token_valid.to(options_.device).to(at::kBool);  // [batch, seq]
      if (!valid.all().item<bool>()) {
        mask = layers::make_attention_mask(valid, 0, seq, {AttentionKind::bidirectional, std::nullopt});
        positions = layers::positions_from_valid(valid, at::zeros({batch}, tokens.options()));
      }
    }
    const layers::RotaryTables rope = layers::rope_tables(inv_freq_, positions, options_.dtype);

    at::Tensor x = at::embedding(embed_, tokens);  // [batch, seq, hidden]
    hooks.embed(x);
    const double scale = 1.0 / std::sqrt(static_cast<double>(config_.head_dim));
    for (int64_t l = 0; l < config_.num_layers; ++l) {
      const Layer& w = layers_[static_cast<std::size_t>(l)];
      at::Tensor h = layers::rms_norm(x, w.input_norm, config_.rms_norm_eps);  // [batch, seq, hidden]
      at::Tensor q = at::linear(h, w.q, w.q_bias).view({batch, seq, config_.num_heads, config_.head_dim}).transpose(1, 2);
      at::Tensor k = at::linear(h, w.k, w.k_bias).view({batch, seq, config_.num_kv_heads, config_.head_dim}).transpose(1, 2);
      at::Tensor v = at::linear(h, w.v, w.v_bias).view({batch, seq, config_.num_kv_heads, config_.head_dim}).transpose(1, 2);
      q = layers::apply_rope(q, rope);                                 // [batch, heads, seq, head_dim]
      k = layers::apply_rope(k, rope);                                 // [batch, kv_heads, seq, head_dim]
      at::Tensor attended = layers::attention(q, k, v, mask, scale);  // [batch, heads, seq, head_dim]
      attended = attended.transpose(1, 2).reshape({batch, seq, config_.num_heads * config_.head_dim});
      x = x + at::linear(attended, w.o);
      at::Tensor m = layers::rms_norm(x, w.post_norm, config_.rms_norm_eps);  // [batch, seq, hidden]
      x = x + layers::gated_mlp(m, w.gate_up, w.down, layers::Activation::silu);
      hooks.layer(l, x);
    }
    at::Tensor normed = layers::rms_norm(x, norm_, config_.rms_norm_eps);  // [batch, seq, hidden]
    hooks.final_norm(normed);
    if (input.logits_last_only) normed = normed.narrow(1, seq - 1, 1);
    return {at::linear(normed, head_).to(at::kFloat)};  // [batch, seq or 1, vocab], unshifted
  }

 private:
  static constexpr std::string_view family_name = "Dream";

  struct Layer {
    at::Tensor input_norm, post_norm;  // [hidden]
    at::Tensor q, q_bias;              // [heads * head_dim, hidden], [heads * head_dim]
    at::Tensor k, k_bias, v, v_bias;   // [kv_heads * head_dim, hidden], [kv_heads * head_dim]
    at::Tensor o;                      // [hidden, heads * head_dim]
    at::Tensor gate_up;                // [2 * intermediate, hidden]
    at::Tensor down;                   // [hidden, intermediate]
  };

  // Reads config.json. Every field is type-checked and every size is checked before it is used,
  // so a bad field raises sri.diffusion.config_invalid (or config_unsupported for variants that
  // are not implemented) naming the field.
  void read_config(const nlohmann::json& cfg) {
    detail::require_object(cfg, family_name);
    check_supported(cfg);
    config_.architecture = "dream";
    config_.attention_bias = true;
    read_sizes(cfg);
    config_.max_position_embeddings =
        detail::config_optional_int(cfg, "max_position_embeddings", family_name).value_or(int64_t{8192});
    detail::check_positive(family_name, "max_position_embeddings", config_.max_position_embeddings);
    config_.rms_norm_eps = detail::config_positive_number(cfg, "rms_norm_eps", 1e-6, family_name);
    config_.rope_theta = detail::config_positive_number(cfg, "rope_theta", 10000.0, family_name);
    // transformers 5 writes rope_theta inside "rope_parameters"; sri::io::Checkpoint copies it to
    // the top level, but other weight sources pass config.json through unchanged.
    const nlohmann::json* rope_parameters = detail::config_field(cfg, "rope_parameters");
    if (detail::config_field(cfg, "rope_theta") == nullptr && rope_parameters != nullptr) {
      config_.rope_theta =
          detail::config_positive_number(*rope_parameters, "rope_theta", config_.rope_theta, family_name);
    }
    config_.tie_word_embeddings = detail::config_bool(cfg, "tie_word_embeddings", false, family_name);

    // Special token ids must index a row of embed_tokens. The eos fallback is Dream-v0's id.
    const int64_t vocab = config_.vocab_size;
    config_.end_token_ids = detail::config_end_token_ids(cfg, 151643, vocab, family_name);
    mask_token_id_ = detail::config_token_id(cfg, "mask_token_id", std::nullopt, vocab, family_name);
    detail::check_mask_not_end(family_name, mask_token_id_, config_.end_token_ids);
    config_.pad_token_id =
        detail::config_token_id(cfg, "pad_token_id", config_.end_token_ids.front(), vocab, family_name);
    if (detail::config_field(cfg, "bos_token_id") != nullptr) {
      config_.bos_token_id = detail::config_token_id(cfg, "bos_token_id", std::nullopt, vocab, family_name);
    }
    config_.validate();
  }

  static void check_supported(const nlohmann::json& cfg) {
    if (detail::config_bool(cfg, "use_sliding_window", false, family_name)) {
      raise("sri.diffusion.config_unsupported",
            "this Dream checkpoint sets use_sliding_window true, which sri's Dream backbone does not implement");
    }
    if (const nlohmann::json* scaling = detail::config_field(cfg, "rope_scaling")) {
      raise("sri.diffusion.config_unsupported",
            "this Dream checkpoint sets rope_scaling " + detail::shown_value(*scaling) +
                ", which sri's Dream backbone does not implement; expected null");
    }
    if (const nlohmann::json* rope_parameters = detail::config_field(cfg, "rope_parameters")) {
      if (!rope_parameters->is_object()) {
        detail::raise_config_invalid(family_name, "rope_parameters",
                                     "is " + detail::shown_value(*rope_parameters) + ", expected an object");
      }
      const std::string rope_type = detail::config_string(*rope_parameters, "rope_type", "default", family_name);
      if (rope_type != "default") {
        raise("sri.diffusion.config_unsupported",
              "this Dream checkpoint sets rope_parameters.rope_type \"" + rope_type +
                  "\", which sri's Dream backbone does not implement; expected default");
      }
    }
    const std::string activation = detail::config_string(cfg, "hidden_act", "silu", family_name);
    if (activation != "silu") {
      raise("sri.diffusion.config_unsupported",
            "this Dream checkpoint sets hidden_act \"" + activation +
                "\", which sri's Dream backbone does not implement; supported: silu");
    }
  }

  void read_sizes(const nlohmann::json& cfg) {
    config_.vocab_size = detail::config_positive_int(cfg, "vocab_size", family_name);
    config_.hidden_size = detail::config_positive_int(cfg, "hidden_size", family_name);
    config_.num_layers = detail::config_positive_int(cfg, "num_hidden_layers", family_name);
    config_.num_heads = detail::config_positive_int(cfg, "num_attention_heads", family_name);
    config_.intermediate_size = detail::config_positive_int(cfg, "intermediate_size", family_name);
    detail::check_divides(family_name, "hidden_size", config_.hidden_size, "num_attention_heads", config_.num_heads);

    config_.num_kv_heads =
        detail::config_optional_int(cfg, "num_key_value_heads", family_name).value_or(config_.num_heads);
    detail::check_positive(family_name, "num_key_value_heads", config_.num_kv_heads);
    detail::check_divides(family_name, "num_attention_heads", config_.num_heads, "num_key_value_heads",
                          config_.num_kv_heads);

    // Qwen2 configs have no head_dim field; an explicit one is honoured as ModelConfig::from_hf_json does.
    if (const std::optional<int64_t> head_dim = detail::config_optional_int(cfg, "head_dim", family_name)) {
      detail::check_positive(family_name, "head_dim", *head_dim);
      if (*head_dim % 2 != 0) {
        detail::raise_config_invalid(family_name, "head_dim",
                                     "is " + std::to_string(*head_dim) + ", expected an even number for rotary embeddings");
      }
      config_.head_dim = *head_dim;
    } else {
      config_.head_dim = config_.hidden_size / config_.num_heads;
      if (config_.head_dim % 2 != 0) {
        detail::raise_config_invalid(family_name, "hidden_size",
                                     "is " + std::to_string(config_.hidden_size) + ", which gives an odd head size of " +
                                         std::to_string(config_.head_dim) +
                                         " (hidden_size / num_attention_heads); rotary embeddings need an even head size");
      }
    }
  }

  void check_shapes() const {
    auto expect = [](const at::Tensor& t, std::vector<int64_t> shape, const std::string& name) {
      if (t.sizes() != at::IntArrayRef(shape)) {
        raise("sri.diffusion.weight_shape_mismatch",
              "Dream tensor " + name + " has shape " + std::string(c10::str(t.sizes())) + ", expected " +
                  std::string(c10::str(at::IntArrayRef(shape))) + " from config.json; the weights and config disagree");
      }
    };
    const int64_t d = config_.hidden_size, qd = config_.num_heads * config_.head_dim,
                  kv = config_.num_kv_heads * config_.head_dim;
    expect(embed_, {config_.vocab_size, d}, "model.embed_tokens.weight");
    expect(head_, {config_.vocab_size, d}, "lm_head.weight");
    for (const Layer& w : layers_) {
      expect(w.q, {qd, d}, "self_attn.q_proj.weight");
      expect(w.k, {kv, d}, "self_attn.k_proj.weight");
      expect(w.v, {kv, d}, "self_attn.v_proj.weight");
      expect(w.o, {d, qd}, "self_attn.o_proj.weight");
      expect(w.gate_up, {2 * config_.intermediate_size, d}, "mlp.gate_proj/up_proj.weight");
      expect(w.down, {d, config_.intermediate_size}, "mlp.down_proj.weight");
    }
  }

  LoadOptions options_;
  ModelConfig config_;
  int64_t mask_token_id_ = 151666;
  at::Tensor embed_;     // [vocab, hidden]
  at::Tensor norm_;      // [hidden]
  at::Tensor head_;      // [vocab, hidden]
  at::Tensor inv_freq_;  // [head_dim / 2] float32
  std::vector<Layer> layers_;
};

static_assert(Backbone<Dream>, "sri::model::Dream must satisfy the Backbone concept so strategies can drive it.");

}  // namespace sri::model
