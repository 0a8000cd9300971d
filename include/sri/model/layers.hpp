#pragma once

// Transformer building blocks as free functions over at::Tensor, shared by every backbone family
// (Llama, Qwen2, Gemma, LLaDA, Dream). Numerics follow Hugging Face transformers: norms and
// softmax in float32, rotary angles in float32 then cast, half-split ("rotate_half") rotary pairs.

#include <ATen/ATen.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>

#include "sri/model/backbone.hpp"

namespace sri::model::layers {

// ---------------------------------------------------------------------------------------------
// Normalization
// ---------------------------------------------------------------------------------------------

// How an RMSNorm applies its weight. Llama and Qwen2 multiply by w after casting the normalized
// value back to the input dtype; Gemma stores zero-centred weights and multiplies by (1 + w) in
// float32 before the cast.
enum class NormStyle { llama, gemma };

// Root-mean-square norm over the last axis: x / sqrt(mean(x^2) + eps), then the weight.
inline at::Tensor rms_norm(const at::Tensor& x,       // [..., hidden]
                           const at::Tensor& weight,  // [hidden]
                           double eps, NormStyle style = NormStyle::llama) {
  const auto input_dtype = x.scalar_type();
  at::Tensor x32 = x.to(at::kFloat);                                     // [..., hidden]
  at::Tensor inv_rms = at::rsqrt(x32.pow(2).mean({-1}, true).add_(eps));  // [..., 1]
  at::Tensor normalized = x32 * inv_rms;                                 // [..., hidden]
  if (style == NormStyle::gemma) {
    return (normalized * (weight.to(at::kFloat) + 1.0)).to(input_dtype);
  }
  return weight * normalized.to(input_dtype);
}

// ---------------------------------------------------------------------------------------------
// Rotary embeddings
// ---------------------------------------------------------------------------------------------

// Inverse frequencies base^(-2i/head_dim), i = 0 .. head_dim/2 - 1, with the configured scaling.
// A per-layer base (Gemma 3 local layers use 10000) is simply another call with that base.
//   linear: every frequency divided by factor.
//   llama3: wavelengths shorter than original_ctx / high_freq_factor are kept, longer than
//           original_ctx / low_freq_factor are divided by factor, and the band in between is
//           interpolated with smooth = (original_ctx / wavelength - low) / (high - low).
inline at::Tensor rope_inverse_frequencies(int64_t head_dim, double base, const RopeScaling& scaling = {}) {
  const int64_t half = head_dim / 2;
  at::Tensor exponent = at::arange(0, half, at::TensorOptions().dtype(at::kDouble)) * (2.0 / static_cast<double>(head_dim));  // [half]
  at::Tensor inv_freq = at::pow(base, exponent).reciprocal();  // [half] float64 for the scaling arithmetic
  if (scaling.type == "linear") {
    inv_freq = inv_freq / scaling.factor;
  } else if (scaling.type == "llama3") {
    const double original = static_cast<double>(scaling.original_max_position_embeddings);
    const double low_wavelength = original / scaling.low_freq_factor;
    const double high_wavelength = original / scaling.high_freq_factor;
    constexpr double pi = 3.14159265358979323846;
    at::Tensor wavelength = (2.0 * pi) / inv_freq;                   // [half]
    at::Tensor scaled = at::where(wavelength > low_wavelength, inv_freq / scaling.factor, inv_freq);
    at::Tensor smooth = (original / wavelength - scaling.low_freq_factor) /
                        (scaling.high_freq_factor - scaling.low_freq_factor);  // [half]
    at::Tensor blended = (1.0 - smooth) * scaled / scaling.factor + smooth * scaled;
    at::Tensor medium = (wavelength >= high_wavelength) & (wavelength <= low_wavelength);
    inv_freq = at::where(medium, blended, scaled);
  }
  return inv_freq.to(at::kFloat);
}

// cos and sin tables for the given positions, built as cat(freqs, freqs) over head_dim.
struct RotaryTables {
  at::Tensor cos;  // [batch, 1, seq, head_dim] in the activation dtype
  at::Tensor sin;  // [batch, 1, seq, head_dim]
};

inline RotaryTables rope_tables(const at::Tensor& inv_freq,   // [head_dim / 2] float32
                                const at::Tensor& positions,  // [batch, seq] int64
                                at::ScalarType dtype) {
  at::Tensor angles = positions.to(at::kFloat).unsqueeze(-1) * inv_freq.to(positions.device()).view({1, 1, -1});  // [batch, seq, half]
  at::Tensor both = at::cat({angles, angles}, -1).unsqueeze(1);  // [batch, 1, seq, head_dim]
  return {both.cos().to(dtype), both.sin().to(dtype)};
}

// Rotates pairs (j, j + head_dim/2) of every head: x * cos + rotate_half(x) * sin.
inline at::Tensor apply_rope(const at::Tensor& x,  // [batch, heads, seq, head_dim]
                             const RotaryTables& tables) {
  const int64_t half = x.size(-1) / 2;
  at::Tensor first = x.narrow(-1, 0, half);      // [batch, heads, seq, half]
  at::Tensor second = x.narrow(-1, half, half);  // [batch, heads, seq, half]
  at::Tensor rotated = at::cat({second.neg(), first}, -1);  // [batch, heads, seq, head_dim]
  return x * tables.cos + rotated * tables.sin;
}

// ---------------------------------------------------------------------------------------------
// Attention masks
// ---------------------------------------------------------------------------------------------

// Which keys a query may see: all earlier and equal slots (causal), every slot (bidirectional),
// or the causal slots within `window` positions including itself (sliding window: key slot k is
// visible from query slot q when q - window < k <= q).
struct MaskSpec {
  AttentionKind kind = AttentionKind::causal;
  std::optional<int64_t> sliding_window;
};

// Builds a float32 additive mask (0 where visible, a large negative value where hidden) for queries
// in slots [query_begin, query_begin + query_len) over keys in slots [0, key_len). Padding keys
// (key_valid false) are hidden. A query row that would see no key at all (a padding query under
// a causal mask) is allowed to see its own slot so softmax stays finite; its output is unused.
inline at::Tensor make_attention_mask(const at::Tensor& key_valid,  // [batch, key_len] bool
                                      int64_t query_begin, int64_t query_len, const MaskSpec& spec) {
  const auto device = key_valid.device();
  const int64_t key_len = key_valid.size(1);
  auto long_options = at::TensorOptions().dtype(at::kLong).device(device);
  at::Tensor query_slot = at::arange(query_begin, query_begin + query_len, long_options).view({query_len, 1});  // [q, 1]
  at::Tensor key_slot = at::arange(0, key_len, long_options).view({1, key_len});                              // [1, k]

  at::Tensor visible = key_valid.view({key_valid.size(0), 1, 1, key_len}).to(at::kBool);  // [batch, 1, 1, k]
  if (spec.kind == AttentionKind::causal) {
    visible = visible & (key_slot <= query_slot).view({1, 1, query_len, key_len});
  }
  if (spec.sliding_window) {
    visible = visible & (key_slot > query_slot - *spec.sliding_window).view({1, 1, query_len, key_len});
  }
  at::Tensor self_slot = (key_slot == query_slot).view({1, 1, query_len, key_len});
  at::Tensor sees_nothing = visible.logical_not().all(-1, true);  // [batch, 1, q, 1]
  visible = visible | (sees_nothing & self_slot);

  at::Tensor mask = at::zeros({key_valid.size(0), 1, query_len, key_len}, at::TensorOptions().dtype(at::kFloat).device(device));
  return mask.masked_fill_(visible.logical_not(), std::numeric_limits<float>::lowest() / 2);
}

// ---------------------------------------------------------------------------------------------
// Attention
// ---------------------------------------------------------------------------------------------

// Scaled dot-product attention with grouped-query heads. Query head h uses key/value head
// h / (heads / kv_heads), computed by grouping queries instead of copying keys. Scores are
// scaled, optionally soft-capped (cap * tanh(s / cap), Gemma 2), masked, and normalized by a
// float32 softmax.
inline at::Tensor attention(const at::Tensor& q,  // [batch, heads, q_len, head_dim]
                            const at::Tensor& k,  // [batch, kv_heads, k_len, head_dim]
                            const at::Tensor& v,  // [batch, kv_heads, k_len, head_dim]
                            const at::Tensor& additive_mask,  // [batch, 1, q_len, k_len] or undefined
                            double scale, double softcap = 0.0) {
  const int64_t batch = q.size(0), heads = q.size(1), q_len = q.size(2), head_dim = q.size(3);
  const int64_t kv_heads = k.size(1), k_len = k.size(2);
  const int64_t group = heads / kv_heads;

  at::Tensor grouped_q = q.reshape({batch, kv_heads, group * q_len, head_dim});  // [batch, kv_heads, group*q_len, head_dim]
  at::Tensor scores = at::matmul(grouped_q, k.transpose(-1, -2));                // [batch, kv_heads, group*q_len, k_len]
  scores = scores.view({batch, heads, q_len, k_len}).to(at::kFloat).mul_(scale);  // [batch, heads, q_len, k_len]
  if (softcap > 0.0) scores = at::tanh(scores / softcap) * softcap;
  if (additive_mask.defined()) scores.add_(additive_mask.to(at::kFloat));
  at::Tensor probs = at::softmax(scores, -1).to(v.scalar_type());  // [batch, heads, q_len, k_len]
  at::Tensor out = at::matmul(probs.view({batch, kv_heads, group * q_len, k_len}), v);  // [batch, kv_heads, group*q_len, head_dim]
  return out.view({batch, heads, q_len, head_dim});
}

// ---------------------------------------------------------------------------------------------
// Feed-forward
// ---------------------------------------------------------------------------------------------

enum class Activation { silu, gelu_tanh };

// Gated MLP: down(act(gate(x)) * up(x)). SwiGLU uses silu (Llama, Qwen2), GeGLU uses the tanh
// approximation of GELU (Gemma). `gate_up` may be the gate and up weights stacked as one
// [2 * intermediate, hidden] matrix, which saves a matmul call per layer.
inline at::Tensor gated_mlp(const at::Tensor& x,        // [batch, seq, hidden]
                            const at::Tensor& gate_up,  // [2 * intermediate, hidden]
                            const at::Tensor& down,     // [hidden, intermediate]
                            Activation activation) {
  at::Tensor both = at::linear(x, gate_up);  // [batch, seq, 2 * intermediate]
  const int64_t intermediate = both.size(-1) / 2;
  at::Tensor gate = both.narrow(-1, 0, intermediate);          // [batch, seq, intermediate]
  at::Tensor up = both.narrow(-1, intermediate, intermediate);  // [batch, seq, intermediate]
  at::Tensor activated = activation == Activation::silu ? at::silu(gate) : at::gelu(gate, "tanh");
  return at::linear(activated.mul_(up), down);  // [batch, seq, hidden]
}

// Left-padding positions: each row counts its valid columns, so the first real token is
// position 0 and padding columns get position 0 (their outputs are never used).
inline at::Tensor positions_from_valid(const at::Tensor& valid,  // [batch, seq] bool
                                       const at::Tensor& start) {  // [batch] int64 first position
  at::Tensor counts = valid.to(at::kLong).cumsum(1) - 1;  // [batch, seq]
  return (counts + start.view({-1, 1})).clamp_min(0).masked_fill(valid.logical_not(), 0);
}

}  // namespace sri::model::layers
