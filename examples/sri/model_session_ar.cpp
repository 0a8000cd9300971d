// The autoregressive compositions of the tool: Llama-family and Gemma-family decoders with the
// reference's running-mean pooling, decoding greedily at temperature 0 and sampling otherwise.

#include "model_session.hpp"

#include <sri/generate/autoregressive.hpp>
#include <sri/generate/sample.hpp>
#include <sri/model/gemma.hpp>
#include <sri/model/llama.hpp>

namespace sri::cli {
namespace {

template <class Sampler>
std::unique_ptr<ModelSession> open_with_sampler(const SessionRequest& request, Sampler sampler) {
  using Strategy = generate::Autoregressive<Sampler>;
  using Pool = pool::ReferenceRunningMean;
  Strategy strategy(request.profile.steps, std::move(sampler));
  if (request.architecture == "gemma2" || request.architecture == "gemma3") {
    return open_pooled_session<model::Gemma, Strategy, Pool>(request, std::move(strategy));
  }
  return open_pooled_session<model::Llama, Strategy, Pool>(request, std::move(strategy));
}

}  // namespace

std::unique_ptr<ModelSession> open_autoregressive_session(SessionRequest request) {
  if (request.profile.temperature == 0.0) {
    request.profile.sampler = std::string(greedy_sampler_id);
    return open_with_sampler(request, sample::Greedy{});
  }
  // One seeded generator draws for the whole batch, so the tokens of a prompt depend on the batch
  // it shares. For that reason the batch size is part of every center build's resume key.
  request.profile.sampler = std::string(multinomial_sampler_id);
  sample::SamplingOptions options;
  options.temperature = request.profile.temperature;
  options.seed = request.profile.seed;
  return open_with_sampler(request, sample::Seeded(options));
}

}  // namespace sri::cli
