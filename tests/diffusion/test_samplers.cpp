// The LLaDA and Dream sampling rules as pure functions over hand-made logits, and the config.json
// checks of the two backbones over edited copies of the golden configs.

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include <cstdint>
#include <exception>
#include <filesystem>
#include <functional>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "diffusion_fixtures.hpp"
#include "sri/error.hpp"
#include "sri/generate/dream_sampler.hpp"
#include "sri/generate/llada_schedule.hpp"
#include "sri/generate/masked_diffusion.hpp"
#include "sri/io/safetensors.hpp"
#include "sri/model/dream.hpp"
#include "sri/model/llada.hpp"

// libtorch 1.13 pulls in glog, whose CHECK macros abort the process, so doctest's replace them.
#undef CHECK
#undef CHECK_EQ
#undef CHECK_NE
#undef CHECK_LT
#undef CHECK_LE
#undef CHECK_GT
#undef CHECK_GE
#include <doctest/doctest.h>

namespace gen = sri::generate;

namespace {

std::string error_id(const std::function<void()>& body) {
  try {
    body();
  } catch (const sri::Error& e) {
    return e.id();
  }
  return "";
}

std::string error_message(const std::function<void()>& body) {
  try {
    body();
  } catch (const sri::Error& e) {
    return e.what();
  }
  return "";
}

at::Tensor ids(std::vector<int64_t> values) {  // [1, n] int64
  return at::tensor(at::ArrayRef<int64_t>(values)).view({1, -1});
}

std::vector<int64_t> row(const at::Tensor& t) {  // [n] int64
  at::Tensor c = t.contiguous().to(at::kLong);
  return {c.data_ptr<int64_t>(), c.data_ptr<int64_t>() + c.numel()};
}

}  // namespace

TEST_CASE("llada transfer counts spread remainder first") {
  at::Tensor masked = at::zeros({2, 10}, at::TensorOptions().dtype(at::kBool));
  masked[0].fill_(true);              // 10 masked, 4 steps: 3 3 2 2
  masked[1].narrow(0, 0, 3).fill_(true);  // 3 masked, 4 steps: 1 1 1 0
  at::Tensor counts = gen::llada_transfer_counts(masked, 4);
  CHECK((row(counts[0]) == std::vector<int64_t>{3, 3, 2, 2}));
  CHECK((row(counts[1]) == std::vector<int64_t>{1, 1, 1, 0}));
  CHECK(counts.sum(1)[0].item<int64_t>() == 10);
}

TEST_CASE("llada profile validation names constraint") {
  gen::LladaProfile profile;
  profile.gen_length = 100;
  profile.block_length = 32;
  CHECK(error_id([&] { gen::validate(profile); }) == "sri.diffusion.profile_invalid");
  CHECK(error_message([&] { gen::validate(profile); }).find("gen_length 100 is not divisible by block_length 32") !=
        std::string::npos);

  profile.gen_length = 128;
  profile.block_length = 32;
  profile.steps = 30;
  CHECK(error_message([&] { gen::validate(profile); })
            .find("steps 30 is not divisible by the number of blocks 4") != std::string::npos);
  // The strategy validates on construction, before any model is involved.
  CHECK(error_id([&] { gen::LladaDiffusion strategy(profile); }) == "sri.diffusion.profile_invalid");

  profile.steps = 32;
  CHECK_NOTHROW(gen::validate(profile));
  CHECK(profile.steps_per_block() == 8);

  profile.block_length = 0;
  CHECK(error_message([&] { gen::validate(profile); }).find("block_length is 0") != std::string::npos);
  profile.block_length = 32;
  profile.temperature = -1;
  CHECK(error_id([&] { gen::validate(profile); }) == "sri.diffusion.profile_invalid");
}

TEST_CASE("remasking and algorithm names parse") {
  CHECK(gen::parse_remasking("random") == gen::Remasking::random);
  CHECK(gen::parse_remasking("low_confidence") == gen::Remasking::low_confidence);
  CHECK(error_id([] { gen::parse_remasking("lowest"); }) == "sri.diffusion.remasking_unknown");
  for (auto a : {gen::DreamAlgorithm::origin, gen::DreamAlgorithm::maskgit_plus, gen::DreamAlgorithm::topk_margin,
                 gen::DreamAlgorithm::entropy}) {
    CHECK(gen::parse_dream_algorithm(gen::to_string(a)) == a);
  }
  CHECK(error_id([] { gen::parse_dream_algorithm("greedy"); }) == "sri.diffusion.algorithm_unknown");
}

TEST_CASE("gumbel noise is identity at temperature zero") {
  at::Tensor logits = at::zeros({1, 3, 5});
  at::Generator generator = at::detail::createCPUGenerator(1);
  CHECK(gen::add_gumbel_noise(logits, 0.0, generator).is_same(logits));
  at::Tensor noised = gen::add_gumbel_noise(logits, 1.0, generator);
  CHECK((noised.scalar_type() == at::kDouble));
  CHECK((noised.sizes() == logits.sizes()));
}

TEST_CASE("gumbel noise draws like torch manual_seed") {
  // torch.manual_seed(7); torch.rand(3, dtype=torch.float64) in torch 1.13 and 2.15 both give
  // 0.279380429906404, 0.27369371365176565, 0.8620929614176255 (CPU generator).
  at::Generator generator = at::detail::createCPUGenerator(7);
  at::Tensor u = at::rand({3}, generator, at::TensorOptions().dtype(at::kDouble));
  CHECK(u[0].item<double>() == doctest::Approx(0.279380429906404).epsilon(1e-15));
  CHECK(u[1].item<double>() == doctest::Approx(0.27369371365176565).epsilon(1e-15));
  CHECK(u[2].item<double>() == doctest::Approx(0.8620929614176255).epsilon(1e-15));
}

TEST_CASE("guidance combines conditional and unconditional") {
  at::Tensor cond = at::full({1, 1, 2}, 3.0);
  at::Tensor uncond = at::full({1, 1, 2}, 1.0);
  CHECK(gen::combine_guidance(cond, uncond, 0.0).equal(cond));
  CHECK(gen::combine_guidance(cond, uncond, 1.5)[0][0][0].item<float>() == doctest::Approx(1.0 + 2.5 * 2.0));
}

TEST_CASE("llada commit step picks confident masks of block") {
  // Canvas: 1 prompt column then 4 masks (id 9). The block ends after column 3, so column 4 may
  // not be committed even though it is the most confident.
  constexpr int64_t mask = 9;
  at::Tensor canvas = ids({5, mask, mask, mask, mask});
  at::Tensor logits = at::zeros({1, 5, 10});
  logits[0][1][2] = 1.0;   // weak prediction of token 2
  logits[0][2][3] = 4.0;   // strong prediction of token 3
  logits[0][3][4] = 2.0;   // medium prediction of token 4
  logits[0][4][6] = 9.0;   // strongest, but outside the block
  gen::LladaProfile profile;
  gen::LladaTokens tokens{mask, 7, 8};
  at::Generator generator = at::detail::createCPUGenerator(0);
  at::Tensor counts = at::tensor({2}, at::TensorOptions().dtype(at::kLong));
  at::Tensor committed = gen::llada_commit_step(canvas, logits, 4, counts, profile, tokens, generator);
  CHECK((row(canvas[0]) == std::vector<int64_t>{5, mask, 3, 4, mask}));
  CHECK(committed.sum().item<int64_t>() == 2);

  // logits_eos_inf bans the end-of-sequence id even where it is the argmax.
  at::Tensor canvas2 = ids({5, mask});
  at::Tensor logits2 = at::zeros({1, 2, 10});
  logits2[0][1][7] = 5.0;
  logits2[0][1][1] = 1.0;
  profile.logits_eos_inf = true;
  gen::llada_commit_step(canvas2, logits2, 2, at::ones({1}, at::kLong), profile, tokens, generator);
  CHECK(canvas2[0][1].item<int64_t>() == 1);
}

TEST_CASE("llada eos confidence rules differ at temperature") {
  // Column 1 predicts EOS (id 7) strongly, column 2 predicts token 1 weakly; one commit.
  constexpr int64_t mask = 9;
  gen::LladaTokens tokens{mask, 7, 8};
  auto run = [&](gen::EosConfidenceRule rule, double temperature) {
    at::Tensor canvas = ids({5, mask, mask});
    at::Tensor logits = at::zeros({1, 3, 10});
    logits[0][1][7] = 30.0;
    logits[0][2][1] = 30.0;
    logits[0][2][2] = 29.0;
    gen::LladaProfile profile;
    profile.confidence_eos_eot_inf = true;
    profile.eos_confidence_rule = rule;
    profile.temperature = temperature;
    at::Generator generator = at::detail::createCPUGenerator(3);
    gen::llada_commit_step(canvas, logits, 3, at::ones({1}, at::kLong), profile, tokens, generator);
    return row(canvas[0]);
  };
  // Temperature 0: EOS gets zero confidence under both rules, so column 2 is committed.
  CHECK((run(gen::EosConfidenceRule::reference, 0.0) == std::vector<int64_t>{5, mask, 1}));
  CHECK((run(gen::EosConfidenceRule::intended, 0.0) == std::vector<int64_t>{5, mask, 1}));
  // Temperature > 0 (noise negligible next to a 30-unit margin): the reference keeps EOS
  // confidence, which is higher than column 2's, while the intended rule defers EOS.
  CHECK((run(gen::EosConfidenceRule::reference, 0.01) == std::vector<int64_t>{5, 7, mask}));
  CHECK(run(gen::EosConfidenceRule::intended, 0.01)[1] == mask);
}

TEST_CASE("dream timesteps run from one to eps") {
  at::Tensor t = gen::dream_timesteps(4, 1e-3);
  REQUIRE(t.numel() == 5);
  CHECK(t[0].item<float>() == 1.0f);
  CHECK(t[4].item<float>() == doctest::Approx(1e-3));
  CHECK((t.scalar_type() == at::kFloat));
}

TEST_CASE("top p keeps crossing token") {
  // Probabilities of softmax([2, 1, 0, -1]) are about 0.64, 0.24, 0.09, 0.03: top_p 0.7 keeps the
  // first two (the second crosses 0.7), top_p 0.5 keeps only the first.
  at::Tensor logits = at::tensor({0.0f, 2.0f, -1.0f, 1.0f}).view({1, 4});
  const float lowest = std::numeric_limits<float>::lowest();
  at::Tensor kept = gen::top_p_filter(logits, 0.7);
  CHECK(kept[0][1].item<float>() == 2.0f);
  CHECK(kept[0][3].item<float>() == 1.0f);
  CHECK(kept[0][0].item<float>() == lowest);
  CHECK(kept[0][2].item<float>() == lowest);
  at::Tensor one = gen::top_p_filter(logits, 0.5);
  CHECK(one[0][1].item<float>() == 2.0f);
  CHECK(one[0][3].item<float>() == lowest);
}

TEST_CASE("top k keeps ties") {
  at::Tensor logits = at::tensor({1.0f, 3.0f, 3.0f, 0.0f}).view({1, 4});
  at::Tensor kept = gen::top_k_filter(logits, 1);
  CHECK(kept[0][1].item<float>() == 3.0f);
  CHECK(kept[0][2].item<float>() == 3.0f);
  CHECK(kept[0][0].item<float>() == std::numeric_limits<float>::lowest());
}

TEST_CASE("dream confidences per algorithm") {
  at::Tensor logits = at::tensor({2.0f, 1.0f, 0.0f}).view({1, 3});
  at::Tensor probs = at::softmax(logits, -1)[0];
  at::Generator generator = at::detail::createCPUGenerator(0);
  gen::DreamProfile profile;
  profile.algorithm = gen::DreamAlgorithm::maskgit_plus;
  auto plus = gen::dream_sample_tokens(logits, profile, generator);
  CHECK(plus.tokens[0].item<int64_t>() == 0);
  CHECK(plus.confidence[0].item<float>() == doctest::Approx(probs[0].item<float>()));
  profile.algorithm = gen::DreamAlgorithm::topk_margin;
  auto margin = gen::dream_sample_tokens(logits, profile, generator);
  CHECK(margin.confidence[0].item<float>() == doctest::Approx((probs[0] - probs[1]).item<float>()));
  profile.algorithm = gen::DreamAlgorithm::entropy;
  auto entropy = gen::dream_sample_tokens(logits, profile, generator);
  CHECK(entropy.confidence[0].item<float>() == doctest::Approx((probs * at::log(probs + 1e-10)).sum().item<float>()));
  CHECK(entropy.confidence[0].item<float>() < 0.0f);
}

TEST_CASE("dream last step commits every mask") {
  constexpr int64_t mask = 9;
  at::Tensor canvas = ids({1, mask, mask, mask});
  at::Generator noise = at::detail::createCPUGenerator(11);
  at::Tensor logits = at::randn({1, 4, 10}, noise);
  logits.select(-1, mask).fill_(-1e9);  // a predicted mask id would leave the position masked
  gen::DreamProfile profile;
  profile.steps = 3;
  profile.algorithm = gen::DreamAlgorithm::entropy;
  at::Tensor timesteps = gen::dream_timesteps(profile.steps, profile.eps);
  at::Generator generator = at::detail::createCPUGenerator(0);
  at::Tensor committed = gen::dream_commit_step(canvas, logits, 2, timesteps, mask, profile, generator);
  CHECK(committed.sum().item<int64_t>() == 3);
  CHECK(canvas.eq(mask).sum().item<int64_t>() == 0);
}

TEST_CASE("dream profile validation") {
  gen::DreamProfile profile;
  profile.eps = 0.0;
  CHECK(error_id([&] { gen::validate(profile); }) == "sri.diffusion.profile_invalid");
  profile.eps = 1e-3;
  profile.top_p = 1.5;
  CHECK(error_message([&] { gen::validate(profile); }).find("top_p is 1.5") != std::string::npos);
  profile.top_p.reset();
  profile.steps = 0;
  CHECK(error_message([&] { gen::validate(profile); }).find("steps is 0") != std::string::npos);
}

TEST_CASE("canvas rejects mask id in prompt") {
  CHECK(error_id([] { gen::detail::make_canvas({{1, 9, 2}}, 4, 9, 0, at::kCPU); }) == "sri.diffusion.prompt_invalid");
  CHECK(error_id([] { gen::detail::make_canvas({}, 4, 9, 0, at::kCPU); }) == "sri.diffusion.prompt_invalid");
  auto canvas = gen::detail::make_canvas({{1, 2, 3}, {4}}, 2, 9, 0, at::kCPU);
  CHECK(canvas.prompt_length == 3);
  CHECK((row(canvas.tokens[1]) == std::vector<int64_t>{0, 0, 4, 9, 9}));
  CHECK(canvas.valid[1][0].item<bool>() == false);
  CHECK(canvas.valid[1][2].item<bool>() == true);
}

// ---------------------------------------------------------------------------------------------
// config.json checks of the Llada and Dream constructors
// ---------------------------------------------------------------------------------------------

namespace {

// A config.json edited in memory over a golden model.safetensors. Unlike FolderWeights it has
// contains(name), so the backbones can find layers past the configured count.
class EditedConfigWeights {
 public:
  EditedConfigWeights(const std::filesystem::path& folder, nlohmann::json config)
      : config_(std::move(config)), file_(folder / "model.safetensors") {}
  const nlohmann::json& config() const { return config_; }
  at::Tensor load(std::string_view name, at::ScalarType dtype) const { return file_.tensor(name).to(dtype); }
  bool contains(std::string_view name) const { return file_.contains(name); }

 private:
  nlohmann::json config_;
  sri::io::SafetensorsFile file_;
};

static_assert(sri::model::WeightSource<EditedConfigWeights>,
              "EditedConfigWeights must satisfy WeightSource so the backbones can load it.");

nlohmann::json golden_config(const std::string& model) {
  return sri_test::read_json(sri_test::golden_dir() / model / "config.json");
}

template <class Model>
Model load_with_config(const std::string& model, nlohmann::json config) {
  return Model(EditedConfigWeights(sri_test::golden_dir() / model, std::move(config)));
}

// One edit of a golden config.json and the error it must raise.
struct ConfigCase {
  std::string key;
  std::optional<nlohmann::json> value;  // std::nullopt removes the key
  std::string error_id;
  std::vector<std::string> message_parts;  // each must appear in the error message
};

// The id and message of the error that loading `config` raises. Any exception other than
// sri::Error is reported as the id "not sri::Error", so a leaked library error fails the check.
template <class Model>
std::pair<std::string, std::string> load_error(const std::string& model, const nlohmann::json& config) {
  try {
    load_with_config<Model>(model, config);
  } catch (const sri::Error& e) {
    return {e.id(), e.what()};
  } catch (const std::exception& e) {
    return {"not sri::Error", e.what()};
  }
  return {"", ""};
}

template <class Model>
void check_config_cases(const std::string& model, const std::vector<ConfigCase>& cases) {
  for (const ConfigCase& c : cases) {
    nlohmann::json config = golden_config(model);
    if (c.value) {
      config[c.key] = *c.value;
    } else {
      config.erase(c.key);
    }
    INFO(model << " with " << c.key << " = " << (c.value ? c.value->dump() : std::string("(removed)")));
    const auto [id, message] = load_error<Model>(model, config);
    CHECK_MESSAGE(id == c.error_id, "message: " << message);
    for (const std::string& part : c.message_parts) {
      CHECK_MESSAGE(message.find(part) != std::string::npos, "expected '" << part << "' in: " << message);
    }
  }
}

const std::string invalid = "sri.diffusion.config_invalid";
const std::string unsupported = "sri.diffusion.config_unsupported";
const double not_a_number = std::numeric_limits<double>::quiet_NaN();
const double positive_infinity = std::numeric_limits<double>::infinity();

}  // namespace

TEST_CASE("llada config rejects bad sizes") {
  check_config_cases<sri::model::Llada>(
      "llada-tiny",
      {
          {"d_model", 0, invalid, {"'d_model'", "is 0"}},
          {"n_layers", 0, invalid, {"'n_layers'", "is 0"}},
          {"n_heads", 0, invalid, {"'n_heads'", "is 0"}},  // must fail before d_model / n_heads
          {"n_heads", -4, invalid, {"'n_heads'", "is -4"}},
          {"n_kv_heads", 0, invalid, {"'n_kv_heads'", "is 0"}},
          {"mlp_hidden_size", 0, invalid, {"'mlp_hidden_size'", "is 0"}},
          {"vocab_size", 0, invalid, {"'vocab_size'", "is 0"}},
          {"embedding_size", 0, invalid, {"'embedding_size'", "is 0"}},
          {"max_sequence_length", 0, invalid, {"'max_sequence_length'", "is 0"}},
          {"d_model", std::nullopt, invalid, {"'d_model'", "is missing"}},
          {"n_heads", 3, invalid, {"'d_model'", "is 32", "'n_heads' 3"}},
          {"n_kv_heads", 3, invalid, {"'n_heads'", "is 4", "'n_kv_heads' 3"}},
          {"n_heads", 32, invalid, {"'d_model'", "odd head size of 1"}},
      });
}

TEST_CASE("llada config rejects bad mlp_ratio") {
  nlohmann::json config = golden_config("llada-tiny");
  config.erase("mlp_hidden_size");
  config["mlp_ratio"] = 0;
  auto [id, message] = load_error<sri::model::Llada>("llada-tiny", config);
  CHECK(id == invalid);
  CHECK(message.find("'mlp_ratio' is 0") != std::string::npos);

  config["mlp_ratio"] = std::numeric_limits<int64_t>::max();
  std::tie(id, message) = load_error<sri::model::Llada>("llada-tiny", config);
  CHECK(id == invalid);
  CHECK(message.find("overflows") != std::string::npos);
}

TEST_CASE("llada config rejects bad token ids") {
  check_config_cases<sri::model::Llada>(
      "llada-tiny",
      {
          {"mask_token_id", 256, invalid, {"'mask_token_id'", "is 256", "vocabulary of 256 tokens"}},
          {"mask_token_id", -1, invalid, {"'mask_token_id'", "is -1", "vocabulary of 256 tokens"}},
          {"pad_token_id", 300, invalid, {"'pad_token_id'", "is 300", "vocabulary of 256 tokens"}},
          {"eos_token_id", 256, invalid, {"'eos_token_id'", "is 256", "vocabulary of 256 tokens"}},
          {"bos_token_id", 999, invalid, {"'bos_token_id'", "is 999", "vocabulary of 256 tokens"}},
          {"eos_token_id", nlohmann::json::array({201, 256}), invalid, {"'eos_token_id'", "is 256"}},
          // The LLaDA-8B fallbacks do not fit a 256-token vocabulary.
          {"mask_token_id", std::nullopt, invalid, {"no field 'mask_token_id'", "126336", "256 tokens"}},
          {"eos_token_id", std::nullopt, invalid, {"no field 'eos_token_id'", "126081", "256 tokens"}},
          {"mask_token_id", 201, invalid, {"'mask_token_id'", "is 201", "'eos_token_id'"}},
          {"eos_token_id", nlohmann::json::array({202, 200}), invalid, {"'mask_token_id'", "is 200", "'eos_token_id'"}},
      });
}

TEST_CASE("llada config rejects wrong types") {
  check_config_cases<sri::model::Llada>(
      "llada-tiny",
      {
          {"eos_token_id", "201", invalid, {"'eos_token_id'", "expected an integer or a non-empty array of integers"}},
          {"eos_token_id", nlohmann::json::array(), invalid, {"'eos_token_id'", "non-empty array"}},
          {"eos_token_id", nlohmann::json::array({201, "x"}), invalid, {"'eos_token_id'", "array of integers"}},
          {"eos_token_id", 314.5, invalid, {"'eos_token_id'", "is 314.5"}},
          {"mask_token_id", true, invalid, {"'mask_token_id'", "is true", "expected an integer"}},
          {"mask_token_id", 200.5, invalid, {"'mask_token_id'", "is 200.5", "expected an integer"}},
          {"pad_token_id", "201", invalid, {"'pad_token_id'", "expected an integer"}},
          {"bos_token_id", false, invalid, {"'bos_token_id'", "expected an integer"}},
          {"n_heads", "4", invalid, {"'n_heads'", "expected an integer"}},
          {"d_model", 32.0, invalid, {"'d_model'", "expected an integer"}},
          {"n_layers", std::numeric_limits<uint64_t>::max(), invalid, {"'n_layers'", "expected an integer"}},
          {"mlp_hidden_size", "48", invalid, {"'mlp_hidden_size'", "expected an integer"}},
          {"embedding_size", nlohmann::json::array(), invalid, {"'embedding_size'", "expected an integer"}},
          {"rope_theta", "big", invalid, {"'rope_theta'", "expected a number"}},
          {"rms_norm_eps", true, invalid, {"'rms_norm_eps'", "expected a number"}},
          {"weight_tying", "no", invalid, {"'weight_tying'", "expected true or false"}},
          {"multi_query_attention", 1, invalid, {"'multi_query_attention'", "expected true or false"}},
          {"block_type", 5, invalid, {"'block_type'", "expected a string"}},
          {"block_group_size", "1", invalid, {"'block_group_size'", "expected an integer"}},
      });
  const auto [id, message] = load_error<sri::model::Llada>("llada-tiny", nlohmann::json::array());
  CHECK(id == invalid);
  CHECK(message.find("expected a JSON object") != std::string::npos);
}

TEST_CASE("llada config rejects bad rope_theta and eps") {
  check_config_cases<sri::model::Llada>(
      "llada-tiny",
      {
          {"rope_theta", 0, invalid, {"'rope_theta'", "is 0", "finite number greater than 0"}},
          {"rope_theta", -1.0, invalid, {"'rope_theta'", "is -1"}},
          {"rope_theta", not_a_number, invalid, {"'rope_theta'", "is nan"}},
          {"rope_theta", positive_infinity, invalid, {"'rope_theta'", "is inf"}},
          {"rms_norm_eps", 0.0, invalid, {"'rms_norm_eps'", "is 0", "finite number greater than 0"}},
          {"rms_norm_eps", -1, invalid, {"'rms_norm_eps'", "is -1"}},
          {"activation_type", "gelu", unsupported, {"activation_type \"gelu\""}},
      });
}

TEST_CASE("llada config rejects extra weight layers") {
  check_config_cases<sri::model::Llada>(
      "llada-tiny", {{"n_layers", 1, invalid, {"'n_layers' is 1", "model.transformer.blocks.1.attn_norm.weight"}}});
  // FolderWeights has no contains(name), so the check is skipped and the golden folder still loads.
  const sri::model::Llada model{sri_test::FolderWeights(sri_test::golden_dir() / "llada-tiny")};
  CHECK(model.config().num_layers == 2);
}

TEST_CASE("llada config accepts eos array") {
  nlohmann::json config = golden_config("llada-tiny");
  config["eos_token_id"] = nlohmann::json::array({202, 201});
  config.erase("pad_token_id");
  config["bos_token_id"] = nullptr;
  const auto model = load_with_config<sri::model::Llada>("llada-tiny", config);
  CHECK((model.end_token_ids() == std::vector<int64_t>{202, 201}));
  CHECK(model.config().pad_token_id == std::optional<int64_t>(202));  // the first end id
  CHECK_FALSE(model.config().bos_token_id.has_value());
  CHECK(model.mask_token_id() == 200);
}

TEST_CASE("llada config keeps mask fallback inside vocab") {
  // With 200000 embedding rows the default 126336 is a valid id, so the config is accepted and
  // loading only stops at the golden wte, which has 256 rows.
  nlohmann::json config = golden_config("llada-tiny");
  config.erase("mask_token_id");
  config["embedding_size"] = 200000;
  const auto [id, message] = load_error<sri::model::Llada>("llada-tiny", config);
  CHECK(id == "sri.diffusion.weight_shape_mismatch");
  CHECK(message.find("wte") != std::string::npos);
}

TEST_CASE("dream config rejects bad sizes") {
  check_config_cases<sri::model::Dream>(
      "dream-tiny",
      {
          {"vocab_size", 0, invalid, {"'vocab_size'", "is 0"}},
          {"hidden_size", 0, invalid, {"'hidden_size'", "is 0"}},
          {"num_hidden_layers", 0, invalid, {"'num_hidden_layers'", "is 0"}},
          {"num_attention_heads", 0, invalid, {"'num_attention_heads'", "is 0"}},
          {"num_key_value_heads", 0, invalid, {"'num_key_value_heads'", "is 0"}},
          {"intermediate_size", -48, invalid, {"'intermediate_size'", "is -48"}},
          {"head_dim", 0, invalid, {"'head_dim'", "is 0"}},
          {"max_position_embeddings", 0, invalid, {"'max_position_embeddings'", "is 0"}},
          {"hidden_size", std::nullopt, invalid, {"'hidden_size'", "is missing"}},
          {"num_attention_heads", 3, invalid, {"'hidden_size'", "is 32", "'num_attention_heads' 3"}},
          {"num_key_value_heads", 3, invalid, {"'num_attention_heads'", "is 4", "'num_key_value_heads' 3"}},
          {"head_dim", 7, invalid, {"'head_dim'", "is 7", "even number"}},
          {"num_attention_heads", 32, invalid, {"'hidden_size'", "odd head size of 1"}},
      });
}

TEST_CASE("dream config rejects bad token ids") {
  check_config_cases<sri::model::Dream>(
      "dream-tiny",
      {
          {"mask_token_id", 256, invalid, {"'mask_token_id'", "is 256", "vocabulary of 256 tokens"}},
          {"mask_token_id", std::nullopt, invalid, {"'mask_token_id'", "is missing"}},
          {"pad_token_id", -2, invalid, {"'pad_token_id'", "is -2", "vocabulary of 256 tokens"}},
          {"eos_token_id", 300, invalid, {"'eos_token_id'", "is 300", "vocabulary of 256 tokens"}},
          {"bos_token_id", 256, invalid, {"'bos_token_id'", "is 256", "vocabulary of 256 tokens"}},
          {"eos_token_id", std::nullopt, invalid, {"no field 'eos_token_id'", "151643", "256 tokens"}},
          {"mask_token_id", 201, invalid, {"'mask_token_id'", "is 201", "'eos_token_id'"}},
      });
}

TEST_CASE("dream config rejects wrong types") {
  check_config_cases<sri::model::Dream>(
      "dream-tiny",
      {
          {"eos_token_id", "x", invalid, {"'eos_token_id'", "expected an integer or a non-empty array of integers"}},
          {"mask_token_id", 200.5, invalid, {"'mask_token_id'", "expected an integer"}},
          {"num_hidden_layers", "2", invalid, {"'num_hidden_layers'", "expected an integer"}},
          {"hidden_act", 3, invalid, {"'hidden_act'", "expected a string"}},
          {"use_sliding_window", "no", invalid, {"'use_sliding_window'", "expected true or false"}},
          {"tie_word_embeddings", 0, invalid, {"'tie_word_embeddings'", "expected true or false"}},
          {"rope_theta", "1e6", invalid, {"'rope_theta'", "expected a number"}},
      });
}

TEST_CASE("dream config rejects unsupported variants") {
  check_config_cases<sri::model::Dream>(
      "dream-tiny",
      {
          {"hidden_act", "gelu", unsupported, {"hidden_act \"gelu\"", "supported: silu"}},
          {"use_sliding_window", true, unsupported, {"use_sliding_window"}},
          {"rope_scaling", nlohmann::json::object({{"type", "linear"}, {"factor", 2.0}}), unsupported, {"rope_scaling"}},
          {"rope_parameters", nlohmann::json::object({{"rope_type", "linear"}}), unsupported, {"rope_type \"linear\""}},
          {"rope_parameters", "default", invalid, {"'rope_parameters'", "expected an object"}},
      });
}

TEST_CASE("dream config rejects bad rope_theta and eps") {
  check_config_cases<sri::model::Dream>(
      "dream-tiny",
      {
          {"rope_theta", 0, invalid, {"'rope_theta'", "is 0", "finite number greater than 0"}},
          {"rope_theta", not_a_number, invalid, {"'rope_theta'", "is nan"}},
          {"rms_norm_eps", 0.0, invalid, {"'rms_norm_eps'", "is 0"}},
          {"rms_norm_eps", -1e-6, invalid, {"'rms_norm_eps'", "is -1e-06"}},
          {"rms_norm_eps", positive_infinity, invalid, {"'rms_norm_eps'", "is inf"}},
      });
}

TEST_CASE("dream config reads rope_parameters theta") {
  nlohmann::json config = golden_config("dream-tiny");
  config.erase("rope_theta");
  config["rope_parameters"] = {{"rope_type", "default"}, {"rope_theta", 0.0}};
  auto [id, message] = load_error<sri::model::Dream>("dream-tiny", config);
  CHECK(id == invalid);
  CHECK(message.find("'rope_theta' is 0") != std::string::npos);

  config["rope_parameters"]["rope_theta"] = 1000000.0;
  const auto model = load_with_config<sri::model::Dream>("dream-tiny", config);
  CHECK(model.config().rope_theta == 1000000.0);
}

TEST_CASE("dream config rejects extra weight layers") {
  check_config_cases<sri::model::Dream>(
      "dream-tiny",
      {{"num_hidden_layers", 1, invalid, {"'num_hidden_layers' is 1", "model.layers.1.input_layernorm.weight"}}});
}

TEST_CASE("dream config accepts eos array") {
  nlohmann::json config = golden_config("dream-tiny");
  config["eos_token_id"] = nlohmann::json::array({202, 201});
  config["pad_token_id"] = nullptr;
  config["hidden_act"] = "silu";
  const auto model = load_with_config<sri::model::Dream>("dream-tiny", config);
  CHECK((model.end_token_ids() == std::vector<int64_t>{202, 201}));
  CHECK(model.config().pad_token_id == std::optional<int64_t>(202));  // the first end id
  CHECK(model.config().bos_token_id == std::optional<int64_t>(201));
  CHECK(model.mask_token_id() == 200);
  CHECK(model.config().head_dim == 8);
}
