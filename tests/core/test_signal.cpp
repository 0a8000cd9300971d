#include "test_support.hpp"

#include <sri/core/signal.hpp>

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <fstream>
#include <limits>
#include <string>
#include <vector>

namespace {

using sri::CenterPair;
using sri::RowMatrixXf;
using sri::RowVectorXf;
using sri::test::random_matrix;

constexpr std::uint32_t seed = 9001;

RowMatrixXf matrix_from_json(const nlohmann::json& values, Eigen::Index rows, Eigen::Index cols) {
  RowMatrixXf out(rows, cols);  // [rows, cols]
  REQUIRE(values.size() == static_cast<std::size_t>(rows * cols));
  for (Eigen::Index i = 0; i < rows * cols; ++i) {
    out.data()[i] = values[static_cast<std::size_t>(i)].get<float>();
  }
  return out;
}

nlohmann::json load_golden() {
  std::ifstream file(std::string(SRI_TEST_DATA_DIR) + "/core/golden/signal_golden.json");
  REQUIRE(file.good());
  return nlohmann::json::parse(file);
}

template <class Metric>
void check_against_golden(double tolerance) {
  const nlohmann::json golden = load_golden();
  const sri::SignalParams params{golden.at("sig_t").get<double>(), golden.at("eps").get<double>()};
  for (const nlohmann::json& test_case : golden.at("cases")) {
    const auto prompts = test_case.at("prompts").get<Eigen::Index>();
    const auto steps = test_case.at("steps").get<Eigen::Index>();
    const auto hidden = test_case.at("hidden").get<Eigen::Index>();
    INFO("case ", test_case.at("name").get<std::string>(), ", metric ", Metric::id);
    const CenterPair centers{matrix_from_json(test_case.at("harmless"), steps, hidden),
                             matrix_from_json(test_case.at("harmful"), steps, hidden)};
    const RowMatrixXf activations = matrix_from_json(test_case.at("activations"), prompts * steps, hidden);  // [N*T, D]
    const nlohmann::json& expected = test_case.at("expected").at(std::string(Metric::id));

    const RowMatrixXf sigma = sri::SignalKernel<Metric>(centers, params).score_batch(activations);  // [N, T]
    for (Eigen::Index n = 0; n < prompts; ++n) {
      for (Eigen::Index t = 0; t < steps; ++t) {
        const double want = expected.at(static_cast<std::size_t>(n)).at(static_cast<std::size_t>(t)).get<double>();
        INFO("prompt ", n, " step ", t);
        CHECK(std::abs(static_cast<double>(sigma(n, t)) - want) <= tolerance);
      }
    }
  }
}

}  // namespace

TEST_CASE("signal worked values") {
  // REFERENCE.md values are rounded to 6 decimals: tolerance 5e-7.
  CHECK(std::abs(sri::signal_from_distances(0.1, 0.2) - 0.999024) < 5e-7);
  CHECK(std::abs(sri::signal_from_distances(0.2, 0.1) - 0.000976) < 5e-7);
  CHECK(sri::signal_from_distances(0.3, 0.3) == 0.5);
  CHECK(std::abs(sri::signal_from_distances(0.12, 0.10) - 0.139048) < 5e-7);
  CHECK(std::abs(sri::signal_logit(0.12, 0.10, {}) - (-1.823215)) < 5e-7);
}

TEST_CASE("signal against the Python golden file") {
  // Both sides compute in float64 from the same float32 inputs. The result is rounded to float32
  // (6e-8 relative) and the summation orders differ, so the tolerance is 1e-6 absolute.
  check_against_golden<sri::metric::Cosine>(1e-6);
  check_against_golden<sri::metric::Angular>(1e-6);
  check_against_golden<sri::metric::Euclidean>(1e-6);
  check_against_golden<sri::metric::SquaredEuclidean>(1e-6);
  check_against_golden<sri::metric::Manhattan>(1e-6);
}

TEST_CASE_TEMPLATE("signal properties", Metric, sri::metric::Cosine, sri::metric::Angular, sri::metric::Euclidean,
                   sri::metric::SquaredEuclidean, sri::metric::Manhattan) {
  INFO("seed ", seed);
  constexpr Eigen::Index steps = 4;
  constexpr Eigen::Index hidden = 300;
  const RowMatrixXf harmless = random_matrix(steps, hidden, seed);  // [steps, hidden]
  RowMatrixXf harmful = harmless.rowwise().reverse();                // [steps, hidden], same norms
  const CenterPair centers{harmless, harmful};
  const sri::SignalKernel<Metric> kernel(centers);

  const RowVectorXf at_harmless = kernel.score(harmless);  // [steps]
  const RowVectorXf at_harmful = kernel.score(harmful);    // [steps]
  const RowMatrixXf midpoint = (harmless + harmful) / 2.0F;  // [steps, hidden] equidistant from both
  const RowVectorXf at_midpoint = kernel.score(midpoint);  // [steps]
  for (Eigen::Index t = 0; t < steps; ++t) {
    CHECK(at_harmless(t) > 0.999F);
    CHECK(at_harmful(t) < 0.001F);
    // The midpoint is equidistant up to float32 rounding of (h + b) / 2: 1e-3.
    CHECK(std::abs(at_midpoint(t) - 0.5F) < 1e-3F);
  }

  for (std::uint32_t trial = 0; trial < 10; ++trial) {
    const float scale = std::pow(10.0F, static_cast<float>(trial) - 5.0F);
    const RowMatrixXf phi = scale * random_matrix(steps, hidden, seed + 100 + trial);  // [steps, hidden]
    const RowVectorXf sigma = kernel.score(phi);                                      // [steps]
    CHECK((sigma.array() >= 0.0F).all());
    CHECK((sigma.array() <= 1.0F).all());
  }
}

TEST_CASE_TEMPLATE("signal is scale invariant for angle metrics", Metric, sri::metric::Cosine, sri::metric::Angular) {
  INFO("seed ", seed);
  const RowMatrixXf harmless = random_matrix(3, 50, seed + 1);  // [steps, hidden]
  const RowMatrixXf harmful = random_matrix(3, 50, seed + 2);   // [steps, hidden]
  const RowMatrixXf phi = 0.6F * harmless + 0.4F * harmful;     // [steps, hidden]
  const sri::SignalKernel<Metric> kernel(CenterPair{harmless, harmful});
  const RowVectorXf base = kernel.score(phi);  // [steps]
  for (const float scale : {1e-2F, 7.0F, 1e3F}) {
    const RowMatrixXf scaled_phi = scale * phi;  // [steps, hidden]
    const sri::SignalKernel<Metric> scaled_centers(CenterPair{scale * harmless, 3.0F * harmful});
    // Only eps / |x| terms and float32 rounding change: 1e-4.
    CHECK((kernel.score(scaled_phi) - base).cwiseAbs().maxCoeff() < 1e-4F);
    CHECK((scaled_centers.score(phi) - base).cwiseAbs().maxCoeff() < 1e-4F);
  }
}

TEST_CASE("signal edge shapes") {
  RowMatrixXf one(1, 1);  // [1, 1]
  one << 2.0F;
  RowMatrixXf minus_one(1, 1);  // [1, 1]
  minus_one << -3.0F;
  const sri::SignalKernel<sri::metric::Cosine> kernel(CenterPair{one, minus_one});
  RowMatrixXf phi(1, 1);  // [1, 1]
  phi << 5.0F;
  CHECK(kernel.score(phi)(0) > 0.999F);
  phi << -0.5F;
  CHECK(kernel.score(phi)(0) < 0.001F);

  // A zero activation is at cosine distance 1 from both centers: sigma 0.5.
  const RowMatrixXf harmless = random_matrix(2, 8, seed + 3);  // [steps, hidden]
  const RowMatrixXf harmful = random_matrix(2, 8, seed + 4);   // [steps, hidden]
  const sri::SignalKernel<sri::metric::Cosine> cosine(CenterPair{harmless, harmful});
  const RowVectorXf at_zero = cosine.score(RowMatrixXf::Zero(2, 8));  // [steps]
  CHECK(at_zero(0) == 0.5F);
  CHECK(at_zero(1) == 0.5F);
  // A zero harmful center: every nonzero phi is at distance 1 from it.
  const sri::SignalKernel<sri::metric::Cosine> zero_harmful(CenterPair{harmless, RowMatrixXf::Zero(2, 8)});
  CHECK(zero_harmful.score(harmless)(0) > 0.999F);
  // A prompt shorter than the centers scores its own steps only, as the reference loops.
  CHECK(cosine.score(harmless.topRows(1)).size() == 1);
}

TEST_CASE("batch, list and online forms agree") {
  INFO("seed ", seed);
  constexpr Eigen::Index prompts = 5;
  constexpr Eigen::Index steps = 6;
  constexpr Eigen::Index hidden = 520;
  const CenterPair centers{random_matrix(steps, hidden, seed + 5), random_matrix(steps, hidden, seed + 6)};
  const RowMatrixXf activations = random_matrix(prompts * steps, hidden, seed + 7);  // [N*T, D]
  const sri::SignalKernel<> kernel(centers);
  const RowMatrixXf batch = kernel.score_batch(activations);  // [N, T]

  std::vector<RowMatrixXf> list;
  for (Eigen::Index n = 0; n < prompts; ++n) {
    list.emplace_back(activations.middleRows(n * steps, steps));  // [T, D]
  }
  const std::vector<RowVectorXf> listed = kernel.score_list(list);
  for (Eigen::Index n = 0; n < prompts; ++n) {
    CHECK(listed[static_cast<std::size_t>(n)] == batch.row(n));
    sri::OnlineSignal<> online(centers);
    for (Eigen::Index t = 0; t < steps; ++t) {
      CHECK(online.push(activations.row(n * steps + t)) == batch(n, t));
    }
    CHECK(online.steps() == steps);
    CHECK_THROWS_WITH_AS(online.push(activations.row(0)), doctest::Contains("the centers cover 6 steps but step 6"),
                         sri::Error);
  }
  const RowVectorXf single = sri::step_signal(list[2], centers);  // [T]
  CHECK(single == batch.row(2));
}

TEST_CASE("signal rejects bad input") {
  const CenterPair centers{random_matrix(3, 4, seed), random_matrix(3, 4, seed + 1)};
  CHECK_THROWS_WITH_AS(sri::SignalKernel<>(centers, {.sig_t = 0.0}), doctest::Contains("sig_t must be a positive"),
                       sri::Error);
  CHECK_THROWS_WITH_AS(sri::SignalKernel<>(centers, {.sig_t = 0.1, .eps = -1.0}),
                       doctest::Contains("eps must be a finite number >= 0, got -1"), sri::Error);
  CHECK_THROWS_WITH_AS(sri::SignalKernel<>(centers.harmless, random_matrix(2, 4, seed)),
                       doctest::Contains("got [3, 4] (harmless) and [2, 4] (harmful)"), sri::Error);

  const sri::SignalKernel<> kernel(centers);
  CHECK_THROWS_WITH_AS((void)kernel.score_batch(random_matrix(7, 4, seed)),
                       doctest::Contains("expected activations of shape [N * 3, 4]"), sri::Error);
  CHECK_THROWS_WITH_AS((void)kernel.score(random_matrix(4, 4, seed)),
                       doctest::Contains("of shape [T <= 3, 4] to match the centers, got [4, 4]"), sri::Error);
  RowMatrixXf out(1, 2);  // [1, 2] but 2 prompts of 3 steps need [2, 3]
  CHECK_THROWS_WITH_AS(kernel.score_batch(random_matrix(6, 4, seed), out),
                       doctest::Contains("expected an output of shape [2, 3], got [1, 2]"), sri::Error);

  RowMatrixXf with_nan = random_matrix(3, 4, seed);  // [steps, hidden]
  with_nan(1, 2) = std::numeric_limits<float>::quiet_NaN();
  try {
    (void)kernel.score(with_nan);
    FAIL("a NaN activation was scored");
  } catch (const sri::Error& error) {
    CHECK(error.id() == "sri.signal.non_finite");
    CHECK(std::string(error.what()).find("step 1") != std::string::npos);
  }
}

TEST_CASE("stable sigmoid at the extremes") {
  CHECK(sri::stable_sigmoid(1000.0) == 1.0);
  CHECK(sri::stable_sigmoid(-1000.0) == 0.0);
  CHECK(sri::stable_sigmoid(-745.0) > 0.0);
  CHECK(sri::stable_sigmoid(0.0) == 0.5);
  // eps = 0 with both distances 0: defined as equal distances.
  CHECK(sri::signal_from_distances(0.0, 0.0, {.sig_t = 0.1, .eps = 0.0}) == 0.5);
  CHECK(sri::signal_from_distances(0.0, 0.5, {.sig_t = 0.1, .eps = 0.0}) == 1.0);
  // A slightly negative distance from rounding counts as 0.
  CHECK(sri::signal_from_distances(-1e-9, 0.5) == sri::signal_from_distances(0.0, 0.5));
}

TEST_CASE("text signal drops to zero at the first refusal") {
  const std::vector<std::string> texts = {"Sure", "Sure, here", "Sure, here is. Sorry", "Sure, here is. Sorry, no",
                                          "Sure, here is. Sorry, no more"};
  const std::vector<float> signal = sri::text_signal(texts);
  CHECK(signal == std::vector<float>{1.0F, 1.0F, 0.0F, 0.0F, 0.0F});

  // Stays at 0 even if the decoded text later stops matching (a DLM may remask a phrase).
  sri::TextSignal<> incremental;
  CHECK(incremental.push("I cannot") == 0.0F);
  CHECK(incremental.push("I can") == 0.0F);
  incremental.reset();
  CHECK(incremental.push("") == 1.0F);
  CHECK(sri::text_signal(std::vector<std::string>{}).empty());
}
