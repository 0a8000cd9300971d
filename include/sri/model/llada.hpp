#pragma once

// LLaDA backbone (LLaDA-8B-Instruct, LLaDA-1.5): a Llama-like decoder with bidirectional
// attention, as in the Hugging Face remote code modeling_llada.py (LLaDALlamaBlock):
//   x = wte[ids]; per block: x += attn_out(attention(rope(q_proj(n)), rope(k_proj(n)), v_proj(n)))
//   with n = attn_norm(x); x += ff_out(silu(ff_proj(m)) * up_proj(m)) with m = ff_norm(x);
//   logits = ff_out(ln_f(x)) (wte when weight_tying).
// ff_proj is the gated branch. Rotary angles and the rotation run in float32 (rope_full_precision).
// Left-padded rows hide their padding keys; padding queries still see the real keys, and their
// outputs are unused.

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

class Llada {
 public:
  static constexpr AttentionKind attention_kind = AttentionKind::bidirectional;
  // Column j of the logits predicts the token at column j.
  static constexpr int64_t logits_shift = 0;

  template <WeightSource W>
  explicit Llada(const W& source, LoadOptions options = {}) : options_(options) {
    read_config(source.config());
    const std::string prefix = "model.transformer.";
    detail::check_no_extra_layer(source, prefix + "blocks." + std::to_string(config_.num_layers) + ".attn_norm.weight",
                                 family_name, "n_layers", config_.num_layers);
    wte_ = detail::load_weight(source, prefix + "wte.weight", options_);
    ln_f_ = detail::load_weight(source, prefix + "ln_f.weight", options_);
    head_ = weight_tying_ ? wte_ : detail::load_weight(source, prefix + "ff_out.weight", options_);
    for (int64_t n = 0; n < config_.num_layers; ++n) {
      const std::string p = prefix + "blocks." + std::to_string(n) + ".";
      Block block;
      block.attn_norm = detail::load_weight(source, p + "attn_norm.weight", options_);
      block.ff_norm = detail::load_weight(source, p + "ff_norm.weight", options_);
      block.q = detail::load_weight(source, p + "q_proj.weight", options_);
      block.k = detail::load_weight(source, p + "k_proj.weight", options_);
      block.v = detail::load_weight(source, p + "v_proj.weight", options_);
      block.out = detail::load_weight(source, p + "attn_out.weight", options_);
      block.gate_up = at::cat({detail::load_weight(source, p + "ff_proj.weight", options_),
                               detail::load_weight(source, p + "up_proj.weight", options_)},
                              0);
      block.down = detail::load_weight(source, p + "ff_out.weight", options_);
      blocks_.push_back(std::move(block));
    }
    check_shapes();
    inv_freq_ = inverse_frequencies();
  }

  // Builds the model from a checkpoint (sri::io::Checkpoint or any type with config() and
  // load(name, dtype)). Throws sri.model.architecture_unsupported for other families.
  template <class CheckpointLike>
  static Llada from_checkpoint(const CheckpointLike& checkpoint, RuntimeOptions options = {}) {
    const std::string arch = checkpoint.architecture();
    if (arch != "llada") {
      raise("sri.model.architecture_unsupported",
            "architecture '" + arch + "' is not a Llada model; sri::model::Llada loads llada checkpoints");
    }
    set_cpu_threads(options.threads);
    return Llada(checkpoint, LoadOptions{options.dtype, options.device});
  }

  [[nodiscard]] const ModelConfig& config() const { return config_; }
  [[nodiscard]] const std::vector<int64_t>& end_token_ids() const { return config_.end_token_ids; }
  [[nodiscard]] at::Device device() const { return options_.device; }
  // <|mdm_mask|> from config.json "mask_token_id".
  [[nodiscard]] int64_t mask_token_id() const { return mask_token_id_; }

  // Bidirectional models recompute the whole canvas every step, so the cache stays empty.
  [[nodiscard]] KvCache make_cache(int64_t, int64_t) const { return {}; }

  // One pass over the whole canvas. `cache` must be null or empty: a masked-diffusion canvas
  // changes at every step, so keys cannot be reused.
  ForwardOutput forward(const ForwardInput& input, KvCache* cache, ActivationSink* sink) const {
    if (cache != nullptr && cache->capacity != 0) {
      raise("sri.diffusion.cache_unsupported",
            "LLaDA attends bidirectionally and recomputes the canvas each step; pass no key/value cache");
    }
    at::Tensor tokens = input.tokens.to(options_.device);  // [batch, seq]
    const int64_t batch = tokens.size(0), seq = tokens.size(1);
    detail::HookRequests hooks(sink, config_.num_layers, input.step);

    at::Tensor mask;  // [batch, 1, seq, seq] additive, undefined when no column is padding
    at::Tensor positions = at::arange(seq, tokens.options()).unsqueeze(0).expand({batch, seq});  // [batch, seq]
    if (input.token_valid.defined()) {
      at::Tensor valid = input.token_valid.to(options_.device).to(at::kBool);  // [batch, seq]
      if (!valid.all().item<bool>()) {
        mask = layers::make_attention_mask(valid, 0, seq, {AttentionKind::bidirectional, std::nullopt});
      }
    }
    // Positions run 0..seq-1 in every row, padding included, as modeling_llada.py has no
    // position ids; rotary attention depends on offsets only, so left padding changes nothing.
    const layers::RotaryTables rope = layers::rope_tables(inv_freq_, positions, at::kFloat);

    at::Tensor x = at::embedding(wte_, tokens);  // [batch, seq, hidden]
    hooks.embed(x);
    const double scale = 1.0 / std::sqrt(static_cast<double>(config_.head_dim));
    for (int64_t l = 0; l < config_.num_layers; ++l) {
      const Block& b = blocks_[static_cast<std::size_t>(l)];
      at::Tensor h = layers::rms_norm(x, b.attn_norm, config_.rms_norm_eps);  // [batch, seq, hidden]
      at::Tensor q = at::linear(h, b.q).view({batch, seq, config_.num_heads, config_.head_dim}).transpose(1, 2);
      at::Tensor k = at::linear(h, b.k).view({batch, seq, config_.num_kv_heads, config_.head_dim}).transpose(1, 2);
      at::Tensor v = at::linear(h, b.v).view({batch, seq, config_.num_kv_heads, config_.head_dim}).transpose(1, 2);
      q = layers::apply_rope(q.to(at::kFloat), rope).to(x.scalar_type());  // [batch, heads, seq, head_dim]
      k = layers::apply_rope(k.to(at::kFloat), rope).to(x.scalar_type());  // [batch, kv_heads, seq, head_dim]
      at::Tensor attended = layers::attention(q, k, v, mask, scale);      // [batch, heads, seq, head_dim]
      attended = attended.transpose(1, 2).reshape({batch, seq, config_.hidden_size});
      x = x + at::linear(attended, b.out);
      at::Tensor m = layers::rms_norm(x, b.ff_norm, config_.rms_norm_eps);  // [batch, seq, hidden]
      x = x + layers::gated_mlp(m, b.gate_up, b.down, layers::Activation::silu);
      hooks.layer(l, x);
    }
    at::Tensor normed = layers::rms_norm(x, ln_f_, config_.rms_norm_eps);  // [batch, seq, hidden]
    hooks.final_norm(normed);
    if (input.logits_last_only) normed = normed.narrow(1, seq - 1, 1);
    return {at::linear(normed, head_).to(at::kFloat)};  // [batch, seq or 1, vocab]
  }

 private:
  static constexpr std::string_view family_name = "LLaDA";

  struct Block {
    at::Tensor attn_norm, ff_norm;  // [hidden]
    at::Tensor q;                   // [hidden, hidden]
    at::Tensor k, v;                // [kv_heads * head_dim, hidden]
    at::Tensor out;                 // [hidden, hidden]
    at::Tensor gate_up;             // [2 * mlp_hidden, hidden]: ff_proj (gated) then up_proj
    at::Tensor down;                // [hidden, mlp_hidden]
  };

  // Reads config.json. Every field is type-checked and every size is checked before it is used,
  // so a bad field raises sri.diffusion.config_invalid (or config_unsupported for variants that
  // are not implemented) naming the field.
  void read_config(const nlohmann::json& cfg) {
    detail::require_object(cfg, family_name);
    check_supported(cfg);
    config_.architecture = "llada";
    read_sizes(cfg);
    read_token_ids(cfg);
    config_.max_position_embeddings =
        detail::config_optional_int(cfg, "max_sequence_length", family_name).value_or(int64_t{4096});
    detail::check_positive(family_name, "max_sequence_length", config_.max_position_embeddings);
    config_.rms_norm_eps = detail::config_positive_number(cfg, "rms_norm_eps", 1e-5, family_name);
    config_.rope_theta = detail::config_positive_number(cfg, "rope_theta", 10000.0, family_name);
    weight_tying_ = detail::config_bool(cfg, "weight_tying", false, family_name);
    config_.tie_word_embeddings = weight_tying_;
    config_.validate();
  }

  static void check_supported(const nlohmann::json& cfg) {
    auto unsupported = [](const std::string& what) {
      raise("sri.diffusion.config_unsupported",
            "this LLaDA checkpoint uses " + what + ", which sri's LLaDA backbone does not implement; "
            "supported: block_type llama, rms norm, silu, rope without alibi, no biases");
    };
    auto check_string = [&](const char* key, const std::string& supported) {
      const std::string value = detail::config_string(cfg, key, supported, family_name);
      if (value != supported) unsupported(std::string(key) + " \"" + value + "\"");
    };
    auto flag = [&](const char* key, bool fallback) { return detail::config_bool(cfg, key, fallback, family_name); };
    check_string("block_type", "llama");
    check_string("layer_norm_type", "rms");
    check_string("activation_type", "silu");
    if (flag("alibi", false) || !flag("rope", true)) unsupported("alibi or no rotary embeddings");
    if (flag("include_bias", false) || flag("include_qkv_bias", false)) unsupported("linear biases");
    if (flag("attention_layer_norm", false)) unsupported("query/key layer norms");
    if (flag("input_emb_norm", false) || flag("scale_logits", false)) unsupported("input_emb_norm or scale_logits");
    const std::optional<int64_t> group = detail::config_optional_int(cfg, "block_group_size", family_name);
    if (group && *group != 1) unsupported("block_group_size " + std::to_string(*group));
  }

  void read_sizes(const nlohmann::json& cfg) {
    config_.hidden_size = detail::config_positive_int(cfg, "d_model", family_name);
    config_.num_layers = detail::config_positive_int(cfg, "n_layers", family_name);
    config_.num_heads = detail::config_positive_int(cfg, "n_heads", family_name);
    detail::check_divides(family_name, "d_model", config_.hidden_size, "n_heads", config_.num_heads);
    config_.head_dim = config_.hidden_size / config_.num_heads;
    if (config_.head_dim % 2 != 0) {
      detail::raise_config_invalid(family_name, "d_model",
                                   "is " + std::to_string(config_.hidden_size) + ", which gives an odd head size of " +
                                       std::to_string(config_.head_dim) +
                                       " (d_model / n_heads); rotary embeddings need an even head size");
    }

    if (detail::config_bool(cfg, "multi_query_attention", false, family_name)) {
      config_.num_kv_heads = 1;
    } else {
      config_.num_kv_heads = detail::config_optional_int(cfg, "n_kv_heads", family_name).value_or(config_.num_heads);
      detail::check_positive(family_name, "n_kv_heads", config_.num_kv_heads);
      detail::check_divides(family_name, "n_heads", config_.num_heads, "n_kv_heads", config_.num_kv_heads);
    }

    if (const std::optional<int64_t> mlp = detail::config_optional_int(cfg, "mlp_hidden_size", family_name)) {
      detail::check_positive(family_name, "mlp_hidden_size", *mlp);
      config_.intermediate_size = *mlp;
    } else {
      const int64_t ratio = detail::config_positive_int(cfg, "mlp_ratio", family_name);
      if (ratio > INT64_MAX / config_.hidden_size) {
        detail::raise_config_invalid(family_name, "mlp_ratio",
                                     "is " + std::to_string(ratio) + ", and mlp_ratio * d_model overflows int64");
      }
      config_.intermediate_size = ratio * config_.hidden_size;
    }

    const int64_t vocab = detail::config_positive_int(cfg, "vocab_size", family_name);
    // embedding_size, when set, is the row count of wte and ff_out, so token ids are checked against it.
    config_.vocab_size = detail::config_optional_int(cfg, "embedding_size", family_name).value_or(vocab);
    detail::check_positive(family_name, "embedding_size", config_.vocab_size);
  }

  // Reads the special token ids; each must index a row of wte. The fallbacks are LLaDA-8B's ids.
  void read_token_ids(const nlohmann::json& cfg) {
    const int64_t vocab = config_.vocab_size;
    config_.end_token_ids = detail::config_end_token_ids(cfg, 126081, vocab, family_name);
    mask_token_id_ = detail::config_token_id(cfg, "mask_token_id", 126336, vocab, family_name);
    detail::check_mask_not_end(family_name, mask_token_id_, config_.end_token_ids);
    config_.pad_token_id = detail::config_token_id(cfg, "pad_token_id", config_.end_token_ids.front(), vocab, family_name);
    if (detail::config_field(cfg, "bos_token_id") != nullptr) {
      config_.bos_token_id = detail::config_token_id(cfg, "bos_token_id", std::nullopt, vocab, family_name);
    }
  }

  void check_shapes() const {
    auto expect = [](const at::Tensor& t, std::vector<int64_t> shape, const std::string& name) {
      if (t.sizes() != at::IntArrayRef(shape)) {
        raise("sri.diffusion.weight_shape_mismatch",
              "LLaDA tensor " + name + " has shape " + std::string(c10::str(t.sizes())) + ", expected " +
                  std::string(c10::str(at::IntArrayRef(shape))) + " from config.json; the weights and config disagree");
      }
    };
    const int64_t d = config_.hidden_size, kv = config_.num_kv_heads * config_.head_dim;
    expect(wte_, {config_.vocab_size, d}, "wte");
    expect(head_, {config_.vocab_size, d}, "ff_out");
    for (const Block& b : blocks_) {
      expect(b.q, {d, d}, "q_proj");
      expect(b.k, {kv, d}, "k_proj");
      expect(b.v, {kv, d}, "v_proj");
      expect(b.gate_up, {2 * config_.intermediate_size, d}, "ff_proj/up_proj");
      expect(b.down, {d, config_.intermediate_size}, "blocks.N.ff_out");
    }
  }

  // 1 / theta^(2i / head_dim) computed in float32, as modeling_llada.py does.
  [[nodiscard]] at::Tensor inverse_frequencies() const {
    auto f32 = at::TensorOptions().dtype(at::kFloat).device(options_.device);
    at::Tensor exponent = at::arange(0, config_.head_dim, 2, f32) / static_cast<double>(config_.head_dim);  // [head_dim / 2]
    return at::pow(config_.rope_theta, exponent).reciprocal();
  }

  LoadOptions options_;
  ModelConfig config_;
  bool weight_tying_ = false;
  int64_t mask_token_id_ = 126336;
  at::Tensor wte_;   // [vocab, hidden]
  at::Tensor ln_f_;  // [hidden]
  at::Tensor head_;  // [vocab, hidden]
  at::Tensor inv_freq_;  // [head_dim / 2] float32
  std::vector<Block> blocks_;
};

static_assert(Backbone<Llada>, "sri::model::Llada must satisfy the Backbone concept so strategies can drive it.");

}  // namespace sri::model
