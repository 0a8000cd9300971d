#pragma once

// Helpers shared by the core tests: seeded random matrices whose seed is printed on failure.

#include <sri/core/types.hpp>

#include <doctest/doctest.h>

#include <cstdint>
#include <random>

namespace sri::test {

// Returns a [rows, cols] matrix of standard normal values from the given seed.
inline RowMatrixXf random_matrix(Eigen::Index rows, Eigen::Index cols, std::uint32_t seed) {
  std::mt19937 engine(seed);
  std::normal_distribution<float> normal(0.0F, 1.0F);
  RowMatrixXf out(rows, cols);  // [rows, cols]
  for (Eigen::Index r = 0; r < rows; ++r) {
    for (Eigen::Index c = 0; c < cols; ++c) {
      out(r, c) = normal(engine);
    }
  }
  return out;
}

inline RowVectorXf random_row(Eigen::Index cols, std::uint32_t seed) { return random_matrix(1, cols, seed); }

}  // namespace sri::test
