// Compile check: an autoregressive strategy accepts an autoregressive pooling rule and rejects a
// masked-diffusion one with a static_assert sentence. CTest builds this file twice (see
// CMakeLists.txt); only the SRI_EXPECT_ACCEPTED build may compile.

#include "sri/generate/autoregressive.hpp"
#include "sri/hook/pooled.hpp"
#include "sri/model/llama.hpp"

#ifdef SRI_EXPECT_ACCEPTED
using Pool = sri::pool::ReferenceRunningMean;
#else
using Pool = sri::pool::AllResponsePositions;
#endif

int run_once(const sri::model::Llama& model) {
  sri::hook::FinalNorm<Pool> hook;
  sri::generate::Autoregressive<> strategy(4);
  return static_cast<int>(strategy.run(model, {{1, 2, 3}}, hook).steps.size());
}

int main() { return 0; }
