// SmolLM2-135M-Instruct (Q4_1 GGUF) against Hugging Face transformers, which dequantizes the same
// file to float32 (tests/model/golden/make_golden.py). Skipped (exit code 77) when the model file
// is not in the model cache.

#include <cstdlib>
#include <filesystem>
#include <iostream>

// libtorch 1.13 pulls in glog, whose CHECK macro would replace doctest's, so doctest comes last.
#include "sri/generate/autoregressive.hpp"
#include "support.hpp"
#if __has_include("sri/io/checkpoint.hpp")
#include "sri/io/checkpoint.hpp"
#define SRI_TEST_HAS_CHECKPOINT 1
#else
#include "gguf_weights.hpp"
#endif

#include <doctest/doctest.h>

namespace {

const std::filesystem::path kModel = std::filesystem::path(SRI_MODEL_CACHE) / "SmolLM2-135M-Instruct.Q4_1.gguf";

// Both sides run float32 over identical dequantized weights. Differently ordered sums through 30
// layers gave max abs errors of 6.1e-5 (states) and 4.6e-5 (logits) with transformers 5.25.
constexpr double kStateAbsTolerance = 5e-4;
constexpr double kLogitAbsTolerance = 5e-4;

sri::model::Llama& smollm2() {
  if (!std::filesystem::exists(kModel)) {
    std::cout << "skipped: " << kModel << " not found; run scripts/fetch-models.sh\n";
    std::exit(77);
  }
  const sri::model::RuntimeOptions options{at::kCPU, at::kFloat, 2};
#ifdef SRI_TEST_HAS_CHECKPOINT
  static auto checkpoint = sri::io::Checkpoint::open(kModel);
  static sri::model::Llama model = sri::model::Llama::from_checkpoint(*checkpoint, options);
#else
  static sri_test::GgufLlama gguf = sri_test::open_gguf_llama(kModel);
  static sri::model::Llama model(gguf.config, sri_test::weights_of_gguf(gguf), gguf.end_token_ids, options);
#endif
  return model;
}

const nlohmann::json& golden() {
  static const nlohmann::json data = sri_test::read_json(sri_test::golden_dir() / "smollm2.json");
  return data;
}

}  // namespace

TEST_CASE("SmolLM2 final-norm states and logits match transformers") {
  auto& model = smollm2();
  CHECK(model.config().hidden_size == 576);
  CHECK(model.config().num_layers == 30);
  CHECK(model.end_token_ids() == golden()["end_token_ids"].get<std::vector<int64_t>>());

  for (const auto& entry : golden()["forward"]) {
    const auto ids = entry["ids"].get<std::vector<int64_t>>();
    const auto vector_positions = entry["vector_positions"].get<std::vector<int64_t>>();
    sri_test::Capture capture;
    sri::hook::SinkFor<sri_test::Capture> sink(capture);
    auto out = model.forward(sri::model::ForwardInput{sri_test::ids_tensor(ids)}, nullptr, &sink);
    at::Tensor states = capture.by_step.at(0)[0];  // [seq, hidden]
    at::Tensor logits = out.logits[0];             // [seq, vocab]

    // Every position: max logit, argmax and state sums.
    auto logit_max = sri_test::compare(std::get<0>(logits.max(-1)), entry["logit_max"].get<std::vector<double>>());
    auto state_sum = sri_test::compare(states.to(at::kDouble).sum(-1), entry["state_sum"].get<std::vector<double>>());
    CHECK(logits.argmax(-1).equal(at::tensor(entry["logit_argmax"].get<std::vector<int64_t>>(), at::kLong)));

    // Selected positions: the full state vector and the 64 largest logits.
    at::Tensor index = at::tensor(vector_positions, at::kLong);
    auto full_states = sri_test::compare(states.index_select(0, index), entry["final_norm"].get<std::vector<double>>());
    at::Tensor top_ids = at::tensor(entry["top_logit_ids"].get<std::vector<int64_t>>(), at::kLong).view({static_cast<int64_t>(vector_positions.size()), -1});
    auto top_logits = sri_test::compare(logits.index_select(0, index).gather(1, top_ids),
                                        entry["top_logit_values"].get<std::vector<double>>());
    MESSAGE("SmolLM2 prompt of " << ids.size() << " tokens: final_norm max abs " << full_states.max_abs << " rel "
                                 << full_states.max_rel << "; top-64 logits max abs " << top_logits.max_abs << " rel "
                                 << top_logits.max_rel << "; per-position max logit abs " << logit_max.max_abs
                                 << "; state sum abs " << state_sum.max_abs);
    CHECK(full_states.max_abs < kStateAbsTolerance);
    CHECK(top_logits.max_abs < kLogitAbsTolerance);
    CHECK(logit_max.max_abs < kLogitAbsTolerance);
    CHECK(state_sum.max_abs < kStateAbsTolerance * 576);
  }
}

TEST_CASE("SmolLM2 greedy continuations are token identical") {
  auto& model = smollm2();
  sri::generate::TokenBatch prompts;
  for (const auto& entry : golden()["greedy"]) prompts.push_back(entry["prompt_ids"].get<std::vector<int64_t>>());
  REQUIRE(prompts.size() == 10);

  sri::generate::Autoregressive<> strategy(golden()["greedy_steps"].get<int64_t>());
  auto batched = strategy.run(model, prompts);  // one left-padded batch of 10
  for (std::size_t r = 0; r < prompts.size(); ++r) {
    CAPTURE(r);
    const auto expected = golden()["greedy"][r]["tokens"].get<std::vector<int64_t>>();
    CHECK(batched.tokens[r] == expected);
    CHECK(batched.steps[r] == static_cast<int64_t>(expected.size()));
  }
  // Two prompts alone, so that a batching bug can be distinguished from a model bug.
  for (std::size_t r : {std::size_t{0}, std::size_t{8}}) {
    CAPTURE(r);
    auto alone = strategy.run(model, {prompts[r]});
    CHECK(alone.tokens[0] == golden()["greedy"][r]["tokens"].get<std::vector<int64_t>>());
  }
}
