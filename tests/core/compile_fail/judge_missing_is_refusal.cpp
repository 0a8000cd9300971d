// Allowed: a judge with id and is_refusal. Forbidden (SRI_FORBIDDEN): a judge whose verdict
// function has another name, which must stop the build with the judge slot's sentence.
#include <sri/core/judge.hpp>

namespace {

struct LengthJudge {
  static constexpr std::string_view id = "length";
#ifdef SRI_FORBIDDEN
  [[nodiscard]] bool operator()(std::string_view text) const { return text.size() < 4; }
#else
  [[nodiscard]] bool is_refusal(std::string_view text) const { return text.size() < 4; }
#endif
};

}  // namespace

void use_judge_slot() { sri::require_refusal_judge<LengthJudge>(); }
