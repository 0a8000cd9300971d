#pragma once

// Float32 inputs, float64 products and sums. A product of two float32 values is exact in
// float64, so these reductions lose only the float64 summation error, and cosine distances of
// nearly parallel vectors keep their digits. GCC and Clang get explicit vector code (their vector
// extensions, 4 doubles per vector with AVX and 2 with SSE2); other compilers get scalar loops.

#include <cstddef>
#include <cstring>

namespace sri::detail {

struct DotProducts3 {
  double xx = 0.0;  // |x|^2
  double xa = 0.0;  // x.a
  double xb = 0.0;  // x.b
};

#if defined(__GNUC__) || defined(__clang__)

#if defined(__AVX__)
inline constexpr std::ptrdiff_t double_lanes = 4;
#else
inline constexpr std::ptrdiff_t double_lanes = 2;
#endif

typedef float FloatPack __attribute__((vector_size(double_lanes * sizeof(float))));
typedef double DoublePack __attribute__((vector_size(double_lanes * sizeof(double))));

// Loads double_lanes floats (any alignment) and widens them to float64.
inline DoublePack load_widened(const float* data) {
  FloatPack packed;
  std::memcpy(&packed, data, sizeof(packed));
  return __builtin_convertvector(packed, DoublePack);
}

inline double horizontal_sum(DoublePack pack) {
  double total = 0.0;
  for (std::ptrdiff_t lane = 0; lane < double_lanes; ++lane) {
    total += pack[lane];
  }
  return total;
}

// |x|^2, x.a and x.b in one sweep over x. All three rows stay float32 in memory and are widened
// in registers, which halves the cache traffic of the center rows against float64 copies and
// gives the same products. Two accumulators per quantity hide the add latency.
inline DotProducts3 dot_products3(const float* x, const float* a, const float* b, std::ptrdiff_t size) {
  DoublePack xx0{}, xx1{}, xa0{}, xa1{}, xb0{}, xb1{};
  std::ptrdiff_t i = 0;
  for (; i + 2 * double_lanes <= size; i += 2 * double_lanes) {
    const DoublePack x0 = load_widened(x + i);
    const DoublePack x1 = load_widened(x + i + double_lanes);
    xx0 += x0 * x0;
    xx1 += x1 * x1;
    xa0 += x0 * load_widened(a + i);
    xa1 += x1 * load_widened(a + i + double_lanes);
    xb0 += x0 * load_widened(b + i);
    xb1 += x1 * load_widened(b + i + double_lanes);
  }
  DotProducts3 out{horizontal_sum(xx0 + xx1), horizontal_sum(xa0 + xa1), horizontal_sum(xb0 + xb1)};
  for (; i < size; ++i) {
    const double xi = x[i];
    out.xx += xi * xi;
    out.xa += xi * static_cast<double>(a[i]);
    out.xb += xi * static_cast<double>(b[i]);
  }
  return out;
}

inline double dot(const float* x, const float* y, std::ptrdiff_t size) {
  DoublePack sum0{}, sum1{};
  std::ptrdiff_t i = 0;
  for (; i + 2 * double_lanes <= size; i += 2 * double_lanes) {
    sum0 += load_widened(x + i) * load_widened(y + i);
    sum1 += load_widened(x + i + double_lanes) * load_widened(y + i + double_lanes);
  }
  double total = horizontal_sum(sum0 + sum1);
  for (; i < size; ++i) {
    total += static_cast<double>(x[i]) * static_cast<double>(y[i]);
  }
  return total;
}

inline double squared_distance(const float* x, const float* y, std::ptrdiff_t size) {
  DoublePack sum0{}, sum1{};
  std::ptrdiff_t i = 0;
  for (; i + 2 * double_lanes <= size; i += 2 * double_lanes) {
    const DoublePack d0 = load_widened(x + i) - load_widened(y + i);
    const DoublePack d1 = load_widened(x + i + double_lanes) - load_widened(y + i + double_lanes);
    sum0 += d0 * d0;
    sum1 += d1 * d1;
  }
  double total = horizontal_sum(sum0 + sum1);
  for (; i < size; ++i) {
    const double d = static_cast<double>(x[i]) - static_cast<double>(y[i]);
    total += d * d;
  }
  return total;
}

#else

inline DotProducts3 dot_products3(const float* x, const float* a, const float* b, std::ptrdiff_t size) {
  DotProducts3 out;
  for (std::ptrdiff_t i = 0; i < size; ++i) {
    const double xi = x[i];
    out.xx += xi * xi;
    out.xa += xi * static_cast<double>(a[i]);
    out.xb += xi * static_cast<double>(b[i]);
  }
  return out;
}

inline double dot(const float* x, const float* y, std::ptrdiff_t size) {
  double total = 0.0;
  for (std::ptrdiff_t i = 0; i < size; ++i) {
    total += static_cast<double>(x[i]) * static_cast<double>(y[i]);
  }
  return total;
}

inline double squared_distance(const float* x, const float* y, std::ptrdiff_t size) {
  double total = 0.0;
  for (std::ptrdiff_t i = 0; i < size; ++i) {
    const double d = static_cast<double>(x[i]) - static_cast<double>(y[i]);
    total += d * d;
  }
  return total;
}

#endif

// Manhattan distance stays scalar: it is not on the batch kernel's fast path.
inline double absolute_distance(const float* x, const float* y, std::ptrdiff_t size) {
  double total = 0.0;
  for (std::ptrdiff_t i = 0; i < size; ++i) {
    const double d = static_cast<double>(x[i]) - static_cast<double>(y[i]);
    total += d < 0.0 ? -d : d;
  }
  return total;
}

}  // namespace sri::detail
