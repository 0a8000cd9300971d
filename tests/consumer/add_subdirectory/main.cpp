// Built inside a parent project that adds sri with add_subdirectory and links only the Eigen
// core: scores one step and judges one text, and exits non-zero if either result is wrong.
#include <sri/core.hpp>

#include <cmath>
#include <cstdio>

int main() {
  sri::RowMatrixXf harmless(1, 2);  // [steps, hidden]
  sri::RowMatrixXf harmful(1, 2);   // [steps, hidden]
  harmless << 1.0F, 0.0F;
  harmful << 0.0F, 1.0F;
  const sri::CenterPair centers{harmless, harmful};

  const sri::RowVectorXf sigma = sri::step_signal(harmless, centers);  // [steps]
  const bool refusal = sri::judge::KeywordJudge{}.is_refusal("I'm sorry, I can't help with that.");
  std::printf("sigma = %.6f, refusal = %d, version %s\n", sigma(0), refusal ? 1 : 0, sri::version_string);
  return (sigma(0) > 0.99F && refusal) ? 0 : 1;
}
