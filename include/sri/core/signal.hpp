#pragma once

// The SRI signal. For step t, with distances to the step-t centers,
//
//   l_t     = (log(d(phi_t, harmful_t) + eps) - log(d(phi_t, harmless_t) + eps)) / sig_t
//   sigma_t = 1 / (1 + exp(-l_t))
//
// sigma_t near 1: phi_t is closer to the harmless center (compliance); near 0: closer to the
// refusal (harmful) center. Storage is float32; products, sums, distances, logs and the sigmoid
// run in float64.
// Forms: signal_from_distances (one step), SignalKernel (batches of prompts), OnlineSignal (one
// step at a time during generation) and the text-level signal.

#include <sri/core/centers.hpp>
#include <sri/core/judge.hpp>
#include <sri/core/metric.hpp>
#include <sri/core/types.hpp>
#include <sri/error.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace sri {

// Scoring parameters; the defaults are the reference's.
struct SignalParams {
  double sig_t = 0.1;  // temperature tau: smaller values make the signal sharper
  double eps = 1e-8;   // added to each distance before the log
};

inline void check_signal_params(const SignalParams& params) {
  if (!(params.sig_t > 0.0) || !std::isfinite(params.sig_t)) {
    raise("sri.signal.invalid_parameter",
          "sig_t must be a positive finite number, got " + std::to_string(params.sig_t) + "; the reference uses 0.1");
  }
  if (!(params.eps >= 0.0) || !std::isfinite(params.eps)) {
    raise("sri.signal.invalid_parameter",
          "eps must be a finite number >= 0, got " + std::to_string(params.eps) + "; the reference uses 1e-8");
  }
}

// Logistic function without overflow, because exp() only receives non-positive arguments.
[[nodiscard]] inline double stable_sigmoid(double logit) {
  if (logit >= 0.0) {
    return 1.0 / (1.0 + std::exp(-logit));
  }
  const double e = std::exp(logit);
  return e / (1.0 + e);
}

// Returns l_t from the two distances. Distances below 0 (rounding in cosine distance of nearly
// equal vectors) count as 0. With eps = 0 and both distances 0 the logit is 0 (sigma 0.5).
[[nodiscard]] inline double signal_logit(double d_harmless, double d_harmful, const SignalParams& params) {
  const double harmless = std::max(d_harmless, 0.0) + params.eps;
  const double harmful = std::max(d_harmful, 0.0) + params.eps;
  if (harmless == 0.0 && harmful == 0.0) {
    return 0.0;
  }
  return (std::log(harmful) - std::log(harmless)) / params.sig_t;
}

// Returns sigma_t in [0, 1] from the two distances; NaN only when a distance is NaN.
[[nodiscard]] inline double signal_from_distances(double d_harmless, double d_harmful, const SignalParams& params = {}) {
  const double sigma = stable_sigmoid(signal_logit(d_harmless, d_harmful, params));
  return std::isnan(sigma) ? sigma : std::clamp(sigma, 0.0, 1.0);
}

// Scores activations against fixed [T, D] centers. Holds a copy of the centers and, for metrics
// with a dot-product form, a float64 copy and their squared norms, so the inner loop widens only
// the activations and reads each activation row once.
template <DistanceMetric Metric = metric::Cosine>
class SignalKernel {
 public:
  SignalKernel(const ConstMatrixRef& harmless, const ConstMatrixRef& harmful, SignalParams params = {},
               Metric metric = {})
      : harmless_(harmless), harmful_(harmful), params_(params), metric_(metric) {
    check_signal_params(params_);
    if (harmless_.rows() != harmful_.rows() || harmless_.cols() != harmful_.cols() || harmless_.rows() == 0 ||
        harmless_.cols() == 0) {
      raise("sri.signal.shape_mismatch", "expected two non-empty centers of the same shape [steps, hidden], got [" +
                                             std::to_string(harmless_.rows()) + ", " + std::to_string(harmless_.cols()) +
                                             "] (harmless) and [" + std::to_string(harmful_.rows()) + ", " +
                                             std::to_string(harmful_.cols()) + "] (harmful)");
    }
    if constexpr (DotProductMetric<Metric>) {
      harmless_norm2_.resize(steps());
      harmful_norm2_.resize(steps());
      for (Eigen::Index t = 0; t < steps(); ++t) {
        harmless_norm2_[static_cast<std::size_t>(t)] = detail::row_dot(harmless_.row(t), harmless_.row(t));
        harmful_norm2_[static_cast<std::size_t>(t)] = detail::row_dot(harmful_.row(t), harmful_.row(t));
      }
    }
  }

  explicit SignalKernel(const CenterPair& centers, SignalParams params = {}, Metric metric = {})
      : SignalKernel(centers.harmless, centers.harmful, params, metric) {}

  [[nodiscard]] Eigen::Index steps() const { return harmless_.rows(); }
  [[nodiscard]] Eigen::Index hidden() const { return harmless_.cols(); }
  [[nodiscard]] const SignalParams& params() const { return params_; }
  [[nodiscard]] const Metric& metric() const { return metric_; }

  // sigma for one activation row x [D] at step t. Raises sri.signal.non_finite for NaN.
  [[nodiscard]] double score_step(const ConstRowRef& x, Eigen::Index t) const {
    double d_harmless = 0.0;
    double d_harmful = 0.0;
    if constexpr (DotProductMetric<Metric>) {
      const detail::DotProducts3 dots =
          detail::dot_products3(x.data(), harmless_.row(t).data(), harmful_.row(t).data(), x.size());
      d_harmless = metric_.from_dot_products(dots.xx, dots.xa, harmless_norm2_[static_cast<std::size_t>(t)]);
      d_harmful = metric_.from_dot_products(dots.xx, dots.xb, harmful_norm2_[static_cast<std::size_t>(t)]);
    } else {
      d_harmless = metric_.distance(x, harmless_.row(t));
      d_harmful = metric_.distance(x, harmful_.row(t));
    }
    const double sigma = signal_from_distances(d_harmless, d_harmful, params_);
    if (std::isnan(sigma)) {
      raise("sri.signal.non_finite", "the signal at step " + std::to_string(t) +
                                         " is NaN because the activation row contains NaN or infinite values; check "
                                         "the model output (dtype overflow) before scoring");
    }
    return sigma;
  }

  // Scores one prompt: phi is [T_prompt, D] with T_prompt <= T; returns [T_prompt] sigmas.
  [[nodiscard]] RowVectorXf score(const ConstMatrixRef& phi) const {
    check_prompt_shape(phi.rows(), phi.cols(), "activations");
    RowVectorXf out(phi.rows());  // [T_prompt]
    for (Eigen::Index t = 0; t < phi.rows(); ++t) {
      out(t) = static_cast<float>(score_step(phi.row(t), t));
    }
    return out;
  }

  // Scores N prompts stored back to back: activations is [N * T, D] (prompt n's step t at row
  // n * T + t), out is [N, T]. Reads each activation row once.
  void score_batch(const ConstMatrixRef& activations, MatrixRef out) const {
    const Eigen::Index t_count = steps();
    if (activations.cols() != hidden() || activations.rows() % t_count != 0) {
      raise("sri.signal.shape_mismatch",
            "expected activations of shape [N * " + std::to_string(t_count) + ", " + std::to_string(hidden()) +
                "] (prompts times steps, hidden size), got [" + std::to_string(activations.rows()) + ", " +
                std::to_string(activations.cols()) + "]");
    }
    const Eigen::Index prompts = activations.rows() / t_count;
    if (out.rows() != prompts || out.cols() != t_count) {
      raise("sri.signal.shape_mismatch", "expected an output of shape [" + std::to_string(prompts) + ", " +
                                             std::to_string(t_count) + "], got [" + std::to_string(out.rows()) +
                                             ", " + std::to_string(out.cols()) + "]");
    }
    for (Eigen::Index n = 0; n < prompts; ++n) {
      for (Eigen::Index t = 0; t < t_count; ++t) {
        out(n, t) = static_cast<float>(score_step(activations.row(n * t_count + t), t));
      }
    }
  }

  // Allocating form of score_batch; returns [N, T].
  [[nodiscard]] RowMatrixXf score_batch(const ConstMatrixRef& activations) const {
    const Eigen::Index prompts = activations.rows() / steps();
    RowMatrixXf out(prompts, steps());  // [N, T]
    score_batch(activations, out);
    return out;
  }

  // Scores a list of prompts, each [T_i, D] with T_i <= T; returns one [T_i] signal per prompt.
  [[nodiscard]] std::vector<RowVectorXf> score_list(std::span<const RowMatrixXf> prompts) const {
    std::vector<RowVectorXf> out;
    out.reserve(prompts.size());
    for (const RowMatrixXf& phi : prompts) {
      out.push_back(score(phi));
    }
    return out;
  }

 private:
  void check_prompt_shape(Eigen::Index rows, Eigen::Index cols, std::string_view what) const {
    if (cols != hidden() || rows > steps()) {
      raise("sri.signal.shape_mismatch", "expected " + std::string(what) + " of shape [T <= " +
                                             std::to_string(steps()) + ", " + std::to_string(hidden()) +
                                             "] to match the centers, got [" + std::to_string(rows) + ", " +
                                             std::to_string(cols) + "]");
    }
  }

  RowMatrixXf harmless_;  // [steps, hidden]
  RowMatrixXf harmful_;   // [steps, hidden]
  std::vector<double> harmless_norm2_;  // [steps], dot-product metrics only
  std::vector<double> harmful_norm2_;   // [steps], dot-product metrics only
  SignalParams params_;
  Metric metric_;
};

// One-shot form: sigma for one prompt's phi [T_prompt, D] against [T, D] centers.
template <DistanceMetric Metric = metric::Cosine>
[[nodiscard]] RowVectorXf step_signal(const ConstMatrixRef& phi, const CenterPair& centers, SignalParams params = {},
                                      Metric metric = {}) {
  return SignalKernel<Metric>(centers, params, metric).score(phi);
}

// The signal during generation: push phi_t once per step and read sigma_t back, O(D) per step.
template <DistanceMetric Metric = metric::Cosine>
class OnlineSignal {
 public:
  explicit OnlineSignal(const CenterPair& centers, SignalParams params = {}, Metric metric = {})
      : kernel_(centers, params, metric) {}

  // Scores phi_t [D] for the next step and returns sigma_t. Raises sri.signal.too_many_steps
  // after T pushes.
  float push(const ConstRowRef& phi) {
    const auto t = static_cast<Eigen::Index>(values_.size());
    if (t >= kernel_.steps()) {
      raise("sri.signal.too_many_steps", "the centers cover " + std::to_string(kernel_.steps()) +
                                             " steps but step " + std::to_string(t) +
                                             " was pushed; build centers with as many steps as generation runs");
    }
    if (phi.size() != kernel_.hidden()) {
      raise("sri.signal.shape_mismatch", "expected phi of hidden size " + std::to_string(kernel_.hidden()) +
                                             ", got " + std::to_string(phi.size()));
    }
    values_.push_back(static_cast<float>(kernel_.score_step(phi, t)));
    return values_.back();
  }

  void reset() { values_.clear(); }
  [[nodiscard]] Eigen::Index steps() const { return static_cast<Eigen::Index>(values_.size()); }
  [[nodiscard]] const std::vector<float>& values() const { return values_; }

 private:
  SignalKernel<Metric> kernel_;
  std::vector<float> values_;  // [steps pushed]
};

// The text-level signal, incrementally: push the decoded text so far once per step. It is 1
// until the judge first calls the text a refusal, then 0 for the rest of the generation.
template <RefusalJudge Judge = judge::KeywordJudge>
class TextSignal {
 public:
  explicit TextSignal(Judge judge = {}) : judge_(std::move(judge)) {}

  float push(std::string_view text_so_far) {
    refused_ = refused_ || judge_.is_refusal(text_so_far);
    values_.push_back(refused_ ? 0.0F : 1.0F);
    return values_.back();
  }

  void reset() {
    values_.clear();
    refused_ = false;
  }
  [[nodiscard]] const std::vector<float>& values() const { return values_; }

 private:
  Judge judge_;
  std::vector<float> values_;  // [steps pushed]
  bool refused_ = false;
};

// The text-level signal from the decoded text after each step: [T] values in {0, 1}.
template <RefusalJudge Judge = judge::KeywordJudge>
[[nodiscard]] std::vector<float> text_signal(std::span<const std::string> texts_so_far, const Judge& judge = {}) {
  TextSignal<Judge> signal(judge);
  for (const std::string& text : texts_so_far) {
    signal.push(text);
  }
  return signal.values();
}

}  // namespace sri
