#pragma once

// Matrix and vector types shared by the maths core. Everything is float32 row-major, so one
// prompt's per-step activations [T, D] and each center [T, D] keep a step's D values contiguous.

#include <Eigen/Core>

#include <concepts>
#include <cstdint>
#include <string_view>

namespace sri {

// [rows, cols] float32, row-major; the core's storage type for activations and centers.
using RowMatrixXf = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
// [rows, cols] float64, row-major; used for running sums where float32 would lose precision.
using RowMatrixXd = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
// [D] one activation or center row.
using RowVectorXf = Eigen::Matrix<float, 1, Eigen::Dynamic, Eigen::RowMajor>;
// [D] float64 row.
using RowVectorXd = Eigen::Matrix<double, 1, Eigen::Dynamic, Eigen::RowMajor>;
// [T] per-step flags (for example which steps were really generated).
using StepMask = Eigen::Array<bool, Eigen::Dynamic, 1>;
// [T] per-step counts.
using StepCounts = Eigen::Array<std::int64_t, Eigen::Dynamic, 1>;

// Read-only views that accept any compatible Eigen expression or map without a copy as long as
// the inner stride is 1.
using ConstMatrixRef = Eigen::Ref<const RowMatrixXf>;
using ConstRowRef = Eigen::Ref<const RowVectorXf>;
using MatrixRef = Eigen::Ref<RowMatrixXf>;

// A policy type with a stable name (`static constexpr std::string_view id`), which metadata files
// record and command-line flags select.
template <class T>
concept HasPolicyId = requires {
  { T::id } -> std::convertible_to<std::string_view>;
};

}  // namespace sri
