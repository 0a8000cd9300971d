#pragma once

// Step pooling rules: how the hidden states a generation step exposes become one row phi_t.
//
//   rule                   kind               input per step                phi_t
//   ReferenceRunningMean   autoregressive     state at the last input pos.  mean of states 0..t
//   GeneratedTokensMean    autoregressive     states of the new token(s)    mean of generated tokens
//   AllResponsePositions   masked diffusion   all response positions        mean over that step
//   CommittedPositions     masked diffusion   response pos. + commit mask   mean over committed ones
//
// ReferenceRunningMean and AllResponsePositions reproduce the reference code (ElironRahimi/
// sri-signal, commit 716ccdc) and the centers it shipped. The other two follow the wording of
// the SRI paper (Rahimi et al., arXiv 2602.02600). Each rule has an
// incremental State (O(D) per step) and pool_steps() runs a State over recorded steps.

#include <sri/core/types.hpp>
#include <sri/error.hpp>

#include <concepts>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace sri {

// Generation kind of a strategy. Each pooling rule is written for one of them.
enum class GenerationKind {
  autoregressive,    // one token per step, causal attention
  masked_diffusion,  // one unmasking iteration over the whole response per step
};

// Selection of the hook point's positions that a pooling rule reads at each step.
enum class PositionSelection {
  last_input,          // [1, D]: the last input position (it predicts the next token)
  generated_tokens,    // [P, D]: the token(s) generated since the previous step, when fed back
  response,            // [gen_length, D]: every response position, masked ones included
  response_committed,  // [gen_length, D] plus a mask of the positions committed so far
};

// One recorded step for pool_steps(): the rows the rule reads and, for CommittedPositions, which
// of them are committed. A Map and a span, so the caller keeps the data alive.
struct StepRows {
  Eigen::Map<const RowMatrixXf> rows;   // [positions, hidden]
  std::span<const bool> committed = {};  // [positions], or empty when the rule ignores it

  explicit StepRows(const RowMatrixXf& block, std::span<const bool> committed_mask = {})
      : rows(block.data(), block.rows(), block.cols()), committed(committed_mask) {}
  StepRows(const float* data, Eigen::Index positions, Eigen::Index hidden, std::span<const bool> committed_mask = {})
      : rows(data, positions, hidden), committed(committed_mask) {}
};

// [T, D] pooled activations of one prompt and which steps were really generated.
struct PooledSteps {
  RowMatrixXf phi;  // [steps, hidden]
  StepMask real;    // [steps]; false for steps filled by the rule's padding after generation ended
};

namespace detail {

inline void check_step_shape(std::string_view rule, const ConstMatrixRef& rows, Eigen::Index hidden,
                             bool single_row) {
  if (rows.cols() != hidden) {
    raise("sri.pool.shape_mismatch", std::string(rule) + ": expected rows of hidden size " + std::to_string(hidden) +
                                         ", got " + std::to_string(rows.cols()) +
                                         "; pass the hook point's rows for the same model");
  }
  if (single_row && rows.rows() != 1) {
    raise("sri.pool.shape_mismatch", std::string(rule) + ": expected exactly 1 row per step (the last input " +
                                         "position), got " + std::to_string(rows.rows()));
  }
  if (rows.rows() == 0) {
    raise("sri.pool.empty_step", std::string(rule) + ": a generation step passed 0 rows; every real step " +
                                     "needs at least one position (use push_padding() after the end)");
  }
}

inline void check_hidden(std::string_view rule, Eigen::Index hidden) {
  if (hidden <= 0) {
    raise("sri.pool.shape_mismatch",
          std::string(rule) + ": hidden size must be positive, got " + std::to_string(hidden));
  }
}

// Running state shared by the rules: a float64 sum, its count and the float32 phi_t it gives.
class RunningMean {
 public:
  explicit RunningMean(Eigen::Index hidden) : sum_(RowVectorXd::Zero(hidden)), phi_(RowVectorXf::Zero(hidden)) {}

  void add_rows(const ConstMatrixRef& rows) {  // rows: [positions, hidden]
    for (Eigen::Index r = 0; r < rows.rows(); ++r) {
      sum_ += rows.row(r).cast<double>();
    }
    count_ += rows.rows();
    phi_ = (sum_ / static_cast<double>(count_)).cast<float>();
  }
  void add_sum(const RowVectorXd& row_sum, Eigen::Index rows) {  // row_sum: [hidden]
    sum_ += row_sum;
    count_ += rows;
    phi_ = (sum_ / static_cast<double>(count_)).cast<float>();
  }
  void reset() {
    sum_.setZero();
    count_ = 0;
  }
  [[nodiscard]] const RowVectorXf& phi() const { return phi_; }
  [[nodiscard]] Eigen::Index count() const { return count_; }

 private:
  RowVectorXd sum_;  // [hidden]
  Eigen::Index count_ = 0;
  RowVectorXf phi_;  // [hidden]
};

}  // namespace detail

// A step pooling rule: a tag type naming its generation kind and positions, plus an
// incremental State.
template <class P>
concept DeclaresGenerationKind = requires {
  { P::generation } -> std::convertible_to<GenerationKind>;
};

template <class P>
concept DeclaresPositions = requires {
  { P::positions } -> std::convertible_to<PositionSelection>;
};

// Requirement on P::State: one real step is the selected rows [P, D] and the committed mask.
template <class S>
concept PushesSteps = requires(S& state, const ConstMatrixRef& rows, std::span<const bool> committed) {
  state.push(rows, committed);
};

// Requirement on P::State: one step after generation ended (EOS), filled by the rule's padding.
template <class S>
concept PadsSteps = requires(S& state) { state.push_padding(); };

// Requirement on P::State: phi_t [D] of the last pushed step and the number of steps so far.
template <class S>
concept ExposesPhi = requires(const S& state) {
  { state.phi() } -> std::convertible_to<const RowVectorXf&>;
  { state.steps() } -> std::same_as<Eigen::Index>;
};

template <class P>
concept PoolingRule =
    HasPolicyId<P> &&              // recorded in centers metadata, so centers of another rule are refused
    DeclaresGenerationKind<P> &&   // a hook checks it against its generation strategy
    DeclaresPositions<P> &&        // the hook copies only these positions
    std::constructible_from<typename P::State, Eigen::Index> &&  // the incremental form, sized by D
    PushesSteps<typename P::State> &&  // O(D) or O(P D) work per generation step
    PadsSteps<typename P::State> &&    // steps after EOS follow the rule's convention
    ExposesPhi<typename P::State>;     // phi_t for the signal or the center accumulator

template <class P, GenerationKind Kind>
concept PoolingRuleFor = PoolingRule<P> && (P::generation == Kind);

// Fails with one sentence when a pooling rule does not fit the strategy's generation kind.
template <class P, GenerationKind Kind>
consteval void require_pooling_rule_for() {
  static_assert(PoolingRule<P>,
                "The hook's pooling slot needs a sri::PoolingRule (id, generation, positions and a State with "
                "push, push_padding, phi and steps), for example sri::pool::ReferenceRunningMean.");
  if constexpr (PoolingRule<P>) {
    static_assert(P::generation == Kind,
                  "The hook's pooling rule was written for the other generation kind: use ReferenceRunningMean or "
                  "GeneratedTokensMean with an autoregressive strategy, AllResponsePositions or CommittedPositions "
                  "with a masked-diffusion strategy.");
  }
}

namespace pool {

// AR rule of the reference code: step s reads the final state at the last input position h_s
// (h_0 is the last prompt token), and phi_t = mean(h_0..h_t). After EOS the reference repeats the
// last h, so push_padding() adds h_last again and the mean keeps moving toward it.
struct ReferenceRunningMean {
  static constexpr std::string_view id = "reference_running_mean";
  static constexpr GenerationKind generation = GenerationKind::autoregressive;
  static constexpr PositionSelection positions = PositionSelection::last_input;

  class State {
   public:
    explicit State(Eigen::Index hidden) : mean_((detail::check_hidden(id, hidden), hidden)), last_(hidden) {}

    void push(const ConstMatrixRef& rows, std::span<const bool> /*committed*/ = {}) {  // rows: [1, hidden]
      detail::check_step_shape(id, rows, last_.cols(), true);
      last_ = rows.row(0);
      mean_.add_rows(rows);
      ++steps_;
    }
    void push_padding() {
      if (steps_ == 0) {
        raise("sri.pool.padding_before_first_step",
              std::string(id) + ": push_padding() before any real step; there is no last state to repeat");
      }
      mean_.add_rows(last_);
      ++steps_;
    }
    [[nodiscard]] const RowVectorXf& phi() const { return mean_.phi(); }
    [[nodiscard]] Eigen::Index steps() const { return steps_; }

   private:
    detail::RunningMean mean_;
    RowVectorXf last_;  // [hidden] the last real state, repeated by push_padding()
    Eigen::Index steps_ = 0;
  };
};

// AR rule as the SRI paper words it: phi_t = mean of the final states of the tokens generated up to
// step t (prompt excluded). A step passes the states of its new token(s), taken when they are fed
// back. After EOS phi_t stays at its last value.
struct GeneratedTokensMean {
  static constexpr std::string_view id = "generated_tokens_mean";
  static constexpr GenerationKind generation = GenerationKind::autoregressive;
  static constexpr PositionSelection positions = PositionSelection::generated_tokens;

  class State {
   public:
    explicit State(Eigen::Index hidden) : mean_((detail::check_hidden(id, hidden), hidden)) {}

    void push(const ConstMatrixRef& rows, std::span<const bool> /*committed*/ = {}) {  // rows: [new_tokens, hidden]
      detail::check_step_shape(id, rows, mean_.phi().cols(), false);
      mean_.add_rows(rows);
      ++steps_;
    }
    void push_padding() {
      if (steps_ == 0) {
        raise("sri.pool.padding_before_first_step",
              std::string(id) + ": push_padding() before any real step; there is no mean to hold");
      }
      ++steps_;
    }
    [[nodiscard]] const RowVectorXf& phi() const { return mean_.phi(); }
    [[nodiscard]] Eigen::Index steps() const { return steps_; }

   private:
    detail::RunningMean mean_;
    Eigen::Index steps_ = 0;
  };
};

// DLM rule of the reference code: phi_t = mean over all gen_length response positions of the
// forward pass that decides step t's commits, masked positions included. No running mean over
// steps. After the last step phi_t stays at its last value.
struct AllResponsePositions {
  static constexpr std::string_view id = "all_response_positions";
  static constexpr GenerationKind generation = GenerationKind::masked_diffusion;
  static constexpr PositionSelection positions = PositionSelection::response;

  class State {
   public:
    explicit State(Eigen::Index hidden) : mean_((detail::check_hidden(id, hidden), hidden)) {}

    void push(const ConstMatrixRef& rows, std::span<const bool> /*committed*/ = {}) {  // rows: [gen_length, hidden]
      detail::check_step_shape(id, rows, mean_.phi().cols(), false);
      mean_.reset();
      mean_.add_rows(rows);
      ++steps_;
    }
    void push_padding() {
      if (steps_ == 0) {
        raise("sri.pool.padding_before_first_step",
              std::string(id) + ": push_padding() before any real step; there is no mean to hold");
      }
      ++steps_;
    }
    [[nodiscard]] const RowVectorXf& phi() const { return mean_.phi(); }
    [[nodiscard]] Eigen::Index steps() const { return steps_; }

   private:
    detail::RunningMean mean_;
    Eigen::Index steps_ = 0;
  };
};

// DLM rule as the SRI paper words it: phi_t = mean over the response positions already committed
// (unmasked) once step t's commits are applied. A step whose mask selects no position falls back
// to the mean over all positions, so phi_t is always defined.
struct CommittedPositions {
  static constexpr std::string_view id = "committed_positions";
  static constexpr GenerationKind generation = GenerationKind::masked_diffusion;
  static constexpr PositionSelection positions = PositionSelection::response_committed;

  class State {
   public:
    explicit State(Eigen::Index hidden)
        : mean_((detail::check_hidden(id, hidden), hidden)), row_sum_(RowVectorXd::Zero(hidden)) {}

    void push(const ConstMatrixRef& rows, std::span<const bool> committed) {  // rows: [gen_length, hidden]
      detail::check_step_shape(id, rows, mean_.phi().cols(), false);
      if (static_cast<Eigen::Index>(committed.size()) != rows.rows()) {
        raise("sri.pool.shape_mismatch", std::string(id) + ": expected a committed mask of " +
                                             std::to_string(rows.rows()) + " entries (one per row), got " +
                                             std::to_string(committed.size()));
      }
      row_sum_.setZero();
      Eigen::Index selected = 0;
      for (Eigen::Index r = 0; r < rows.rows(); ++r) {
        if (committed[static_cast<std::size_t>(r)]) {
          row_sum_ += rows.row(r).cast<double>();
          ++selected;
        }
      }
      mean_.reset();
      if (selected == 0) {
        mean_.add_rows(rows);
      } else {
        mean_.add_sum(row_sum_, selected);
      }
      ++steps_;
    }
    void push_padding() {
      if (steps_ == 0) {
        raise("sri.pool.padding_before_first_step",
              std::string(id) + ": push_padding() before any real step; there is no mean to hold");
      }
      ++steps_;
    }
    [[nodiscard]] const RowVectorXf& phi() const { return mean_.phi(); }
    [[nodiscard]] Eigen::Index steps() const { return steps_; }

   private:
    detail::RunningMean mean_;
    RowVectorXd row_sum_;  // [hidden] workspace, kept to avoid a per-step allocation
    Eigen::Index steps_ = 0;
  };
};

}  // namespace pool

// Runs a pooling rule over recorded steps and pads to total_steps with the rule's convention.
// Precondition: 1 <= steps.size() <= total_steps. Postcondition: phi is [total_steps, hidden]
// and real(t) is true exactly for t < steps.size().
template <PoolingRule Rule>
[[nodiscard]] PooledSteps pool_steps(std::span<const StepRows> steps, Eigen::Index total_steps, Eigen::Index hidden) {
  const auto recorded = static_cast<Eigen::Index>(steps.size());
  if (recorded == 0 || recorded > total_steps) {
    raise("sri.pool.step_count", std::string(Rule::id) + ": expected between 1 and " + std::to_string(total_steps) +
                                     " recorded steps, got " + std::to_string(recorded));
  }
  typename Rule::State state(hidden);
  PooledSteps out{RowMatrixXf(total_steps, hidden), StepMask::Constant(total_steps, false)};
  for (Eigen::Index t = 0; t < total_steps; ++t) {
    if (t < recorded) {
      const StepRows& step = steps[static_cast<std::size_t>(t)];
      state.push(step.rows, step.committed);
      out.real(t) = true;
    } else {
      state.push_padding();
    }
    out.phi.row(t) = state.phi();
  }
  return out;
}

// Convenience form for rules that read one row per step: states is [recorded_steps, hidden].
template <PoolingRule Rule>
[[nodiscard]] PooledSteps pool_rows(const ConstMatrixRef& states, Eigen::Index total_steps) {
  std::vector<StepRows> steps;
  steps.reserve(static_cast<std::size_t>(states.rows()));
  for (Eigen::Index s = 0; s < states.rows(); ++s) {
    steps.emplace_back(states.row(s).data(), 1, states.cols());
  }
  return pool_steps<Rule>(steps, total_steps, states.cols());
}

static_assert(PoolingRuleFor<pool::ReferenceRunningMean, GenerationKind::autoregressive>,
              "pool::ReferenceRunningMean must be an autoregressive PoolingRule.");
static_assert(PoolingRuleFor<pool::GeneratedTokensMean, GenerationKind::autoregressive>,
              "pool::GeneratedTokensMean must be an autoregressive PoolingRule.");
static_assert(PoolingRuleFor<pool::AllResponsePositions, GenerationKind::masked_diffusion>,
              "pool::AllResponsePositions must be a masked-diffusion PoolingRule.");
static_assert(PoolingRuleFor<pool::CommittedPositions, GenerationKind::masked_diffusion>,
              "pool::CommittedPositions must be a masked-diffusion PoolingRule.");

}  // namespace sri
