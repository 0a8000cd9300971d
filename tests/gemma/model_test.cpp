// Gemma 2 and Gemma 3 backbones against Hugging Face transformers (golden files from
// make_golden.py): final-norm states, logits and 32-step greedy ids of tiny random checkpoints
// (soft-capping, sliding windows, q/k norms and (1 + w) norms all active) and of the real Gemma 3
// 270M Q4_K_M GGUF. The real-model cases exit with 77 (skipped) when the model is not downloaded.
//
// Tolerances, float32 on CPU on both sides:
//   tiny checkpoints: max abs error 5e-5 on final-norm states and logits (values of order 1-10; measured about 6e-6);
//   Gemma 3 270M: final-norm states and logits within 2e-3 of the largest magnitude in the
//   compared row (relative), because 18 layers of float32 sums in a different order drift more.

#include <sri/generate/autoregressive.hpp>
#include <sri/io/checkpoint.hpp>
#include <sri/model/gemma.hpp>

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <vector>

namespace {

const std::filesystem::path gemma_dir = std::filesystem::path(SRI_TEST_DATA_DIR) / "gemma";
const std::filesystem::path gemma_gguf = std::filesystem::path(SRI_MODEL_CACHE) / "gemma-3-270m.Q4_K_M.gguf";

nlohmann::json load_json(const std::filesystem::path& path) {
  std::ifstream stream(path);
  REQUIRE_MESSAGE(stream.good(), "cannot open ", path.string());
  return nlohmann::json::parse(stream);
}

// Keeps every position of the final-norm output of step 0.
class FinalNormCapture final : public sri::model::ActivationSink {
 public:
  sri::model::PositionSelection wants(const sri::model::HookPoint& point, int64_t step) override {
    if (point == sri::model::HookPoint::final_norm_out() && step == 0) return sri::model::PositionSelection::all();
    return sri::model::PositionSelection::none();
  }
  void receive(const sri::model::HookPoint&, int64_t, const at::Tensor& activations) override {
    states = activations[0].to(at::kFloat).clone();  // [seq, hidden]
  }
  at::Tensor states;
};

at::Tensor to_tensor(const nlohmann::json& rows) {
  std::vector<float> flat;
  int64_t columns = 0;
  for (const auto& row : rows) {
    columns = static_cast<int64_t>(row.size());
    for (const auto& value : row) flat.push_back(value.get<float>());
  }
  return at::tensor(flat).view({static_cast<int64_t>(rows.size()), columns});  // [rows, columns]
}

at::Tensor to_vector(const nlohmann::json& values) {
  std::vector<float> flat;
  for (const auto& value : values) flat.push_back(value.get<float>());
  return at::tensor(flat);
}

double max_abs_error(const at::Tensor& actual, const at::Tensor& expected) {
  return (actual - expected).abs().max().item<double>();
}

at::Tensor ids_tensor(const std::vector<int64_t>& ids) {
  return at::tensor(ids, at::TensorOptions().dtype(at::kLong)).view({1, -1});  // [1, seq]
}

// Runs the prompt without a cache and returns its final-norm states and logits.
std::pair<at::Tensor, at::Tensor> run_prompt(const sri::model::Gemma& model, const std::vector<int64_t>& ids) {
  FinalNormCapture capture;
  sri::model::ForwardInput input;
  input.tokens = ids_tensor(ids);
  const auto output = model.forward(input, nullptr, &capture);
  REQUIRE(capture.states.defined());
  return {capture.states, output.logits[0]};  // [seq, hidden], [seq, vocab]
}

// Greedy decoding with the KV cache: a prefill, then one column per step.
std::vector<int64_t> greedy_with_cache(const sri::model::Gemma& model, const std::vector<int64_t>& prompt,
                                       int64_t steps) {
  sri::model::KvCache cache = model.make_cache(1, static_cast<int64_t>(prompt.size()) + steps);
  sri::model::ForwardInput input;
  input.tokens = ids_tensor(prompt);
  input.logits_last_only = true;
  std::vector<int64_t> generated;
  for (int64_t step = 0; step < steps; ++step) {
    input.step = step;
    const auto output = model.forward(input, &cache);
    const int64_t next = output.logits[0][-1].argmax().item<int64_t>();
    generated.push_back(next);
    input.tokens = ids_tensor({next});
  }
  return generated;
}

void check_tiny(const std::string& name) {
  const auto checkpoint = sri::io::Checkpoint::open(gemma_dir / "data" / name);
  const auto model = sri::model::Gemma::from_checkpoint(*checkpoint);
  const auto golden = load_json(gemma_dir / "golden" / (name + ".json"));
  for (const auto& entry : golden.at("cases")) {
    const auto ids = entry.at("ids").get<std::vector<int64_t>>();
    INFO(name, " prompt of ", ids.size(), " tokens");
    const auto [states, logits] = run_prompt(model, ids);
    const double states_error = max_abs_error(states, to_tensor(entry.at("final_norm")));
    const double logits_error = max_abs_error(logits, to_tensor(entry.at("logits")));
    MESSAGE(name, " ", ids.size(), " tokens: final-norm max abs error ", states_error, ", logits max abs error ",
            logits_error);
    CHECK(states_error < 5e-5);  // tolerance: float32 on both sides
    CHECK(logits_error < 5e-5);
    CHECK(greedy_with_cache(model, ids, 32) == entry.at("greedy_ids").get<std::vector<int64_t>>());
  }
}

}  // namespace

TEST_CASE("tiny Gemma 2 matches transformers") { check_tiny("tiny_gemma2"); }

TEST_CASE("tiny Gemma 3 matches transformers") { check_tiny("tiny_gemma3"); }

TEST_CASE("tiny Gemma batched greedy matches") {
  // Prompts of 10, 2 and 12 tokens in one left-padded batch: padding must not shift positions or
  // the sliding window (4) of any row, for either generation.
  for (const std::string name : {"tiny_gemma2", "tiny_gemma3"}) {
    const auto checkpoint = sri::io::Checkpoint::open(gemma_dir / "data" / name);
    const auto model = sri::model::Gemma::from_checkpoint(*checkpoint);
    const auto golden = load_json(gemma_dir / "golden" / (name + ".json"));
    sri::generate::TokenBatch prompts;
    for (const auto& entry : golden.at("cases")) prompts.push_back(entry.at("ids").get<std::vector<int64_t>>());
    for (const auto recompute : {sri::generate::Recompute::kv_cache, sri::generate::Recompute::full_sequence}) {
      sri::generate::Autoregressive<> strategy(32, {}, recompute);
      const auto result = strategy.run(model, prompts);
      REQUIRE(result.tokens.size() == prompts.size());
      for (std::size_t row = 0; row < prompts.size(); ++row) {
        INFO(name, " row ", row, recompute == sri::generate::Recompute::kv_cache ? " (KV cache)" : " (recomputed)");
        CHECK(result.tokens[row] == golden.at("cases")[row].at("greedy_ids").get<std::vector<int64_t>>());
      }
    }
  }
}

TEST_CASE("Gemma options read config spellings") {
  const auto checkpoint = sri::io::Checkpoint::open(gemma_dir / "data/tiny_gemma3");
  sri::model::ModelConfig config = sri::model::ModelConfig::from_hf_json(checkpoint->config(), "gemma3");
  const auto options = sri::model::GemmaOptions::from_hf_json(checkpoint->config(), config);
  CHECK(options.sliding_layers == std::vector<bool>{true, true, false, true});
  CHECK(options.local_rope_theta == 100.0);
  CHECK(config.rope_theta == 1000000.0);
  CHECK(options.query_pre_attn_scalar == 24.0);
  CHECK(options.qk_norm);

  // The transformers 4 spelling that GGUF checkpoints also produce: a period instead of a list.
  nlohmann::json v4 = {{"vocab_size", 10}, {"hidden_size", 8}, {"num_hidden_layers", 18}, {"num_attention_heads", 2},
                       {"num_key_value_heads", 1}, {"head_dim", 4}, {"intermediate_size", 16},
                       {"rope_theta", 1000000.0}, {"rope_local_base_freq", 10000.0}, {"sliding_window_pattern", 6},
                       {"sliding_window", 512}};
  sri::model::ModelConfig v4_config = sri::model::ModelConfig::from_hf_json(v4, "gemma3");
  const auto v4_options = sri::model::GemmaOptions::from_hf_json(v4, v4_config);
  for (int64_t l = 0; l < 18; ++l) {
    INFO("layer ", l);
    CHECK(v4_options.sliding_layers[static_cast<std::size_t>(l)] == (l != 5 && l != 11 && l != 17));
  }
  CHECK(v4_options.local_rope_theta == 10000.0);
  CHECK(v4_config.rope_theta == 1000000.0);

  nlohmann::json wrong = v4;
  wrong["hidden_activation"] = "silu";
  CHECK_THROWS_WITH_AS(sri::model::GemmaOptions::from_hf_json(wrong, v4_config),
                       doctest::Contains("gelu_pytorch_tanh"), sri::Error);
}

TEST_CASE("Gemma non-finite hidden state stops") {
  const auto checkpoint = sri::io::Checkpoint::open(gemma_dir / "data/tiny_gemma2");
  sri::model::ModelConfig config = sri::model::ModelConfig::from_hf_json(checkpoint->config(), "gemma2");
  auto options = sri::model::GemmaOptions::from_hf_json(checkpoint->config(), config);
  // Layer 1's MLP output weights overflow to infinity, as float16 Gemma activations can.
  sri::model::WeightSource source = sri::model::weights_of(*checkpoint);
  const auto load = source.load;
  source.load = [load](const std::string& name, at::ScalarType dtype) {
    at::Tensor weight = load(name, dtype);
    if (name == "model.layers.1.mlp.down_proj.weight") weight.fill_(std::numeric_limits<float>::infinity());
    return weight;
  };
  const sri::model::Gemma model(config, options, source, checkpoint->end_token_ids());

  class EveryLayer final : public sri::model::ActivationSink {
   public:
    sri::model::PositionSelection wants(const sri::model::HookPoint&, int64_t) override {
      return sri::model::PositionSelection::last();
    }
    void receive(const sri::model::HookPoint& point, int64_t, const at::Tensor&) override { seen.push_back(point.name()); }
    std::vector<std::string> seen;
  } sink;
  sri::model::ForwardInput input;
  input.tokens = ids_tensor({2, 17, 45});
  input.step = 3;
  try {
    (void)model.forward(input, nullptr, &sink);
    FAIL("a non-finite hidden state was passed to the hook");
  } catch (const sri::Error& error) {
    CHECK(error.id() == "sri.model.non_finite");
    CHECK(std::string(error.what()).find("resid_post.1") != std::string::npos);
    CHECK(std::string(error.what()).find("step 3") != std::string::npos);
  }
  CHECK(sink.seen == std::vector<std::string>{"embed_out", "resid_post.0"});
}

TEST_CASE("Gemma rejects other architectures") {
  const auto checkpoint = sri::io::Checkpoint::open(gemma_dir / "data/tiny_gemma3");
  struct Renamed {
    const sri::io::Checkpoint& inner;
    std::string architecture() const { return "llama"; }
    const nlohmann::json& config() const { return inner.config(); }
    std::vector<int64_t> end_token_ids() const { return inner.end_token_ids(); }
    bool contains(std::string_view name) const { return inner.contains(name); }
    at::Tensor load(std::string_view name, at::ScalarType dtype) const { return inner.load(name, dtype); }
  } renamed{*checkpoint};
  CHECK_THROWS_WITH_AS(sri::model::Gemma::from_checkpoint(renamed), doctest::Contains("gemma2 and gemma3"),
                       sri::Error);
}

TEST_CASE("Gemma 3 270M matches transformers") {
  if (!std::filesystem::exists(gemma_gguf)) {
    MESSAGE("skipped: ", gemma_gguf.string(), " is missing; run scripts/fetch-models.sh");
    std::exit(77);
  }
  const auto golden_path = gemma_dir / "golden/gemma3_270m.json";
  if (!std::filesystem::exists(golden_path)) {
    // NOTE: the golden file is produced on a machine with the model by make_golden.py --only real.
    MESSAGE("skipped: ", golden_path.string(), " is missing; run tests/gemma/make_golden.py --only real");
    std::exit(77);
  }
  const auto golden = load_json(golden_path);
  const auto checkpoint = sri::io::Checkpoint::open(gemma_gguf);
  CHECK(checkpoint->architecture() == "gemma3");
  sri::model::RuntimeOptions runtime;
  runtime.threads = 2;
  const auto model = sri::model::Gemma::from_checkpoint(*checkpoint, runtime);
  CHECK(model.gemma_options().sliding_window == 512);
  CHECK(model.gemma_options().local_rope_theta == 10000.0);
  CHECK(model.end_token_ids() == std::vector<int64_t>{1, 106});  // <eos>, <end_of_turn>

  for (const auto& entry : golden.at("forward")) {
    const auto ids = entry.at("ids").get<std::vector<int64_t>>();
    INFO("prompt: ", entry.at("text").get<std::string>());
    const auto [states, logits] = run_prompt(model, ids);
    const at::Tensor first = to_vector(entry.at("final_norm_first"));
    const at::Tensor last = to_vector(entry.at("final_norm_last"));
    const double first_error = max_abs_error(states[0], first) / first.abs().max().item<double>();
    const double last_error = max_abs_error(states[-1], last) / last.abs().max().item<double>();
    const at::Tensor l2 = to_vector(entry.at("final_norm_l2"));
    const double l2_error = ((states.norm(2, -1) - l2).abs() / l2).max().item<double>();

    // Logits at the reference's top-8 ids of every position, and each position's logsumexp.
    const at::Tensor top_ids = to_tensor(entry.at("logits_top_ids")).to(at::kLong);  // [seq, 8]
    const at::Tensor top_values = to_tensor(entry.at("logits_top_values"));          // [seq, 8]
    const at::Tensor scale = top_values.abs().amax(-1, true);                        // [seq, 1]
    const double top_error = ((logits.gather(1, top_ids) - top_values).abs() / scale).max().item<double>();
    const at::Tensor logsumexp = to_vector(entry.at("logits_logsumexp"));
    const double logsumexp_error = ((at::logsumexp(logits, -1) - logsumexp).abs() / logsumexp.abs()).max().item<double>();
    const bool same_argmax = at::equal(logits.argmax(-1), top_ids.select(1, 0));
    MESSAGE("Gemma 3 270M, ", ids.size(), " tokens: final-norm rel error first ", first_error, " last ", last_error,
            " l2 ", l2_error, "; logits top-8 rel error ", top_error, ", logsumexp rel error ", logsumexp_error);
    CHECK(first_error < 2e-3);  // tolerance: relative to the row's largest magnitude
    CHECK(last_error < 2e-3);
    CHECK(l2_error < 2e-3);
    CHECK(top_error < 2e-3);
    CHECK(logsumexp_error < 2e-3);
    CHECK(same_argmax);
  }

  for (const auto& entry : golden.at("greedy")) {
    const auto ids = entry.at("ids").get<std::vector<int64_t>>();
    INFO("chat prompt: ", entry.at("user").get<std::string>());
    CHECK(greedy_with_cache(model, ids, 32) == entry.at("greedy_ids").get<std::vector<int64_t>>());
  }
}
