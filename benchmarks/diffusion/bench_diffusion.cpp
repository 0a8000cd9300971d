// Forward passes per second of sri::model::Llada and sri::model::Dream with random weights, and
// the cost of one LLaDA or Dream sampling step given the logits (the forward pass excluded).
//
// Sizes: "tiny" is the golden-test geometry (hidden 32, 2 layers, 4 heads, vocab 256). "135M" is
// the SmolLM2-135M geometry (hidden 576, 30 layers, 9 query and 3 key/value heads, MLP 1536,
// vocab 49152) plus an untied output matrix, so about 163M parameters in all. Each pass runs one
// canvas of 32 prompt and 128 response tokens, batch 1, float32 on the CPU.

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <benchmark/benchmark.h>

#include <map>
#include <string>

#include <nlohmann/json.hpp>

#include "sri/generate/dream_sampler.hpp"
#include "sri/generate/llada_schedule.hpp"
#include "sri/model/dream.hpp"
#include "sri/model/llada.hpp"

namespace {

constexpr int64_t prompt_tokens = 32;
constexpr int64_t response_tokens = 128;

struct Geometry {
  int64_t hidden, layers, heads, kv_heads, mlp, vocab;
};
constexpr Geometry tiny{32, 2, 4, 4, 48, 256};
constexpr Geometry class_135m{576, 30, 9, 3, 1536, 49152};

// config.json plus normally distributed tensors (std 0.02, norms 1) under Hugging Face names.
class RandomWeights {
 public:
  RandomWeights(nlohmann::json config, std::map<std::string, std::vector<int64_t>> shapes)
      : config_(std::move(config)) {
    at::Generator generator = at::detail::createCPUGenerator(1);
    for (const auto& [name, shape] : shapes) {
      const bool norm = name.find("norm") != std::string::npos || name.find("ln_f") != std::string::npos;
      tensors_[name] = norm ? at::ones(shape) : at::randn(shape, generator) * 0.02;
      parameters_ += tensors_[name].numel();
    }
  }
  const nlohmann::json& config() const { return config_; }
  at::Tensor load(std::string_view name, at::ScalarType dtype) const { return tensors_.at(std::string(name)).to(dtype); }
  int64_t parameters() const { return parameters_; }

 private:
  nlohmann::json config_;
  std::map<std::string, at::Tensor> tensors_;
  int64_t parameters_ = 0;
};

RandomWeights llada_weights(const Geometry& g) {
  nlohmann::json config = {{"d_model", g.hidden}, {"n_layers", g.layers}, {"n_heads", g.heads},
                           {"n_kv_heads", g.kv_heads}, {"mlp_hidden_size", g.mlp}, {"vocab_size", g.vocab},
                           {"embedding_size", g.vocab}, {"rms_norm_eps", 1e-5}, {"rope_theta", 500000.0},
                           {"mask_token_id", g.vocab - 1}, {"eos_token_id", g.vocab - 2}, {"weight_tying", false}};
  const int64_t kv = g.kv_heads * (g.hidden / g.heads);
  std::map<std::string, std::vector<int64_t>> shapes = {{"model.transformer.wte.weight", {g.vocab, g.hidden}},
                                                        {"model.transformer.ln_f.weight", {g.hidden}},
                                                        {"model.transformer.ff_out.weight", {g.vocab, g.hidden}}};
  for (int64_t n = 0; n < g.layers; ++n) {
    const std::string p = "model.transformer.blocks." + std::to_string(n) + ".";
    shapes[p + "attn_norm.weight"] = {g.hidden};
    shapes[p + "ff_norm.weight"] = {g.hidden};
    shapes[p + "q_proj.weight"] = {g.hidden, g.hidden};
    shapes[p + "k_proj.weight"] = {kv, g.hidden};
    shapes[p + "v_proj.weight"] = {kv, g.hidden};
    shapes[p + "attn_out.weight"] = {g.hidden, g.hidden};
    shapes[p + "ff_proj.weight"] = {g.mlp, g.hidden};
    shapes[p + "up_proj.weight"] = {g.mlp, g.hidden};
    shapes[p + "ff_out.weight"] = {g.hidden, g.mlp};
  }
  return RandomWeights(config, shapes);
}

RandomWeights dream_weights(const Geometry& g) {
  nlohmann::json config = {{"hidden_size", g.hidden}, {"num_hidden_layers", g.layers},
                           {"num_attention_heads", g.heads}, {"num_key_value_heads", g.kv_heads},
                           {"intermediate_size", g.mlp}, {"vocab_size", g.vocab}, {"rms_norm_eps", 1e-6},
                           {"rope_theta", 1000000.0}, {"mask_token_id", g.vocab - 1}, {"eos_token_id", g.vocab - 2},
                           {"tie_word_embeddings", false}, {"rope_scaling", nullptr}};
  const int64_t kv = g.kv_heads * (g.hidden / g.heads);
  std::map<std::string, std::vector<int64_t>> shapes = {{"model.embed_tokens.weight", {g.vocab, g.hidden}},
                                                        {"model.norm.weight", {g.hidden}},
                                                        {"lm_head.weight", {g.vocab, g.hidden}}};
  for (int64_t n = 0; n < g.layers; ++n) {
    const std::string p = "model.layers." + std::to_string(n) + ".";
    shapes[p + "input_layernorm.weight"] = {g.hidden};
    shapes[p + "post_attention_layernorm.weight"] = {g.hidden};
    shapes[p + "self_attn.q_proj.weight"] = {g.hidden, g.hidden};
    shapes[p + "self_attn.q_proj.bias"] = {g.hidden};
    shapes[p + "self_attn.k_proj.weight"] = {kv, g.hidden};
    shapes[p + "self_attn.k_proj.bias"] = {kv};
    shapes[p + "self_attn.v_proj.weight"] = {kv, g.hidden};
    shapes[p + "self_attn.v_proj.bias"] = {kv};
    shapes[p + "self_attn.o_proj.weight"] = {g.hidden, g.hidden};
    shapes[p + "mlp.gate_proj.weight"] = {g.mlp, g.hidden};
    shapes[p + "mlp.up_proj.weight"] = {g.mlp, g.hidden};
    shapes[p + "mlp.down_proj.weight"] = {g.hidden, g.mlp};
  }
  return RandomWeights(config, shapes);
}

at::Tensor canvas(int64_t vocab) {  // [1, prompt + response]
  at::Tensor tokens = at::full({1, prompt_tokens + response_tokens}, vocab - 1, at::TensorOptions().dtype(at::kLong));
  tokens.narrow(1, 0, prompt_tokens).copy_(at::arange(prompt_tokens, at::TensorOptions().dtype(at::kLong)).view({1, -1}));
  return tokens;
}

template <class Model>
void run_forward(benchmark::State& state, const RandomWeights& weights, const Geometry& g) {
  const Model model(weights);
  const at::Tensor tokens = canvas(g.vocab);
  for (auto _ : state) {
    sri::model::ForwardInput input{tokens, {}, 0, false};
    at::Tensor logits = model.forward(input, nullptr, nullptr).logits;
    benchmark::DoNotOptimize(logits.data_ptr<float>());
  }
  state.counters["passes_per_s"] = benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
  state.counters["parameters"] = static_cast<double>(weights.parameters());
}

void BM_LladaForwardTiny(benchmark::State& state) { run_forward<sri::model::Llada>(state, llada_weights(tiny), tiny); }
void BM_DreamForwardTiny(benchmark::State& state) { run_forward<sri::model::Dream>(state, dream_weights(tiny), tiny); }
void BM_LladaForward135M(benchmark::State& state) {
  run_forward<sri::model::Llada>(state, llada_weights(class_135m), class_135m);
}
void BM_DreamForward135M(benchmark::State& state) {
  run_forward<sri::model::Dream>(state, dream_weights(class_135m), class_135m);
}

// One LLaDA commit step on logits of the given vocabulary (0 = temperature 0, 1 = temperature 0.5
// with float64 Gumbel noise), 8 commits in a block of 32, half of the block still masked.
void BM_LladaSamplerStep(benchmark::State& state) {
  const int64_t vocab = state.range(0);
  const bool noisy = state.range(1) != 0;
  at::Generator generator = at::detail::createCPUGenerator(2);
  const at::Tensor logits = at::randn({1, prompt_tokens + response_tokens, vocab}, generator);
  sri::generate::LladaProfile profile;
  profile.temperature = noisy ? 0.5 : 0.0;
  sri::generate::LladaTokens tokens{vocab - 1, vocab - 2, vocab - 3};
  const at::Tensor counts = at::full({1}, 8, at::TensorOptions().dtype(at::kLong));
  for (auto _ : state) {
    at::Tensor x = canvas(vocab);
    at::Tensor committed = sri::generate::llada_commit_step(x, logits, prompt_tokens + 32, counts, profile, tokens, generator,
                                                                         prompt_tokens);
    benchmark::DoNotOptimize(committed.data_ptr<bool>());
  }
}

// One Dream entropy step over a fully masked response of 128 tokens.
void BM_DreamSamplerStep(benchmark::State& state) {
  const int64_t vocab = state.range(0);
  at::Generator generator = at::detail::createCPUGenerator(3);
  const at::Tensor logits = at::randn({1, prompt_tokens + response_tokens, vocab}, generator);
  sri::generate::DreamProfile profile;
  profile.steps = 32;
  profile.algorithm = sri::generate::DreamAlgorithm::entropy;
  const at::Tensor timesteps = sri::generate::dream_timesteps(profile.steps, profile.eps);
  for (auto _ : state) {
    at::Tensor x = canvas(vocab);
    at::Tensor committed = sri::generate::dream_commit_step(x, logits, 1, timesteps, vocab - 1, profile, generator);
    benchmark::DoNotOptimize(committed.data_ptr<bool>());
  }
}

}  // namespace

BENCHMARK(BM_LladaForwardTiny)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_DreamForwardTiny)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_LladaForward135M)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(5);
BENCHMARK(BM_DreamForward135M)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(5);
// Vocabularies: the tiny one, SmolLM2's, LLaDA-8B's (126464) and Dream-7B's (152064).
BENCHMARK(BM_LladaSamplerStep)->Unit(benchmark::kMillisecond)->UseRealTime()
    ->Args({256, 0})->Args({49152, 0})->Args({126464, 0})->Args({126464, 1});
BENCHMARK(BM_DreamSamplerStep)->Unit(benchmark::kMillisecond)->UseRealTime()->Args({256})->Args({49152})->Args({152064});

BENCHMARK_MAIN();
