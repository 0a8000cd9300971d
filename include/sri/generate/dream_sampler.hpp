#pragma once

// Dream's masked-diffusion sampler as pure functions over logits. The rules follow the
// DreamGenerationMixin of Dream-v0-Instruct-7B's generation_utils.py (as vendored in
// ZHZisZZ/dllm, commit ca17675):
//   * the whole response is denoised at once over `steps` steps with timesteps
//     linspace(1, eps, steps + 1) in float32;
//   * "origin" commits each masked position with probability 1 - s/t (all at the last step);
//   * "maskgit_plus", "topk_margin" and "entropy" score every masked position (top probability,
//     top-1 minus top-2 probability, negative entropy) and commit the k best, with
//     k = int(average masked count per row * (1 - s/t)) and all remaining at the last step;
//   * alg_temp > 0 draws the k positions from softmax(confidence / alg_temp) instead.
// The logits given to these functions are already shifted so that column j predicts token j.

#include <ATen/ATen.h>

#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "sri/error.hpp"

namespace sri::generate {

enum class DreamAlgorithm { origin, maskgit_plus, topk_margin, entropy };

inline std::string_view to_string(DreamAlgorithm algorithm) {
  switch (algorithm) {
    case DreamAlgorithm::origin: return "origin";
    case DreamAlgorithm::maskgit_plus: return "maskgit_plus";
    case DreamAlgorithm::topk_margin: return "topk_margin";
    case DreamAlgorithm::entropy: return "entropy";
  }
  return "origin";
}

// Parses an algorithm name; throws sri.diffusion.algorithm_unknown for anything else.
inline DreamAlgorithm parse_dream_algorithm(std::string_view name) {
  for (DreamAlgorithm a : {DreamAlgorithm::origin, DreamAlgorithm::maskgit_plus, DreamAlgorithm::topk_margin,
                           DreamAlgorithm::entropy}) {
    if (name == to_string(a)) return a;
  }
  raise("sri.diffusion.algorithm_unknown", "unknown Dream sampling algorithm '" + std::string(name) +
                                               "'; expected origin, maskgit_plus, topk_margin or entropy");
}

// One generation profile of Dream's sampler. Defaults follow DreamGenerationConfig except steps
// and max_new_tokens, which take the SRI reference's step count and response length.
struct DreamProfile {
  int64_t steps = 32;
  int64_t max_new_tokens = 128;
  double eps = 1e-3;  // last timestep
  DreamAlgorithm algorithm = DreamAlgorithm::origin;
  double alg_temp = 0.0;     // 0 picks the top-k positions; > 0 samples them
  double temperature = 0.0;  // 0 is greedy
  std::optional<double> top_p;
  std::optional<int64_t> top_k;
  uint64_t seed = 0;  // seed of the CPU generator behind every random draw
};

// Throws sri.diffusion.profile_invalid naming the first constraint that fails.
inline void validate(const DreamProfile& profile) {
  auto fail = [](const std::string& message) { raise("sri.diffusion.profile_invalid", message); };
  if (profile.steps <= 0) fail("steps is " + std::to_string(profile.steps) + "; it must be positive");
  if (profile.max_new_tokens <= 0) {
    fail("max_new_tokens is " + std::to_string(profile.max_new_tokens) + "; it must be positive");
  }
  if (!(profile.eps > 0.0 && profile.eps < 1.0)) {
    fail("eps is " + std::to_string(profile.eps) + "; it must lie in (0, 1)");
  }
  if (!(profile.temperature >= 0.0)) fail("temperature is " + std::to_string(profile.temperature) + "; it must be >= 0");
  if (!(profile.alg_temp >= 0.0)) fail("alg_temp is " + std::to_string(profile.alg_temp) + "; it must be >= 0");
  if (profile.top_p && !(*profile.top_p > 0.0 && *profile.top_p <= 1.0)) {
    fail("top_p is " + std::to_string(*profile.top_p) + "; it must lie in (0, 1]");
  }
  if (profile.top_k && *profile.top_k <= 0) fail("top_k is " + std::to_string(*profile.top_k) + "; it must be positive");
}

// Timesteps 1 = t_0 > t_1 > ... > t_steps = eps, float32 as torch.linspace computes them.
inline at::Tensor dream_timesteps(int64_t steps, double eps) {
  return at::linspace(1.0, eps, steps + 1, at::TensorOptions().dtype(at::kFloat));  // [steps + 1]
}

// Keeps the smallest set of most probable tokens whose probability reaches top_p, including the
// token that crosses the threshold. The other tokens get the dtype's lowest value.
inline at::Tensor top_p_filter(const at::Tensor& logits, double top_p) {  // [n, vocab]
  auto [sorted, order] = at::sort(logits, -1, true);                     // [n, vocab] each
  at::Tensor cumulative = at::softmax(sorted, -1).cumsum(-1);            // [n, vocab]
  at::Tensor remove_sorted = cumulative > top_p;                          // [n, vocab]
  at::Tensor shifted = at::zeros_like(remove_sorted);
  const int64_t vocab = logits.size(-1);
  if (vocab > 1) shifted.narrow(-1, 1, vocab - 1).copy_(remove_sorted.narrow(-1, 0, vocab - 1));
  at::Tensor remove = at::zeros_like(remove_sorted).scatter_(-1, order, shifted);  // [n, vocab]
  return logits.masked_fill(remove, at::Scalar(std::numeric_limits<float>::lowest()));
}

// Keeps tokens whose logit is at least the k-th largest (ties kept).
inline at::Tensor top_k_filter(const at::Tensor& logits, int64_t top_k) {  // [n, vocab]
  const int64_t k = std::min<int64_t>(top_k, logits.size(-1));
  at::Tensor kth = std::get<0>(at::topk(logits, k)).narrow(-1, k - 1, 1);  // [n, 1]
  return logits.masked_fill(logits < kth, at::Scalar(std::numeric_limits<float>::lowest()));
}

// Predicted tokens and their confidence for each row of `logits`, as Dream's sample_tokens.
struct DreamSample {
  at::Tensor confidence;  // [n] in the logits dtype
  at::Tensor tokens;      // [n] int64
};

inline DreamSample dream_sample_tokens(at::Tensor logits,  // [n, vocab]
                                       const DreamProfile& profile, at::Generator& generator) {
  if (profile.temperature > 0.0) logits = logits / profile.temperature;
  if (profile.top_p && *profile.top_p < 1.0) logits = top_p_filter(logits, *profile.top_p);
  if (profile.top_k) logits = top_k_filter(logits, *profile.top_k);
  at::Tensor probs = at::softmax(logits, -1);  // [n, vocab]

  DreamSample sample;
  if (profile.temperature > 0.0 && probs.size(0) > 0) {
    // torch.distributions.Categorical normalizes the rows, then draws with torch.multinomial.
    at::Tensor normalized = probs / probs.sum(-1, true);                              // [n, vocab]
    sample.tokens = at::multinomial(normalized, 1, true, generator).squeeze(-1);     // [n]
    sample.confidence = probs.gather(-1, sample.tokens.unsqueeze(-1)).squeeze(-1);  // [n]
  } else {
    auto [best, index] = probs.max(-1);
    sample.confidence = best;
    sample.tokens = index;
  }
  if (profile.algorithm == DreamAlgorithm::topk_margin) {
    at::Tensor sorted = std::get<0>(at::sort(probs, -1, true));  // [n, vocab]
    sample.confidence = sorted.select(-1, 0) - sorted.select(-1, 1);
  } else if (profile.algorithm == DreamAlgorithm::entropy) {
    sample.confidence = (probs * at::log(probs + 1e-10)).sum(-1);
  }
  return sample;
}

// Runs step `step` (0-based) of `profile.steps` on `canvas` in place and returns the committed
// positions, [batch, seq] bool.
inline at::Tensor dream_commit_step(at::Tensor& canvas,        // [batch, seq] int64
                                    const at::Tensor& logits,  // [batch, seq, vocab], shifted
                                    int64_t step, const at::Tensor& timesteps,  // [steps + 1] float32
                                    int64_t mask_id, const DreamProfile& profile, at::Generator& generator) {
  at::Tensor masked = canvas.eq(mask_id);      // [batch, seq]
  at::Tensor masked_logits = logits.index({masked});  // [n_masked, vocab], row-major order of the canvas
  at::Tensor t = timesteps[step];
  at::Tensor s = timesteps[step + 1];
  const bool last = step == profile.steps - 1;
  at::Tensor before = canvas.clone();

  if (profile.algorithm == DreamAlgorithm::origin) {
    at::Tensor x0 = at::full({masked_logits.size(0)}, mask_id, canvas.options());  // [n_masked]
    at::Tensor draws = at::rand({masked_logits.size(0)}, generator, at::TensorOptions().dtype(at::kFloat));
    at::Tensor chosen = last ? at::ones_like(draws, at::kBool) : draws < (1 - s / t);  // [n_masked]
    DreamSample sample = dream_sample_tokens(masked_logits.index({chosen}), profile, generator);
    x0.index_put_({chosen}, sample.tokens);
    canvas.index_put_({masked}, x0);
    return canvas.ne(before);
  }

  DreamSample sample = dream_sample_tokens(masked_logits, profile, generator);
  at::Tensor average_masked = masked.sum().to(at::kFloat) / static_cast<double>(canvas.size(0));  // 0-dim float32
  const auto k = static_cast<int64_t>(last ? average_masked.item<float>()
                                           : (average_masked * (1 - s / t)).item<float>());
  if (k <= 0) return at::zeros_like(masked);

  at::Tensor full_confidence = at::full(canvas.sizes(), -std::numeric_limits<double>::infinity(),
                                        logits.options());  // [batch, seq]
  full_confidence.index_put_({masked}, sample.confidence);
  at::Tensor proposal = at::full(canvas.sizes(), mask_id, canvas.options());  // [batch, seq]
  proposal.index_put_({masked}, sample.tokens);

  at::Tensor transfer = at::zeros_like(masked);
  for (int64_t b = 0; b < canvas.size(0); ++b) {
    // NOTE: the reference uses the same k for every row. A row with fewer masked positions than k
    // would get masks written back into its committed positions there, so k is capped per row here.
    const int64_t row_k = std::min<int64_t>(k, masked[b].sum().item<int64_t>());
    if (row_k <= 0) continue;
    at::Tensor chosen;  // [row_k]
    if (profile.alg_temp == 0.0) {
      chosen = std::get<1>(at::topk(full_confidence[b], row_k));
    } else {
      at::Tensor weights = at::softmax(full_confidence[b] / profile.alg_temp, -1);  // [seq]
      chosen = at::multinomial(weights, row_k, false, generator);
    }
    transfer[b].index_fill_(0, chosen, true);
  }
  canvas = at::where(transfer, proposal, canvas);
  return transfer;
}

}  // namespace sri::generate
