#pragma once

// The Llama-family decoder: Llama 3.x (llama3 rope scaling), SmolLM2 and Qwen2/Qwen2.5 (q/k/v
// bias). Grouped-query attention, RMSNorm, SwiGLU, half-split rotary embeddings, tied or untied
// output head. Weights are loaded once into the runtime dtype and device.

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "sri/error.hpp"
#include "sri/model/backbone.hpp"
#include "sri/model/layers.hpp"

namespace sri::model {

// Weight provider keyed by Hugging Face tensor name. weights_of() adapts a Checkpoint, and tests
// build one over a safetensors file.
struct WeightSource {
  std::function<bool(const std::string&)> contains;
  std::function<at::Tensor(const std::string&, at::ScalarType)> load;
};

// Adapts any checkpoint type with contains(name) and load(name, dtype) (sri::io::Checkpoint).
template <class CheckpointLike>
WeightSource weights_of(const CheckpointLike& checkpoint) {
  return {[&checkpoint](const std::string& name) { return checkpoint.contains(name); },
          [&checkpoint](const std::string& name, at::ScalarType dtype) { return checkpoint.load(name, dtype); }};
}

class Llama {
 public:
  static constexpr AttentionKind attention_kind = AttentionKind::causal;

  // Loads and checks every weight. Throws sri.model.weight_missing or sri.model.weight_shape when
  // the source does not match the configuration, and sri.model.dtype_invalid for a float16 or
  // bfloat16 request on CPU.
  Llama(ModelConfig config, const WeightSource& source, std::vector<int64_t> end_token_ids,
        RuntimeOptions options = {})
      : config_(std::move(config)), end_ids_(std::move(end_token_ids)), options_(options) {
    config_.validate();
    set_cpu_threads(options_.threads);
    if (options_.device.is_cpu() && options_.dtype != at::kFloat) {
      raise("sri.model.dtype_invalid", std::string("dtype ") + c10::toString(options_.dtype) +
                                           " was requested on CPU; CPU inference runs in float32, use "
                                           "bfloat16 or float16 only with a CUDA device");
    }
    if (config_.end_token_ids.empty()) config_.end_token_ids = end_ids_;
    load_weights(source);
    inv_freq_ = layers::rope_inverse_frequencies(config_.head_dim, config_.rope_theta, config_.rope_scaling)
                    .to(options_.device);  // [head_dim / 2] float32
  }

  // Builds the model from a checkpoint (sri::io::Checkpoint or any type with its interface).
  // Throws sri.model.architecture_unsupported for families other than llama and qwen2.
  template <class CheckpointLike>
  static Llama from_checkpoint(const CheckpointLike& checkpoint, RuntimeOptions options = {}) {
    const std::string arch = checkpoint.architecture();
    if (arch != "llama" && arch != "qwen2") {
      raise("sri.model.architecture_unsupported", "architecture '" + arch +
                                                      "' is not a Llama-family model; sri::model::Llama "
                                                      "supports llama and qwen2");
    }
    ModelConfig config = ModelConfig::from_hf_json(checkpoint.config(), arch);
    return Llama(std::move(config), weights_of(checkpoint), checkpoint.end_token_ids(), options);
  }

  [[nodiscard]] const ModelConfig& config() const { return config_; }
  [[nodiscard]] const std::vector<int64_t>& end_token_ids() const { return end_ids_; }
  [[nodiscard]] at::Device device() const { return options_.device; }
  [[nodiscard]] at::ScalarType dtype() const { return options_.dtype; }

  // Allocates a cache for `batch` rows and `capacity` positions (prompt plus generated tokens).
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

  // Runs new token columns through the decoder. With a cache, keys and values are appended at
  // slots [cache.length, cache.length + seq) and attention covers all earlier slots; without one
  // the call attends only over its own columns. Rotary positions count only valid columns, so a
  // left-padded row gets the same positions as the row alone.
  ForwardOutput forward(const ForwardInput& input, KvCache* cache = nullptr, ActivationSink* sink = nullptr) const {
    at::Tensor tokens = input.tokens.to(options_.device);  // [batch, seq]
    const int64_t batch = tokens.size(0), seq = tokens.size(1);
    at::Tensor valid = input.token_valid.defined()
                           ? input.token_valid.to(options_.device).to(at::kBool)
                           : at::ones({batch, seq}, at::TensorOptions().dtype(at::kBool).device(options_.device));  // [batch, seq]
    const int64_t past = cache != nullptr ? cache->length : 0;
    if (cache != nullptr) check_cache(*cache, batch, seq);

    // Positions continue each row's count of valid tokens.
    at::Tensor start = cache != nullptr ? cache->next_position
                                        : at::zeros({batch}, at::TensorOptions().dtype(at::kLong).device(options_.device));
    at::Tensor positions = layers::positions_from_valid(valid, start);  // [batch, seq]
    at::Tensor key_valid = valid;                                         // [batch, past + seq]
    if (cache != nullptr) {
      cache->key_valid.narrow(1, past, seq).copy_(valid);
      cache->next_position.add_(valid.to(at::kLong).sum(1));
      key_valid = cache->key_valid.narrow(1, 0, past + seq);
    }
    // A single new column over all-valid keys needs no mask: every key is visible.
    at::Tensor mask;  // [batch, 1, seq, past + seq] additive, or undefined
    if (seq > 1 || !key_valid.all().item<bool>()) {
      mask = layers::make_attention_mask(key_valid, past, seq, {AttentionKind::causal, std::nullopt});
    }
    layers::RotaryTables rope = layers::rope_tables(inv_freq_, positions, options_.dtype);

    Reporter report(sink, input.step, config_.num_layers, seq);

    at::Tensor h = at::embedding(embed_, tokens);  // [batch, seq, hidden]
    report(HookPoint::embed_out(), h);
    const double scale = 1.0 / std::sqrt(static_cast<double>(config_.head_dim));
    for (int64_t l = 0; l < config_.num_layers; ++l) {
      h = decoder_layer(l, h, rope, mask, cache, past, scale);
      report(HookPoint::resid_post(l), h);
    }
    at::Tensor final_norm = layers::rms_norm(h, final_norm_weight_, config_.rms_norm_eps);  // [batch, seq, hidden]
    report(HookPoint::final_norm_out(), final_norm);

    if (cache != nullptr) cache->length += seq;
    at::Tensor head_input = input.logits_last_only ? final_norm.narrow(1, seq - 1, 1) : final_norm;
    return {at::linear(head_input, lm_head_).to(at::kFloat)};  // [batch, seq or 1, vocab]
  }

 private:
  struct Layer {
    at::Tensor input_norm;      // [hidden]
    at::Tensor qkv;             // [(heads + 2 * kv_heads) * head_dim, hidden], q, k, v rows stacked
    at::Tensor qkv_bias;        // [(heads + 2 * kv_heads) * head_dim] or undefined
    at::Tensor output;          // [hidden, heads * head_dim]
    at::Tensor post_attention_norm;  // [hidden]
    at::Tensor gate_up;         // [2 * intermediate, hidden], gate rows then up rows
    at::Tensor down;            // [hidden, intermediate]
  };

  // Asks the sink for every hook point once per forward pass, then hands over only the
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
      const PositionSelection& selection = point.kind == HookPoint::Kind::embed_out   ? embed_
                                           : point.kind == HookPoint::Kind::final_norm_out ? final_
                                                                                      : layers_[static_cast<std::size_t>(point.layer)];
      if (selection.empty()) return;
      auto [begin, end] = selection.resolve(seq_);
      sink_->receive(point, step_, activations.narrow(1, begin, end - begin));
    }

   private:
    ActivationSink* sink_;
    int64_t step_;
    int64_t seq_;
    PositionSelection embed_, final_;
    std::vector<PositionSelection> layers_;
  };

  at::Tensor decoder_layer(int64_t index, const at::Tensor& h,  // [batch, seq, hidden]
                           const layers::RotaryTables& rope, const at::Tensor& mask, KvCache* cache, int64_t past,
                           double scale) const {
    const Layer& w = layers_[static_cast<std::size_t>(index)];
    const int64_t batch = h.size(0), seq = h.size(1);
    const int64_t heads = config_.num_heads, kv_heads = config_.num_kv_heads, head_dim = config_.head_dim;

    at::Tensor x = layers::rms_norm(h, w.input_norm, config_.rms_norm_eps);  // [batch, seq, hidden]
    at::Tensor qkv = w.qkv_bias.defined() ? at::linear(x, w.qkv, w.qkv_bias) : at::linear(x, w.qkv);  // [batch, seq, (H + 2 KV) * D]
    at::Tensor q = qkv.narrow(-1, 0, heads * head_dim).view({batch, seq, heads, head_dim}).transpose(1, 2);  // [batch, H, seq, D]
    at::Tensor k = qkv.narrow(-1, heads * head_dim, kv_heads * head_dim).view({batch, seq, kv_heads, head_dim}).transpose(1, 2);  // [batch, KV, seq, D]
    at::Tensor v = qkv.narrow(-1, (heads + kv_heads) * head_dim, kv_heads * head_dim).view({batch, seq, kv_heads, head_dim}).transpose(1, 2);  // [batch, KV, seq, D]
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
    at::Tensor attended = layers::attention(q, k, v, mask, scale);                      // [batch, H, seq, D]
    attended = attended.transpose(1, 2).reshape({batch, seq, heads * head_dim});        // [batch, seq, H * D]
    at::Tensor after_attention = h + at::linear(attended, w.output);                    // [batch, seq, hidden]
    at::Tensor y = layers::rms_norm(after_attention, w.post_attention_norm, config_.rms_norm_eps);
    return after_attention + layers::gated_mlp(y, w.gate_up, w.down, layers::Activation::silu);
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
      raise("sri.model.weight_shape", "tensor '" + name + "' has shape " + shape_string(t.sizes().vec()) +
                                          " but the configuration expects " + shape_string(shape));
    }
    return t;
  }

  static std::string shape_string(const std::vector<int64_t>& shape) {
    std::string out = "[";
    for (std::size_t i = 0; i < shape.size(); ++i) out += (i ? ", " : "") + std::to_string(shape[i]);
    return out + "]";
  }

  at::Tensor place(const at::Tensor& t) const { return t.to(options_.device, options_.dtype).contiguous(); }

  void load_weights(const WeightSource& source) {
    const int64_t hidden = config_.hidden_size, heads = config_.num_heads, kv = config_.num_kv_heads;
    const int64_t d = config_.head_dim, inter = config_.intermediate_size;
    embed_ = place(load(source, "model.embed_tokens.weight", {config_.vocab_size, hidden}));
    final_norm_weight_ = place(load(source, "model.norm.weight", {hidden}));
    // Some GGUF conversions drop the output matrix of tied models without recording the tie, so a
    // missing lm_head also means tied.
    const bool tied = config_.tie_word_embeddings || !source.contains("lm_head.weight");
    lm_head_ = tied ? embed_ : place(load(source, "lm_head.weight", {config_.vocab_size, hidden}));

    for (int64_t l = 0; l < config_.num_layers; ++l) {
      const std::string p = "model.layers." + std::to_string(l) + ".";
      Layer w;
      w.input_norm = place(load(source, p + "input_layernorm.weight", {hidden}));
      w.post_attention_norm = place(load(source, p + "post_attention_layernorm.weight", {hidden}));
      w.qkv = place(at::cat({load(source, p + "self_attn.q_proj.weight", {heads * d, hidden}),
                             load(source, p + "self_attn.k_proj.weight", {kv * d, hidden}),
                             load(source, p + "self_attn.v_proj.weight", {kv * d, hidden})}));
      if (config_.attention_bias) {
        w.qkv_bias = place(at::cat({load(source, p + "self_attn.q_proj.bias", {heads * d}),
                                    load(source, p + "self_attn.k_proj.bias", {kv * d}),
                                    load(source, p + "self_attn.v_proj.bias", {kv * d})}));
      }
      w.output = place(load(source, p + "self_attn.o_proj.weight", {hidden, heads * d}));
      w.gate_up = place(at::cat({load(source, p + "mlp.gate_proj.weight", {inter, hidden}),
                                 load(source, p + "mlp.up_proj.weight", {inter, hidden})}));
      w.down = place(load(source, p + "mlp.down_proj.weight", {hidden, inter}));
      layers_.push_back(std::move(w));
    }
  }

  ModelConfig config_;
  std::vector<int64_t> end_ids_;
  RuntimeOptions options_;
  at::Tensor embed_;              // [vocab, hidden]
  at::Tensor final_norm_weight_;  // [hidden]
  at::Tensor lm_head_;            // [vocab, hidden], the embedding matrix when tied
  at::Tensor inv_freq_;           // [head_dim / 2] float32
  std::vector<Layer> layers_;
};

static_assert(Backbone<Llama>, "sri::model::Llama must satisfy the Backbone concept.");

}  // namespace sri::model
