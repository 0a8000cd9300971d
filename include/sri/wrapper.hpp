#pragma once

// The composition of sri: a model wrapper is a backbone, a generation strategy, an activation
// hook (hook point plus pooling rule) and a distance metric, chosen at compile time.
//
//   using SmolLM2Signal = sri::Wrapper<
//       sri::model::Llama,                                      // backbone: Llama-family decoder
//       sri::generate::Autoregressive<sri::sample::Greedy>,     // one token per step
//       sri::hook::FinalNorm<sri::pool::ReferenceRunningMean>,  // phi_t as the reference computes it
//       sri::metric::Cosine>;                                   // distance to the centers
//
// The wrapper opens a checkpoint, renders prompts with the model's chat template, runs the
// strategy with the hook, judges every response, builds centers (resumable) and scores prompts
// against centers after checking that the centers were built under the same conditions. The
// tokenizer and chat template come from the checkpoint (text::ChatCodec picks them by
// architecture), so the same composition code serves byte-level and SentencePiece vocabularies.

#include <ATen/ATen.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include <sri/builtin_prompts.hpp>
#include <sri/core.hpp>
#include <sri/error.hpp>
#include <sri/generate/strategy.hpp>
#include <sri/hook/hook.hpp>
#include <sri/hook/pooled.hpp>
#include <sri/io/centers_file.hpp>
#include <sri/io/checkpoint.hpp>
#include <sri/io/safetensors.hpp>
#include <sri/model/backbone.hpp>
#include <sri/progress.hpp>
#include <sri/text/chat_codec.hpp>
#include <sri/version.hpp>

namespace sri {

// Run-time choices of a wrapper; what changes the algorithm is a template argument instead.
struct WrapperOptions {
  model::RuntimeOptions runtime;  // device, dtype, CPU threads
  // System message of every conversation; nullopt sends none and the template's default applies.
  std::optional<std::string> system_prompt = std::string(text::default_system_prompt);
  // Tokenize the rendered prompt with special tokens, as the reference does (a double BOS on
  // templates that write their own BOS). Only for comparisons with the reference's centers.
  bool reference_double_bos = false;
  int64_t batch_size = 8;  // prompts generated together (left-padded batch)
  SignalParams signal;     // sig_t and eps of the signal
};

// One generated prompt: its text, its response and the pooled per-step states.
struct GenerationRun {
  std::string prompt;
  std::vector<int64_t> prompt_ids;
  std::vector<int64_t> tokens;  // generated ids, including an end token if one was produced
  std::string response;         // decoded without special tokens
  bool refusal = false;         // the refusal judge's verdict on the response
  int64_t steps = 0;            // steps really generated; later rows of phi are padding
  RowMatrixXf phi;              // [T, hidden] pooled state per step
  StepMask real;                // [T] true for the steps really generated
  // [T] 1 until the response so far contains a refusal phrase, then 0. "So far" is the generated
  // prefix for autoregressive runs and the committed canvas positions for masked diffusion.
  std::vector<float> text_signal;
};

// A run scored against centers.
struct ScoredRun {
  GenerationRun run;
  std::vector<float> signal;  // [T] sigma_t
};

// Centers with what they were built from.
struct Centers {
  CenterPair pair;            // [T, hidden] each
  CentersMetadata metadata;
};

// Origin of one prompt set of a center build (a name and a file path), recorded in the
// centers' metadata.
struct PromptSetSource {
  std::string name;    // for example "advbench" or "builtin-harmful"
  std::string source;  // file path, or "builtin"
};

struct CenterBuildOptions {
  PromptSetSource harmless{"harmless", "memory"};
  PromptSetSource harmful{"harmful", "memory"};
  bool allow_unfiltered = false;  // fall back to unfiltered means when a filtered set is empty
  // Progress file for resuming: the accumulator is saved there after every batch, and a build
  // that finds a file written for the same model, prompts and profile continues after the last
  // saved batch. The file is removed when the build finishes. Empty disables resuming.
  std::filesystem::path resume_file;
};

namespace detail {

// The pooling rule inside a FinalNorm<Pool> or ResidPost<Pool> hook.
template <class Hook>
struct pooling_of;
template <template <class> class HookTemplate, class Pool>
struct pooling_of<HookTemplate<Pool>> {
  using type = Pool;
};

// FNV-1a over the prompt texts: a stable fingerprint so a resume file is not applied to other
// prompts (std::hash is not stable across standard libraries).
inline std::string prompts_fingerprint(std::span<const std::string> prompts) {
  uint64_t hash = 1469598103934665603ULL;
  auto mix = [&hash](unsigned char byte) {
    hash ^= byte;
    hash *= 1099511628211ULL;
  };
  for (const std::string& prompt : prompts) {
    for (const char c : prompt) mix(static_cast<unsigned char>(c));
    mix(0xFF);  // separator that UTF-8 text never contains
  }
  char buffer[17];
  std::snprintf(buffer, sizeof(buffer), "%016llx", static_cast<unsigned long long>(hash));
  return buffer;
}


}  // namespace detail

template <class BackboneT, class StrategyT, class HookT, DistanceMetric MetricT = metric::Cosine,
          RefusalJudge JudgeT = judge::KeywordJudge>
class Wrapper {
  static_assert(model::Backbone<BackboneT>,
                "The backbone slot of sri::Wrapper needs a type that satisfies sri::model::Backbone, such as "
                "sri::model::Llama.");
  static_assert(generate::GenerationStrategy<StrategyT, BackboneT>,
                "The generation slot of sri::Wrapper needs a strategy that can run this backbone, such as "
                "sri::generate::Autoregressive<sri::sample::Greedy> for a causal decoder.");
  static_assert(hook::Hook<HookT>,
                "The hook slot of sri::Wrapper needs a type that satisfies sri::hook::Hook, such as "
                "sri::hook::FinalNorm<sri::pool::ReferenceRunningMean>.");
  static_assert(hook::step_kinds_compatible(StrategyT::step_kind, HookT::step_kind),
                "The hook slot's pooling rule is defined for another kind of generation: use an autoregressive "
                "rule (ReferenceRunningMean, GeneratedTokensMean) with Autoregressive and a masked-diffusion rule "
                "(AllResponsePositions, CommittedPositions) with a masked-diffusion strategy.");

 public:
  using Backbone = BackboneT;
  using Strategy = StrategyT;
  using Hook = HookT;
  using Metric = MetricT;
  using Judge = JudgeT;
  using Pool = typename detail::pooling_of<HookT>::type;

  // Opens the checkpoint at `path` (a .gguf file or a Hugging Face folder) and loads the
  // backbone, tokenizer and chat template from it. `profile` is recorded in centers and must
  // agree with the strategy (same step count). `point` is the hook point; a ResidPost hook takes
  // its layer from it, a FinalNorm hook accepts only final_norm_out.
  Wrapper(const std::filesystem::path& path, StrategyT strategy, GenerationProfile profile, WrapperOptions options = {},
          model::HookPoint point = model::HookPoint::final_norm_out(), MetricT metric = {}, JudgeT judge = {})
      : checkpoint_(io::Checkpoint::open(path)),
        backbone_(BackboneT::from_checkpoint(*checkpoint_, options.runtime)),
        codec_(text::ChatCodec::from_checkpoint(*checkpoint_, checkpoint_->architecture())),
        strategy_(std::move(strategy)),
        profile_(std::move(profile)),
        options_(std::move(options)),
        point_(point),
        metric_(std::move(metric)),
        judge_(std::move(judge)) {
    if (strategy_.max_steps() != profile_.steps) {
      raise("sri.wrapper.profile_mismatch", "the strategy runs " + std::to_string(strategy_.max_steps()) +
                                                " steps but the generation profile says steps = " +
                                                std::to_string(profile_.steps) + "; build both from the same value");
    }
    if (options_.batch_size <= 0) {
      raise("sri.wrapper.invalid_option",
            "batch size must be positive, got " + std::to_string(options_.batch_size));
    }
    if (codec_.vocab_size() > backbone_.config().vocab_size) {
      raise("sri.wrapper.vocab_mismatch",
            "the tokenizer of " + checkpoint_->display_name() + " has ids up to " + std::to_string(codec_.vocab_size() - 1) +
                " but the model's embedding has " + std::to_string(backbone_.config().vocab_size) +
                " rows; the tokenizer files do not belong to these weights");
    }
    const int64_t layers = backbone_.config().num_layers;
    if (!(make_hook().point() == point_)) {
      raise("sri.wrapper.hook_point_mismatch", "hook point " + point_.name() + " was requested but the hook type reads " +
                                                   make_hook().point().name() +
                                                   "; use sri::hook::ResidPost for a layer's residual stream");
    }
    if (point_.kind == model::HookPoint::Kind::resid_post && (point_.layer < 0 || point_.layer >= layers)) {
      raise("sri.wrapper.layer_out_of_range", "hook point " + point_.name() + " names layer " +
                                                  std::to_string(point_.layer) + " but the model has " +
                                                  std::to_string(layers) + " layers (0 to " +
                                                  std::to_string(layers - 1) + ")");
    }
  }

  [[nodiscard]] const io::Checkpoint& checkpoint() const { return *checkpoint_; }
  [[nodiscard]] const BackboneT& backbone() const { return backbone_; }
  [[nodiscard]] const text::ChatCodec& codec() const { return codec_; }
  [[nodiscard]] const GenerationProfile& profile() const { return profile_; }
  [[nodiscard]] const WrapperOptions& options() const { return options_; }
  [[nodiscard]] int64_t hidden_size() const { return backbone_.config().hidden_size; }
  [[nodiscard]] std::string hook_point() const { return point_.name(); }
  [[nodiscard]] static constexpr std::string_view pooling_id() { return Pool::id; }
  // The system message and double-BOS choice as JSON text, recorded in centers and compared when
  // scoring, because both change the prompt ids and so the states.
  [[nodiscard]] std::string prompt_format() const {
    const nlohmann::json format = {
        {"system_prompt", options_.system_prompt ? nlohmann::json(*options_.system_prompt) : nlohmann::json()},
        {"reference_double_bos", options_.reference_double_bos}};
    return format.dump();
  }

  // Returns the token ids of one prompt after the chat template, as the model receives them.
  [[nodiscard]] std::vector<int64_t> encode_prompt(std::string_view prompt) const {
    text::ChatEncodeOptions encode;
    encode.system = options_.system_prompt ? std::optional<std::string_view>(*options_.system_prompt) : std::nullopt;
    encode.reference_double_bos = options_.reference_double_bos;
    return codec_.encode_chat(prompt, encode);
  }

  // Generates every prompt in batches of options().batch_size and returns one run per prompt,
  // in order. `progress` receives one report per finished batch.
  [[nodiscard]] std::vector<GenerationRun> generate(std::span<const std::string> prompts,
                                                    const ProgressCallback& progress = {},
                                                    std::string_view stage = "generating") {
    check_prompts(prompts, "the prompt list");
    std::vector<GenerationRun> runs;
    runs.reserve(prompts.size());
    report(progress, stage, 0, prompts.size());
    for (std::size_t begin = 0; begin < prompts.size(); begin += static_cast<std::size_t>(options_.batch_size)) {
      const std::size_t end = std::min(prompts.size(), begin + static_cast<std::size_t>(options_.batch_size));
      std::vector<GenerationRun> batch = generate_batch(prompts.subspan(begin, end - begin));
      for (GenerationRun& run : batch) runs.push_back(std::move(run));
      report(progress, stage, end, prompts.size());
    }
    return runs;
  }

  // Encodes every prompt once before any generation, so that invalid UTF-8 or a prompt that
  // contains a masked-diffusion model's mask token is reported with its position in the list
  // before minutes of generation, not in the middle of a batch.
  void check_prompts(std::span<const std::string> prompts, std::string_view set) const {
    for (std::size_t i = 0; i < prompts.size(); ++i) {
      std::vector<int64_t> ids;
      try {
        ids = encode_prompt(prompts[i]);
      } catch (const Error& error) {
        raise(error.id(), "prompt " + std::to_string(i + 1) + " of " + std::string(set) + ": " + error.message());
      }
      if constexpr (requires { backbone_.mask_token_id(); }) {
        const int64_t mask = backbone_.mask_token_id();
        if (std::find(ids.begin(), ids.end(), mask) != ids.end()) {
          raise("sri.wrapper.prompt_contains_mask",
                "prompt " + std::to_string(i + 1) + " of " + std::string(set) + " contains the mask token (id " +
                    std::to_string(mask) + "), which the masked-diffusion sampler would overwrite; remove it from the "
                    "prompt");
        }
      }
    }
  }

  // Returns the request that scoring with this wrapper makes of centers.
  [[nodiscard]] CentersRequest centers_request() const {
    CentersRequest request;
    request.model_identity = checkpoint_->identity();
    request.hook_point = hook_point();
    request.pooling = std::string(pooling_id());
    request.hidden_size = hidden_size();
    request.profile = profile_;
    request.prompt_format = prompt_format();
    return request;
  }

  // Builds the harmless and harmful centers with the reference's filtering: harmless runs the
  // judge did not call refusals, harmful runs it did. Resumable through options.resume_file.
  [[nodiscard]] Centers build_centers(std::span<const std::string> harmless, std::span<const std::string> harmful,
                                      const CenterBuildOptions& options = {}, const ProgressCallback& progress = {}) {
    if (harmless.empty() || harmful.empty()) {
      raise("sri.wrapper.empty_prompt_set", "building centers needs at least one harmless and one harmful prompt, got " +
                                                std::to_string(harmless.size()) + " harmless and " +
                                                std::to_string(harmful.size()) + " harmful");
    }
    check_prompts(harmless, "the harmless set");
    check_prompts(harmful, "the harmful set");
    const nlohmann::json build_key = resume_key(harmless, harmful);
    BuildState state = load_resume_state(options.resume_file, build_key);

    const std::array<std::pair<PromptSet, std::span<const std::string>>, 2> sets{
        {{PromptSet::harmless, harmless}, {PromptSet::harmful, harmful}}};
    for (const auto& [set, prompts] : sets) {
      std::size_t& done = set == PromptSet::harmless ? state.harmless_done : state.harmful_done;
      const std::string stage = std::string(to_string(set)) + " center";
      report(progress, stage, done, prompts.size());
      while (done < prompts.size()) {
        const std::size_t end = std::min(prompts.size(), done + static_cast<std::size_t>(options_.batch_size));
        for (const GenerationRun& run : generate_batch(prompts.subspan(done, end - done))) {
          // The reference averages every step, the padding after EOS included.
          state.accumulator.add(run.phi, set, run.refusal);
        }
        done = end;
        if (!options.resume_file.empty()) save_resume_state(options.resume_file, build_key, state);
        report(progress, stage, done, prompts.size());
      }
    }

    FinalizeOptions finalize;
    finalize.allow_unfiltered = options.allow_unfiltered;
    const CentersResult result = state.accumulator.finalize(finalize);

    Centers centers;
    centers.pair = result.centers;
    CentersMetadata& meta = centers.metadata;
    meta.model_identity = checkpoint_->identity();
    meta.model_name = checkpoint_->display_name();
    meta.hook_point = hook_point();
    meta.pooling = std::string(pooling_id());
    meta.judge = std::string(judge_id());
    meta.hidden_size = hidden_size();
    meta.profile = profile_;
    meta.harmless = {options.harmless.name, options.harmless.source, result.harmless_runs, result.harmless_refused};
    meta.harmful = {options.harmful.name, options.harmful.source, result.harmful_runs, result.harmful_refused};
    meta.filtering = filtering_from_flags(result.harmless_filtered, result.harmful_filtered);
    meta.prompt_format = prompt_format();
    if (!options.resume_file.empty()) {
      std::error_code ignored;
      std::filesystem::remove(options.resume_file, ignored);
    }
    return centers;
  }

  // Generates every prompt and scores it against `centers`. Raises sri.centers.mismatch when the
  // centers were built for another model, hook point, pooling rule, hidden size or profile.
  [[nodiscard]] std::vector<ScoredRun> score(std::span<const std::string> prompts, const Centers& centers,
                                             const ProgressCallback& progress = {}) {
    check_compatible(centers.metadata, centers_request());
    return score_unchecked(prompts, centers.pair, progress);
  }

  // Scores against centers that carry no metadata (for example the reference's centers.pt),
  // checking only their shape.
  [[nodiscard]] std::vector<ScoredRun> score_unchecked(std::span<const std::string> prompts, const CenterPair& centers,
                                                       const ProgressCallback& progress = {}) {
    if (centers.harmless.rows() != profile_.steps || centers.harmless.cols() != hidden_size()) {
      raise("sri.centers.mismatch", "the centers are [" + std::to_string(centers.harmless.rows()) + ", " +
                                        std::to_string(centers.harmless.cols()) + "] but this model needs [" +
                                        std::to_string(profile_.steps) + ", " + std::to_string(hidden_size()) +
                                        "] (steps, hidden size); rebuild the centers for this model and profile");
    }
    const SignalKernel<MetricT> kernel(centers, options_.signal, metric_);
    std::vector<ScoredRun> scored;
    scored.reserve(prompts.size());
    for (GenerationRun& run : generate(prompts, progress, "scoring")) {
      const RowVectorXf sigma = kernel.score(run.phi);  // [T]
      ScoredRun item;
      item.signal.assign(sigma.data(), sigma.data() + sigma.size());
      item.run = std::move(run);
      scored.push_back(std::move(item));
    }
    return scored;
  }

 private:
  struct BuildState {
    CenterAccumulator accumulator;
    std::size_t harmless_done = 0;
    std::size_t harmful_done = 0;
  };

  // A fresh hook per batch: hooks keep per-run buffers and are not copyable.
  HookT make_hook() const {
    if constexpr (std::is_constructible_v<HookT, int64_t>) {
      return HookT(point_.layer);
    } else {
      return HookT{};
    }
  }

  static constexpr std::string_view judge_id() {
    if constexpr (requires { JudgeT::id; }) {
      return JudgeT::id;
    } else {
      return "custom";
    }
  }

  static void report(const ProgressCallback& progress, std::string_view stage, std::size_t done, std::size_t total) {
    if (progress) progress(Progress{std::string(stage), done, total, "prompts"});
  }

  std::vector<GenerationRun> generate_batch(std::span<const std::string> prompts) {
    generate::TokenBatch batch;
    batch.reserve(prompts.size());
    for (const std::string& prompt : prompts) batch.push_back(encode_prompt(prompt));

    HookT hook = make_hook();
    std::vector<TextSignal<JudgeT>> canvas_signals;  // masked diffusion: per row, fed after every step
    generate::GenerationResult result;
    if constexpr (StrategyT::step_kind == hook::StepKind::masked_diffusion) {
      canvas_signals.assign(prompts.size(), TextSignal<JudgeT>(judge_));
      result = strategy_.run(backbone_, batch, hook, [&](const generate::StepInfo& info) {
        push_canvas_texts(info, canvas_signals);
        return generate::StepControl::proceed;
      });
    } else {
      result = strategy_.run(backbone_, batch, hook);
    }

    std::vector<GenerationRun> runs(prompts.size());
    for (std::size_t row = 0; row < prompts.size(); ++row) {
      GenerationRun& run = runs[row];
      run.prompt = prompts[row];
      run.prompt_ids = std::move(batch[row]);
      run.tokens = result.tokens[row];
      run.steps = result.steps[row];
      run.response = codec_.decode(without_masks(run.tokens), true);
      run.refusal = judge_.is_refusal(run.response);
      const PooledSteps pooled = hook.result(static_cast<int64_t>(row));
      run.phi = pooled.phi;
      run.real = pooled.real;
      if (!run.phi.allFinite()) {
        raise("sri.wrapper.non_finite",
              "the pooled " + point_.name() + " states of prompt \"" + run.prompt.substr(0, 60) +
                  "\" contain NaN or infinity; the weights or the config (rope_theta, rms_norm_eps) of " +
                  checkpoint_->display_name() + " are invalid, or the dtype overflows (try float32)");
      }
      if constexpr (StrategyT::step_kind == hook::StepKind::masked_diffusion) {
        run.text_signal = canvas_signals[row].values();
        run.text_signal.resize(static_cast<std::size_t>(profile_.steps),
                               run.text_signal.empty() ? 1.0F : run.text_signal.back());
      } else {
        run.text_signal = text_level_signal(run.tokens);
      }
    }
    return runs;
  }

  // The tokens without the backbone's mask id (masked diffusion leaves masks in uncommitted
  // positions); other backbones have no mask id and keep every token.
  std::vector<int64_t> without_masks(const std::vector<int64_t>& tokens) const {
    if constexpr (requires { backbone_.mask_token_id(); }) {
      const int64_t mask = backbone_.mask_token_id();
      std::vector<int64_t> unmasked;
      unmasked.reserve(tokens.size());
      for (const int64_t id : tokens) {
        if (id != mask) unmasked.push_back(id);
      }
      return unmasked;
    } else {
      return tokens;
    }
  }

  // Judges each row's committed response positions after a masked-diffusion step.
  void push_canvas_texts(const generate::StepInfo& info, std::vector<TextSignal<JudgeT>>& signals) const {
    const auto width = static_cast<std::size_t>(info.response_length);
    if (width == 0 || info.response.size() != signals.size() * width) {
      raise("sri.wrapper.canvas_missing",
            "the masked-diffusion strategy reported " + std::to_string(info.response.size()) +
                " response tokens for " + std::to_string(signals.size()) + " rows of length " +
                std::to_string(width) + " after step " + std::to_string(info.step) +
                "; a strategy used by sri::Wrapper must fill StepInfo::response with every row's response columns");
    }
    for (std::size_t row = 0; row < signals.size(); ++row) {
      const std::span<const int64_t> columns = info.response.subspan(row * width, width);
      const std::vector<int64_t> tokens(columns.begin(), columns.end());
      signals[row].push(codec_.decode(without_masks(tokens), true));
    }
  }

  // [T] text-level signal from the tokens: the judge runs on the decoded prefix after each step,
  // and steps after the end of generation repeat the last value.
  std::vector<float> text_level_signal(const std::vector<int64_t>& tokens) const {
    TextSignal<JudgeT> signal(judge_);
    const auto steps = static_cast<std::size_t>(profile_.steps);
    std::vector<float> values;
    values.reserve(steps);
    for (std::size_t t = 0; t < steps; ++t) {
      if (t < tokens.size()) {
        const std::span<const int64_t> prefix(tokens.data(), t + 1);
        values.push_back(signal.push(codec_.decode(prefix, true)));
      } else {
        values.push_back(values.empty() ? 1.0F : values.back());
      }
    }
    return values;
  }

  nlohmann::json resume_key(std::span<const std::string> harmless, std::span<const std::string> harmful) const {
    return {{"model_identity", checkpoint_->identity()},
            {"hook_point", hook_point()},
            {"pooling", std::string(pooling_id())},
            {"judge", std::string(judge_id())},
            {"profile", io::detail::profile_to_json(profile_)},
            {"batch_size", options_.batch_size},
            {"system_prompt", options_.system_prompt ? nlohmann::json(*options_.system_prompt) : nlohmann::json()},
            {"reference_double_bos", options_.reference_double_bos},
            {"harmless", {{"n", harmless.size()}, {"fingerprint", detail::prompts_fingerprint(harmless)}}},
            {"harmful", {{"n", harmful.size()}, {"fingerprint", detail::prompts_fingerprint(harmful)}}},
            {"library_version", version_string}};
  }

  // Reads a resume file written for the same build; any other file is an error, so a resume
  // never mixes runs of different models, prompts or profiles.
  BuildState load_resume_state(const std::filesystem::path& file, const nlohmann::json& key) const {
    BuildState state{CenterAccumulator(profile_.steps, hidden_size())};
    if (file.empty() || !std::filesystem::exists(file)) return state;

    const io::SafetensorsFile saved(file);
    const auto found = saved.metadata().find("sri_center_build");
    if (found == saved.metadata().end()) {
      raise("sri.wrapper.resume_invalid", "resume file '" + file.string() +
                                              "' has no sri_center_build metadata; remove it to start over");
    }
    const nlohmann::json progress = nlohmann::json::parse(found->second, nullptr, false);
    if (progress.is_discarded() || !progress.is_object() || !progress.contains("key")) {
      raise("sri.wrapper.resume_invalid", "resume file '" + file.string() +
                                              "' has unreadable sri_center_build metadata; remove it to start over");
    }
    if (progress["key"] != key) {
      raise("sri.wrapper.resume_mismatch", "resume file '" + file.string() +
                                               "' was written for another model, prompt set, profile or batch size; "
                                               "remove it to start over, or rerun with the original settings");
    }
    const auto invalid = [&file](const std::string& what) {
      raise("sri.wrapper.resume_invalid", "resume file '" + file.string() + "' " + what + "; remove it to start over");
    };
    const nlohmann::json& runs = progress.contains("runs") ? progress["runs"] : nlohmann::json();
    if (!runs.is_array() || runs.size() != CenterAccumulator::group_count) {
      invalid("has no run count for each of the " + std::to_string(CenterAccumulator::group_count) + " groups");
    }
    for (const nlohmann::json& count : runs) {
      if (!count.is_number_integer() || count.get<int64_t>() < 0) invalid("has a run count that is not a count");
    }
    const std::size_t harmless_total = key["harmless"]["n"].get<std::size_t>();
    const std::size_t harmful_total = key["harmful"]["n"].get<std::size_t>();
    const auto done = [&](const char* field, std::size_t total) {
      const nlohmann::json& value = progress.contains(field) ? progress[field] : nlohmann::json();
      if (!value.is_number_unsigned() && !(value.is_number_integer() && value.get<int64_t>() >= 0)) {
        invalid(std::string("has no valid ") + field);
      }
      const auto count = value.get<std::size_t>();
      // Batches end at multiples of the batch size, or at the end of the set.
      if (count > total || (count != total && count % static_cast<std::size_t>(options_.batch_size) != 0)) {
        invalid(std::string("says ") + field + " = " + std::to_string(count) + ", which is not a batch boundary of " +
                std::to_string(total) + " prompts in batches of " + std::to_string(options_.batch_size));
      }
      return count;
    };
    state.harmless_done = done("harmless_done", harmless_total);
    state.harmful_done = done("harmful_done", harmful_total);
    if (state.harmful_done > 0 && state.harmless_done != harmless_total) {
      invalid("says harmful prompts were generated before the harmless set finished");
    }

    std::array<CenterGroup, CenterAccumulator::group_count> groups;
    for (std::size_t g = 0; g < groups.size(); ++g) {
      const std::string prefix = "group" + std::to_string(g);
      if (!saved.contains(prefix + ".sum") || !saved.contains(prefix + ".count")) invalid("has no tensors for " + prefix);
      const at::Tensor sum = saved.tensor(prefix + ".sum").to(at::kDouble).contiguous();    // [T, hidden]
      const at::Tensor count = saved.tensor(prefix + ".count").to(at::kLong).contiguous();  // [T]
      if (sum.dim() != 2 || sum.size(0) != profile_.steps || sum.size(1) != hidden_size() || count.dim() != 1 ||
          count.size(0) != profile_.steps) {
        raise("sri.wrapper.resume_invalid", "resume file '" + file.string() + "' has tensors of the wrong shape for " +
                                                prefix + "; remove it to start over");
      }
      groups[g].sum = Eigen::Map<const RowMatrixXd>(sum.data_ptr<double>(), sum.size(0), sum.size(1));
      groups[g].count = Eigen::Map<const StepCounts>(count.data_ptr<int64_t>(), count.size(0));
      groups[g].runs = runs.at(g).get<int64_t>();
    }
    state.accumulator = CenterAccumulator::from_groups(std::move(groups));
    return state;
  }

  void save_resume_state(const std::filesystem::path& file, const nlohmann::json& key, const BuildState& state) const {
    std::vector<std::pair<std::string, at::Tensor>> tensors;
    nlohmann::json runs = nlohmann::json::array();
    for (std::size_t g = 0; g < CenterAccumulator::group_count; ++g) {
      const CenterGroup& group = state.accumulator.groups()[g];
      const std::string prefix = "group" + std::to_string(g);
      at::Tensor sum = at::from_blob(const_cast<double*>(group.sum.data()), {group.sum.rows(), group.sum.cols()},
                                     at::kDouble);  // [T, hidden]
      at::Tensor count = at::from_blob(const_cast<int64_t*>(group.count.data()), {group.count.size()},
                                       at::kLong);  // [T]
      tensors.emplace_back(prefix + ".sum", sum);
      tensors.emplace_back(prefix + ".count", count);
      runs.push_back(group.runs);
    }
    const nlohmann::json progress = {{"key", key},
                                     {"runs", runs},
                                     {"harmless_done", state.harmless_done},
                                     {"harmful_done", state.harmful_done}};
    io::write_safetensors(file, tensors, {{"sri_center_build", progress.dump()}});
  }

  std::unique_ptr<io::Checkpoint> checkpoint_;
  BackboneT backbone_;
  text::ChatCodec codec_;
  StrategyT strategy_;
  GenerationProfile profile_;
  WrapperOptions options_;
  model::HookPoint point_;
  MetricT metric_;
  JudgeT judge_;
};

}  // namespace sri
