#pragma once

// The Gemma family decoder: Gemma 2 and Gemma 3 text models. What differs from the Llama family
// (numbers as transformers 5 modeling_gemma2.py / modeling_gemma3.py compute them):
//   - token embeddings are multiplied by sqrt(hidden_size), rounded to the activation dtype first;
//   - RMSNorm scales by (1 + w), with four norms per layer: input, post-attention (on the
//     attention output, before the residual add), pre-feedforward and post-feedforward (on the
//     MLP output, before the residual add);
//   - Gemma 3 normalizes every query and key head with its own (1 + w) RMSNorm before RoPE;
//   - attention scores are scaled by query_pre_attn_scalar^-0.5, and Gemma 2 soft-caps them
//     (cap * tanh(s / cap)) and the final logits;
//   - layers are sliding-window ("sliding_attention": a query sees the `sliding_window` latest
//     positions, itself included) or global ("full_attention"), and Gemma 3 gives sliding layers
//     their own RoPE base (10000) while global layers use rope_theta (1e6) and its scaling;
//   - the MLP is GeGLU with the tanh approximation of GELU, and the LM head is tied.
// Norm weights are expected with Hugging Face semantics (w, not 1 + w): sri::io::Checkpoint
// subtracts the 1 that GGUF converters add.

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "sri/error.hpp"
#include "sri/model/backbone.hpp"
#include "sri/model/layers.hpp"
#include "sri/model/llama.hpp"

namespace sri::model {

// The Gemma-specific part of a configuration, read from Hugging Face config.json fields. Both the
// transformers 4 spelling (rope_theta, rope_local_base_freq, sliding_window_pattern) and the
// transformers 5 spelling (rope_parameters per layer type, layer_types) are accepted.
struct GemmaOptions {
  int generation = 3;                      // 2 or 3
  double query_pre_attn_scalar = 256.0;    // attention scale = query_pre_attn_scalar^-0.5
  double attn_logit_softcapping = 0.0;     // 0 = off (Gemma 3)
  double final_logit_softcapping = 0.0;    // 0 = off (Gemma 3)
  int64_t sliding_window = 4096;
  std::vector<bool> sliding_layers;        // per layer: true for sliding_attention
  double local_rope_theta = 10000.0;       // RoPE base of sliding layers
  bool qk_norm = true;                     // Gemma 3

  // Reads the Gemma fields of `cfg` for `config.num_layers` layers. Throws
  // sri.model.config_invalid for an unknown layer type, a layer count mismatch or an activation
  // other than GELU-tanh.
  static GemmaOptions from_hf_json(const nlohmann::json& cfg, ModelConfig& config) {
    GemmaOptions o;
    o.generation = config.architecture == "gemma2" ? 2 : 3;
    o.qk_norm = o.generation == 3;
    auto fail = [&](const std::string& what) {
      raise("sri.model.config_invalid", "invalid " + config.architecture + " configuration: " + what);
    };
    const auto number_or = [&](const char* key, double fallback) {
      return cfg.contains(key) && cfg[key].is_number() ? cfg[key].get<double>() : fallback;
    };

    const std::string activation = cfg.value("hidden_activation", cfg.value("hidden_act", std::string("gelu_pytorch_tanh")));
    if (activation != "gelu_pytorch_tanh" && activation != "gelu_tanh") {
      fail("hidden_activation '" + activation + "' is not supported; Gemma models use gelu_pytorch_tanh");
    }
    o.query_pre_attn_scalar = number_or("query_pre_attn_scalar", static_cast<double>(config.head_dim));
    o.attn_logit_softcapping = number_or("attn_logit_softcapping", 0.0);
    o.final_logit_softcapping = number_or("final_logit_softcapping", 0.0);
    o.sliding_window = cfg.contains("sliding_window") && cfg["sliding_window"].is_number_integer()
                           ? cfg["sliding_window"].get<int64_t>()
                           : int64_t{4096};
    if (o.sliding_window <= 0) fail("sliding_window must be positive, got " + std::to_string(o.sliding_window));

    // Layer pattern: the explicit list, else the period (Gemma 3: every sixth layer is global),
    // else Gemma 2's alternation (even layers sliding).
    if (cfg.contains("layer_types") && cfg["layer_types"].is_array()) {
      for (const auto& type : cfg["layer_types"]) {
        const std::string name = type.get<std::string>();
        if (name != "sliding_attention" && name != "full_attention") {
          fail("layer type '" + name + "' is not supported; expected sliding_attention or full_attention");
        }
        o.sliding_layers.push_back(name == "sliding_attention");
      }
      if (static_cast<int64_t>(o.sliding_layers.size()) != config.num_layers) {
        fail("layer_types lists " + std::to_string(o.sliding_layers.size()) + " layers but num_hidden_layers is " +
             std::to_string(config.num_layers));
      }
    } else {
      int64_t period = o.generation == 2 ? 2 : 6;
      for (const char* key : {"sliding_window_pattern", "_sliding_window_pattern"}) {
        if (cfg.contains(key) && cfg[key].is_number_integer()) period = cfg[key].get<int64_t>();
      }
      if (period <= 0) fail("sliding_window_pattern must be positive, got " + std::to_string(period));
      for (int64_t i = 0; i < config.num_layers; ++i) o.sliding_layers.push_back((i + 1) % period != 0);
    }

    // RoPE bases. transformers 5 nests them per layer type under rope_parameters.
    o.local_rope_theta = o.generation == 2 ? config.rope_theta : number_or("rope_local_base_freq", 10000.0);
    const nlohmann::json* rope = cfg.contains("rope_parameters") && cfg["rope_parameters"].is_object()
                                     ? &cfg["rope_parameters"]
                                     : nullptr;
    if (rope != nullptr && rope->contains("full_attention")) {
      const nlohmann::json& full = (*rope)["full_attention"];
      config.rope_theta = full.value("rope_theta", 1000000.0);
      config.rope_scaling = RopeScaling{};
      config.rope_scaling.type = full.value("rope_type", std::string("default"));
      config.rope_scaling.factor = full.value("factor", 1.0);
      if (rope->contains("sliding_attention")) {
        const nlohmann::json& local = (*rope)["sliding_attention"];
        o.local_rope_theta = local.value("rope_theta", 10000.0);
        if (local.value("rope_type", std::string("default")) != "default") {
          fail("sliding-layer rope_type '" + local.value("rope_type", std::string()) +
               "' is not supported; Gemma 3 sliding layers use default RoPE");
        }
      }
    } else if (o.generation == 3 && !cfg.contains("rope_theta") && rope == nullptr) {
      config.rope_theta = 1000000.0;  // Gemma3TextConfig default
    }
    config.validate();
    return o;
  }
};

class Gemma {
 public:
  static constexpr AttentionKind attention_kind = AttentionKind::causal;

  // Loads and checks every weight. Throws sri.model.weight_missing or sri.model.weight_shape when
  // the source does not match the configuration, and sri.model.dtype_invalid for a float16 or
  // bfloat16 request on CPU.
  Gemma(ModelConfig config, GemmaOptions gemma, const WeightSource& source, std::vector<int64_t> end_token_ids,
        RuntimeOptions options = {})
      : config_(std::move(config)), gemma_(std::move(gemma)), end_ids_(std::move(end_token_ids)), options_(options) {
    config_.validate();
    set_cpu_threads(options_.threads);
    if (options_.device.is_cpu() && options_.dtype != at::kFloat) {
      raise("sri.model.dtype_invalid", std::string("dtype ") + c10::toString(options_.dtype) +
                                           " was requested on CPU; CPU inference runs in float32, use "
                                           "bfloat16 or float16 only with a CUDA device");
    }
    if (static_cast<int64_t>(gemma_.sliding_layers.size()) != config_.num_layers) {
      raise("sri.model.config_invalid", "the Gemma layer pattern has " + std::to_string(gemma_.sliding_layers.size()) +
                                            " entries for " + std::to_string(config_.num_layers) + " layers");
    }
    if (config_.end_token_ids.empty()) config_.end_token_ids = end_ids_;
    load_weights(source);
    global_inv_freq_ = layers::rope_inverse_frequencies(config_.head_dim, config_.rope_theta, config_.rope_scaling)
                           .to(options_.device);  // [head_dim / 2] float32
    local_inv_freq_ = layers::rope_inverse_frequencies(config_.head_dim, gemma_.local_rope_theta).to(options_.device);  // [head_dim / 2]
    // transformers builds the scale as a tensor in the activation dtype, so bfloat16 multiplies by
    // 25.25 instead of sqrt(640) = 25.298 for Gemma 3 270M.
    embed_scale_ = at::scalar_tensor(std::sqrt(static_cast<double>(config_.hidden_size)),
                                     at::TensorOptions().dtype(options_.dtype).device(options_.device));
  }

  // Builds the model from a checkpoint (sri::io::Checkpoint or any type with its interface).
  // Throws sri.model.architecture_unsupported for families other than gemma2 and gemma3.
  template <class CheckpointLike>
  static Gemma from_checkpoint(const CheckpointLike& checkpoint, RuntimeOptions options = {}) {
    const std::string arch = checkpoint.architecture();
    if (arch != "gemma2" && arch != "gemma3") {
      raise("sri.model.architecture_unsupported", "architecture '" + arch +
                                                      "' is not a Gemma model; sri::model::Gemma supports gemma2 "
                                                      "and gemma3");
    }
    ModelConfig config = ModelConfig::from_hf_json(checkpoint.config(), arch);
    config.tie_word_embeddings = true;
    GemmaOptions gemma = GemmaOptions::from_hf_json(checkpoint.config(), config);
    std::vector<int64_t> end_ids = checkpoint.end_token_ids();
    // Chat turns end with <end_of_turn>, which Gemma's generation_config.json lists as an end id
    // but GGUF metadata names only as a vocabulary entry.
    if constexpr (requires { checkpoint.gguf(); }) {
      if (const auto* gguf = checkpoint.gguf(); gguf != nullptr && gguf->contains("tokenizer.ggml.tokens")) {
        const std::vector<std::string> tokens = gguf->get_string_array("tokenizer.ggml.tokens");
        for (std::size_t id = 0; id < tokens.size(); ++id) {
          if (tokens[id] != "<end_of_turn>") continue;
          if (std::find(end_ids.begin(), end_ids.end(), static_cast<int64_t>(id)) == end_ids.end()) {
            end_ids.push_back(static_cast<int64_t>(id));
          }
          break;
        }
      }
    }
    return Gemma(std::move(config), std::move(gemma), weights_of(checkpoint), std::move(end_ids), options);
  }

  [[nodiscard]] const ModelConfig& config() const { return config_; }
  [[nodiscard]] const GemmaOptions& gemma_options() const { return gemma_; }
  [[nodiscard]] const std::vector<int64_t>& end_token_ids() const { return end_ids_; }
  [[nodiscard]] at::Device device() const { return options_.device; }
  [[nodiscard]] at::ScalarType dtype() const { return options_.dtype; }

  // Allocates a cache for `batch` rows and `capacity` positions (prompt plus generated tokens).
  // Sliding layers keep every position too and mask the old ones out.
  [[nodiscard]] KvCache make_cache(int64_t batch, int64_t capacity) const {
    KvCache cache;
    auto options = at::TensorOptions().dtype(options_.dtype).device(options_.device);
    for (int64_t l = 0; l < config_.num_layers; ++l) {
      cache.keys.push_back(at::zeros({batch, config_.num_kv_heads, capacity, config_.head_dim}, options));
      cache.values.push_back(at::zeros({batch, config_.num_kv_heads, capacity, config_.head_dim}, options));
    }
    cache.key_valid = at::zeros({batch, capacity}, at::TensorOptions().dtype(at::kBool).device(options_.device));
    cache.next_position = at::zeros({batch}, at::TensorOptions().dtype(at::kLong).device(options_.device));
    cache.capacity = capacity;
    return cache;
  }

  // Runs new token columns through the decoder, as Llama::forward does. Every activation handed
  // to the sink is checked for NaN and infinity first: a non-finite value raises
  // sri.model.non_finite naming the hook point and the step (Gemma overflows in float16).
  ForwardOutput forward(const ForwardInput& input, KvCache* cache = nullptr, ActivationSink* sink = nullptr) const {
    at::Tensor tokens = input.tokens.to(options_.device);  // [batch, seq]
    const int64_t batch = tokens.size(0), seq = tokens.size(1);
    at::Tensor valid = input.token_valid.defined()
                           ? input.token_valid.to(options_.device).to(at::kBool)
                           : at::ones({batch, seq}, at::TensorOptions().dtype(at::kBool).device(options_.device));  // [batch, seq]
    const int64_t past = cache != nullptr ? cache->length : 0;
    if (cache != nullptr) check_cache(*cache, batch, seq);

    at::Tensor start = cache != nullptr ? cache->next_position
                                        : at::zeros({batch}, at::TensorOptions().dtype(at::kLong).device(options_.device));
    at::Tensor positions = layers::positions_from_valid(valid, start);  // [batch, seq]
    at::Tensor key_valid = valid;                                         // [batch, past + seq]
    if (cache != nullptr) {
      cache->key_valid.narrow(1, past, seq).copy_(valid);
      cache->next_position.add_(valid.to(at::kLong).sum(1));
      key_valid = cache->key_valid.narrow(1, 0, past + seq);
    }

    // Global layers need no mask for one new column over all-valid keys; sliding layers need one
    // as soon as the keys reach past the window.
    const bool all_valid = key_valid.all().item<bool>();
    at::Tensor global_mask;   // [batch, 1, seq, past + seq] additive, or undefined
    at::Tensor sliding_mask;  // [batch, 1, seq, past + seq] additive, or undefined
    if (seq > 1 || !all_valid) {
      global_mask = layers::make_attention_mask(key_valid, past, seq, {AttentionKind::causal, std::nullopt});
    }
    if (seq > 1 || !all_valid || past + seq > gemma_.sliding_window) {
      sliding_mask = layers::make_attention_mask(key_valid, past, seq, {AttentionKind::causal, gemma_.sliding_window});
    }
    const layers::RotaryTables global_rope = layers::rope_tables(global_inv_freq_, positions, options_.dtype);
    const layers::RotaryTables local_rope = layers::rope_tables(local_inv_freq_, positions, options_.dtype);

    Reporter report(sink, input.step, config_.num_layers, seq);

    at::Tensor h = at::embedding(embed_, tokens) * embed_scale_;  // [batch, seq, hidden]
    report(HookPoint::embed_out(), h);
    const double scale = 1.0 / std::sqrt(gemma_.query_pre_attn_scalar);
    for (int64_t l = 0; l < config_.num_layers; ++l) {
      const bool sliding = gemma_.sliding_layers[static_cast<std::size_t>(l)];
      h = decoder_layer(l, h, sliding ? local_rope : global_rope, sliding ? sliding_mask : global_mask, cache, past,
                        scale);
      report(HookPoint::resid_post(l), h);
    }
    at::Tensor final_norm = norm(h, final_norm_weight_);  // [batch, seq, hidden]
    report(HookPoint::final_norm_out(), final_norm);

    if (cache != nullptr) cache->length += seq;
    at::Tensor head_input = input.logits_last_only ? final_norm.narrow(1, seq - 1, 1) : final_norm;
    at::Tensor logits = at::linear(head_input, embed_);  // [batch, seq or 1, vocab]
    if (gemma_.final_logit_softcapping > 0.0) {
      logits = at::tanh(logits / gemma_.final_logit_softcapping) * gemma_.final_logit_softcapping;
    }
    return {logits.to(at::kFloat)};
  }

 private:
  struct Layer {
    at::Tensor input_norm;           // [hidden]
    at::Tensor qkv;                  // [(heads + 2 * kv_heads) * head_dim, hidden], q, k, v rows stacked
    at::Tensor q_norm;               // [head_dim] (Gemma 3)
    at::Tensor k_norm;               // [head_dim] (Gemma 3)
    at::Tensor output;               // [hidden, heads * head_dim]
    at::Tensor post_attention_norm;  // [hidden]
    at::Tensor pre_feedforward_norm;   // [hidden]
    at::Tensor post_feedforward_norm;  // [hidden]
    at::Tensor gate_up;              // [2 * intermediate, hidden], gate rows then up rows
    at::Tensor down;                 // [hidden, intermediate]
  };

  // Asks the sink for every hook point once per forward pass, then checks and hands over only the
  // requested columns.
  class Reporter {
   public:
    Reporter(ActivationSink* sink, int64_t step, int64_t num_layers, int64_t seq) : sink_(sink), step_(step), seq_(seq) {
      if (sink_ == nullptr) return;
      embed_ = sink_->wants(HookPoint::embed_out(), step);
      final_ = sink_->wants(HookPoint::final_norm_out(), step);
      layers_.reserve(static_cast<std::size_t>(num_layers));
      for (int64_t l = 0; l < num_layers; ++l) layers_.push_back(sink_->wants(HookPoint::resid_post(l), step));
    }

    void operator()(const HookPoint& point, const at::Tensor& activations) const {  // activations: [batch, seq, hidden]
      if (sink_ == nullptr) return;
      const PositionSelection& selection = point.kind == HookPoint::Kind::embed_out        ? embed_
                                           : point.kind == HookPoint::Kind::final_norm_out ? final_
                                                                                           : layers_[static_cast<std::size_t>(point.layer)];
      if (selection.empty()) return;
      auto [begin, end] = selection.resolve(seq_);
      at::Tensor selected = activations.narrow(1, begin, end - begin);  // [batch, selected, hidden]
      if (!at::isfinite(selected).all().item<bool>()) {
        raise("sri.model.non_finite",
              "hook point " + point.name() + " has NaN or infinite values at generation step " +
                  std::to_string(step_) + " (" + c10::toString(selected.scalar_type()) +
                  " activations); Gemma overflows in float16, so run it in bfloat16 or float32");
      }
      sink_->receive(point, step_, selected);
    }

   private:
    ActivationSink* sink_;
    int64_t step_;
    int64_t seq_;
    PositionSelection embed_, final_;
    std::vector<PositionSelection> layers_;
  };

  [[nodiscard]] at::Tensor norm(const at::Tensor& x, const at::Tensor& weight) const {
    return layers::rms_norm(x, weight, config_.rms_norm_eps, layers::NormStyle::gemma);
  }

  at::Tensor decoder_layer(int64_t index, const at::Tensor& h,  // [batch, seq, hidden]
                           const layers::RotaryTables& rope, const at::Tensor& mask, KvCache* cache, int64_t past,
                           double scale) const {
    const Layer& w = layers_[static_cast<std::size_t>(index)];
    const int64_t batch = h.size(0), seq = h.size(1);
    const int64_t heads = config_.num_heads, kv_heads = config_.num_kv_heads, head_dim = config_.head_dim;

    at::Tensor x = norm(h, w.input_norm);  // [batch, seq, hidden]
    at::Tensor qkv = at::linear(x, w.qkv);  // [batch, seq, (H + 2 KV) * D]
    at::Tensor q = qkv.narrow(-1, 0, heads * head_dim).view({batch, seq, heads, head_dim}).transpose(1, 2);  // [batch, H, seq, D]
    at::Tensor k = qkv.narrow(-1, heads * head_dim, kv_heads * head_dim).view({batch, seq, kv_heads, head_dim}).transpose(1, 2);  // [batch, KV, seq, D]
    at::Tensor v = qkv.narrow(-1, (heads + kv_heads) * head_dim, kv_heads * head_dim).view({batch, seq, kv_heads, head_dim}).transpose(1, 2);  // [batch, KV, seq, D]
    if (gemma_.qk_norm) {
      q = norm(q, w.q_norm);
      k = norm(k, w.k_norm);
    }
    q = layers::apply_rope(q, rope);
    k = layers::apply_rope(k, rope);
    if (cache != nullptr) {
      at::Tensor& keys = cache->keys[static_cast<std::size_t>(index)];      // [batch, KV, capacity, D]
      at::Tensor& values = cache->values[static_cast<std::size_t>(index)];  // [batch, KV, capacity, D]
      keys.narrow(2, past, seq).copy_(k);
      values.narrow(2, past, seq).copy_(v);
      k = keys.narrow(2, 0, past + seq);    // [batch, KV, past + seq, D]
      v = values.narrow(2, 0, past + seq);  // [batch, KV, past + seq, D]
    }
    at::Tensor attended = layers::attention(q, k, v, mask, scale, gemma_.attn_logit_softcapping);  // [batch, H, seq, D]
    attended = attended.transpose(1, 2).reshape({batch, seq, heads * head_dim});                    // [batch, seq, H * D]
    at::Tensor after_attention = h + norm(at::linear(attended, w.output), w.post_attention_norm);   // [batch, seq, hidden]
    at::Tensor y = norm(after_attention, w.pre_feedforward_norm);                                    // [batch, seq, hidden]
    at::Tensor mlp = layers::gated_mlp(y, w.gate_up, w.down, layers::Activation::gelu_tanh);        // [batch, seq, hidden]
    return after_attention + norm(mlp, w.post_feedforward_norm);
  }

  void check_cache(const KvCache& cache, int64_t batch, int64_t seq) const {
    if (cache.batch_size() != batch || static_cast<int64_t>(cache.keys.size()) != config_.num_layers) {
      raise("sri.model.cache_mismatch", "the KV cache was made for " + std::to_string(cache.batch_size()) +
                                            " rows and " + std::to_string(cache.keys.size()) + " layers, but the input has " +
                                            std::to_string(batch) + " rows and the model " +
                                            std::to_string(config_.num_layers) + " layers; make the cache with make_cache()");
    }
    if (cache.length + seq > cache.capacity) {
      raise("sri.model.cache_full", "the KV cache holds " + std::to_string(cache.capacity) + " positions, " +
                                        std::to_string(cache.length) + " are used and " + std::to_string(seq) +
                                        " more were given; make the cache with a capacity of prompt length plus steps");
    }
  }

  at::Tensor load(const WeightSource& source, const std::string& name, std::vector<int64_t> shape) const {
    if (!source.contains(name)) {
      raise("sri.model.weight_missing", "tensor '" + name + "' is missing from the " + config_.architecture +
                                            " checkpoint; the file does not match its configuration");
    }
    at::Tensor t = source.load(name, at::kFloat);
    if (t.sizes().vec() != shape) {
      std::string found = "[", expected = "[";
      for (std::size_t i = 0; i < t.sizes().size(); ++i) found += (i ? ", " : "") + std::to_string(t.size(static_cast<int64_t>(i)));
      for (std::size_t i = 0; i < shape.size(); ++i) expected += (i ? ", " : "") + std::to_string(shape[i]);
      raise("sri.model.weight_shape", "tensor '" + name + "' has shape " + found + "] but the configuration expects " +
                                          expected + "]");
    }
    return t;
  }

  at::Tensor place(const at::Tensor& t) const { return t.to(options_.device, options_.dtype).contiguous(); }

  void load_weights(const WeightSource& source) {
    const int64_t hidden = config_.hidden_size, heads = config_.num_heads, kv = config_.num_kv_heads;
    const int64_t d = config_.head_dim, inter = config_.intermediate_size;
    embed_ = place(load(source, "model.embed_tokens.weight", {config_.vocab_size, hidden}));
    final_norm_weight_ = place(load(source, "model.norm.weight", {hidden}));
    // NOTE: Gemma ties the LM head to the embedding; a checkpoint with its own lm_head.weight is
    // still read through the embedding, as transformers does for tie_word_embeddings = true.
    for (int64_t l = 0; l < config_.num_layers; ++l) {
      const std::string p = "model.layers." + std::to_string(l) + ".";
      Layer w;
      w.input_norm = place(load(source, p + "input_layernorm.weight", {hidden}));
      w.post_attention_norm = place(load(source, p + "post_attention_layernorm.weight", {hidden}));
      w.pre_feedforward_norm = place(load(source, p + "pre_feedforward_layernorm.weight", {hidden}));
      w.post_feedforward_norm = place(load(source, p + "post_feedforward_layernorm.weight", {hidden}));
      w.qkv = place(at::cat({load(source, p + "self_attn.q_proj.weight", {heads * d, hidden}),
                             load(source, p + "self_attn.k_proj.weight", {kv * d, hidden}),
                             load(source, p + "self_attn.v_proj.weight", {kv * d, hidden})}));
      if (gemma_.qk_norm) {
        w.q_norm = place(load(source, p + "self_attn.q_norm.weight", {d}));
        w.k_norm = place(load(source, p + "self_attn.k_norm.weight", {d}));
      }
      w.output = place(load(source, p + "self_attn.o_proj.weight", {hidden, heads * d}));
      w.gate_up = place(at::cat({load(source, p + "mlp.gate_proj.weight", {inter, hidden}),
                                 load(source, p + "mlp.up_proj.weight", {inter, hidden})}));
      w.down = place(load(source, p + "mlp.down_proj.weight", {hidden, inter}));
      layers_.push_back(std::move(w));
    }
  }

  ModelConfig config_;
  GemmaOptions gemma_;
  std::vector<int64_t> end_ids_;
  RuntimeOptions options_;
  at::Tensor embed_;              // [vocab, hidden], also the LM head
  at::Tensor embed_scale_;        // [] sqrt(hidden) in the activation dtype
  at::Tensor final_norm_weight_;  // [hidden]
  at::Tensor global_inv_freq_;    // [head_dim / 2] float32
  at::Tensor local_inv_freq_;     // [head_dim / 2] float32
  std::vector<Layer> layers_;
};

static_assert(Backbone<Gemma>, "sri::model::Gemma must satisfy the Backbone concept.");

}  // namespace sri::model
