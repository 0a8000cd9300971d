#pragma once

// What a set of centers was built from, and the check that refuses scoring with centers built
// under different conditions (the reference silently reuses any cached centers file).

#include <sri/error.hpp>
#include <sri/version.hpp>

#include <cstdint>
#include <sstream>
#include <string>

namespace sri {

// Generation settings shared by AR and DLM strategies. Defaults are the reference's.
struct GenerationProfile {
  std::int64_t steps = 32;             // T, generation steps
  std::int64_t gen_length = 128;       // response length in tokens (DLM)
  std::int64_t block_length = 128;     // DLM block size; gen_length means one block
  double temperature = 0.0;            // 0 means greedy
  double cfg_scale = 0.0;              // classifier-free guidance scale for DLMs; 0 disables it
  std::string remasking = "low_confidence";  // DLM remasking rule: "low_confidence" or "random"
  double sig_t = 0.1;                  // signal temperature; a scoring parameter, not a generation one
  double eps = 1e-8;                   // signal and cosine constant; a scoring parameter
  std::string sampler = "greedy";      // sampler id of the generation strategy
  std::uint64_t seed = 0;              // random seed when temperature > 0
};

// One prompt set used to build a center.
struct PromptSetInfo {
  std::string name;    // for example "alpaca" or "advbench"
  std::string source;  // file path or dataset id the prompts came from
  std::int64_t n = 0;  // prompts used (the first n of the source)
  std::int64_t refused = 0;  // how many of them the judge marked as refusals

  [[nodiscard]] double refusal_rate() const { return n > 0 ? static_cast<double>(refused) / static_cast<double>(n) : 0.0; }
};

// Refusal filtering applied when the centers were built.
enum class CenterFiltering {
  reference,         // harmless: non-refused runs only; harmful: refused runs only
  unfiltered_harmless,  // allow_unfiltered replaced an empty harmless filtered set by all harmless runs
  unfiltered_harmful,   // allow_unfiltered replaced an empty harmful filtered set by all harmful runs
  unfiltered_both,      // both filtered sets were empty and replaced
};

[[nodiscard]] inline std::string_view to_string(CenterFiltering filtering) {
  switch (filtering) {
    case CenterFiltering::reference: return "reference";
    case CenterFiltering::unfiltered_harmless: return "unfiltered_harmless";
    case CenterFiltering::unfiltered_harmful: return "unfiltered_harmful";
    case CenterFiltering::unfiltered_both: return "unfiltered_both";
  }
  return "reference";
}

[[nodiscard]] inline CenterFiltering filtering_from_flags(bool harmless_filtered, bool harmful_filtered) {
  if (harmless_filtered && harmful_filtered) return CenterFiltering::reference;
  if (harmful_filtered) return CenterFiltering::unfiltered_harmless;
  if (harmless_filtered) return CenterFiltering::unfiltered_harmful;
  return CenterFiltering::unfiltered_both;
}

// Scoring request, compared against the centers' metadata before any scoring.
struct CentersRequest {
  std::string model_identity;  // empty to skip the model comparison
  std::string hook_point = "final_norm_out";
  std::string pooling;         // empty to skip the pooling comparison
  std::int64_t hidden_size = 0;
  GenerationProfile profile;
  std::string prompt_format;   // empty to skip the prompt format comparison
};

struct CentersMetadata {
  std::string model_identity;  // content id of the checkpoint, for example "sha256:..."
  std::string model_name;      // display name, for example "SmolLM2-135M-Instruct.Q4_1"
  std::string hook_point = "final_norm_out";
  std::string pooling;         // pooling rule id, for example "reference_running_mean"
  std::string judge = "keyword";  // refusal judge id used for filtering
  std::int64_t hidden_size = 0;   // D
  GenerationProfile profile;
  PromptSetInfo harmless;
  PromptSetInfo harmful;
  CenterFiltering filtering = CenterFiltering::reference;
  std::string library_version = version_string;
  // Prompt encoding settings besides the chat template, as JSON text (the wrapper records the
  // system message and the reference's double BOS). Empty in centers written before it existed.
  std::string prompt_format;
};

namespace detail {

template <class Value>
[[noreturn]] void raise_mismatch(std::string_view field, const Value& in_centers, const Value& requested) {
  std::ostringstream message;
  message << "the centers were built with " << field << " = " << in_centers << " but the request uses "
          << field << " = " << requested << "; rebuild the centers for this request or load matching ones";
  raise("sri.centers.mismatch", message.str());
}

}  // namespace detail

// Raises sri.centers.mismatch, naming both values, when the centers do not fit the request. The
// compared fields are model identity and pooling rule (when both are set), hook point, hidden
// size, step count, the prompt format (when both are set) and the generation settings gen_length,
// block_length, temperature, cfg_scale, remasking and sampler. sig_t, eps and seed may differ: the first two are scoring parameters, and a center
// is a mean over runs, so scoring runs need not reuse its seed.
inline void check_compatible(const CentersMetadata& centers, const CentersRequest& request) {
  if (!centers.model_identity.empty() && !request.model_identity.empty() &&
      centers.model_identity != request.model_identity) {
    detail::raise_mismatch("model identity", centers.model_identity, request.model_identity);
  }
  if (centers.hook_point != request.hook_point) {
    detail::raise_mismatch("hook point", centers.hook_point, request.hook_point);
  }
  if (!centers.pooling.empty() && !request.pooling.empty() && centers.pooling != request.pooling) {
    detail::raise_mismatch("pooling rule", centers.pooling, request.pooling);
  }
  if (centers.hidden_size != request.hidden_size) {
    detail::raise_mismatch("hidden size", centers.hidden_size, request.hidden_size);
  }
  const GenerationProfile& built = centers.profile;
  const GenerationProfile& wanted = request.profile;
  if (built.steps != wanted.steps) detail::raise_mismatch("steps", built.steps, wanted.steps);
  if (built.gen_length != wanted.gen_length) detail::raise_mismatch("gen_length", built.gen_length, wanted.gen_length);
  if (built.block_length != wanted.block_length) {
    detail::raise_mismatch("block_length", built.block_length, wanted.block_length);
  }
  if (built.temperature != wanted.temperature) {
    detail::raise_mismatch("temperature", built.temperature, wanted.temperature);
  }
  if (built.cfg_scale != wanted.cfg_scale) detail::raise_mismatch("cfg_scale", built.cfg_scale, wanted.cfg_scale);
  if (built.remasking != wanted.remasking) detail::raise_mismatch("remasking", built.remasking, wanted.remasking);
  if (built.sampler != wanted.sampler) detail::raise_mismatch("sampler", built.sampler, wanted.sampler);
  if (!centers.prompt_format.empty() && !request.prompt_format.empty() &&
      centers.prompt_format != request.prompt_format) {
    detail::raise_mismatch("prompt format", centers.prompt_format, request.prompt_format);
  }
}

}  // namespace sri
