#pragma once

// Token choice from next-token logits: greedy (temperature 0) and seeded sampling with
// temperature, top-k and top-p. Every sampler maps [batch, vocab] float32 logits to [batch] int64
// ids on the CPU.

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include <concepts>
#include <cstdint>
#include <string>

#include "sri/error.hpp"

namespace sri::sample {

template <class S>
concept Sampler = requires(S& sampler, const at::Tensor& logits) {
  // One id per row from [batch, vocab] logits.
  { sampler.choose(logits) } -> std::same_as<at::Tensor>;
};

// The highest logit; ties go to the lowest id, as torch.argmax does.
struct Greedy {
  at::Tensor choose(const at::Tensor& logits) const {  // logits: [batch, vocab]
    return logits.argmax(-1).to(at::kCPU);           // [batch]
  }
};

struct SamplingOptions {
  double temperature = 1.0;  // > 0; divide logits by it before softmax
  int64_t top_k = 0;         // keep the k highest logits; 0 keeps all
  double top_p = 1.0;        // keep the smallest set of ids whose probability reaches top_p; 1 keeps all
  uint64_t seed = 0;         // seed of the explicit CPU generator, so runs repeat exactly
};

// Multinomial sampling from softmax(logits / temperature) after top-k and top-p filtering, with
// its own seeded at::Generator (never the global one).
class Seeded {
 public:
  explicit Seeded(SamplingOptions options = {}) : options_(options), generator_(at::detail::createCPUGenerator(options.seed)) {
    if (!(options_.temperature > 0.0)) {
      raise("sri.sample.temperature_invalid", "sampling temperature must be > 0, got " +
                                                  std::to_string(options_.temperature) +
                                                  "; use sri::sample::Greedy for temperature 0");
    }
    if (options_.top_k < 0 || !(options_.top_p > 0.0 && options_.top_p <= 1.0)) {
      raise("sri.sample.filter_invalid", "top_k must be >= 0 and top_p in (0, 1], got top_k " +
                                             std::to_string(options_.top_k) + " and top_p " + std::to_string(options_.top_p));
    }
  }

  at::Tensor choose(const at::Tensor& logits) {  // logits: [batch, vocab]
    at::Tensor scaled = logits.to(at::kCPU, at::kFloat) / options_.temperature;  // [batch, vocab]
    const int64_t vocab = scaled.size(-1);
    if (options_.top_k > 0 && options_.top_k < vocab) {
      at::Tensor kth = std::get<0>(scaled.topk(options_.top_k, -1)).narrow(-1, options_.top_k - 1, 1);  // [batch, 1]
      scaled = scaled.masked_fill(scaled < kth, -std::numeric_limits<float>::infinity());
    }
    if (options_.top_p < 1.0) {
      auto [sorted, order] = scaled.sort(-1, /*descending=*/true);  // [batch, vocab] each
      at::Tensor cumulative = sorted.softmax(-1).cumsum(-1);       // [batch, vocab]
      // Drop an id when the ids ranked above it already reach top_p; the first id always stays.
      at::Tensor drop_sorted = (cumulative - sorted.softmax(-1)) >= options_.top_p;  // [batch, vocab]
      at::Tensor drop = at::zeros_like(drop_sorted).scatter_(-1, order, drop_sorted);
      scaled = scaled.masked_fill(drop, -std::numeric_limits<float>::infinity());
    }
    at::Tensor probabilities = scaled.softmax(-1);                          // [batch, vocab]
    return at::multinomial(probabilities, 1, false, generator_).view({-1});  // [batch]
  }

 private:
  SamplingOptions options_;
  at::Generator generator_;
};

static_assert(Sampler<Greedy>, "sri::sample::Greedy must satisfy the Sampler concept.");
static_assert(Sampler<Seeded>, "sri::sample::Seeded must satisfy the Sampler concept.");

}  // namespace sri::sample
