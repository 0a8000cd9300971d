#include "test_support.hpp"

#include <sri/core/pooling.hpp>

#include <doctest/doctest.h>

#include <array>
#include <vector>

namespace {

using sri::RowMatrixXd;
using sri::RowMatrixXf;
using sri::RowVectorXd;
using sri::test::random_matrix;

constexpr std::uint32_t seed = 777;

// Tolerance for float32 phi against float64 hand computations of means of standard normals.
constexpr double tolerance = 1e-6;

double max_difference(const RowMatrixXf& a, const RowMatrixXd& b) {
  return (a.cast<double>() - b).cwiseAbs().maxCoeff();
}

}  // namespace

TEST_CASE("reference running mean pads by repeating the last state") {
  INFO("seed ", seed);
  constexpr Eigen::Index total_steps = 6;
  const RowMatrixXf states = random_matrix(4, 5, seed);  // [recorded_steps, hidden]: EOS at step 3
  const sri::PooledSteps pooled = sri::pool_rows<sri::pool::ReferenceRunningMean>(states, total_steps);

  RowMatrixXd expected(total_steps, 5);  // [steps, hidden]
  RowVectorXd sum = RowVectorXd::Zero(5);
  for (Eigen::Index t = 0; t < total_steps; ++t) {
    sum += states.row(std::min<Eigen::Index>(t, 3)).cast<double>();
    expected.row(t) = sum / static_cast<double>(t + 1);
  }
  CHECK(max_difference(pooled.phi, expected) < tolerance);
  CHECK(pooled.real.cast<int>().sum() == 4);
  CHECK(pooled.real(3));
  CHECK_FALSE(pooled.real(4));
  // The mean keeps moving toward the repeated state after EOS, as in the reference.
  CHECK((pooled.phi.row(5) - pooled.phi.row(4)).norm() > 0.0F);
}

TEST_CASE("reference running mean with EOS at the first step") {
  const RowMatrixXf states = random_matrix(1, 3, seed + 1);  // [1, hidden]
  const sri::PooledSteps pooled = sri::pool_rows<sri::pool::ReferenceRunningMean>(states, 4);
  for (Eigen::Index t = 0; t < 4; ++t) {
    CHECK((pooled.phi.row(t) - states.row(0)).cwiseAbs().maxCoeff() < 1e-6F);
  }
  CHECK(pooled.real.cast<int>().sum() == 1);
}

TEST_CASE("generated tokens mean holds after the end") {
  INFO("seed ", seed);
  const RowMatrixXf first = random_matrix(1, 4, seed + 2);   // [1, hidden] token 1
  const RowMatrixXf second = random_matrix(2, 4, seed + 3);  // [2, hidden] tokens 2 and 3 in one step
  const std::array<sri::StepRows, 2> steps = {sri::StepRows(first), sri::StepRows(second)};
  const sri::PooledSteps pooled = sri::pool_steps<sri::pool::GeneratedTokensMean>(steps, 4, 4);

  RowMatrixXd expected(4, 4);  // [steps, hidden]
  expected.row(0) = first.row(0).cast<double>();
  expected.row(1) = (first.row(0).cast<double>() + second.row(0).cast<double>() + second.row(1).cast<double>()) / 3.0;
  expected.row(2) = expected.row(1);
  expected.row(3) = expected.row(1);
  CHECK(max_difference(pooled.phi, expected) < tolerance);
  CHECK(pooled.real(1));
  CHECK_FALSE(pooled.real(2));
}

TEST_CASE("all response positions has no running mean") {
  INFO("seed ", seed);
  std::vector<RowMatrixXf> blocks;
  std::vector<sri::StepRows> steps;
  for (std::uint32_t t = 0; t < 3; ++t) {
    blocks.push_back(random_matrix(8, 6, seed + 10 + t));  // [gen_length, hidden]
  }
  for (const RowMatrixXf& block : blocks) {
    steps.emplace_back(block);
  }
  const sri::PooledSteps pooled = sri::pool_steps<sri::pool::AllResponsePositions>(steps, 3, 6);
  for (Eigen::Index t = 0; t < 3; ++t) {
    const RowVectorXd expected = blocks[static_cast<std::size_t>(t)].cast<double>().colwise().mean();
    CHECK((pooled.phi.row(t).cast<double>() - expected).cwiseAbs().maxCoeff() < tolerance);
  }
  CHECK(pooled.real.all());
}

TEST_CASE("committed positions averages committed rows only") {
  INFO("seed ", seed);
  const RowMatrixXf block = random_matrix(4, 3, seed + 20);  // [gen_length, hidden]
  const std::array<bool, 4> some = {false, true, false, true};
  const std::array<bool, 4> none = {false, false, false, false};
  const std::array<sri::StepRows, 2> steps = {sri::StepRows(block, none), sri::StepRows(block, some)};
  const sri::PooledSteps pooled = sri::pool_steps<sri::pool::CommittedPositions>(steps, 3, 3);

  const RowVectorXd all_mean = block.cast<double>().colwise().mean();
  const RowVectorXd committed_mean = (block.row(1).cast<double>() + block.row(3).cast<double>()) / 2.0;
  // No committed position: the fallback is the mean over every position.
  CHECK((pooled.phi.row(0).cast<double>() - all_mean).cwiseAbs().maxCoeff() < tolerance);
  CHECK((pooled.phi.row(1).cast<double>() - committed_mean).cwiseAbs().maxCoeff() < tolerance);
  CHECK((pooled.phi.row(2).cast<double>() - committed_mean).cwiseAbs().maxCoeff() < tolerance);
  CHECK_FALSE(pooled.real(2));
}

TEST_CASE_TEMPLATE("pooling state matches pool_steps", Rule, sri::pool::ReferenceRunningMean,
                   sri::pool::GeneratedTokensMean, sri::pool::AllResponsePositions, sri::pool::CommittedPositions) {
  INFO("seed ", seed);
  const bool one_row = Rule::positions == sri::PositionSelection::last_input;
  const Eigen::Index positions = one_row ? 1 : 3;
  std::vector<RowMatrixXf> blocks;
  const std::array<bool, 3> committed = {true, false, true};
  for (std::uint32_t t = 0; t < 5; ++t) {
    blocks.push_back(random_matrix(positions, 9, seed + 30 + t));  // [positions, hidden]
  }
  std::vector<sri::StepRows> steps;
  for (const RowMatrixXf& block : blocks) {
    steps.emplace_back(block, std::span<const bool>(committed.data(), static_cast<std::size_t>(positions)));
  }
  const sri::PooledSteps pooled = sri::pool_steps<Rule>(steps, 7, 9);

  typename Rule::State state(9);
  for (Eigen::Index t = 0; t < 7; ++t) {
    if (t < 5) {
      state.push(blocks[static_cast<std::size_t>(t)],
                 std::span<const bool>(committed.data(), static_cast<std::size_t>(positions)));
    } else {
      state.push_padding();
    }
    CHECK(state.steps() == t + 1);
    CHECK((state.phi() - pooled.phi.row(t)).cwiseAbs().maxCoeff() == 0.0F);
  }
}

TEST_CASE("pooling rejects bad steps") {
  const RowMatrixXf two_rows = random_matrix(2, 4, seed);  // [2, hidden]
  const RowMatrixXf wrong_width = random_matrix(1, 5, seed);  // [1, hidden + 1]
  sri::pool::ReferenceRunningMean::State state(4);
  CHECK_THROWS_WITH_AS(state.push_padding(), doctest::Contains("before any real step"), sri::Error);
  CHECK_THROWS_WITH_AS(state.push(two_rows), doctest::Contains("expected exactly 1 row per step"), sri::Error);
  CHECK_THROWS_WITH_AS(state.push(wrong_width), doctest::Contains("expected rows of hidden size 4, got 5"), sri::Error);
  try {
    state.push(wrong_width);
  } catch (const sri::Error& error) {
    CHECK(error.id() == "sri.pool.shape_mismatch");
  }

  const RowMatrixXf states = random_matrix(5, 4, seed);  // [5, hidden]
  CHECK_THROWS_WITH_AS((void)sri::pool_rows<sri::pool::ReferenceRunningMean>(states, 4),
                       doctest::Contains("expected between 1 and 4 recorded steps, got 5"), sri::Error);

  sri::pool::CommittedPositions::State committed_state(4);
  const std::array<bool, 1> short_mask = {true};
  CHECK_THROWS_WITH_AS(committed_state.push(two_rows, short_mask),
                       doctest::Contains("expected a committed mask of 2 entries"), sri::Error);

  const RowMatrixXf no_rows(0, 4);  // [0, hidden]
  sri::pool::AllResponsePositions::State response_state(4);
  CHECK_THROWS_WITH_AS(response_state.push(no_rows), doctest::Contains("passed 0 rows"), sri::Error);
  CHECK_THROWS_WITH_AS(sri::pool::AllResponsePositions::State(0), doctest::Contains("hidden size must be positive"),
                       sri::Error);
}

TEST_CASE("pooling one step and hidden size one") {
  RowMatrixXf state_row(1, 1);  // [1, 1]
  state_row << 2.5F;
  const sri::PooledSteps pooled = sri::pool_rows<sri::pool::ReferenceRunningMean>(state_row, 1);
  CHECK(pooled.phi.rows() == 1);
  CHECK(pooled.phi(0, 0) == 2.5F);
  CHECK(pooled.real(0));
}

TEST_CASE("pooling rule ids and kinds") {
  CHECK(sri::pool::ReferenceRunningMean::id == "reference_running_mean");
  CHECK(sri::pool::GeneratedTokensMean::id == "generated_tokens_mean");
  CHECK(sri::pool::AllResponsePositions::id == "all_response_positions");
  CHECK(sri::pool::CommittedPositions::id == "committed_positions");
  static_assert(sri::PoolingRuleFor<sri::pool::ReferenceRunningMean, sri::GenerationKind::autoregressive>);
  static_assert(!sri::PoolingRuleFor<sri::pool::ReferenceRunningMean, sri::GenerationKind::masked_diffusion>);
  static_assert(sri::PoolingRuleFor<sri::pool::CommittedPositions, sri::GenerationKind::masked_diffusion>);
  static_assert(!sri::PoolingRuleFor<sri::pool::CommittedPositions, sri::GenerationKind::autoregressive>);
}
