// The Dream compositions of the tool: Dream's sampler with one of its four algorithms, or one
// token per step from left to right on the same weights.

#include "model_session.hpp"

#include <sri/generate/dream_sampler.hpp>
#include <sri/generate/masked_diffusion.hpp>
#include <sri/model/dream.hpp>

namespace sri::cli {

std::unique_ptr<ModelSession> open_dream_session(SessionRequest request) {
  GenerationProfile& profile = request.profile;
  if (request.sampling == "ar") return open_left_to_right_session<model::Dream>(std::move(request));

  generate::DreamDiffusion::Options options;
  options.profile.steps = profile.steps;
  options.profile.max_new_tokens = profile.gen_length;
  options.profile.algorithm = generate::parse_dream_algorithm(request.sampler);
  options.profile.temperature = profile.temperature;
  options.profile.seed = profile.seed;
  profile.sampler = std::string(dream_sampler_prefix) + request.sampler;
  return open_diffusion_session<model::Dream>(request, generate::DreamDiffusion(std::move(options)));
}

}  // namespace sri::cli
