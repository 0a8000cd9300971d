#pragma once

// Hooks that feed one hook point through a core pooling rule and produce, per batch row, the
// [T, D] phi rows plus the mask of really generated steps.
//
//   sri::hook::FinalNorm<Pool>   the final-norm output (input of the LM head), the SRI default
//   sri::hook::ResidPost<Pool>   the residual stream after a decoder layer chosen at run time

#include <ATen/ATen.h>

#include <algorithm>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "sri/core/pooling.hpp"
#include "sri/error.hpp"
#include "sri/hook/hook.hpp"
#include "sri/model/backbone.hpp"

namespace sri::hook {

template <PoolingRule Pool>
class Pooled {
 public:
  static_assert(Pool::positions == sri::PositionSelection::last_input ||
                    Pool::positions == sri::PositionSelection::response ||
                    Pool::positions == sri::PositionSelection::response_committed,
                "This pooling rule reads the states of generated tokens when they are fed back, which the "
                "autoregressive strategy does not deliver yet: use sri::pool::ReferenceRunningMean.");

  static constexpr StepKind step_kind =
      Pool::generation == GenerationKind::autoregressive ? StepKind::autoregressive : StepKind::masked_diffusion;

  explicit Pooled(model::HookPoint point) : point_(point) {}

  [[nodiscard]] const model::HookPoint& point() const { return point_; }

  void begin(const RunInfo& run) {
    run_ = run;
    if constexpr (step_kind == StepKind::masked_diffusion) {
      if (run.response_begin < 0 || run.response_length <= 0) {
        raise("sri.hook.response_missing", "a masked-diffusion pooling rule needs the response columns, but the "
                                           "strategy gave response_begin " + std::to_string(run.response_begin) +
                                               " and response_length " + std::to_string(run.response_length));
      }
    }
    states_.clear();
    rows_.assign(static_cast<std::size_t>(run.batch_size), RowMatrixXf::Zero(run.max_steps, run.hidden_size));
    real_.assign(static_cast<std::size_t>(run.batch_size), StepMask::Constant(run.max_steps, false));
    finished_.assign(static_cast<std::size_t>(run.batch_size), 0);
    committed_.clear();
    committed_.resize(static_cast<std::size_t>(run.batch_size));
    for (int64_t r = 0; r < run.batch_size; ++r) states_.emplace_back(static_cast<Eigen::Index>(run.hidden_size));
  }

  model::PositionSelection wants(const model::HookPoint& point, int64_t step) const {
    if (!(point == point_) || step >= run_.max_steps) return model::PositionSelection::none();
    if constexpr (step_kind == StepKind::autoregressive) {
      return model::PositionSelection::last();
    } else {
      return model::PositionSelection::range(run_.response_begin, run_.response_begin + run_.response_length);
    }
  }

  // Masked diffusion with CommittedPositions: the strategy sets each row's committed mask
  // ([response_length]) before the forward pass of the step it describes.
  void set_committed(int64_t row, std::span<const bool> committed) {
    Committed& mask = committed_[static_cast<std::size_t>(row)];
    if (mask.size != committed.size()) {
      mask.flags = std::make_unique<bool[]>(committed.size());
      mask.size = committed.size();
    }
    std::copy(committed.begin(), committed.end(), mask.flags.get());
  }

  void receive(const model::HookPoint& point, int64_t step, const at::Tensor& activations) {  // [batch, positions, hidden]
    if (!(point == point_) || step >= run_.max_steps) return;
    at::Tensor host = activations.to(at::kCPU, at::kFloat).contiguous();  // [batch, positions, hidden]
    const int64_t positions = host.size(1), hidden = host.size(2);
    const float* data = host.data_ptr<float>();
    for (int64_t r = 0; r < host.size(0); ++r) {
      const auto ri = static_cast<std::size_t>(r);
      if (finished_[ri]) continue;
      Eigen::Map<const RowMatrixXf> rows(data + r * positions * hidden, positions, hidden);  // [positions, hidden]
      const Committed& mask = committed_[ri];
      states_[ri].push(rows, std::span<const bool>(mask.flags.get(), mask.size));
      const Eigen::Index t = states_[ri].steps() - 1;
      rows_[ri].row(t) = states_[ri].phi();
      real_[ri](t) = true;
    }
  }

  // Pads the row's remaining steps with the pooling rule's convention (the reference AR rule
  // repeats the last state).
  void finish_row(int64_t row, int64_t steps) {
    const auto ri = static_cast<std::size_t>(row);
    if (finished_[ri]) return;
    finished_[ri] = 1;
    if (states_[ri].steps() != steps) {
      raise("sri.hook.step_count", "row " + std::to_string(row) + " finished after " + std::to_string(steps) +
                                       " steps but the hook received " + std::to_string(states_[ri].steps()) +
                                       "; the strategy must deliver one hook call per step");
    }
    for (Eigen::Index t = states_[ri].steps(); t < run_.max_steps; ++t) {
      states_[ri].push_padding();
      rows_[ri].row(t) = states_[ri].phi();
    }
  }

  // [T, D] phi rows of one batch row; steps after the row ended hold the padding convention.
  [[nodiscard]] const RowMatrixXf& phi(int64_t row) const { return rows_.at(static_cast<std::size_t>(row)); }
  // [T] true for the steps the row really generated.
  [[nodiscard]] const StepMask& real_steps(int64_t row) const { return real_.at(static_cast<std::size_t>(row)); }
  [[nodiscard]] PooledSteps result(int64_t row) const { return {phi(row), real_steps(row)}; }

 private:
  // One row's committed flags, allocated once per response length (std::vector<bool> has no span).
  struct Committed {
    std::unique_ptr<bool[]> flags;
    std::size_t size = 0;
  };

  model::HookPoint point_;
  RunInfo run_;
  std::vector<typename Pool::State> states_;
  std::vector<RowMatrixXf> rows_;         // per row: [T, hidden]
  std::vector<StepMask> real_;            // per row: [T]
  std::vector<uint8_t> finished_;
  std::vector<Committed> committed_;
};

// The final-norm output (LM head input) pooled by `Pool`; the SRI default hook.
template <PoolingRule Pool>
class FinalNorm : public Pooled<Pool> {
 public:
  FinalNorm() : Pooled<Pool>(model::HookPoint::final_norm_out()) {}
};

// The residual stream after decoder layer `layer` (0-based), pooled by `Pool`.
template <PoolingRule Pool>
class ResidPost : public Pooled<Pool> {
 public:
  explicit ResidPost(int64_t layer) : Pooled<Pool>(model::HookPoint::resid_post(layer)) {}
};

}  // namespace sri::hook
