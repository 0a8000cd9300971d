#pragma once

// A loaded model composition behind one interface, so that the tool's verbs are ordinary code and
// each family's template instantiations compile in their own source file:
//
//   model_session_ar.cpp      Llama family and Gemma family, greedy decoding or seeded sampling
//   model_session_llada.cpp   LLaDA: the LLaDA sampler, or left-to-right decoding on its weights
//   model_session_dream.cpp   Dream: its four sampling algorithms, or left-to-right decoding
//
// Every composition exists with the final-norm hook and the residual-stream hook, and the
// masked-diffusion ones with both response pooling rules.

#include <sri/core.hpp>
#include <sri/generate/masked_diffusion.hpp>
#include <sri/hook/pooled.hpp>
#include <sri/io/checkpoint.hpp>
#include <sri/model/backbone.hpp>
#include <sri/progress.hpp>
#include <sri/wrapper.hpp>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sri::cli {

// The interface the verbs use to reach a loaded composition.
class ModelSession {
 public:
  virtual ~ModelSession() = default;
  [[nodiscard]] virtual const io::Checkpoint& checkpoint() const = 0;
  [[nodiscard]] virtual int64_t hidden_size() const = 0;
  [[nodiscard]] virtual int64_t num_layers() const = 0;
  [[nodiscard]] virtual const GenerationProfile& profile() const = 0;
  [[nodiscard]] virtual CentersRequest centers_request() const = 0;
  // Raises when a prompt cannot be encoded or contains a mask token; `set` names the list.
  virtual void check_prompts(std::span<const std::string> prompts, std::string_view set) const = 0;
  [[nodiscard]] virtual Centers build_centers(std::span<const std::string> harmless, std::span<const std::string> harmful,
                                              const CenterBuildOptions& options, const ProgressCallback& progress) = 0;
  [[nodiscard]] virtual std::vector<GenerationRun> generate(std::span<const std::string> prompts,
                                                            const ProgressCallback& progress,
                                                            std::string_view stage) = 0;
};

// A composition chosen from the command line, with every value already validated.
struct SessionRequest {
  std::filesystem::path model;
  std::string architecture;  // sri::io::Checkpoint::architecture() of `model`
  std::string sampling;      // "ar" or "diffusion"
  std::string sampler;       // Dream's algorithm for diffusion sampling; empty elsewhere
  std::string pooling;       // a pooling rule id that fits `sampling`
  GenerationProfile profile;
  WrapperOptions options;
  model::HookPoint point = model::HookPoint::final_norm_out();
};

template <class Wrapped>
class WrapperSession final : public ModelSession {
 public:
  template <class... Args>
  explicit WrapperSession(Args&&... args) : wrapper_(std::forward<Args>(args)...) {}

  [[nodiscard]] const io::Checkpoint& checkpoint() const override { return wrapper_.checkpoint(); }
  [[nodiscard]] int64_t hidden_size() const override { return wrapper_.hidden_size(); }
  [[nodiscard]] int64_t num_layers() const override { return wrapper_.backbone().config().num_layers; }
  [[nodiscard]] const GenerationProfile& profile() const override { return wrapper_.profile(); }
  [[nodiscard]] CentersRequest centers_request() const override { return wrapper_.centers_request(); }
  void check_prompts(std::span<const std::string> prompts, std::string_view set) const override {
    wrapper_.check_prompts(prompts, set);
  }
  [[nodiscard]] Centers build_centers(std::span<const std::string> harmless, std::span<const std::string> harmful,
                                      const CenterBuildOptions& options, const ProgressCallback& progress) override {
    return wrapper_.build_centers(harmless, harmful, options, progress);
  }
  [[nodiscard]] std::vector<GenerationRun> generate(std::span<const std::string> prompts,
                                                    const ProgressCallback& progress,
                                                    std::string_view stage) override {
    return wrapper_.generate(prompts, progress, stage);
  }

 private:
  Wrapped wrapper_;
};

// Opens Backbone + Strategy with the pooling rule `Pool` at the request's hook point.
template <class Backbone, class Strategy, class Pool>
std::unique_ptr<ModelSession> open_pooled_session(const SessionRequest& request, Strategy strategy) {
  if (request.point.kind == model::HookPoint::Kind::final_norm_out) {
    using Wrapped = Wrapper<Backbone, Strategy, hook::FinalNorm<Pool>>;
    return std::make_unique<WrapperSession<Wrapped>>(request.model, std::move(strategy), request.profile,
                                                     request.options, request.point);
  }
  using Wrapped = Wrapper<Backbone, Strategy, hook::ResidPost<Pool>>;
  return std::make_unique<WrapperSession<Wrapped>>(request.model, std::move(strategy), request.profile, request.options,
                                                   request.point);
}

// Opens Backbone + a masked-diffusion Strategy with the request's response pooling rule.
template <class Backbone, class Strategy>
std::unique_ptr<ModelSession> open_diffusion_session(const SessionRequest& request, Strategy strategy) {
  if (request.pooling == pool::CommittedPositions::id) {
    return open_pooled_session<Backbone, Strategy, pool::CommittedPositions>(request, std::move(strategy));
  }
  return open_pooled_session<Backbone, Strategy, pool::AllResponsePositions>(request, std::move(strategy));
}

// The sampler ids recorded in a profile (and so in centers) by the tool's compositions.
inline constexpr std::string_view greedy_sampler_id = "greedy";
inline constexpr std::string_view multinomial_sampler_id = "multinomial";
inline constexpr std::string_view llada_sampler_id = "llada";
inline constexpr std::string_view left_to_right_sampler_id = "left_to_right";
inline constexpr std::string_view dream_sampler_prefix = "dream_";

// Opens a masked-diffusion Backbone with one token committed per step from left to right.
template <class Backbone>
std::unique_ptr<ModelSession> open_left_to_right_session(SessionRequest request) {
  request.profile.sampler = std::string(left_to_right_sampler_id);
  generate::LeftToRightDiffusion::Options options;
  options.gen_length = request.profile.gen_length;
  options.temperature = request.profile.temperature;
  options.seed = request.profile.seed;
  return open_diffusion_session<Backbone>(request, generate::LeftToRightDiffusion(std::move(options)));
}

std::unique_ptr<ModelSession> open_autoregressive_session(SessionRequest request);
std::unique_ptr<ModelSession> open_llada_session(SessionRequest request);
std::unique_ptr<ModelSession> open_dream_session(SessionRequest request);

}  // namespace sri::cli
