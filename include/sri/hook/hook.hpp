#pragma once

// The activation-hook protocol. A generation strategy drives a hook in two phases per forward
// pass: first the cheap wants(point, step), which returns the positions the hook needs and moves
// no data, then receive(point, step, tensor) with exactly those positions. A hook copies only
// what it asked for, so nothing keeps all-layer or all-position tensors.
//
// Call order for one generation run:
//   begin(run) once; per step and per hook point wants() then, if non-empty, receive();
//   finish_row(row, valid_steps) once per row when that row stops (end token, step limit or a
//   stop request). After finish_row, receive() still delivers that row's slice of the batch, and
//   the hook must ignore it.

#include <ATen/ATen.h>

#include <concepts>
#include <cstdint>
#include <type_traits>

#include "sri/model/backbone.hpp"

namespace sri::hook {

// Which generation strategies a hook (through its pooling rule) is defined for.
enum class StepKind {
  autoregressive,    // one token per step, states read at the last input position
  masked_diffusion,  // one unmasking iteration per step over the whole canvas
  any,               // raw capture that does not depend on step semantics
};

// Sizes a hook needs to allocate its buffers once, before the first step.
struct RunInfo {
  int64_t batch_size = 0;
  int64_t max_steps = 0;
  int64_t hidden_size = 0;
  // Masked diffusion only: response columns [response_begin, response_begin + response_length)
  // of the canvas given to each forward pass. -1 / 0 for autoregressive runs.
  int64_t response_begin = -1;
  int64_t response_length = 0;
};

// The hook policy. Each requirement is one thing the strategies call.
template <class H>
concept Hook = requires(H& hook, const RunInfo& run, const model::HookPoint& point, int64_t step,
                        const at::Tensor& activations, int64_t row) {
  // The strategies the hook's pooling rule is defined for; strategies static_assert on it.
  { H::step_kind } -> std::convertible_to<StepKind>;
  // Sizes buffers for one run; called once before the first forward pass.
  { hook.begin(run) } -> std::same_as<void>;
  // Phase one: which positions of `point` the hook needs at `step`. Must not touch tensors.
  { hook.wants(point, step) } -> std::same_as<model::PositionSelection>;
  // Phase two: the requested positions, [batch, selected, hidden], valid only during the call.
  { hook.receive(point, step, activations) } -> std::same_as<void>;
  // `row` stopped after `step` valid steps; its later slices carry no data.
  { hook.finish_row(row, step) } -> std::same_as<void>;
};

// A hook that requests nothing: generation without activation capture.
struct NoHook {
  static constexpr StepKind step_kind = StepKind::any;
  void begin(const RunInfo&) {}
  model::PositionSelection wants(const model::HookPoint&, int64_t) { return model::PositionSelection::none(); }
  void receive(const model::HookPoint&, int64_t, const at::Tensor&) {}
  void finish_row(int64_t, int64_t) {}
};
static_assert(Hook<NoHook>, "NoHook must satisfy the Hook concept because strategies use it as the default hook.");

// Adapts any Hook to the backbone's virtual ActivationSink, so backbones stay non-template.
template <Hook H>
class SinkFor final : public model::ActivationSink {
 public:
  explicit SinkFor(H& hook) : hook_(&hook) {}
  model::PositionSelection wants(const model::HookPoint& point, int64_t step) override { return hook_->wants(point, step); }
  void receive(const model::HookPoint& point, int64_t step, const at::Tensor& activations) override {
    hook_->receive(point, step, activations);
  }

 private:
  H* hook_;
};

// True when a hook of kind `hook_kind` may run under a strategy of kind `strategy_kind`.
constexpr bool step_kinds_compatible(StepKind strategy_kind, StepKind hook_kind) {
  return hook_kind == StepKind::any || hook_kind == strategy_kind;
}

}  // namespace sri::hook
