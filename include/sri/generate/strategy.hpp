#pragma once

// The generation-strategy policy: how a backbone is stepped (one token per step for
// autoregressive models, one unmasking iteration per step for masked diffusion), which hooks it
// feeds, and how a caller observes or stops the run after each step.

#include <concepts>
#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "sri/hook/hook.hpp"
#include "sri/model/backbone.hpp"

namespace sri::generate {

// Prompt token ids, one vector per batch row; rows may differ in length (left padding is added
// by the strategy).
using TokenBatch = std::vector<std::vector<int64_t>>;

// What the step callback sees after each step.
struct StepInfo {
  int64_t step = 0;       // 0-based step that just finished
  int64_t max_steps = 0;  // the run's step limit T
  // Autoregressive: the token each row chose at this step (-1 for rows that had already
  // stopped). Masked diffusion: empty.
  std::span<const int64_t> tokens;
  // 1 for rows still generating after this step, 0 for rows that have stopped.
  std::span<const uint8_t> active;
  // Masked diffusion: the response columns of the canvas after this step's commits, row-major
  // [batch, response_length], with the mask id at positions not yet committed. Autoregressive: empty.
  std::span<const int64_t> response;
  int64_t response_length = 0;
};

enum class StepControl { proceed, stop };

// Called once per step; returning StepControl::stop ends generation for every row after this
// step, and each row's valid step count includes the step just finished.
using StepCallback = std::function<StepControl(const StepInfo&)>;

// Outcome of one run.
struct GenerationResult {
  std::vector<std::vector<int64_t>> tokens;  // per row: generated ids, including the end token if one was produced
  std::vector<int64_t> steps;                // per row: steps that ran for the row, i.e. valid rows of its [T, D] states
  std::vector<uint8_t> ended_by_end_token;   // per row: 1 when the row stopped on one of the model's end ids
  bool stopped_by_callback = false;
};

// The strategy policy over a backbone B. Each requirement is one thing the composition uses.
template <class S, class B>
concept GenerationStrategy =
    model::Backbone<B> && requires(S& strategy, const S& const_strategy, const B& backbone, const TokenBatch& prompts,
                                   hook::NoHook& hook, const StepCallback& on_step) {
      // Which pooling rules may be combined with this strategy (checked by static_assert).
      { S::step_kind } -> std::convertible_to<hook::StepKind>;
      // T, the number of steps and therefore of rows in every [T, D] state matrix.
      { const_strategy.max_steps() } -> std::convertible_to<int64_t>;
      // Generates for every prompt row, feeding the hook and calling on_step after each step.
      { strategy.run(backbone, prompts, hook, on_step) } -> std::same_as<GenerationResult>;
    };

}  // namespace sri::generate
