// Archetypes: the smallest types that model each core concept, checked by static_assert, plus
// near misses that must not model them.

#include <sri/core.hpp>

#include <doctest/doctest.h>

namespace archetype {

struct Metric {
  static constexpr std::string_view id = "archetype";
  [[nodiscard]] double distance(const sri::ConstRowRef& /*x*/, const sri::ConstRowRef& /*y*/) const { return 1.0; }
};

struct MetricFloatResult {  // returns float: the log in the signal needs float64
  static constexpr std::string_view id = "float_result";
  [[nodiscard]] float distance(const sri::ConstRowRef& /*x*/, const sri::ConstRowRef& /*y*/) const { return 1.0F; }
};

struct MetricWithoutId {
  [[nodiscard]] double distance(const sri::ConstRowRef& /*x*/, const sri::ConstRowRef& /*y*/) const { return 1.0; }
};

struct PoolingRule {
  static constexpr std::string_view id = "archetype";
  static constexpr sri::GenerationKind generation = sri::GenerationKind::masked_diffusion;
  static constexpr sri::PositionSelection positions = sri::PositionSelection::response;
  class State {
   public:
    explicit State(Eigen::Index hidden) : phi_(sri::RowVectorXf::Zero(hidden)) {}
    void push(const sri::ConstMatrixRef& /*rows*/, std::span<const bool> /*committed*/) {}
    void push_padding() {}
    [[nodiscard]] const sri::RowVectorXf& phi() const { return phi_; }
    [[nodiscard]] Eigen::Index steps() const { return 0; }

   private:
    sri::RowVectorXf phi_;
  };
};

struct PoolingRuleWithoutPadding {
  static constexpr std::string_view id = "no_padding";
  static constexpr sri::GenerationKind generation = sri::GenerationKind::autoregressive;
  static constexpr sri::PositionSelection positions = sri::PositionSelection::last_input;
  struct State {
    explicit State(Eigen::Index /*hidden*/) {}
    void push(const sri::ConstMatrixRef& /*rows*/, std::span<const bool> /*committed*/) {}
    [[nodiscard]] sri::RowVectorXf phi() const { return {}; }
    [[nodiscard]] Eigen::Index steps() const { return 0; }
  };
};

struct Judge {
  static constexpr std::string_view id = "archetype";
  [[nodiscard]] bool is_refusal(std::string_view /*text*/) const { return false; }
};

struct JudgeTakingString {  // takes std::string&: would not accept a string_view of the text
  static constexpr std::string_view id = "string_ref";
  [[nodiscard]] bool is_refusal(std::string& /*text*/) const { return false; }
};

}  // namespace archetype

static_assert(sri::DistanceMetric<archetype::Metric>);
static_assert(!sri::DotProductMetric<archetype::Metric>);
static_assert(!sri::DistanceMetric<archetype::MetricFloatResult>);
static_assert(!sri::DistanceMetric<archetype::MetricWithoutId>);
static_assert(sri::PoolingRule<archetype::PoolingRule>);
static_assert(sri::PoolingRuleFor<archetype::PoolingRule, sri::GenerationKind::masked_diffusion>);
static_assert(!sri::PoolingRule<archetype::PoolingRuleWithoutPadding>);
static_assert(sri::RefusalJudge<archetype::Judge>);
static_assert(!sri::RefusalJudge<archetype::JudgeTakingString>);

TEST_CASE("archetypes plug into the signal") {
  // The archetype metric gives equal distances everywhere, so every sigma is 0.5.
  const sri::CenterPair centers{sri::RowMatrixXf::Ones(2, 3), sri::RowMatrixXf::Zero(2, 3)};
  const sri::SignalKernel<archetype::Metric> kernel(centers);
  CHECK(kernel.score(sri::RowMatrixXf::Ones(2, 3)) == sri::RowVectorXf::Constant(2, 0.5F));
  // The archetype judge never refuses, so the text signal stays at 1.
  const std::vector<std::string> texts = {"I cannot", "sorry"};
  CHECK(sri::text_signal(texts, archetype::Judge{}) == std::vector<float>{1.0F, 1.0F});
}
