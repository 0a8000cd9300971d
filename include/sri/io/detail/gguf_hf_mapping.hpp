#pragma once

// Translation of GGUF files into Hugging Face terms: tensor names and config.json fields.
//
// Sources: tensor names from gguf-py `constants.py` (TENSOR_NAMES) and `tensor_mapping.py`, which
// transformers' GGUF loader (`modeling_gguf_pytorch_utils.py`, 5.x) also follows; metadata keys from
// gguf-py `constants.py` Keys; LLaDA names from its `modeling_llada.py` module tree.

#include <sri/io/gguf.hpp>

#include <nlohmann/json.hpp>

#include <fmt/format.h>

#include <charconv>
#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace sri::io::detail {

// Returns the Hugging Face name of a GGUF tensor of architecture `architecture` (normalized), or
// nothing for a name this table does not know.
[[nodiscard]] inline std::optional<std::string> hf_name_for_gguf_tensor(std::string_view architecture,
                                                                        std::string_view gguf_name) {
  const bool gemma = architecture == "gemma2" || architecture == "gemma3";
  const bool llada = architecture == "llada";

  std::string_view suffix;
  std::string_view stem = gguf_name;
  if (stem.ends_with(".weight")) {
    suffix = ".weight";
  } else if (stem.ends_with(".bias")) {
    suffix = ".bias";
  } else {
    return std::nullopt;
  }
  stem.remove_suffix(suffix.size());

  if (stem == "token_embd") return std::string(llada ? "model.transformer.wte" : "model.embed_tokens") + std::string(suffix);
  if (stem == "output_norm") return std::string(llada ? "model.transformer.ln_f" : "model.norm") + std::string(suffix);
  if (stem == "output") return std::string(llada ? "model.transformer.ff_out" : "lm_head") + std::string(suffix);

  if (!stem.starts_with("blk.")) return std::nullopt;
  stem.remove_prefix(4);
  const std::size_t dot = stem.find('.');
  if (dot == std::string_view::npos) return std::nullopt;
  const std::string_view layer_text = stem.substr(0, dot);
  int layer = 0;
  const auto [end, error] = std::from_chars(layer_text.data(), layer_text.data() + layer_text.size(), layer);
  if (error != std::errc() || end != layer_text.data() + layer_text.size()) return std::nullopt;
  const std::string_view part = stem.substr(dot + 1);

  std::string_view hf_part;
  if (llada) {
    // LLaDA keeps OLMo-style names: model.transformer.blocks.N.{attn_norm,q_proj,...,ff_out}.
    if (part == "attn_norm") hf_part = "attn_norm";
    else if (part == "attn_q") hf_part = "q_proj";
    else if (part == "attn_k") hf_part = "k_proj";
    else if (part == "attn_v") hf_part = "v_proj";
    else if (part == "attn_output") hf_part = "attn_out";
    else if (part == "ffn_norm") hf_part = "ff_norm";
    else if (part == "ffn_gate") hf_part = "ff_proj";
    else if (part == "ffn_up") hf_part = "up_proj";
    else if (part == "ffn_down") hf_part = "ff_out";
    else return std::nullopt;
    return "model.transformer.blocks." + std::to_string(layer) + "." + std::string(hf_part) + std::string(suffix);
  }

  if (part == "attn_norm") hf_part = "input_layernorm";
  else if (part == "attn_q") hf_part = "self_attn.q_proj";
  else if (part == "attn_k") hf_part = "self_attn.k_proj";
  else if (part == "attn_v") hf_part = "self_attn.v_proj";
  else if (part == "attn_output") hf_part = "self_attn.o_proj";
  else if (part == "attn_q_norm") hf_part = "self_attn.q_norm";
  else if (part == "attn_k_norm") hf_part = "self_attn.k_norm";
  // Llama and Qwen2 call the pre-MLP norm post_attention_layernorm; Gemma has a separate
  // post-attention norm and calls the pre-MLP one pre_feedforward_layernorm.
  else if (part == "ffn_norm") hf_part = gemma ? "pre_feedforward_layernorm" : "post_attention_layernorm";
  else if (part == "post_attention_norm") hf_part = "post_attention_layernorm";
  else if (part == "post_ffw_norm") hf_part = "post_feedforward_layernorm";
  else if (part == "ffn_gate") hf_part = "mlp.gate_proj";
  else if (part == "ffn_up") hf_part = "mlp.up_proj";
  else if (part == "ffn_down") hf_part = "mlp.down_proj";
  else return std::nullopt;
  return "model.layers." + std::to_string(layer) + "." + std::string(hf_part) + std::string(suffix);
}

// Returns a FLOAT32 metadata value as the double with the shortest decimal form that rounds to the
// same float (1e-5, not 9.99999974e-06), which is the value written in the original config.json.
[[nodiscard]] inline std::optional<double> find_config_float(const GgufFile& file, const std::string& key) {
  const auto value = file.find_float(key);
  const GgufValue* stored = file.find_value(key);
  if (!value || stored->type != GgufValueType::Float32) return value;
  return std::stod(fmt::format("{}", static_cast<float>(*value)));
}

// Returns the first element of a per-layer array value, or the value itself for a scalar.
[[nodiscard]] inline std::optional<int64_t> find_layer_int(const GgufFile& file, const std::string& key) {
  const GgufValue* value = file.find_value(key);
  if (value == nullptr) return std::nullopt;
  if (std::holds_alternative<GgufArray>(value->data)) {
    const auto values = file.get_int_array(key);
    if (values.empty()) return std::nullopt;
    // NOTE: per-layer head counts or FFN sizes (written by some converters) are reduced to the
    // first layer's value; the decoders sri supports use one value for every layer.
    return values.front();
  }
  return file.get_int(key);
}

// Builds a Hugging Face config.json object from the GGUF metadata of a normalized architecture.
[[nodiscard]] inline nlohmann::json synthesize_hf_config(const GgufFile& file, const std::string& architecture,
                                                         const std::string& gguf_architecture) {
  const std::string prefix = gguf_architecture + ".";
  nlohmann::json config = nlohmann::json::object();

  static const std::map<std::string, std::pair<std::string, std::string>> k_names{
      {"llama", {"llama", "LlamaForCausalLM"}},
      {"qwen2", {"qwen2", "Qwen2ForCausalLM"}},
      {"gemma2", {"gemma2", "Gemma2ForCausalLM"}},
      {"gemma3", {"gemma3_text", "Gemma3ForCausalLM"}},
      {"llada", {"llada", "LLaDAModelLM"}},
      {"dream", {"Dream", "DreamModel"}},
  };
  const auto& [model_type, class_name] = k_names.at(architecture);
  config["model_type"] = model_type;
  config["architectures"] = nlohmann::json::array({class_name});
  config["torch_dtype"] = "float32";

  const int64_t hidden = file.get_int(prefix + "embedding_length");
  const int64_t heads = find_layer_int(file, prefix + "attention.head_count").value_or(0);
  if (heads <= 0) {
    raise("sri.checkpoint.invalid_config",
          fmt::format("GGUF file {} has no positive {}attention.head_count; the file is incomplete, so convert the "
                      "model again",
                      file.path(), prefix));
  }
  const int64_t kv_heads = find_layer_int(file, prefix + "attention.head_count_kv").value_or(heads);
  const int64_t head_dim = file.find_int(prefix + "attention.key_length").value_or(hidden / heads);
  config["hidden_size"] = hidden;
  config["num_hidden_layers"] = file.get_int(prefix + "block_count");
  config["num_attention_heads"] = heads;
  config["num_key_value_heads"] = kv_heads;
  config["head_dim"] = head_dim;
  if (const auto ffn = find_layer_int(file, prefix + "feed_forward_length")) config["intermediate_size"] = *ffn;
  if (const auto context = file.find_int(prefix + "context_length")) config["max_position_embeddings"] = *context;
  config["rms_norm_eps"] = find_config_float(file, prefix + "attention.layer_norm_rms_epsilon").value_or(1e-6);
  // Gemma 2 converters omit rope.freq_base; 10000 is then the value llama.cpp and HF use.
  config["rope_theta"] = find_config_float(file, prefix + "rope.freq_base").value_or(10000.0);

  // vocab_size: the metadata key when present, else the embedding rows.
  int64_t vocab = 0;
  if (const auto stored = file.find_int(prefix + "vocab_size")) {
    vocab = *stored;
  } else if (const GgufTensorInfo* embedding = file.find_tensor("token_embd.weight"); embedding != nullptr) {
    vocab = embedding->shape().front();
  } else if (const auto tokens = file.find_value("tokenizer.ggml.tokens"); tokens != nullptr) {
    vocab = static_cast<int64_t>(std::get<GgufArray>(tokens->data).elements.size());
  }
  config["vocab_size"] = vocab;
  config["tie_word_embeddings"] = !file.contains_tensor("output.weight");
  config["attention_bias"] = file.contains_tensor("blk.0.attn_q.bias");

  for (const auto& [gguf_key, hf_key] : {std::pair{"tokenizer.ggml.bos_token_id", "bos_token_id"},
                                         std::pair{"tokenizer.ggml.eos_token_id", "eos_token_id"},
                                         std::pair{"tokenizer.ggml.padding_token_id", "pad_token_id"}}) {
    if (const auto id = file.find_int(gguf_key)) config[hf_key] = *id;
  }

  if (const auto type = file.find_string(prefix + "rope.scaling.type"); type && *type != "none") {
    nlohmann::json scaling = {{"rope_type", *type}, {"type", *type}};
    if (const auto factor = find_config_float(file, prefix + "rope.scaling.factor")) scaling["factor"] = *factor;
    if (const auto original = file.find_int(prefix + "rope.scaling.original_context_length")) {
      scaling["original_max_position_embeddings"] = *original;
    }
    config["rope_scaling"] = scaling;
  } else {
    config["rope_scaling"] = nullptr;
  }

  const bool gemma = architecture == "gemma2" || architecture == "gemma3";
  config["hidden_act"] = gemma ? "gelu_pytorch_tanh" : "silu";
  if (const auto window = file.find_int(prefix + "attention.sliding_window")) config["sliding_window"] = *window;
  if (const auto cap = find_config_float(file, prefix + "attn_logit_softcapping")) config["attn_logit_softcapping"] = *cap;
  if (const auto cap = find_config_float(file, prefix + "final_logit_softcapping")) config["final_logit_softcapping"] = *cap;
  if (gemma) {
    // NOTE: GGUF stores no query_pre_attn_scalar. head_dim is right for gemma-2-2b/9b and Gemma 3,
    // but gemma-2-27b uses hidden_size / num_attention_heads (144).
    config["query_pre_attn_scalar"] = head_dim;
  }
  if (architecture == "gemma3") {
    // llama.cpp hard-codes these for Gemma 3 because its converter does not store them: every sixth
    // layer is global, and local layers use RoPE base 10000.
    config["sliding_window_pattern"] = 6;
    config["rope_local_base_freq"] = 10000.0;
  }
  if (architecture == "llada" || architecture == "dream") {
    if (const auto mask = file.find_int("tokenizer.ggml.mask_token_id")) config["mask_token_id"] = *mask;
  }
  config["sri_source"] = "gguf";
  return config;
}

}  // namespace sri::io::detail
