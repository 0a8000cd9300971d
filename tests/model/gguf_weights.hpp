#pragma once

// Test-side view of a `llama`-architecture GGUF file under Hugging Face tensor names, with the
// converter's Q/K row permutation undone. The parity test and the decode benchmark use it when
// sri::io::Checkpoint is not available in the tree.
// NOTE: covers only the tensors and metadata keys of plain Llama GGUFs (SmolLM2); no rope_freqs.

#include <ATen/ATen.h>

#include <memory>
#include <string>

#include "sri/io/gguf.hpp"
#include "sri/model/llama.hpp"

namespace sri_test {

struct GgufLlama {
  std::shared_ptr<sri::io::GgufFile> file;
  sri::model::ModelConfig config;
  std::vector<int64_t> end_token_ids;
};

// Maps a Hugging Face name to the GGUF tensor name (gguf-py's llama tensor naming).
inline std::string gguf_name(const std::string& hf) {
  if (hf == "model.embed_tokens.weight") return "token_embd.weight";
  if (hf == "model.norm.weight") return "output_norm.weight";
  if (hf == "lm_head.weight") return "output.weight";
  const std::string prefix = "model.layers.";
  const auto dot = hf.find('.', prefix.size());
  const std::string layer = hf.substr(prefix.size(), dot - prefix.size());
  const std::string rest = hf.substr(dot + 1);
  static const std::pair<const char*, const char*> table[] = {
      {"input_layernorm.weight", "attn_norm.weight"},   {"self_attn.q_proj.weight", "attn_q.weight"},
      {"self_attn.k_proj.weight", "attn_k.weight"},     {"self_attn.v_proj.weight", "attn_v.weight"},
      {"self_attn.o_proj.weight", "attn_output.weight"}, {"post_attention_layernorm.weight", "ffn_norm.weight"},
      {"mlp.gate_proj.weight", "ffn_gate.weight"},      {"mlp.up_proj.weight", "ffn_up.weight"},
      {"mlp.down_proj.weight", "ffn_down.weight"}};
  for (const auto& [from, to] : table) {
    if (rest == from) return "blk." + layer + "." + to;
  }
  return "unmapped:" + hf;
}

// The llama GGUF converter reorders each head's rows from half-split to interleaved rotary
// pairs: [heads, 2, D/2, in] -> [heads, D/2, 2, in]. This applies the inverse.
inline at::Tensor undo_rotary_permutation(const at::Tensor& w, int64_t heads) {  // w: [heads * D, in]
  const int64_t rows = w.size(0), in = w.size(1), half = rows / heads / 2;
  return w.reshape({heads, half, 2, in}).transpose(1, 2).reshape({rows, in}).contiguous();
}

inline GgufLlama open_gguf_llama(const std::filesystem::path& path) {
  auto file = std::make_shared<sri::io::GgufFile>(path);
  nlohmann::json cfg;
  cfg["vocab_size"] = file->tensor_info("token_embd.weight").shape()[0];
  cfg["hidden_size"] = file->get_int("llama.embedding_length");
  cfg["num_hidden_layers"] = file->get_int("llama.block_count");
  cfg["num_attention_heads"] = file->get_int("llama.attention.head_count");
  cfg["num_key_value_heads"] = file->get_int("llama.attention.head_count_kv");
  cfg["intermediate_size"] = file->get_int("llama.feed_forward_length");
  cfg["max_position_embeddings"] = file->get_int("llama.context_length");
  cfg["rms_norm_eps"] = file->get_float("llama.attention.layer_norm_rms_epsilon");
  cfg["rope_theta"] = file->find_float("llama.rope.freq_base").value_or(10000.0);
  cfg["tie_word_embeddings"] = !file->contains_tensor("output.weight");
  GgufLlama out{file, sri::model::ModelConfig::from_hf_json(cfg, "llama"), {file->get_int("tokenizer.ggml.eos_token_id")}};
  return out;
}

inline sri::model::WeightSource weights_of_gguf(const GgufLlama& gguf) {
  auto file = gguf.file;
  const int64_t heads = gguf.config.num_heads, kv_heads = gguf.config.num_kv_heads;
  return {[file](const std::string& hf) { return file->contains_tensor(gguf_name(hf)); },
          [file, heads, kv_heads](const std::string& hf, at::ScalarType dtype) {
            at::Tensor t = file->load(gguf_name(hf), at::kFloat);
            if (hf.find("self_attn.q_proj.weight") != std::string::npos) t = undo_rotary_permutation(t, heads);
            if (hf.find("self_attn.k_proj.weight") != std::string::npos) t = undo_rotary_permutation(t, kv_heads);
            return t.to(dtype);
          }};
}

}  // namespace sri_test
