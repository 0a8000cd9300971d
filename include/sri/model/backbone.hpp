#pragma once

// What every backbone (Llama family, Gemma family, LLaDA, Dream) offers to generation strategies
// and hooks: its configuration, named hook points, a key/value cache and one batched forward pass.
//
// Step semantics for hooks: a forward pass belongs to one generation step. For an autoregressive
// strategy, step 0 is the prefill of the prompt and step s >= 1 processes the one token chosen at
// step s - 1. For a masked-diffusion strategy, every step processes the whole canvas.

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#if defined(__unix__)
#include <dlfcn.h>
#endif

#include <concepts>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "sri/error.hpp"

namespace sri::model {

// Device, dtype and CPU threads of a backbone, all chosen at run time.
struct RuntimeOptions {
  at::Device device = at::kCPU;
  at::ScalarType dtype = at::kFloat;  // float32 on CPU; bfloat16 or float16 on CUDA
  int threads = 0;                    // CPU threads of the computation (see set_cpu_threads); 0 keeps libtorch's setting
};

// Gives the computation `threads` CPU threads; 0 or less changes nothing. When libtorch's BLAS is
// OpenBLAS (Debian's libtorch), matrix products run on OpenBLAS's own thread pool, and libtorch's
// OpenMP workers spin-wait between parallel regions on the same cores. Measured with
// benchmarks/decode on a 2-core machine, 2 OpenMP threads cut SmolLM2's prefill from about 350 to
// about 12-80 tokens/s. So with OpenBLAS the threads go to OpenBLAS and libtorch keeps one. With
// any other BLAS (MKL in the PyPI and CUDA builds) they go to libtorch's intra-op pool.
inline void set_cpu_threads(int threads) {
  if (threads <= 0) return;
#if defined(__unix__)
  using SetThreads = void (*)(int);
  if (void* symbol = dlsym(RTLD_DEFAULT, "openblas_set_num_threads"); symbol != nullptr) {
    reinterpret_cast<SetThreads>(symbol)(threads);
    at::set_num_threads(1);
    return;
  }
#endif
  at::set_num_threads(threads);
}

// ---------------------------------------------------------------------------------------------
// Hook points
// ---------------------------------------------------------------------------------------------

// A named activation inside the backbone. Names are stable and stored in centers files:
//   "embed_out"       token embeddings after any embedding scale (input of layer 0),
//   "resid_post.L"    residual stream after decoder layer L (0-based), before the final norm,
//   "final_norm_out"  output of the final norm, i.e. the input of the LM head (the SRI default).
struct HookPoint {
  enum class Kind { embed_out, resid_post, final_norm_out };

  Kind kind = Kind::final_norm_out;
  int64_t layer = -1;  // decoder layer for resid_post; -1 for the other kinds

  static HookPoint embed_out() { return {Kind::embed_out, -1}; }
  static HookPoint resid_post(int64_t layer) { return {Kind::resid_post, layer}; }
  static HookPoint final_norm_out() { return {Kind::final_norm_out, -1}; }

  // Parses a name written by name(); throws sri.model.hook_point_invalid for anything else.
  static HookPoint parse(std::string_view name) {
    if (name == "embed_out") return embed_out();
    if (name == "final_norm_out") return final_norm_out();
    constexpr std::string_view prefix = "resid_post.";
    if (name.substr(0, prefix.size()) == prefix && name.size() > prefix.size()) {
      int64_t layer = 0;
      for (char c : name.substr(prefix.size())) {
        if (c < '0' || c > '9' || layer > 1'000'000) {
          layer = -1;
          break;
        }
        layer = layer * 10 + (c - '0');
      }
      if (layer >= 0) return resid_post(layer);
    }
    raise("sri.model.hook_point_invalid",
          "invalid hook point name '" + std::string(name) +
              "'; expected 'embed_out', 'final_norm_out' or 'resid_post.L' with L a 0-based layer index");
  }

  [[nodiscard]] std::string name() const {
    switch (kind) {
      case Kind::embed_out: return "embed_out";
      case Kind::resid_post: return "resid_post." + std::to_string(layer);
      case Kind::final_norm_out: return "final_norm_out";
    }
    return "unknown";
  }

  friend bool operator==(const HookPoint&, const HookPoint&) = default;
};

// Which sequence positions of a hook point a hook requests in one forward pass. Positions index
// the sequence axis of the tokens given to that forward pass (with left padding, padded columns
// count too): "last" is the last column, range [begin, end) is half-open.
struct PositionSelection {
  enum class Kind { none, last, range, all };

  Kind kind = Kind::none;
  int64_t begin = 0;
  int64_t end = 0;

  static PositionSelection none() { return {Kind::none, 0, 0}; }
  static PositionSelection last() { return {Kind::last, 0, 0}; }
  static PositionSelection range(int64_t begin, int64_t end) { return {Kind::range, begin, end}; }
  static PositionSelection all() { return {Kind::all, 0, 0}; }

  [[nodiscard]] bool empty() const { return kind == Kind::none; }

  // Returns the half-open column interval this selection covers in a pass of `seq_len` columns;
  // throws sri.model.position_range_invalid when a range falls outside [0, seq_len).
  [[nodiscard]] std::pair<int64_t, int64_t> resolve(int64_t seq_len) const {
    switch (kind) {
      case Kind::none: return {0, 0};
      case Kind::last: return {seq_len - 1, seq_len};
      case Kind::all: return {0, seq_len};
      case Kind::range:
        if (begin < 0 || end > seq_len || begin >= end) {
          raise("sri.model.position_range_invalid",
                "requested positions [" + std::to_string(begin) + ", " + std::to_string(end) +
                    ") but the forward pass has " + std::to_string(seq_len) +
                    " positions; request a non-empty range inside [0, " + std::to_string(seq_len) + ")");
        }
        return {begin, end};
    }
    return {0, 0};
  }
};

// What a backbone calls during a forward pass. Before computing anything it asks wants() once per
// hook point it offers; it calls receive() only for points that got a non-empty selection, with a
// tensor holding exactly the selected columns.
//
// The tensor given to receive() is a view into the backbone's working memory: it is valid only
// during the call, has the backbone's device and dtype, and the sink copies whatever it keeps.
class ActivationSink {
 public:
  virtual ~ActivationSink() = default;
  virtual PositionSelection wants(const HookPoint& point, int64_t step) = 0;
  virtual void receive(const HookPoint& point, int64_t step, const at::Tensor& activations) = 0;  // [batch, selected, hidden]
};

// ---------------------------------------------------------------------------------------------
// Configuration
// ---------------------------------------------------------------------------------------------

// Rotary-embedding frequency scaling, as Hugging Face config.json's "rope_scaling" spells it.
struct RopeScaling {
  std::string type = "default";  // "default" (none), "linear" or "llama3"
  double factor = 1.0;
  double low_freq_factor = 1.0;                     // llama3 only
  double high_freq_factor = 4.0;                    // llama3 only
  int64_t original_max_position_embeddings = 8192;  // llama3 only
};

// Architecture numbers of a decoder, read from Hugging Face config.json fields.
struct ModelConfig {
  std::string architecture;  // normalized, e.g. "llama", "qwen2"
  int64_t vocab_size = 0;
  int64_t hidden_size = 0;
  int64_t num_layers = 0;
  int64_t num_heads = 0;
  int64_t num_kv_heads = 0;
  int64_t head_dim = 0;
  int64_t intermediate_size = 0;
  int64_t max_position_embeddings = 0;
  double rms_norm_eps = 1e-6;
  double rope_theta = 10000.0;
  RopeScaling rope_scaling;
  bool tie_word_embeddings = false;
  bool attention_bias = false;  // q/k/v projections carry a bias (Qwen2)
  std::vector<int64_t> end_token_ids;
  std::optional<int64_t> bos_token_id;
  std::optional<int64_t> pad_token_id;

  // Reads the fields that the Llama family uses from a Hugging Face config.json object. Qwen2
  // configs have no "attention_bias" field and always use q/k/v biases, so the architecture name
  // decides that default. Throws sri.model.config_invalid when a required field is missing or
  // when head counts do not divide.
  static ModelConfig from_hf_json(const nlohmann::json& cfg, std::string architecture) {
    ModelConfig c;
    c.architecture = std::move(architecture);
    auto require_int = [&](const char* key) -> int64_t {
      if (!cfg.contains(key) || !cfg[key].is_number_integer()) {
        raise("sri.model.config_invalid", std::string("config field '") + key +
                                              "' is missing or not an integer in the " + c.architecture +
                                              " configuration; the checkpoint's config.json must set it");
      }
      return cfg[key].get<int64_t>();
    };
    c.vocab_size = require_int("vocab_size");
    c.hidden_size = require_int("hidden_size");
    c.num_layers = require_int("num_hidden_layers");
    c.num_heads = require_int("num_attention_heads");
    c.num_kv_heads = cfg.contains("num_key_value_heads") && cfg["num_key_value_heads"].is_number_integer()
                         ? cfg["num_key_value_heads"].get<int64_t>()
                         : c.num_heads;
    c.intermediate_size = require_int("intermediate_size");
    c.head_dim = cfg.contains("head_dim") && cfg["head_dim"].is_number_integer() ? cfg["head_dim"].get<int64_t>()
                                                                                 : c.hidden_size / std::max<int64_t>(c.num_heads, 1);
    c.max_position_embeddings = cfg.value("max_position_embeddings", int64_t{8192});
    c.rms_norm_eps = cfg.value("rms_norm_eps", 1e-6);
    c.rope_theta = cfg.value("rope_theta", 10000.0);
    c.tie_word_embeddings = cfg.value("tie_word_embeddings", false);
    c.attention_bias = cfg.value("attention_bias", c.architecture == "qwen2");

    // transformers 5 moved "rope_theta" and "rope_scaling" into "rope_parameters".
    const nlohmann::json* rope = nullptr;
    if (cfg.contains("rope_scaling") && cfg["rope_scaling"].is_object()) rope = &cfg["rope_scaling"];
    if (cfg.contains("rope_parameters") && cfg["rope_parameters"].is_object()) {
      rope = &cfg["rope_parameters"];
      c.rope_theta = rope->value("rope_theta", c.rope_theta);
    }
    if (rope != nullptr) {
      c.rope_scaling.type = rope->value("rope_type", rope->value("type", std::string("default")));
      c.rope_scaling.factor = rope->value("factor", 1.0);
      c.rope_scaling.low_freq_factor = rope->value("low_freq_factor", 1.0);
      c.rope_scaling.high_freq_factor = rope->value("high_freq_factor", 4.0);
      c.rope_scaling.original_max_position_embeddings =
          rope->value("original_max_position_embeddings", int64_t{8192});
    }
    if (cfg.contains("bos_token_id") && cfg["bos_token_id"].is_number_integer()) c.bos_token_id = cfg["bos_token_id"].get<int64_t>();
    if (cfg.contains("pad_token_id") && cfg["pad_token_id"].is_number_integer()) c.pad_token_id = cfg["pad_token_id"].get<int64_t>();
    c.validate();
    return c;
  }

  // Throws sri.model.config_invalid when sizes are not positive or heads do not group evenly.
  void validate() const {
    auto fail = [&](const std::string& what) {
      raise("sri.model.config_invalid", "invalid " + architecture + " configuration: " + what);
    };
    if (vocab_size <= 0 || hidden_size <= 0 || num_layers <= 0 || num_heads <= 0 || num_kv_heads <= 0 ||
        head_dim <= 0 || intermediate_size <= 0) {
      fail("vocab, hidden, layer, head, head_dim and intermediate sizes must all be positive");
    }
    if (num_heads % num_kv_heads != 0) {
      fail("num_attention_heads " + std::to_string(num_heads) + " is not a multiple of num_key_value_heads " +
           std::to_string(num_kv_heads));
    }
    if (head_dim % 2 != 0) fail("head_dim " + std::to_string(head_dim) + " must be even for rotary embeddings");
    if (rope_scaling.type != "default" && rope_scaling.type != "linear" && rope_scaling.type != "llama3") {
      fail("rope scaling type '" + rope_scaling.type + "' is not supported; supported: default, linear, llama3");
    }
  }
};

// ---------------------------------------------------------------------------------------------
// Forward pass
// ---------------------------------------------------------------------------------------------

// Keys and values of every layer, preallocated to a fixed capacity so decoding never reallocates.
// Slots [0, length) are filled; a batch row's padded slots stay masked through key_valid.
struct KvCache {
  std::vector<at::Tensor> keys;    // per layer: [batch, kv_heads, capacity, head_dim]
  std::vector<at::Tensor> values;  // per layer: [batch, kv_heads, capacity, head_dim]
  at::Tensor key_valid;            // [batch, capacity] bool: true where the slot contains a real (non-padding) token
  at::Tensor next_position;        // [batch] int64: rotary position of each row's next token
  int64_t length = 0;
  int64_t capacity = 0;

  [[nodiscard]] int64_t batch_size() const { return key_valid.defined() ? key_valid.size(0) : 0; }
};

// One forward call: new token columns for every row of a batch.
struct ForwardInput {
  at::Tensor tokens;          // [batch, seq] int64 token ids (CPU or the model's device)
  at::Tensor token_valid;     // [batch, seq] bool, false for left padding; undefined = all valid
  int64_t step = 0;           // generation step, passed to hooks
  bool logits_last_only = false;  // compute logits for the last column only (decode); saves the LM head on prefill
};

struct ForwardOutput {
  at::Tensor logits;  // [batch, seq or 1, vocab] float32
};

// Attention pattern of a backbone, used by strategies to reject impossible combinations.
enum class AttentionKind { causal, bidirectional };

// The backbone policy. Each requirement names what generation strategies and hooks rely on.
template <class B>
concept Backbone = requires(B& model, const B& const_model, const ForwardInput& input, KvCache* cache,
                            ActivationSink* sink, int64_t n) {
  // Architecture sizes, used to shape hook buffers and validate centers.
  { const_model.config() } -> std::convertible_to<const ModelConfig&>;
  // Causal models can decode with a cache; bidirectional ones recompute the canvas each step.
  { B::attention_kind } -> std::convertible_to<AttentionKind>;
  // A cache for n rows and a capacity of that many positions, allocated once before decoding.
  { const_model.make_cache(n, n) } -> std::same_as<KvCache>;
  // Runs the new columns through the model, appending to the cache when one is given and
  // reporting requested hook points to the sink when one is given.
  { const_model.forward(input, cache, sink) } -> std::same_as<ForwardOutput>;
  // The full set of end-of-sequence token ids (generation_config.json, else config.json).
  { const_model.end_token_ids() } -> std::convertible_to<const std::vector<int64_t>&>;
  // Device that inputs should live on.
  { const_model.device() } -> std::same_as<at::Device>;
};

}  // namespace sri::model
