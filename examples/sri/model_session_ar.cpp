// The autoregressive compositions of the tool: Llama-family and Gemma-family decoders with greedy
// decoding and the reference's running-mean pooling.

#include "model_session.hpp"

#include <sri/generate/autoregressive.hpp>
#include <sri/model/gemma.hpp>
#include <sri/model/llama.hpp>

namespace sri::cli {

std::unique_ptr<ModelSession> open_autoregressive_session(SessionRequest request) {
  using Strategy = generate::Autoregressive<sample::Greedy>;
  using Pool = pool::ReferenceRunningMean;
  request.profile.sampler = std::string(greedy_sampler_id);
  if (request.architecture == "gemma2" || request.architecture == "gemma3") {
    return open_pooled_session<model::Gemma, Strategy, Pool>(request, Strategy(request.profile.steps));
  }
  return open_pooled_session<model::Llama, Strategy, Pool>(request, Strategy(request.profile.steps));
}

}  // namespace sri::cli
