#pragma once

// The LLaDA masked-diffusion sampler as pure functions over logits, so each rule can be tested
// without a backbone. The rules follow ML-GSAI/LLaDA generate.py (commit b7e6c35):
//   * the response of gen_length masks is split into blocks of block_length, decoded left to
//     right, each block getting steps / number_of_blocks steps;
//   * per block, masked_in_block / steps_per_block tokens are committed per step, and the first
//     (masked_in_block mod steps_per_block) steps commit one more;
//   * x0 is the argmax of the logits, with Gumbel-max noise computed in float64 when the
//     temperature is positive;
//   * the k positions of the current block with the highest confidence (softmax probability of
//     x0, or a uniform draw for random remasking) are committed, and commits are never undone.
//
// Random draws use an explicit at::Generator in the same order and shapes as the reference, so a
// CPU generator seeded like torch.manual_seed(seed) reproduces the reference's choices.

#include <ATen/ATen.h>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include "sri/error.hpp"

namespace sri::generate {

// Rule that chooses a step's committed positions among the masked ones of the current block.
enum class Remasking {
  low_confidence,  // highest softmax probability of the predicted token
  random,          // highest uniform random draw
};

inline std::string_view to_string(Remasking remasking) {
  return remasking == Remasking::low_confidence ? "low_confidence" : "random";
}

// Parses "low_confidence" or "random"; throws sri.diffusion.remasking_unknown otherwise.
inline Remasking parse_remasking(std::string_view name) {
  if (name == "low_confidence") return Remasking::low_confidence;
  if (name == "random") return Remasking::random;
  raise("sri.diffusion.remasking_unknown",
        "unknown remasking rule '" + std::string(name) + "'; expected 'low_confidence' or 'random'");
}

// Behaviour of confidence_eos_eot_inf. After x0 is chosen, generate.py sets the end-of-turn column
// of the clean logits and the end-of-sequence column of the noised logits to -inf. With
// temperature 0 both names refer to one tensor, so both columns lose their confidence. With
// temperature > 0 only the end-of-turn column does.
enum class EosConfidenceRule {
  reference,  // the column edits exactly as generate.py performs them (the default)
  intended,   // both columns get zero confidence at every temperature, as its docstring intends
};

// One generation profile of the LLaDA sampler. Defaults are those of the SRI reference runs.
struct LladaProfile {
  int64_t steps = 32;          // total sampling steps over all blocks
  int64_t gen_length = 128;    // response length in tokens
  int64_t block_length = 128;  // block size; smaller than gen_length gives semi-autoregressive blocks
  double temperature = 0.0;    // 0 is greedy; > 0 adds float64 Gumbel-max noise
  double cfg_scale = 0.0;      // unsupervised classifier-free guidance; 0 disables the second pass
  Remasking remasking = Remasking::low_confidence;
  bool logits_eos_inf = false;          // forbid the end-of-sequence token in every step's logits
  bool confidence_eos_eot_inf = false;  // commit end-of-sequence and end-of-turn predictions last
  EosConfidenceRule eos_confidence_rule = EosConfidenceRule::reference;
  uint64_t seed = 0;  // seed of the CPU generator behind Gumbel noise and random remasking

  [[nodiscard]] int64_t num_blocks() const { return gen_length / block_length; }
  [[nodiscard]] int64_t steps_per_block() const { return steps / num_blocks(); }
};

// Token ids the LLaDA sampler needs. Defaults are LLaDA-8B-Instruct's.
struct LladaTokens {
  int64_t mask_id = 126336;  // <|mdm_mask|>
  int64_t eos_id = 126081;   // <|endoftext|>, also the padding token
  int64_t eot_id = 126348;   // <|eot_id|>
};

// Checks the profile before any model is loaded. Throws sri.diffusion.profile_invalid naming the
// first constraint that fails.
inline void validate(const LladaProfile& profile) {
  auto fail = [](const std::string& message) { raise("sri.diffusion.profile_invalid", message); };
  if (profile.gen_length <= 0) fail("gen_length is " + std::to_string(profile.gen_length) + "; it must be positive");
  if (profile.block_length <= 0) {
    fail("block_length is " + std::to_string(profile.block_length) + "; it must be positive");
  }
  if (profile.steps <= 0) fail("steps is " + std::to_string(profile.steps) + "; it must be positive");
  if (profile.gen_length % profile.block_length != 0) {
    fail("gen_length " + std::to_string(profile.gen_length) + " is not divisible by block_length " +
         std::to_string(profile.block_length) + "; choose a block_length that divides gen_length");
  }
  const int64_t blocks = profile.num_blocks();
  if (profile.steps % blocks != 0) {
    fail("steps " + std::to_string(profile.steps) + " is not divisible by the number of blocks " +
         std::to_string(blocks) + " (gen_length / block_length); choose steps as a multiple of " +
         std::to_string(blocks));
  }
  if (!(profile.temperature >= 0.0)) {
    fail("temperature is " + std::to_string(profile.temperature) + "; it must be 0 or positive");
  }
  if (!(profile.cfg_scale >= 0.0)) {
    fail("cfg_scale is " + std::to_string(profile.cfg_scale) + "; it must be 0 (off) or positive");
  }
}

// Commit counts of one block: [batch, steps_per_block] int64, where row b spreads the masked
// count of block row b evenly and gives the remainder to the first steps.
inline at::Tensor llada_transfer_counts(const at::Tensor& block_masked,  // [batch, block_length] bool
                                        int64_t steps_per_block) {
  at::Tensor masked = block_masked.sum(1).to(at::kLong).cpu();  // [batch]
  const int64_t batch = masked.size(0);
  at::Tensor counts = at::empty({batch, steps_per_block}, at::TensorOptions().dtype(at::kLong));  // [batch, steps]
  auto masked_a = masked.accessor<int64_t, 1>();
  auto counts_a = counts.accessor<int64_t, 2>();
  for (int64_t b = 0; b < batch; ++b) {
    const int64_t base = masked_a[b] / steps_per_block;
    const int64_t remainder = masked_a[b] % steps_per_block;
    for (int64_t s = 0; s < steps_per_block; ++s) counts_a[b][s] = base + (s < remainder ? 1 : 0);
  }
  return counts;
}

// Gumbel-max noise in float64: exp(logits) / (-log u)^temperature with u ~ U[0, 1), whose argmax
// equals that of logits / temperature + Gumbel noise. Temperature 0 returns the logits unchanged.
inline at::Tensor add_gumbel_noise(const at::Tensor& logits,  // [batch, seq, vocab]
                                   double temperature, at::Generator& generator) {
  if (temperature == 0.0) return logits;
  at::Tensor logits64 = logits.to(at::kDouble);                                               // [batch, seq, vocab]
  at::Tensor uniform = at::rand(logits64.sizes(), generator, logits64.options());            // [batch, seq, vocab]
  at::Tensor gumbel = at::pow(at::log(uniform).neg_(), temperature);                         // [batch, seq, vocab]
  return logits64.exp() / gumbel;
}

// Unsupervised classifier-free guidance: uncond + (scale + 1) * (cond - uncond).
inline at::Tensor combine_guidance(const at::Tensor& conditional,    // [batch, seq, vocab]
                                   const at::Tensor& unconditional,  // [batch, seq, vocab]
                                   double cfg_scale) {
  return unconditional + (cfg_scale + 1.0) * (conditional - unconditional);
}

// Runs one sampling step on `canvas` in place: predicts x0 for the masked positions of columns
// [block_begin, block_end), and commits the `counts[b]` most confident of row b. Returns the
// committed positions, [batch, seq] bool. `logits` may be modified when logits_eos_inf is set.
//
// generate.py predicts every column, but only masked columns of the current block can be
// committed, so the vocabulary-wide work runs on the block alone. The random draws still cover
// every column so that the generator advances as in the reference.
inline at::Tensor llada_commit_step(at::Tensor& canvas,  // [batch, seq] int64, on the logits' device
                                    at::Tensor logits,   // [batch, seq, vocab]
                                    int64_t block_end,   // first column after the current block
                                    const at::Tensor& counts,  // [batch] int64 commits per row
                                    const LladaProfile& profile, const LladaTokens& tokens,
                                    at::Generator& generator, int64_t block_begin = 0) {
  constexpr double negative_infinity = -std::numeric_limits<double>::infinity();
  const int64_t seq = canvas.size(1);
  block_begin = std::clamp<int64_t>(block_begin, 0, seq);
  block_end = std::clamp<int64_t>(block_end, block_begin, seq);
  at::Tensor masked = canvas.eq(tokens.mask_id);  // [batch, seq]

  if (profile.logits_eos_inf) logits.select(-1, tokens.eos_id).fill_(negative_infinity);

  // x0 over the block's columns, the other columns keep their token.
  at::Tensor block_logits = logits.narrow(1, block_begin, block_end - block_begin);  // [batch, block, vocab]
  at::Tensor x0 = canvas.clone();                                                    // [batch, seq]
  if (profile.temperature == 0.0) {
    x0.narrow(1, block_begin, block_end - block_begin).copy_(block_logits.argmax(-1));
  } else {
    at::Tensor uniform = at::rand(logits.sizes(), generator, logits.options().dtype(at::kDouble));  // [batch, seq, vocab]
    at::Tensor block_uniform = uniform.narrow(1, block_begin, block_end - block_begin);
    at::Tensor gumbel = at::pow(at::log(block_uniform).neg_(), profile.temperature);     // [batch, block, vocab]
    at::Tensor noised = block_logits.to(at::kDouble).exp() / gumbel;                      // [batch, block, vocab]
    x0.narrow(1, block_begin, block_end - block_begin).copy_(noised.argmax(-1));
  }

  at::Tensor scored = logits;  // [batch, seq, vocab] logits behind the confidence
  if (profile.confidence_eos_eot_inf) {
    scored = logits.clone();
    scored.select(-1, tokens.eot_id).fill_(negative_infinity);
    const bool same_tensor = profile.temperature == 0.0;
    if (profile.eos_confidence_rule == EosConfidenceRule::intended || same_tensor) {
      scored.select(-1, tokens.eos_id).fill_(negative_infinity);
    }
  }

  at::Tensor x0_confidence;  // [batch, seq]
  if (profile.remasking == Remasking::low_confidence) {
    x0_confidence = at::full({canvas.size(0), seq}, negative_infinity, logits.options());
    at::Tensor block_scored = scored.narrow(1, block_begin, block_end - block_begin);  // [batch, block, vocab]
    at::Tensor block_x0 = x0.narrow(1, block_begin, block_end - block_begin);          // [batch, block]
    at::Tensor probs = at::softmax(block_scored, -1);                                  // [batch, block, vocab]
    x0_confidence.narrow(1, block_begin, block_end - block_begin)
        .copy_(probs.gather(-1, block_x0.unsqueeze(-1)).squeeze(-1));
  } else {
    x0_confidence = at::rand({canvas.size(0), seq}, generator, at::TensorOptions().dtype(at::kFloat));
    x0_confidence = x0_confidence.to(canvas.device());
    if (block_begin > 0) x0_confidence.narrow(1, 0, block_begin).fill_(negative_infinity);
  }
  if (block_end < seq) x0_confidence.narrow(1, block_end, seq - block_end).fill_(negative_infinity);

  x0 = at::where(masked, x0, canvas);
  at::Tensor confidence = at::where(masked, x0_confidence, at::full({}, negative_infinity, x0_confidence.options()));

  at::Tensor transfer = at::zeros_like(masked);  // [batch, seq]
  at::Tensor counts_cpu = counts.to(at::kLong).cpu();
  for (int64_t b = 0; b < canvas.size(0); ++b) {
    const int64_t k = counts_cpu[b].item<int64_t>();
    if (k <= 0) continue;
    at::Tensor chosen = std::get<1>(at::topk(confidence[b], k));  // [k]
    transfer[b].index_fill_(0, chosen, true);
  }
  canvas = at::where(transfer, x0, canvas);
  return transfer;
}

}  // namespace sri::generate
