#include "test_support.hpp"

#include <sri/core/metric.hpp>

#include <doctest/doctest.h>

#include <cmath>
#include <numbers>

namespace {

using sri::RowVectorXf;
using sri::test::random_row;

constexpr std::uint32_t seed = 1234;

}  // namespace

TEST_CASE_TEMPLATE("metric distance to itself is zero", Metric, sri::metric::Cosine, sri::metric::Angular,
                   sri::metric::Euclidean, sri::metric::SquaredEuclidean, sri::metric::Manhattan) {
  INFO("seed ", seed);
  const Metric metric{};
  for (const Eigen::Index hidden : {1, 7, 256, 257, 4096}) {
    const RowVectorXf x = random_row(hidden, seed + static_cast<std::uint32_t>(hidden));  // [hidden]
    // Cosine is about 2 eps / |x| above zero: 1e-6. Angular is acos(1 - 2 eps / |x|) / pi, about
    // 6e-5 / sqrt(|x|): 1e-3. The others are exact.
    const double tolerance = Metric::id == "cosine" ? 1e-6 : (Metric::id == "angular" ? 1e-3 : 0.0);
    CHECK(std::abs(metric.distance(x, x)) <= tolerance);
  }
}

TEST_CASE_TEMPLATE("metric is symmetric and non-negative", Metric, sri::metric::Cosine, sri::metric::Angular,
                   sri::metric::Euclidean, sri::metric::SquaredEuclidean, sri::metric::Manhattan) {
  INFO("seed ", seed);
  const Metric metric{};
  for (std::uint32_t trial = 0; trial < 20; ++trial) {
    const RowVectorXf x = random_row(33, seed + 2 * trial);      // [hidden]
    const RowVectorXf y = random_row(33, seed + 2 * trial + 1);  // [hidden]
    const double forward = metric.distance(x, y);
    CHECK(forward > 0.0);
    // Tolerance 1e-12 relative: both orders run the same float64 arithmetic up to operand order.
    CHECK(metric.distance(y, x) == doctest::Approx(forward).epsilon(1e-12));
  }
}

TEST_CASE("cosine matches the reference eps placement") {
  const sri::metric::Cosine cosine{};
  RowVectorXf x(2);
  RowVectorXf y(2);
  x << 3.0F, 4.0F;
  y << 4.0F, 3.0F;
  // 1 - (24) / ((5 + 1e-8) * (5 + 1e-8)) computed by hand; tolerance 1e-12 absolute.
  const double expected = 1.0 - 24.0 / ((5.0 + 1e-8) * (5.0 + 1e-8));
  CHECK(std::abs(cosine.distance(x, y) - expected) < 1e-12);
}

TEST_CASE("cosine and angular ranges and opposite vectors") {
  const RowVectorXf x = random_row(64, seed);  // [hidden]
  const RowVectorXf minus_x = -x;              // [hidden]
  // Opposite vectors: cosine 2 (less 4 eps / |x|), angular 1; tolerance 1e-6 absolute.
  CHECK(std::abs(sri::metric::Cosine{}.distance(x, minus_x) - 2.0) < 1e-6);
  CHECK(std::abs(sri::metric::Angular{}.distance(x, minus_x) - 1.0) < 1e-3);
  RowVectorXf e0 = RowVectorXf::Zero(4);
  RowVectorXf e1 = RowVectorXf::Zero(4);
  e0(0) = 1.0F;
  e1(1) = 1.0F;
  CHECK(std::abs(sri::metric::Cosine{}.distance(e0, e1) - 1.0) < 1e-12);
  CHECK(std::abs(sri::metric::Angular{}.distance(e0, e1) - 0.5) < 1e-12);
}

TEST_CASE("cosine and angular are scale invariant") {
  INFO("seed ", seed);
  const RowVectorXf x = random_row(100, seed + 7);  // [hidden]
  const RowVectorXf y = random_row(100, seed + 8);  // [hidden]
  for (const float scale : {1e-3F, 0.5F, 3.0F, 1e4F}) {
    const RowVectorXf scaled = scale * x;  // [hidden]
    // eps / |x| terms and float32 rounding of the scaled copy bound the change; 1e-6 absolute.
    CHECK(std::abs(sri::metric::Cosine{}.distance(scaled, y) - sri::metric::Cosine{}.distance(x, y)) < 1e-6);
    CHECK(std::abs(sri::metric::Angular{}.distance(scaled, y) - sri::metric::Angular{}.distance(x, y)) < 1e-6);
  }
}

TEST_CASE("zero vector behaviour of each metric") {
  const RowVectorXf zero = RowVectorXf::Zero(3);  // [hidden]
  RowVectorXf y(3);                               // [hidden]
  y << 1.0F, -2.0F, 2.0F;
  CHECK(sri::metric::Cosine{}.distance(zero, y) == 1.0);
  CHECK(sri::metric::Cosine{}.distance(zero, zero) == 1.0);
  CHECK(sri::metric::Angular{}.distance(zero, y) == 0.5);
  CHECK(sri::metric::Euclidean{}.distance(zero, y) == 3.0);
  CHECK(sri::metric::SquaredEuclidean{}.distance(zero, y) == 9.0);
  CHECK(sri::metric::Manhattan{}.distance(zero, y) == 5.0);
  CHECK(sri::metric::Euclidean{}.distance(zero, zero) == 0.0);
}

TEST_CASE_TEMPLATE("dot-product form equals direct form", Metric, sri::metric::Cosine, sri::metric::Angular) {
  INFO("seed ", seed);
  const Metric metric{};
  const RowVectorXf x = random_row(300, seed + 11);  // [hidden]
  const RowVectorXf y = random_row(300, seed + 12);  // [hidden]
  const double xx = x.cast<double>().squaredNorm();
  const double xy = x.cast<double>().dot(y.cast<double>());
  const double yy = y.cast<double>().squaredNorm();
  // Both are float64 sums of the same exact products in another order: 1e-12 absolute.
  CHECK(std::abs(metric.from_dot_products(xx, xy, yy) - metric.distance(x, y)) < 1e-12);
}

TEST_CASE("euclidean keeps precision for close vectors") {
  RowVectorXf x = RowVectorXf::Constant(1000, 1000.0F);  // [hidden]
  RowVectorXf y = x;                                     // [hidden]
  y(3) += 0.0625F;
  // |x|^2 - 2 x.y + |y|^2 would cancel to noise at |x|^2 = 1e9; the difference form is exact.
  CHECK(sri::metric::Euclidean{}.distance(x, y) == 0.0625);
  CHECK(sri::metric::SquaredEuclidean{}.distance(x, y) == 0.0625 * 0.0625);
  CHECK(sri::metric::Manhattan{}.distance(x, y) == 0.0625);
}

TEST_CASE("metric ids are stable") {
  CHECK(sri::metric::Cosine::id == "cosine");
  CHECK(sri::metric::Angular::id == "angular");
  CHECK(sri::metric::Euclidean::id == "euclidean");
  CHECK(sri::metric::SquaredEuclidean::id == "squared_euclidean");
  CHECK(sri::metric::Manhattan::id == "manhattan");
}
