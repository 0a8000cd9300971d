// Allowed: an autoregressive rule in an autoregressive slot. Forbidden (SRI_FORBIDDEN): a
// masked-diffusion rule (committed positions) in the same slot, which must stop the build.
#include <sri/core/pooling.hpp>

#ifdef SRI_FORBIDDEN
using ChosenRule = sri::pool::CommittedPositions;
#else
using ChosenRule = sri::pool::ReferenceRunningMean;
#endif

void use_autoregressive_hook() { sri::require_pooling_rule_for<ChosenRule, sri::GenerationKind::autoregressive>(); }
