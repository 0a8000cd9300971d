// Allowed: a metric with id and distance. Forbidden (SRI_FORBIDDEN): the same type without
// distance(), which must stop the build with the metric slot's static_assert sentence.
#include <sri/core/metric.hpp>

namespace {

struct ChebyshevMetric {
  static constexpr std::string_view id = "chebyshev";
#ifndef SRI_FORBIDDEN
  [[nodiscard]] double distance(const sri::ConstRowRef& x, const sri::ConstRowRef& y) const {
    return static_cast<double>((x - y).cwiseAbs().maxCoeff());
  }
#endif
};

}  // namespace

void use_metric_slot() { sri::require_distance_metric<ChebyshevMetric>(); }
