// The LLaDA compositions of the tool: the LLaDA sampler (blocks, remasking, guidance), or one
// token per step from left to right on the same weights.

#include "model_session.hpp"

#include <sri/generate/llada_schedule.hpp>
#include <sri/generate/masked_diffusion.hpp>
#include <sri/model/llada.hpp>

namespace sri::cli {

std::unique_ptr<ModelSession> open_llada_session(SessionRequest request) {
  GenerationProfile& profile = request.profile;
  if (request.sampling == "ar") return open_left_to_right_session<model::Llada>(std::move(request));

  profile.sampler = std::string(llada_sampler_id);
  generate::LladaDiffusion::Options options;
  options.profile.steps = profile.steps;
  options.profile.gen_length = profile.gen_length;
  options.profile.block_length = profile.block_length;
  options.profile.temperature = profile.temperature;
  options.profile.cfg_scale = profile.cfg_scale;
  options.profile.remasking = generate::parse_remasking(profile.remasking);
  options.profile.seed = profile.seed;
  // The end-of-turn id matters only to the end-of-sequence switches, which the tool leaves off
  // as the reference does; the sampler's default is LLaDA-8B-Instruct's <|eot_id|>.
  return open_diffusion_session<model::Llada>(request, generate::LladaDiffusion(std::move(options)));
}

}  // namespace sri::cli
