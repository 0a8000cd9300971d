// sri run and sri centers: the verbs that load a model. They map the command line onto one of the
// compositions of model_session.hpp, build or reuse centers, score test prompts and write the
// result folder.

#include "cli_support.hpp"
#include "model_session.hpp"
#include "progress_bar.hpp"
#include "verbs.hpp"

#include <sri/builtin_prompts.hpp>
#include <sri/core.hpp>
#include <sri/error.hpp>
#include <sri/io/centers_file.hpp>
#include <sri/io/checkpoint.hpp>
#include <sri/io/prompts.hpp>
#include <sri/io/signals.hpp>
#include <sri/plot/figure.hpp>
#include <sri/version.hpp>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace sri::cli {
namespace {

namespace fs = std::filesystem;

// Flags shared by every verb that loads a model.
struct ModelOptions {
  std::string model;  // empty: the default model in the cache
  GenerationProfile profile;
  std::string sampling = "auto";  // ar, diffusion or auto (from the architecture)
  std::string sampler = "auto";   // Dream's sampling algorithm; auto is origin
  std::string pooling = "auto";   // a pooling rule id, or auto for the reference's rule of the model kind
  std::string layer = "final";
  std::string metric = "cosine";
  std::string system_prompt = std::string(text::default_system_prompt);
  bool no_system_prompt = false;
  bool reference_double_bos = false;
  int threads = 0;
  std::string device = "cpu";
  int64_t batch_size = 8;
  // Set by add_model_flags: without --block-length the response is one block (block = gen_length).
  CLI::Option* block_length_flag = nullptr;
};

// Flags of the center build.
struct CenterOptions {
  std::string harmless;  // empty: the built-in harmless set
  std::string harmful;   // empty: the built-in harmful set
  std::string harmless_field;
  std::string harmful_field;
  std::optional<std::size_t> n;
  bool allow_unfiltered = false;
};

struct RunOptions {
  ModelOptions model;
  CenterOptions centers;
  std::vector<std::string> prompts;
  std::string prompts_file;
  std::string prompts_field;
  std::string out;
  std::string centers_file;  // reuse these centers instead of building
  bool rebuild = false;
};

struct CentersVerbOptions {
  ModelOptions model;
  CenterOptions centers;
  std::string out;
};


fs::path cache_dir() {
  if (const char* dir = std::getenv("SRI_CACHE_DIR"); dir != nullptr && *dir != '\0') return dir;
  if (const char* home = std::getenv("HOME"); home != nullptr && *home != '\0') return fs::path(home) / ".cache/sri";
  return ".cache/sri";
}

// The model `sri run` uses without --model: SmolLM2-135M-Instruct, fetched by scripts/fetch-models.sh.
fs::path default_model_path() { return cache_dir() / "models/SmolLM2-135M-Instruct.Q4_1.gguf"; }

fs::path resolve_model(const ModelOptions& options) {
  if (!options.model.empty()) {
    if (!fs::exists(options.model)) {
      raise("sri.cli.file_not_found",
            fmt::format("--model: {} does not exist; pass a .gguf file or a Hugging Face folder", options.model));
    }
    return options.model;
  }
  const fs::path path = default_model_path();
  if (!fs::exists(path)) {
    raise("sri.cli.file_not_found", fmt::format("the default model {} is not in the cache; run scripts/fetch-models.sh "
                                                "to download it, or pass --model PATH",
                                                path.string()));
  }
  return path;
}

void add_model_flags(CLI::App* command, ModelOptions& options) {
  GenerationProfile& profile = options.profile;
  command->add_option("--model", options.model,
                      "Model to load: a .gguf file or a Hugging Face folder (default: SmolLM2-135M-Instruct in "
                      "$SRI_CACHE_DIR or ~/.cache/sri/models)");
  command->add_option("--steps", profile.steps, "Generation steps T; one token per step for autoregressive models")
      ->capture_default_str();
  command->add_option("--gen-length", profile.gen_length, "Response length in tokens (masked diffusion)")
      ->capture_default_str();
  options.block_length_flag =
      command->add_option("--block-length", profile.block_length,
                          "Block size in tokens (LLaDA sampler); default: --gen-length, one block");
  command->add_option("--temperature", profile.temperature, "Sampling temperature; 0 is greedy decoding")
      ->capture_default_str();
  command->add_option("--cfg-scale", profile.cfg_scale, "Classifier-free guidance scale (masked diffusion); 0 is off")
      ->capture_default_str();
  command->add_option("--remasking", profile.remasking, "Remasking rule (masked diffusion): low_confidence or random")
      ->capture_default_str();
  command->add_option("--sig-t", profile.sig_t, "Signal temperature tau")->capture_default_str();
  command->add_option("--eps", profile.eps, "Constant added to norms and distances")->capture_default_str();
  command->add_option("--seed", profile.seed, "Random seed for temperature > 0")->capture_default_str();
  command->add_option("--sampling", options.sampling,
                      "Generation strategy: ar (one token per step, left to right), diffusion (masked-diffusion "
                      "sampler; LLaDA and Dream only) or auto (diffusion for LLaDA and Dream, ar otherwise)")
      ->capture_default_str();
  command->add_option("--sampler", options.sampler,
                      "Dream's sampling algorithm: origin, maskgit_plus, topk_margin or entropy (auto: origin)")
      ->capture_default_str();
  command->add_option("--pooling", options.pooling,
                      "Step pooling rule: reference_running_mean (autoregressive models), all_response_positions "
                      "or committed_positions (masked diffusion); auto picks the reference's rule for the model")
      ->capture_default_str();
  command->add_option("--layer", options.layer,
                      "Hook point: 'final' for the final-norm output, or a 0-based decoder layer index")
      ->capture_default_str();
  command->add_option("--metric", options.metric, fmt::format("Distance metric: {}", fmt::join(Metrics::ids(), ", ")))
      ->capture_default_str();
  command->add_option("--system-prompt", options.system_prompt, "System message of every conversation")
      ->capture_default_str();
  command->add_flag("--no-system-prompt", options.no_system_prompt,
                    "Send no system message (the chat template's default applies)");
  command->add_flag("--reference-double-bos", options.reference_double_bos,
                    "Tokenize prompts with special tokens as the reference code does (double BOS on Llama 3)");
  command->add_option("--threads", options.threads, "CPU threads for the model; 0 keeps libtorch's default")
      ->capture_default_str();
  command->add_option("--device", options.device, "Device: cpu or cuda")->capture_default_str();
  command->add_option("--batch-size", options.batch_size, "Prompts generated together")->capture_default_str();
}

void add_center_flags(CLI::App* command, CenterOptions& options) {
  command->add_option("--harmless", options.harmless,
                      "Harmless prompt set (CSV, JSON, JSON Lines or text); default: the built-in set");
  command->add_option("--harmful", options.harmful,
                      "Harmful prompt set (CSV, JSON, JSON Lines or text); default: the built-in set");
  command->add_option("--harmless-field", options.harmless_field, "CSV column or JSON field of --harmless");
  command->add_option("--harmful-field", options.harmful_field, "CSV column or JSON field of --harmful");
  command->add_option("-n", options.n, "Use the first N prompts of each set (default: the whole set)");
  command->add_flag("--allow-unfiltered", options.allow_unfiltered,
                    "When no harmless prompt complies or no harmful prompt is refused, use the unfiltered mean "
                    "of that set instead of failing (recorded in the centers)");
}

// Returns the options with the defaults that depend on other flags filled in: without
// --block-length the response is one block.
ModelOptions with_defaults(ModelOptions options) {
  if (options.block_length_flag != nullptr && options.block_length_flag->count() == 0) {
    options.profile.block_length = options.profile.gen_length;
  }
  return options;
}

// Checks every flag that needs no model, so mistakes are reported before the slow load.
void validate_model_options(const ModelOptions& options) {
  const GenerationProfile& profile = options.profile;
  if (profile.steps < 1) raise("sri.cli.invalid_value", fmt::format("--steps must be at least 1, got {}", profile.steps));
  if (profile.gen_length < 1 || profile.block_length < 1) {
    raise("sri.cli.invalid_value", fmt::format("--gen-length and --block-length must be at least 1, got {} and {}",
                                               profile.gen_length, profile.block_length));
  }
  if (!(profile.temperature >= 0.0) || !std::isfinite(profile.temperature)) {
    raise("sri.cli.invalid_value", fmt::format("--temperature must be a finite number >= 0, got {}", profile.temperature));
  }
  if (!(profile.cfg_scale >= 0.0) || !std::isfinite(profile.cfg_scale)) {
    raise("sri.cli.invalid_value", fmt::format("--cfg-scale must be a finite number >= 0, got {}", profile.cfg_scale));
  }
  if (profile.remasking != "low_confidence" && profile.remasking != "random") {
    raise("sri.cli.invalid_value",
          fmt::format("--remasking must be low_confidence or random, got '{}'", profile.remasking));
  }
  // The masked-diffusion schedule's constraints; autoregressive runs record the two lengths in
  // the profile, so an impossible pair is rejected for them too.
  if (profile.gen_length % profile.block_length != 0) {
    raise("sri.cli.invalid_value", fmt::format("--gen-length {} must be divisible by --block-length {}",
                                               profile.gen_length, profile.block_length));
  }
  const int64_t blocks = profile.gen_length / profile.block_length;
  if (profile.steps % blocks != 0) {
    raise("sri.cli.invalid_value", fmt::format("--steps {} must be divisible by the number of blocks {} "
                                               "(--gen-length {} / --block-length {})",
                                               profile.steps, blocks, profile.gen_length, profile.block_length));
  }
  check_signal_params(SignalParams{profile.sig_t, profile.eps});
  if (options.sampling != "auto" && options.sampling != "ar" && options.sampling != "diffusion") {
    raise("sri.cli.invalid_value", fmt::format("--sampling must be ar, diffusion or auto, got '{}'", options.sampling));
  }
  if (!Metrics::visit(options.metric, [](auto) {})) {
    raise("sri.cli.invalid_value", fmt::format("--metric '{}' is unknown; choose one of {}", options.metric,
                                               fmt::join(Metrics::ids(), ", ")));
  }
  if (options.device != "cpu" && options.device != "cuda") {
    raise("sri.cli.invalid_value", fmt::format("--device must be cpu or cuda, got '{}'", options.device));
  }
  if (options.device == "cuda" && !at::hasCUDA()) {
    raise("sri.cli.invalid_value", "--device cuda was requested but this libtorch build has no CUDA support or no GPU "
                                   "is visible; use --device cpu");
  }
  if (options.threads < 0) raise("sri.cli.invalid_value", fmt::format("--threads must be >= 0, got {}", options.threads));
  if (options.batch_size < 1) {
    raise("sri.cli.invalid_value", fmt::format("--batch-size must be at least 1, got {}", options.batch_size));
  }
  if (options.layer != "final") {
    const bool digits = !options.layer.empty() && options.layer.find_first_not_of("0123456789") == std::string::npos;
    if (!digits) {
      raise("sri.cli.invalid_value",
            fmt::format("--layer must be 'final' or a 0-based layer index, got '{}'", options.layer));
    }
  }
}


std::vector<std::string> read_set(const std::string& path, const std::string& field, std::optional<std::size_t> n,
                                  std::string_view flag, std::span<const std::string_view> builtin) {
  if (path.empty()) {
    std::vector<std::string> prompts(builtin.begin(), builtin.end());
    if (n) {
      if (*n == 0 || *n > prompts.size()) {
        raise("sri.cli.invalid_value", fmt::format("-n {} is outside the built-in set of {} prompts for {}; pass a "
                                                   "value from 1 to {} or give {} FILE",
                                                   *n, prompts.size(), flag, prompts.size(), flag));
      }
      prompts.resize(*n);
    }
    return prompts;
  }
  require_input_file(path, flag);
  if (n && *n == 0) raise("sri.cli.invalid_value", "-n must be at least 1");
  io::PromptSetOptions options;
  options.field = field;
  options.limit = n;
  return io::read_prompts(path, options);
}

PromptSetSource set_source(const std::string& path, std::string_view builtin_name) {
  if (path.empty()) return {std::string(builtin_name), "builtin"};
  return {fs::path(path).stem().string(), fs::absolute(path).string()};
}

// Creates the output folder and checks that a file can be written there, before any slow work.
void prepare_output_folder(const fs::path& folder, std::string_view flag) {
  std::error_code error;
  fs::create_directories(folder, error);
  if (error) {
    raise("sri.cli.output_not_writable",
          fmt::format("{}: cannot create the folder {}: {}; choose a writable location", flag, folder.string(),
                      error.message()));
  }
  require_output_folder(folder / "probe", flag);
}

WrapperOptions wrapper_options(const ModelOptions& options) {
  WrapperOptions out;
  out.runtime.threads = options.threads;
  if (options.device == "cuda") {
    out.runtime.device = at::Device(at::kCUDA);
    out.runtime.dtype = at::kBFloat16;
  }
  out.system_prompt = options.no_system_prompt ? std::nullopt : std::optional<std::string>(options.system_prompt);
  out.reference_double_bos = options.reference_double_bos;
  out.batch_size = options.batch_size;
  out.signal = SignalParams{options.profile.sig_t, options.profile.eps};
  return out;
}

model::HookPoint hook_point_of(const ModelOptions& options) {
  if (options.layer == "final") return model::HookPoint::final_norm_out();
  return model::HookPoint::resid_post(std::stoll(options.layer));
}

bool is_diffusion_architecture(std::string_view architecture) { return architecture == "llada" || architecture == "dream"; }

// Flags of a causal decoder (llama, qwen2, gemma2, gemma3).
void check_autoregressive_flags(const ModelOptions& options, const std::string& architecture, SessionRequest& request) {
  if (request.sampling == "diffusion") {
    raise("sri.cli.invalid_value", fmt::format("--sampling diffusion needs a masked-diffusion model (llada, dream), "
                                               "but the model is a {} decoder; use --sampling ar",
                                               architecture));
  }
  if (options.profile.cfg_scale > 0.0) {
    raise("sri.cli.invalid_value", fmt::format("--cfg-scale {} applies to the LLaDA sampler only, but the model is a "
                                               "{} decoder; leave it at 0",
                                               options.profile.cfg_scale, architecture));
  }
  if (options.sampler != "auto") {
    raise("sri.cli.invalid_value",
          fmt::format("--sampler {} applies to Dream models only, but the model is a {} decoder; leave it out",
                      options.sampler, architecture));
  }
  request.pooling = options.pooling == "auto" ? std::string(pool::ReferenceRunningMean::id) : options.pooling;
  if (request.pooling != pool::ReferenceRunningMean::id) {
    raise("sri.cli.invalid_value",
          fmt::format("--pooling {} is not available for autoregressive models; use {}", options.pooling,
                      pool::ReferenceRunningMean::id));
  }
}

// Flags of a masked-diffusion model (llada, dream).
void check_diffusion_flags(const ModelOptions& options, const std::string& architecture, SessionRequest& request) {
  const GenerationProfile& profile = options.profile;
  request.pooling = options.pooling == "auto" ? std::string(pool::AllResponsePositions::id) : options.pooling;
  if (request.pooling != pool::AllResponsePositions::id && request.pooling != pool::CommittedPositions::id) {
    raise("sri.cli.invalid_value",
          fmt::format("--pooling {} is not available for masked-diffusion models; use {} (the reference's rule) or "
                      "{} (committed positions only)",
                      options.pooling, pool::AllResponsePositions::id, pool::CommittedPositions::id));
  }
  if (architecture != "dream" && options.sampler != "auto") {
    raise("sri.cli.invalid_value",
          fmt::format("--sampler {} applies to Dream models only; LLaDA's sampler is set by --remasking and "
                      "--block-length",
                      options.sampler));
  }
  // Flags that only the LLaDA sampler reads must keep their defaults elsewhere, because the profile
  // records them and a silently ignored value would make centers look different when they are not.
  if (request.sampling == "ar" || architecture == "dream") {
    const std::string where = request.sampling == "ar" ? "--sampling ar" : "Dream's sampler";
    if (profile.remasking != "low_confidence") {
      raise("sri.cli.invalid_value", fmt::format("--remasking {} applies to the LLaDA sampler only, not to {}; leave "
                                                 "it out",
                                                 profile.remasking, where));
    }
    if (profile.block_length != profile.gen_length) {
      raise("sri.cli.invalid_value", fmt::format("--block-length {} applies to the LLaDA sampler only, not to {}; "
                                                 "leave it out",
                                                 profile.block_length, where));
    }
  }
  if (request.sampling == "ar" && options.sampler != "auto") {
    raise("sri.cli.invalid_value",
          fmt::format("--sampler {} selects Dream's diffusion sampler and does not apply to --sampling ar; leave it out",
                      options.sampler));
  }
  if (request.sampling == "ar") {
    if (profile.steps != profile.gen_length) {
      raise("sri.cli.invalid_value",
            fmt::format("--sampling ar on a masked-diffusion model commits one token per step, so --steps ({}) "
                        "must equal --gen-length ({})",
                        profile.steps, profile.gen_length));
    }
    if (profile.cfg_scale > 0.0) {
      raise("sri.cli.invalid_value", "--cfg-scale applies to the LLaDA sampler, not to --sampling ar; leave it at 0");
    }
    return;
  }
  if (architecture == "dream") {
    if (profile.cfg_scale > 0.0) {
      raise("sri.cli.invalid_value",
            fmt::format("--cfg-scale {} is not available for Dream, whose sampler has no classifier-free guidance; "
                        "leave it at 0",
                        profile.cfg_scale));
    }
    request.sampler = options.sampler == "auto" ? "origin" : options.sampler;
    if (request.sampler != "origin" && request.sampler != "maskgit_plus" && request.sampler != "topk_margin" &&
        request.sampler != "entropy") {
      raise("sri.cli.invalid_value",
            fmt::format("--sampler must be origin, maskgit_plus, topk_margin or entropy, got '{}'", options.sampler));
    }
  }
}

// Returns an integer config.json field when it is present and positive.
std::optional<int64_t> positive_config_int(const nlohmann::json& config, std::initializer_list<const char*> keys) {
  for (const char* key : keys) {
    const auto found = config.find(key);
    if (found != config.end() && found->is_number_integer() && found->get<int64_t>() > 0) return found->get<int64_t>();
  }
  return std::nullopt;
}

// Checks the lengths and the layer index against the model's config.json (or its GGUF metadata).
void check_against_config(const ModelOptions& options, const nlohmann::json& config, bool diffusion,
                          const std::string& sampling) {
  const GenerationProfile& profile = options.profile;
  if (const auto context = positive_config_int(config, {"max_position_embeddings", "max_sequence_length"})) {
    const int64_t needed = diffusion ? profile.gen_length : profile.steps;
    if (needed > *context) {
      raise("sri.cli.invalid_value",
            fmt::format("{} {} exceeds the model's context length {} (config max_position_embeddings or "
                        "max_sequence_length); the prompt must fit as well, so pass a smaller value",
                        diffusion ? "--gen-length" : "--steps", needed, *context));
    }
  }
  if (diffusion && sampling == "diffusion" && profile.steps > profile.gen_length) {
    raise("sri.cli.invalid_value", fmt::format("--steps {} exceeds --gen-length {}: a masked-diffusion step commits at "
                                               "least one token on average, so the extra steps would commit none; "
                                               "pass --steps {} or less",
                                               profile.steps, profile.gen_length, profile.gen_length));
  }
  if (options.layer != "final") {
    const auto layers = positive_config_int(config, {"num_hidden_layers", "n_layers"});
    const int64_t layer = std::stoll(options.layer);
    if (layers && layer >= *layers) {
      raise("sri.cli.invalid_value", fmt::format("--layer {} does not exist: the model has {} decoder layers (0 to {})",
                                                 layer, *layers, *layers - 1));
    }
  }
}

// Resolves the composition for the model's kind and checks the flags that depend on it, after
// reading the model's metadata but before loading weights.
SessionRequest plan_session(const ModelOptions& options, const fs::path& model_path) {
  SessionRequest request;
  request.model = model_path;
  const std::unique_ptr<io::Checkpoint> checkpoint = io::Checkpoint::open(model_path);
  request.architecture = checkpoint->architecture();
  const bool diffusion = is_diffusion_architecture(request.architecture);
  request.sampling = options.sampling;
  if (request.sampling == "auto") request.sampling = diffusion ? "diffusion" : "ar";
  if (diffusion) {
    check_diffusion_flags(options, request.architecture, request);
  } else {
    check_autoregressive_flags(options, request.architecture, request);
  }
  check_against_config(options, checkpoint->config(), diffusion, request.sampling);
  request.profile = options.profile;
  request.options = wrapper_options(options);
  request.point = hook_point_of(options);
  return request;
}

void print_rates(const CentersMetadata& meta, bool quiet) {
  if (quiet) return;
  fmt::print(stderr, "refusal rates: harmless {} of {} ({:.1f}%), harmful {} of {} ({:.1f}%); filtering: {}\n",
             meta.harmless.refused, meta.harmless.n, 100.0 * meta.harmless.refusal_rate(), meta.harmful.refused,
             meta.harmful.n, 100.0 * meta.harmful.refusal_rate(), to_string(meta.filtering));
}

// Returns true when `file` contains centers built for this request from the same prompt sets.
bool reusable(const fs::path& file, const CentersRequest& request, const PromptSetSource& harmless,
              const PromptSetSource& harmful, std::size_t harmless_n, std::size_t harmful_n, std::string& why) {
  if (!fs::exists(file)) return false;
  try {
    const io::CentersFile stored = io::load_centers(file);
    if (!stored.metadata) {
      why = "it has no metadata";
      return false;
    }
    check_compatible(*stored.metadata, request);
    const CentersMetadata& meta = *stored.metadata;
    // check_compatible lets scoring use another seed. A build with another seed must not reuse
    // the old centers, because sampling and Dream's origin algorithm depend on the seed.
    if (meta.profile.seed != request.profile.seed) {
      why = fmt::format("it was built with seed {}", meta.profile.seed);
      return false;
    }
    if (meta.harmless.source != harmless.source || meta.harmful.source != harmful.source ||
        meta.harmless.n != static_cast<int64_t>(harmless_n) || meta.harmful.n != static_cast<int64_t>(harmful_n)) {
      why = "it was built from other prompt sets";
      return false;
    }
    return true;
  } catch (const Error& error) {
    why = error.what();
    return false;
  }
}

// Builds centers, or reuses `file` when it matches; writes them to `file`.
// The two prompt sets of a center build, read before the model loads so that a bad file is
// reported first.
struct CenterPrompts {
  PromptSetSource harmless_source;
  PromptSetSource harmful_source;
  std::vector<std::string> harmless;
  std::vector<std::string> harmful;
};

CenterPrompts read_center_prompts(const CenterOptions& options) {
  CenterPrompts out;
  out.harmless_source = set_source(options.harmless, "builtin-harmless");
  out.harmful_source = set_source(options.harmful, "builtin-harmful");
  out.harmless = read_set(options.harmless, options.harmless_field, options.n, "--harmless", builtin::harmless_prompts);
  out.harmful = read_set(options.harmful, options.harmful_field, options.n, "--harmful", builtin::harmful_prompts);
  return out;
}

Centers obtain_centers(ModelSession& wrapper, const CenterOptions& options, const CenterPrompts& prompts,
                       const fs::path& file, bool rebuild, const GlobalOptions& globals) {
  const PromptSetSource& harmless_source = prompts.harmless_source;
  const PromptSetSource& harmful_source = prompts.harmful_source;
  const std::vector<std::string>& harmless = prompts.harmless;
  const std::vector<std::string>& harmful = prompts.harmful;

  std::string why;
  if (!rebuild && reusable(file, wrapper.centers_request(), harmless_source, harmful_source, harmless.size(),
                           harmful.size(), why)) {
    io::CentersFile stored = io::load_centers(file);
    if (!globals.quiet) fmt::print(stderr, "reusing centers {}\n", file.string());
    print_rates(*stored.metadata, globals.quiet);
    return Centers{std::move(stored.centers), *stored.metadata};
  }
  if (!why.empty() && !globals.quiet) fmt::print(stderr, "rebuilding centers: the existing {} does not match ({})\n", file.string(), why);

  CenterBuildOptions build;
  build.harmless = harmless_source;
  build.harmful = harmful_source;
  build.allow_unfiltered = options.allow_unfiltered;
  build.resume_file = file.parent_path() / (file.stem().string() + ".progress.safetensors");
  if (fs::exists(build.resume_file) && !globals.quiet) {
    fmt::print(stderr, "resuming the center build from {}\n", build.resume_file.string());
  }

  const auto start = std::chrono::steady_clock::now();
  ProgressBar bar(stderr, ProgressBar::mode_for(stderr, globals.quiet));
  Centers centers = wrapper.build_centers(harmless, harmful, build, std::ref(bar));
  bar.finish();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  io::write_centers(file, centers.pair, centers.metadata);
  if (!globals.quiet) fmt::print(stderr, "wrote centers {} in {:.1f} s\n", file.string(), seconds);
  print_rates(centers.metadata, globals.quiet);
  return centers;
}

struct TestPrompts {
  std::vector<std::string> labels;
  std::vector<std::string> texts;
  bool builtin = false;
};

TestPrompts read_test_prompts(const RunOptions& options) {
  TestPrompts out;
  for (const std::string& prompt : options.prompts) {
    if (prompt.empty()) raise("sri.cli.invalid_value", "--prompt must not be empty");
    out.texts.push_back(prompt);
  }
  if (!options.prompts_file.empty()) {
    require_input_file(options.prompts_file, "--prompts");
    io::PromptSetOptions set;
    set.field = options.prompts_field;
    for (std::string& prompt : io::read_prompts(options.prompts_file, set)) out.texts.push_back(std::move(prompt));
  }
  if (out.texts.empty()) {
    for (const builtin::TestPrompt& prompt : builtin::test_prompts) {
      out.labels.emplace_back(prompt.label);
      out.texts.emplace_back(prompt.text);
    }
    out.builtin = true;
    return out;
  }
  for (std::size_t i = 0; i < out.texts.size(); ++i) out.labels.push_back(fmt::format("prompt {}", i + 1));
  return out;
}

std::string ellipsize(std::string_view text, std::size_t max_bytes) {
  if (text.size() <= max_bytes) return std::string(text);
  std::size_t cut = max_bytes;
  while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;  // keep UTF-8 whole
  return std::string(text.substr(0, cut)) + "...";
}

// Signals of the test prompts, ready for the JSON and CSV writers and the figure.
struct ScoredTests {
  io::SignalSet set;
  std::vector<plot::Series> series;
};

// Generates the test prompts and scores them against `centers` with the metric named `metric_id`.
ScoredTests score_tests(ModelSession& wrapper, const Centers& centers, const TestPrompts& tests, const std::string& metric_id,
                        const GlobalOptions& globals) {
  check_compatible(centers.metadata, wrapper.centers_request());

  ProgressBar bar(stderr, ProgressBar::mode_for(stderr, globals.quiet));
  std::vector<GenerationRun> runs = wrapper.generate(tests.texts, std::ref(bar), "scoring");
  bar.finish();

  ScoredTests out;
  const SignalParams params{wrapper.profile().sig_t, wrapper.profile().eps};
  Metrics::visit(metric_id, [&](auto metric) {
    if constexpr (requires { metric.eps; }) metric.eps = params.eps;  // the reference uses one eps for both
    const SignalKernel<decltype(metric)> kernel(centers.pair, params, metric);
    for (std::size_t i = 0; i < runs.size(); ++i) {
      const GenerationRun& run = runs[i];
      const RowVectorXf sigma = kernel.score(run.phi);  // [T]
      io::SignalRecord record;
      record.name = tests.labels[i];
      record.signal.assign(sigma.data(), sigma.data() + sigma.size());
      record.prompt = run.prompt;
      record.response = run.response;
      record.refusal = run.refusal;
      record.text_signal = std::vector<double>(run.text_signal.begin(), run.text_signal.end());
      record.steps = run.steps;
      out.set.signals.push_back(record);
      // Built-in prompts carry a short label; user prompts are labelled with their own words.
      const std::string label = tests.builtin ? tests.labels[i] : ellipsize(run.prompt, 40);
      out.series.push_back(plot::Series{label, std::vector<float>(sigma.data(), sigma.data() + sigma.size()),
                                        run.text_signal});
    }
  });

  const CentersMetadata& meta = centers.metadata;
  out.set.metadata = {{"model", meta.model_name},
                      {"model_identity", meta.model_identity},
                      {"hook_point", meta.hook_point},
                      {"pooling", meta.pooling},
                      {"metric", metric_id},
                      {"profile", io::detail::profile_to_json(wrapper.profile())},
                      {"centers", {{"harmless", meta.harmless.source}, {"harmful", meta.harmful.source},
                                   {"n_harmless", meta.harmless.n}, {"n_harmful", meta.harmful.n},
                                   {"filtering", std::string(to_string(meta.filtering))}}},
                      {"library_version", version_string}};
  return out;
}

// Prints one line per prompt: verdict, final and lowest sigma, steps and the start of the response.
void print_signal_table(const io::SignalSet& set) {
  fmt::print("{:<12} {:>8} {:>9} {:>9} {:>6}  {}\n", "prompt", "refusal", "final σ", "min σ", "steps", "response");
  for (const io::SignalRecord& record : set.signals) {
    const double final_sigma = record.signal.back();
    const double min_sigma = *std::min_element(record.signal.begin(), record.signal.end());
    std::string response = record.response.value_or("");
    for (char& c : response) {
      if (c == '\n' || c == '\r' || c == '\t') c = ' ';
    }
    fmt::print("{:<12} {:>8} {:>9.4f} {:>9.4f} {:>6}  {}\n", ellipsize(record.name, 12),
               record.refusal.value_or(false) ? "yes" : "no", final_sigma, min_sigma, record.steps.value_or(0),
               ellipsize(response, 60));
  }
}

// Scores the test prompts and writes signals.json, signals.csv, signal.png and signal.svg.
void score_and_write(ModelSession& wrapper, const Centers& centers, const RunOptions& options, const fs::path& folder,
                     const GlobalOptions& globals) {
  const ScoredTests scored = score_tests(wrapper, centers, read_test_prompts(options), options.model.metric, globals);
  io::write_signals_json(folder / "signals.json", scored.set);
  io::write_signals_csv(folder / "signals.csv", scored.set);

  plot::FigureOptions figure;
  figure.title = fmt::format("SRI signal: {}", centers.metadata.model_name);
  plot::write_figure(folder / "signal.png", scored.series, figure);
  plot::write_figure(folder / "signal.svg", scored.series, figure);

  print_signal_table(scored.set);
  if (!globals.quiet) fmt::print(stderr, "wrote {}\n", (folder / "signals.json").string());
}

// Fills in the profile's missing values, checks every flag and resolves the composition for the
// model, all before any weight is loaded.
SessionRequest prepare_session(const ModelOptions& options, const fs::path& model_path) {
  const ModelOptions complete = with_defaults(options);
  validate_model_options(complete);
  return plan_session(complete, model_path);
}

// Loads the composition that prepare_session chose.
std::unique_ptr<ModelSession> open_session(SessionRequest request, const GlobalOptions& globals) {
  const auto start = std::chrono::steady_clock::now();
  std::unique_ptr<ModelSession> session;
  if (request.architecture == "llada") {
    session = open_llada_session(std::move(request));
  } else if (request.architecture == "dream") {
    session = open_dream_session(std::move(request));
  } else {
    session = open_autoregressive_session(std::move(request));
  }
  if (!globals.quiet) {
    fmt::print(stderr, "loaded {} ({}, hidden size {}, {} layers) in {:.1f} s\n", session->checkpoint().display_name(),
               session->checkpoint().architecture(), session->hidden_size(), session->num_layers(),
               std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  return session;
}

std::string display_name_of(const fs::path& model_path) {
  return io::Checkpoint::open(model_path)->display_name();
}

// Loads centers that carry metadata; the model verbs need it to check the request.
Centers centers_with_metadata(const std::string& path) {
  require_input_file(path, "--centers");
  io::CentersFile stored = io::load_centers(path);
  if (!stored.metadata) {
    raise("sri.cli.centers_without_metadata",
          fmt::format("--centers {} carries no metadata (a reference .pt file), so it cannot be checked against "
                      "this model and profile; score saved activations with 'sri signal --activations' instead",
                      path));
  }
  return Centers{std::move(stored.centers), *stored.metadata};
}

void run_verb(const RunOptions& options, const GlobalOptions& globals) {
  validate_model_options(with_defaults(options.model));
  const fs::path model_path = resolve_model(options.model);
  SessionRequest request = prepare_session(options.model, model_path);
  const fs::path folder = options.out.empty() ? fs::path("results") / display_name_of(model_path) : fs::path(options.out);
  prepare_output_folder(folder, "--out");
  read_test_prompts(options);  // reports a bad prompt file before the model loads
  std::optional<CenterPrompts> center_prompts;
  if (options.centers_file.empty()) {
    center_prompts = read_center_prompts(options.centers);
  } else {
    require_input_file(options.centers_file, "--centers");
  }

  const std::unique_ptr<ModelSession> session = open_session(std::move(request), globals);
  session->check_prompts(read_test_prompts(options).texts, "the test prompts");
  Centers centers;
  if (!options.centers_file.empty()) {
    centers = centers_with_metadata(options.centers_file);
  } else {
    centers = obtain_centers(*session, options.centers, *center_prompts, folder / "centers.safetensors",
                             options.rebuild, globals);
  }
  score_and_write(*session, centers, options, folder, globals);
}

void centers_verb(const CentersVerbOptions& options, const GlobalOptions& globals) {
  validate_model_options(with_defaults(options.model));
  const fs::path model_path = resolve_model(options.model);
  SessionRequest request = prepare_session(options.model, model_path);
  const fs::path file = options.out.empty() ? fs::path("results") / display_name_of(model_path) / "centers.safetensors"
                                            : fs::path(options.out);
  if (!file.has_filename() || fs::is_directory(file)) {
    raise("sri.cli.invalid_value",
          fmt::format("--out {} is a folder; pass a file name such as {}", options.out,
                      (file / "centers.safetensors").string()));
  }
  prepare_output_folder(file.parent_path().empty() ? fs::path(".") : file.parent_path(), "--out");
  const CenterPrompts prompts = read_center_prompts(options.centers);
  const std::unique_ptr<ModelSession> session = open_session(std::move(request), globals);
  obtain_centers(*session, options.centers, prompts, file, /*rebuild=*/true, globals);
}

}  // namespace

void run_model_signal(const ModelSignalRequest& request, const GlobalOptions& globals) {
  if (!request.json_output.empty()) {
    require_extension(request.json_output, {".json"}, "--json");
    require_output_folder(request.json_output, "--json");
  }
  if (!request.csv_output.empty()) {
    require_extension(request.csv_output, {".csv"}, "--csv");
    require_output_folder(request.csv_output, "--csv");
  }
  const Centers centers = centers_with_metadata(request.centers);

  // The profile, hook point and pooling rule come from the centers, so scoring repeats the
  // conditions they were built under; sig_t and eps are scoring parameters and may differ.
  ModelOptions options;
  options.model = request.model;
  options.profile = centers.metadata.profile;
  options.profile.sig_t = request.sig_t;
  options.profile.eps = request.eps;
  options.pooling = centers.metadata.pooling;
  const std::string& sampler = centers.metadata.profile.sampler;
  if (sampler == left_to_right_sampler_id) {
    options.sampling = "ar";
  } else if (sampler == llada_sampler_id) {
    options.sampling = "diffusion";
  } else if (sampler.starts_with(dream_sampler_prefix)) {
    options.sampling = "diffusion";
    options.sampler = sampler.substr(dream_sampler_prefix.size());
  }
  const model::HookPoint point = model::HookPoint::parse(centers.metadata.hook_point);
  if (point.kind == model::HookPoint::Kind::resid_post) {
    options.layer = std::to_string(point.layer);
  } else if (point.kind != model::HookPoint::Kind::final_norm_out) {
    raise("sri.cli.unsupported", fmt::format("centers at hook point {} cannot be scored by the tool; it reads "
                                             "final_norm_out or resid_post.L",
                                             centers.metadata.hook_point));
  }
  options.metric = request.metric;
  options.threads = request.threads;
  validate_model_options(options);
  const fs::path model_path = resolve_model(options);
  // The profile, pooling rule and hook point come from the centers, so a value this model cannot
  // run is a property of the centers file, not of a flag the user passed.
  SessionRequest session_request;
  try {
    session_request = prepare_session(options, model_path);
  } catch (const Error& error) {
    if (error.id() != "sri.cli.invalid_value") throw;  // a model file problem, reported as it is
    raise(error.id(), fmt::format("the centers {} were built with settings that {} cannot run (flag names in the rest of this "
                                  "message mean those settings): {}",
                                  request.centers, model_path.string(), error.message()));
  }

  RunOptions prompts;
  prompts.prompts = request.prompts;
  prompts.prompts_file = request.prompts_file;
  const TestPrompts tests = read_test_prompts(prompts);

  const std::unique_ptr<ModelSession> session = open_session(std::move(session_request), globals);
  const ScoredTests scored = score_tests(*session, centers, tests, options.metric, globals);
  if (!request.json_output.empty()) io::write_signals_json(request.json_output, scored.set);
  if (!request.csv_output.empty()) io::write_signals_csv(request.csv_output, scored.set);
  print_signal_table(scored.set);
}

Verb add_run_verb(CLI::App& app, const GlobalOptions& globals) {
  auto options = std::make_shared<RunOptions>();
  CLI::App* command = app.add_subcommand(
      "run", "Build (or reuse) the centers, generate the test prompts and write their SRI signals, a CSV and a figure");
  add_model_flags(command, options->model);
  add_center_flags(command, options->centers);
  command->add_option("--prompt", options->prompts, "Test prompt (repeatable); default: three built-in prompts");
  command->add_option("--prompts", options->prompts_file, "File of test prompts (CSV, JSON, JSON Lines or text)");
  command->add_option("--prompts-field", options->prompts_field, "CSV column or JSON field of --prompts");
  command->add_option("--out", options->out, "Output folder (default: results/<model name>)");
  command->add_option("--centers", options->centers_file, "Use these centers (library safetensors) instead of building");
  command->add_flag("--rebuild", options->rebuild, "Build the centers even when matching ones exist in the output folder");
  return Verb{command, [options, &globals] { run_verb(*options, globals); }};
}

Verb add_centers_verb(CLI::App& app, const GlobalOptions& globals) {
  auto options = std::make_shared<CentersVerbOptions>();
  CLI::App* command = app.add_subcommand("centers", "Build the harmless and harmful centers of a model and write them");
  add_model_flags(command, options->model);
  add_center_flags(command, options->centers);
  command->add_option("--out", options->out, "Centers file (default: results/<model name>/centers.safetensors)");
  return Verb{command, [options, &globals] { centers_verb(*options, globals); }};
}

}  // namespace sri::cli
