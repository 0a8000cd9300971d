#pragma once

// Distance metrics: how far a step activation phi_t is from a center row. The signal compares
// log distances to the harmful and harmless centers, so a metric only needs to be non-negative
// and small for close vectors. Cosine (with the reference's eps placement) is the default.

#include <sri/core/types.hpp>
#include <sri/detail/reductions.hpp>

#include <algorithm>
#include <cmath>
#include <concepts>
#include <numbers>
#include <string_view>

namespace sri {

namespace detail {

// Float64 reductions over two rows of equal length (see sri/detail/reductions.hpp).
inline double row_dot(const ConstRowRef& x, const ConstRowRef& y) { return dot(x.data(), y.data(), x.size()); }
inline double row_squared_distance(const ConstRowRef& x, const ConstRowRef& y) {
  return squared_distance(x.data(), y.data(), x.size());
}
inline double row_absolute_distance(const ConstRowRef& x, const ConstRowRef& y) {
  return absolute_distance(x.data(), y.data(), x.size());
}

}  // namespace detail

// A distance between two rows of equal length D. Callers check the lengths; the built-in
// metrics assume them equal.
// Requirement: float32 rows in, float64 distance out, so the log in the signal keeps precision.
template <class M>
concept MeasuresRowDistance = requires(const M& metric, const ConstRowRef& x, const ConstRowRef& y) {
  { metric.distance(x, y) } -> std::same_as<double>;
};

template <class M>
concept DistanceMetric =
    std::default_initializable<M> &&  // a composition names the metric as a type and the slot builds it
    HasPolicyId<M> &&                 // recorded in signal and centers metadata, selected by flags
    MeasuresRowDistance<M>;           // the distance the signal takes the log of

// A metric whose distance is a function of |x|^2, x.y and |y|^2 alone. The batch signal kernel
// uses this to read each activation row once and to compute the center norms once per batch.
template <class M>
concept MeasuresFromDotProducts = requires(const M& metric, double xx, double xy, double yy) {
  { metric.from_dot_products(xx, xy, yy) } -> std::same_as<double>;
};

template <class M>
concept DotProductMetric = DistanceMetric<M> &&
    MeasuresFromDotProducts<M>;  // the distance from |x|^2, x.y and |y|^2, all in float64

// Fails with one sentence when a type given for the metric slot is not a DistanceMetric.
template <class M>
consteval void require_distance_metric() {
  static_assert(DistanceMetric<M>,
                "The metric slot needs a sri::DistanceMetric: a default-constructible type with a "
                "static `id` string and a const member `double distance(x, y)` over sri::ConstRowRef rows.");
}

namespace metric {

// Cosine distance with the reference's eps placement:
//   d(x, y) = 1 - dot(x / (|x| + eps), y / (|y| + eps)),   eps = 1e-8.
// Range [0, 2] (slightly inside because eps shrinks both unit vectors). d(x, x) = 1 - |x|^2 /
// (|x| + eps)^2, which is 0 up to about 2 eps / |x|. A zero vector is at distance exactly 1 from
// every vector, itself included. Invariant under positive scaling of either argument, up to eps.
struct Cosine {
  static constexpr std::string_view id = "cosine";
  double eps = 1e-8;

  [[nodiscard]] double from_dot_products(double xx, double xy, double yy) const {
    return 1.0 - xy / ((std::sqrt(xx) + eps) * (std::sqrt(yy) + eps));
  }
  [[nodiscard]] double distance(const ConstRowRef& x, const ConstRowRef& y) const {
    return from_dot_products(detail::row_dot(x, x), detail::row_dot(x, y), detail::row_dot(y, y));
  }
};

// Angle between x and y divided by pi: arccos(cosine similarity) / pi, with the cosine
// similarity computed as in Cosine (same eps placement) and clamped to [-1, 1].
// Range [0, 1]. d(x, x) = acos(1 - 2 eps / |x|) / pi, about 6e-5 / sqrt(|x|) because eps keeps
// the similarity below 1. A zero vector is at distance 0.5 from everything.
// Unlike Cosine it is a true metric on directions (it obeys the triangle inequality).
struct Angular {
  static constexpr std::string_view id = "angular";
  double eps = 1e-8;

  [[nodiscard]] double from_dot_products(double xx, double xy, double yy) const {
    const double similarity = xy / ((std::sqrt(xx) + eps) * (std::sqrt(yy) + eps));
    return std::acos(std::clamp(similarity, -1.0, 1.0)) / std::numbers::pi;
  }
  [[nodiscard]] double distance(const ConstRowRef& x, const ConstRowRef& y) const {
    return from_dot_products(detail::row_dot(x, x), detail::row_dot(x, y), detail::row_dot(y, y));
  }
};

// Euclidean (L2) distance |x - y|. Range [0, inf); d(x, x) = 0 exactly; d(0, y) = |y|.
// Computed from the difference, not from dot products, so close vectors keep their precision.
struct Euclidean {
  static constexpr std::string_view id = "euclidean";

  [[nodiscard]] double distance(const ConstRowRef& x, const ConstRowRef& y) const {
    return std::sqrt(detail::row_squared_distance(x, y));
  }
};

// Squared Euclidean distance |x - y|^2. Range [0, inf); d(x, x) = 0 exactly; d(0, y) = |y|^2.
// In the signal it doubles the logit of Euclidean, like halving sig_T.
struct SquaredEuclidean {
  static constexpr std::string_view id = "squared_euclidean";

  [[nodiscard]] double distance(const ConstRowRef& x, const ConstRowRef& y) const {
    return detail::row_squared_distance(x, y);
  }
};

// Manhattan (L1) distance sum |x_i - y_i|. Range [0, inf); d(x, x) = 0 exactly; d(0, y) = |y|_1.
struct Manhattan {
  static constexpr std::string_view id = "manhattan";

  [[nodiscard]] double distance(const ConstRowRef& x, const ConstRowRef& y) const {
    return detail::row_absolute_distance(x, y);
  }
};

}  // namespace metric

static_assert(DotProductMetric<metric::Cosine>, "metric::Cosine must offer the dot-product form.");
static_assert(DotProductMetric<metric::Angular>, "metric::Angular must offer the dot-product form.");
static_assert(DistanceMetric<metric::Euclidean>, "metric::Euclidean must be a DistanceMetric.");
static_assert(DistanceMetric<metric::SquaredEuclidean>, "metric::SquaredEuclidean must be a DistanceMetric.");
static_assert(DistanceMetric<metric::Manhattan>, "metric::Manhattan must be a DistanceMetric.");

}  // namespace sri
