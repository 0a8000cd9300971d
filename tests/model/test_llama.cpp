// Llama-family backbone, autoregressive generation and pooled hooks on tiny random-weight
// checkpoints whose golden values come from Hugging Face transformers
// (tests/model/golden/make_golden.py).

// libtorch 1.13 pulls in glog, whose CHECK macro would replace doctest's, so doctest comes last.
#include "sri/generate/autoregressive.hpp"
#include "sri/hook/pooled.hpp"
#include "support.hpp"

#include <doctest/doctest.h>

using sri::model::ForwardInput;
using sri::model::HookPoint;
using sri::model::PositionSelection;
using sri_test::Capture;
using sri_test::compare;
using sri_test::ids_tensor;
using sri_test::load_tiny;

namespace {

const char* const kTinyModels[] = {"tiny-llama3", "tiny-qwen2"};

// Float32 on both sides; differences come from summation order only.
constexpr double kStateAbsTolerance = 5e-5;
constexpr double kLogitAbsTolerance = 5e-5;

sri::generate::TokenBatch greedy_prompts(const nlohmann::json& golden) {
  sri::generate::TokenBatch prompts;
  for (const auto& entry : golden["greedy"]) prompts.push_back(entry["prompt_ids"].get<std::vector<int64_t>>());
  return prompts;
}

}  // namespace

TEST_CASE("tiny models match transformers at every position") {
  for (const std::string name : kTinyModels) {
    CAPTURE(name);
    auto tiny = load_tiny(name);
    for (const auto& entry : tiny.golden["forward"]) {
      const auto ids = entry["ids"].get<std::vector<int64_t>>();
      Capture capture;
      sri::hook::SinkFor<Capture> sink(capture);
      auto out = tiny.model.forward(ForwardInput{ids_tensor(ids)}, nullptr, &sink);  // logits [1, seq, vocab]

      auto states = compare(capture.by_step.at(0), entry["final_norm"].get<std::vector<double>>());
      auto logits = compare(out.logits, entry["logits"].get<std::vector<double>>());
      MESSAGE(name << " prompt of " << ids.size() << " tokens: final_norm max abs " << states.max_abs << " rel "
                   << states.max_rel << "; logits max abs " << logits.max_abs << " rel " << logits.max_rel);
      CHECK(states.max_abs < kStateAbsTolerance);
      CHECK(logits.max_abs < kLogitAbsTolerance);
      CHECK(out.logits.argmax(-1).view({-1}).to(at::kLong).equal(
          at::tensor(entry["logit_argmax"].get<std::vector<int64_t>>(), at::kLong)));
    }
  }
}

TEST_CASE("left-padded batch rows match standalone rows") {
  for (const std::string name : kTinyModels) {
    CAPTURE(name);
    auto tiny = load_tiny(name);
    const auto& batch = tiny.golden["padded_batch"];
    const int64_t pad = batch["pad_id"].get<int64_t>();
    std::vector<std::vector<int64_t>> rows;
    for (const auto& row : batch["rows"]) rows.push_back(row["ids"].get<std::vector<int64_t>>());
    int64_t longest = 0;
    for (const auto& r : rows) longest = std::max<int64_t>(longest, static_cast<int64_t>(r.size()));

    at::Tensor tokens = at::full({static_cast<int64_t>(rows.size()), longest}, pad, at::kLong);  // [batch, longest]
    at::Tensor valid = at::zeros({static_cast<int64_t>(rows.size()), longest}, at::kBool);        // [batch, longest]
    for (std::size_t r = 0; r < rows.size(); ++r) {
      const int64_t offset = longest - static_cast<int64_t>(rows[r].size());
      tokens[static_cast<int64_t>(r)].narrow(0, offset, static_cast<int64_t>(rows[r].size())).copy_(ids_tensor(rows[r])[0]);
      valid[static_cast<int64_t>(r)].narrow(0, offset, static_cast<int64_t>(rows[r].size())).fill_(true);
    }
    Capture capture;
    sri::hook::SinkFor<Capture> sink(capture);
    tiny.model.forward(ForwardInput{tokens, valid}, nullptr, &sink);
    at::Tensor batched = capture.by_step.at(0);  // [batch, longest, hidden]

    for (std::size_t r = 0; r < rows.size(); ++r) {
      CAPTURE(r);
      const auto n = static_cast<int64_t>(rows[r].size());
      at::Tensor mine = batched[static_cast<int64_t>(r)].narrow(0, longest - n, n);  // [n, hidden]
      auto vs_golden = compare(mine, batch["rows"][r]["final_norm"].get<std::vector<double>>());
      MESSAGE(name << " padded row " << r << ": final_norm max abs " << vs_golden.max_abs << " rel " << vs_golden.max_rel);
      CHECK(vs_golden.max_abs < kStateAbsTolerance);

      Capture alone;
      sri::hook::SinkFor<Capture> alone_sink(alone);
      tiny.model.forward(ForwardInput{ids_tensor(rows[r])}, nullptr, &alone_sink);
      const double row_diff = (alone.by_step.at(0)[0] - mine).abs().max().item<double>();
      MESSAGE(name << " padded row " << r << " vs standalone: max abs " << row_diff);
      CHECK(row_diff < 1e-5);
    }
  }
}

TEST_CASE("greedy continuations are token identical") {
  for (const std::string name : kTinyModels) {
    CAPTURE(name);
    auto tiny = load_tiny(name);
    const auto prompts = greedy_prompts(tiny.golden);
    sri::generate::Autoregressive<> strategy(tiny.golden["greedy_steps"].get<int64_t>());

    // The whole set as one left-padded batch, then each prompt alone.
    auto batched = strategy.run(tiny.model, prompts);
    for (std::size_t r = 0; r < prompts.size(); ++r) {
      CAPTURE(r);
      const auto expected = tiny.golden["greedy"][r]["tokens"].get<std::vector<int64_t>>();
      CHECK(batched.tokens[r] == expected);
      CHECK(batched.steps[r] == static_cast<int64_t>(expected.size()));
      auto alone = strategy.run(tiny.model, {prompts[r]});
      CHECK(alone.tokens[0] == expected);
    }
  }
}

TEST_CASE("generation stops on any end id") {
  auto reference = load_tiny("tiny-llama3");
  const auto prompts = greedy_prompts(reference.golden);
  const auto expected = reference.golden["greedy"][0]["tokens"].get<std::vector<int64_t>>();
  REQUIRE(expected.size() > 4);
  // Make the token chosen at step 3 an end id (beside two ids that never occur).
  const int64_t stop_token = expected[3];
  auto tiny = load_tiny("tiny-llama3", {509, stop_token, 510});
  const auto first = std::find(expected.begin(), expected.end(), stop_token) - expected.begin();

  sri::generate::Autoregressive<> strategy(32);
  auto result = strategy.run(tiny.model, {prompts[0]});
  CHECK(result.steps[0] == first + 1);
  CHECK(result.tokens[0].size() == static_cast<std::size_t>(first + 1));
  CHECK(result.tokens[0].back() == stop_token);
  CHECK(result.ended_by_end_token[0] == 1);
  CHECK_FALSE(result.stopped_by_callback);
}

TEST_CASE("step callback stops generation") {
  auto tiny = load_tiny("tiny-qwen2");
  const auto prompts = greedy_prompts(tiny.golden);
  sri::generate::Autoregressive<> strategy(32);
  int64_t calls = 0;
  auto result = strategy.run(tiny.model, {prompts[0], prompts[1]}, [&](const sri::generate::StepInfo& info) {
    ++calls;
    CHECK(info.max_steps == 32);
    CHECK(info.tokens.size() == 2);
    return info.step == 4 ? sri::generate::StepControl::stop : sri::generate::StepControl::proceed;
  });
  CHECK(calls == 5);
  CHECK(result.stopped_by_callback);
  CHECK((result.steps == std::vector<int64_t>{5, 5}));
  CHECK(result.tokens[0].size() == 5);
}

TEST_CASE("KV cache gives the states of full recomputation") {
  for (const std::string name : kTinyModels) {
    CAPTURE(name);
    auto tiny = load_tiny(name);
    const auto prompts = greedy_prompts(tiny.golden);
    const int64_t steps = 32;

    sri::hook::FinalNorm<sri::pool::ReferenceRunningMean> cached_hook, full_hook;
    sri::generate::Autoregressive<> cached(steps, {}, sri::generate::Recompute::kv_cache);
    sri::generate::Autoregressive<> full(steps, {}, sri::generate::Recompute::full_sequence);
    auto cached_result = cached.run(tiny.model, prompts, cached_hook);
    auto full_result = full.run(tiny.model, prompts, full_hook);
    CHECK(cached_result.tokens == full_result.tokens);
    CHECK(cached_result.steps == full_result.steps);

    double worst = 0.0;
    for (std::size_t r = 0; r < prompts.size(); ++r) {
      CAPTURE(r);
      const auto row = static_cast<int64_t>(r);
      REQUIRE(cached_hook.phi(row).rows() == steps);
      worst = std::max(worst, static_cast<double>((cached_hook.phi(row) - full_hook.phi(row)).cwiseAbs().maxCoeff()));
      CHECK((cached_hook.real_steps(row) == full_hook.real_steps(row)).all());
      CHECK(cached_hook.real_steps(row).count() == cached_result.steps[r]);
    }
    MESSAGE(name << " KV cache vs full recomputation, pooled phi max abs " << worst);
    CHECK(worst < 1e-5);
  }
}

TEST_CASE("reference running mean pads after the end token") {
  auto reference = load_tiny("tiny-llama3");
  const auto prompt = greedy_prompts(reference.golden)[0];
  const auto expected = reference.golden["greedy"][0]["tokens"].get<std::vector<int64_t>>();
  const int64_t stop_token = expected[2];
  auto tiny = load_tiny("tiny-llama3", {stop_token});
  const auto valid_steps = (std::find(expected.begin(), expected.end(), stop_token) - expected.begin()) + 1;

  // Raw per-step states from a capture of the last column, pooled by hand.
  Capture raw;
  raw.selection = PositionSelection::last();
  sri::generate::Autoregressive<> strategy(8);
  strategy.run(tiny.model, {prompt}, raw);
  REQUIRE(static_cast<int64_t>(raw.by_step.size()) == valid_steps);

  sri::hook::FinalNorm<sri::pool::ReferenceRunningMean> hook;
  auto result = strategy.run(tiny.model, {prompt}, hook);
  REQUIRE(result.steps[0] == valid_steps);
  const auto& phi = hook.phi(0);  // [8, hidden]
  sri::RowVectorXd sum = sri::RowVectorXd::Zero(phi.cols());
  sri::RowVectorXd last;
  for (int64_t t = 0; t < 8; ++t) {
    CAPTURE(t);
    if (t < valid_steps) {
      at::Tensor state = raw.by_step.at(t)[0][0].contiguous();  // [hidden]
      last = Eigen::Map<const sri::RowVectorXf>(state.data_ptr<float>(), phi.cols()).cast<double>();
    }
    sum += last;
    const sri::RowVectorXf expected_phi = (sum / static_cast<double>(t + 1)).cast<float>();
    CHECK((phi.row(t) - expected_phi).cwiseAbs().maxCoeff() < 1e-6f);
    CHECK(hook.real_steps(0)(t) == (t < valid_steps));
  }
}

TEST_CASE("hooks receive only the requested positions") {
  auto tiny = load_tiny("tiny-llama3");
  const auto prompts = greedy_prompts(tiny.golden);
  const int64_t hidden = tiny.model.config().hidden_size;

  Capture layer1;
  layer1.point = HookPoint::resid_post(1);
  layer1.selection = PositionSelection::last();
  sri::generate::Autoregressive<> strategy(4);
  strategy.run(tiny.model, {prompts[0], prompts[1]}, layer1);
  REQUIRE(layer1.by_step.size() == 4);
  for (const auto& [step, tensor] : layer1.by_step) {
    CAPTURE(step);
    CHECK((tensor.sizes().vec() == std::vector<int64_t>{2, 1, hidden}));
  }
  CHECK(std::all_of(layer1.delivered.begin(), layer1.delivered.end(), [](const std::string& n) { return n == "resid_post.1"; }));

  Capture embed;
  embed.point = HookPoint::embed_out();
  embed.selection = PositionSelection::range(1, 3);
  sri::hook::SinkFor<Capture> sink(embed);
  tiny.model.forward(ForwardInput{ids_tensor(prompts[0])}, nullptr, &sink);
  at::Tensor expected = tiny.file->tensor("model.embed_tokens.weight").index_select(0, ids_tensor(prompts[0])[0].narrow(0, 1, 2));
  CHECK((embed.by_step.at(0).sizes().vec() == std::vector<int64_t>{1, 2, hidden}));
  CHECK(embed.by_step.at(0)[0].equal(expected));
}

TEST_CASE("resid_post of the last layer feeds the final norm") {
  auto tiny = load_tiny("tiny-qwen2");
  const auto prompt = greedy_prompts(tiny.golden)[0];
  const int64_t last_layer = tiny.model.config().num_layers - 1;
  Capture resid, final_norm;
  resid.point = HookPoint::resid_post(last_layer);
  sri::hook::SinkFor<Capture> resid_sink(resid), final_sink(final_norm);
  tiny.model.forward(ForwardInput{ids_tensor(prompt)}, nullptr, &resid_sink);
  tiny.model.forward(ForwardInput{ids_tensor(prompt)}, nullptr, &final_sink);
  at::Tensor renormed = sri::model::layers::rms_norm(resid.by_step.at(0), tiny.file->tensor("model.norm.weight"),
                                                     tiny.model.config().rms_norm_eps);
  CHECK((renormed - final_norm.by_step.at(0)).abs().max().item<double>() < 1e-6);

  sri::hook::ResidPost<sri::pool::ReferenceRunningMean> pooled(last_layer);
  sri::generate::Autoregressive<> strategy(3);
  strategy.run(tiny.model, {prompt}, pooled);
  CHECK(pooled.phi(0).rows() == 3);
  CHECK(pooled.real_steps(0).count() == 3);
}

TEST_CASE("seeded sampling repeats and top-k 1 is greedy") {
  auto tiny = load_tiny("tiny-llama3");
  const auto prompts = greedy_prompts(tiny.golden);
  const sri::generate::TokenBatch batch{prompts[0], prompts[1], prompts[2]};
  auto sample = [&](sri::sample::SamplingOptions options) {
    sri::generate::Autoregressive<sri::sample::Seeded> strategy(16, sri::sample::Seeded(options));
    return strategy.run(tiny.model, batch).tokens;
  };
  const auto first = sample({1.0, 0, 1.0, 7});
  CHECK(first == sample({1.0, 0, 1.0, 7}));
  CHECK(first != sample({1.0, 0, 1.0, 8}));
  CHECK(sample({0.7, 1, 1.0, 3}) == sri::generate::Autoregressive<>(16).run(tiny.model, batch).tokens);
  CHECK(sample({1.0, 0, 1e-6, 5}) == sri::generate::Autoregressive<>(16).run(tiny.model, batch).tokens);
  CHECK_THROWS_WITH_AS(sri::sample::Seeded({0.0, 0, 1.0, 1}), doctest::Contains("sri.sample.temperature_invalid"), sri::Error);
  CHECK_THROWS_WITH_AS(sri::sample::Seeded({1.0, -1, 1.0, 1}), doctest::Contains("sri.sample.filter_invalid"), sri::Error);
}

TEST_CASE("hook point names round trip") {
  for (const char* name : {"embed_out", "final_norm_out", "resid_post.0", "resid_post.29"}) {
    CAPTURE(name);
    CHECK(HookPoint::parse(name).name() == name);
  }
  CHECK(HookPoint::parse("resid_post.12") == HookPoint::resid_post(12));
  for (const char* bad : {"", "resid_post.", "resid_post.-1", "resid_post.x", "final_norm", "hidden_states"}) {
    CAPTURE(bad);
    CHECK_THROWS_WITH_AS(HookPoint::parse(bad), doctest::Contains("sri.model.hook_point_invalid"), sri::Error);
  }
  CHECK_THROWS_WITH_AS((void)PositionSelection::range(3, 9).resolve(5), doctest::Contains("sri.model.position_range_invalid"),
                       sri::Error);
}

TEST_CASE("model errors name the problem") {
  auto tiny = load_tiny("tiny-llama3");
  auto config = sri::model::ModelConfig::from_hf_json(sri_test::read_json(sri_test::golden_dir() / "tiny-llama3" / "config.json"), "llama");
  CHECK(config.rope_scaling.type == "llama3");
  CHECK(config.rope_scaling.original_max_position_embeddings == 64);
  CHECK(config.rope_theta == 500000.0);

  auto source = sri_test::weights_of_file(tiny.file);
  auto missing = source;
  missing.contains = [](const std::string& name) { return name != "model.layers.1.mlp.up_proj.weight"; };
  CHECK_THROWS_WITH_AS(sri::model::Llama(config, missing, {1}), doctest::Contains("sri.model.weight_missing"), sri::Error);

  auto wrong = config;
  wrong.intermediate_size = 128;
  CHECK_THROWS_WITH_AS(sri::model::Llama(wrong, source, {1}), doctest::Contains("sri.model.weight_shape"), sri::Error);

  sri::model::RuntimeOptions half;
  half.dtype = at::kHalf;
  CHECK_THROWS_WITH_AS(sri::model::Llama(config, source, {1}, half), doctest::Contains("sri.model.dtype_invalid"), sri::Error);

  auto bad_heads = config;
  bad_heads.num_kv_heads = 3;
  CHECK_THROWS_WITH_AS(bad_heads.validate(), doctest::Contains("sri.model.config_invalid"), sri::Error);

  auto cache = tiny.model.make_cache(1, 4);
  CHECK_THROWS_WITH_AS(tiny.model.forward(ForwardInput{ids_tensor({5, 6, 7, 8, 9})}, &cache),
                       doctest::Contains("sri.model.cache_full"), sri::Error);
  CHECK_THROWS_WITH_AS(sri::generate::Autoregressive<>(0), doctest::Contains("sri.generate.steps_invalid"), sri::Error);
  CHECK_THROWS_WITH_AS(sri::generate::Autoregressive<>(4).run(tiny.model, {{}}),
                       doctest::Contains("sri.generate.prompt_empty"), sri::Error);
}

TEST_CASE("llama3 rope scaling keeps short wavelengths") {
  sri::model::RopeScaling scaling{"llama3", 8.0, 1.0, 4.0, 64};
  at::Tensor base = sri::model::layers::rope_inverse_frequencies(16, 500000.0);             // [8]
  at::Tensor scaled = sri::model::layers::rope_inverse_frequencies(16, 500000.0, scaling);  // [8]
  // Wavelength 2*pi at index 0 is below 64 / 4, so it stays; the longest is above 64 and is divided by 8.
  CHECK(scaled[0].item<float>() == doctest::Approx(base[0].item<float>()));
  CHECK(scaled[7].item<float>() == doctest::Approx(base[7].item<float>() / 8.0));
}

static_assert(sri::generate::GenerationStrategy<sri::generate::Autoregressive<>, sri::model::Llama>,
              "Autoregressive<Greedy> must be a GenerationStrategy over Llama");
static_assert(sri::hook::Hook<sri::hook::FinalNorm<sri::pool::ReferenceRunningMean>>,
              "FinalNorm<ReferenceRunningMean> must be a Hook");
