#pragma once

// Autoregressive generation: one token per step for every row of a left-padded batch.
//
// Step s (0-based) runs one forward pass and reads its last column: step 0 is the prefill of the
// prompt (its last column is the last prompt token), step s >= 1 feeds the token chosen at step
// s - 1. The logits of step s choose the step's token. A row stops after the step whose token is
// one of the model's end ids, and its valid step count includes that step. At most max_steps steps.

#include <ATen/ATen.h>

#include <algorithm>
#include <cstdint>
#include <vector>

#include "sri/error.hpp"
#include "sri/generate/sample.hpp"
#include "sri/generate/strategy.hpp"
#include "sri/hook/hook.hpp"
#include "sri/model/backbone.hpp"

namespace sri::generate {

// Source of the earlier tokens' keys and values in each step's forward pass.
enum class Recompute {
  kv_cache,       // feed only the new token; keys and values of earlier tokens come from the cache
  full_sequence,  // rerun prompt plus generated tokens every step, as the reference code does
};

template <sample::Sampler SamplerT = sample::Greedy>
class Autoregressive {
 public:
  static constexpr hook::StepKind step_kind = hook::StepKind::autoregressive;

  explicit Autoregressive(int64_t max_steps = 32, SamplerT sampler = {}, Recompute recompute = Recompute::kv_cache)
      : max_steps_(max_steps), sampler_(std::move(sampler)), recompute_(recompute) {
    if (max_steps_ <= 0) {
      raise("sri.generate.steps_invalid",
            "max_steps must be at least 1, got " + std::to_string(max_steps_) + "; the reference uses 32");
    }
  }

  [[nodiscard]] int64_t max_steps() const { return max_steps_; }

  // Generates up to max_steps tokens per prompt. Throws sri.generate.prompt_empty for an empty
  // prompt row.
  template <model::Backbone B, hook::Hook H = hook::NoHook>
  GenerationResult run(const B& model, const TokenBatch& prompts, H& hook, const StepCallback& on_step = {}) {
    static_assert(hook::step_kinds_compatible(step_kind, H::step_kind),
                  "The hook's pooling rule is for masked-diffusion steps, but this strategy is autoregressive: use an "
                  "autoregressive pooling rule such as sri::pool::ReferenceRunningMean with "
                  "sri::generate::Autoregressive.");
    static_assert(B::attention_kind == model::AttentionKind::causal,
                  "sri::generate::Autoregressive needs a causal backbone; bidirectional (masked-diffusion) "
                  "backbones need a masked-diffusion strategy.");

    const auto batch = static_cast<int64_t>(prompts.size());
    if (batch == 0) return {};
    int64_t longest = 0;
    for (std::size_t r = 0; r < prompts.size(); ++r) {
      if (prompts[r].empty()) {
        raise("sri.generate.prompt_empty", "prompt row " + std::to_string(r) +
                                               " has no tokens; every row needs at least one token id");
      }
      longest = std::max<int64_t>(longest, static_cast<int64_t>(prompts[r].size()));
    }
    const std::vector<int64_t>& end_ids = model.end_token_ids();
    const int64_t pad_id = model.config().pad_token_id.value_or(end_ids.empty() ? 0 : end_ids.front());

    // Left-padded prompt block and its validity mask.
    at::Tensor tokens = at::full({batch, longest}, pad_id, at::TensorOptions().dtype(at::kLong));  // [batch, longest]
    at::Tensor valid = at::zeros({batch, longest}, at::TensorOptions().dtype(at::kBool));          // [batch, longest]
    for (int64_t r = 0; r < batch; ++r) {
      const auto& row = prompts[static_cast<std::size_t>(r)];
      const int64_t offset = longest - static_cast<int64_t>(row.size());
      auto token_view = tokens.accessor<int64_t, 2>();
      auto valid_view = valid.accessor<bool, 2>();
      for (std::size_t i = 0; i < row.size(); ++i) {
        token_view[r][offset + static_cast<int64_t>(i)] = row[i];
        valid_view[r][offset + static_cast<int64_t>(i)] = true;
      }
    }

    GenerationResult result;
    result.tokens.assign(static_cast<std::size_t>(batch), {});
    result.steps.assign(static_cast<std::size_t>(batch), 0);
    result.ended_by_end_token.assign(static_cast<std::size_t>(batch), 0);
    std::vector<uint8_t> active(static_cast<std::size_t>(batch), 1);
    std::vector<int64_t> chosen(static_cast<std::size_t>(batch), -1);

    hook.begin(hook::RunInfo{batch, max_steps_, model.config().hidden_size});
    hook::SinkFor<H> sink(hook);
    model::KvCache cache;
    if (recompute_ == Recompute::kv_cache) cache = model.make_cache(batch, longest + max_steps_);
    model::KvCache* cache_ptr = recompute_ == Recompute::kv_cache ? &cache : nullptr;

    at::Tensor all_tokens = tokens;  // [batch, longest + steps so far], used by full recomputation
    at::Tensor all_valid = valid;
    model::ForwardOutput out = model.forward({tokens, valid, 0, true}, cache_ptr, &sink);

    auto finish = [&](int64_t r, int64_t steps) {
      active[static_cast<std::size_t>(r)] = 0;
      result.steps[static_cast<std::size_t>(r)] = steps;
      hook.finish_row(r, steps);
    };

    for (int64_t step = 0; step < max_steps_; ++step) {
      at::Tensor next = sampler_.choose(out.logits.select(1, out.logits.size(1) - 1)).to(at::kLong).contiguous();  // [batch]
      const int64_t* next_ids = next.data_ptr<int64_t>();
      for (int64_t r = 0; r < batch; ++r) {
        const auto ri = static_cast<std::size_t>(r);
        chosen[ri] = -1;
        if (!active[ri]) continue;
        chosen[ri] = next_ids[r];
        result.tokens[ri].push_back(next_ids[r]);
        if (std::find(end_ids.begin(), end_ids.end(), next_ids[r]) != end_ids.end()) {
          result.ended_by_end_token[ri] = 1;
          finish(r, step + 1);
        }
      }
      bool stop = false;
      if (on_step) {
        stop = on_step(StepInfo{step, max_steps_, chosen, active}) == StepControl::stop;
        result.stopped_by_callback = stop;
      }
      const bool last_step = step + 1 == max_steps_;
      if (stop || last_step) {
        for (int64_t r = 0; r < batch; ++r) {
          if (active[static_cast<std::size_t>(r)]) finish(r, step + 1);
        }
      }
      if (std::none_of(active.begin(), active.end(), [](uint8_t a) { return a != 0; })) break;

      // Rows that stopped keep receiving the pad id; their outputs are ignored.
      at::Tensor column = at::full({batch, 1}, pad_id, at::TensorOptions().dtype(at::kLong));  // [batch, 1]
      for (int64_t r = 0; r < batch; ++r) {
        if (active[static_cast<std::size_t>(r)]) column[r][0] = chosen[static_cast<std::size_t>(r)];
      }
      at::Tensor column_valid = at::ones({batch, 1}, at::TensorOptions().dtype(at::kBool));  // [batch, 1]
      if (cache_ptr != nullptr) {
        out = model.forward({column, column_valid, step + 1, true}, cache_ptr, &sink);
      } else {
        all_tokens = at::cat({all_tokens, column}, 1);
        all_valid = at::cat({all_valid, column_valid}, 1);
        out = model.forward({all_tokens, all_valid, step + 1, true}, nullptr, &sink);
      }
    }
    return result;
  }

  // Generates without hooks.
  template <model::Backbone B>
  GenerationResult run(const B& model, const TokenBatch& prompts, const StepCallback& on_step = {}) {
    hook::NoHook none;
    return run(model, prompts, none, on_step);
  }

 private:
  int64_t max_steps_;
  SamplerT sampler_;
  Recompute recompute_;
};

}  // namespace sri::generate
