// Real-model checkpoint tests on SmolLM2-135M-Instruct (Q4_1 GGUF from scripts/fetch-models.sh).
// Golden values come from make_smollm2_golden.py (gguf-py and transformers); the Hugging Face
// folder comes from convert_gguf_to_hf.py. The suite exits with 77 (skipped) when the GGUF is absent.

#include <sri/io/checkpoint.hpp>

// libtorch 1.13 pulls in glog, whose CHECK macros abort the process, so they are replaced by doctest's.
#undef CHECK
#undef CHECK_EQ
#undef CHECK_NE
#undef CHECK_LT
#undef CHECK_LE
#undef CHECK_GT
#undef CHECK_GE
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

namespace fs = std::filesystem;
using sri::io::Checkpoint;

namespace {

const fs::path k_gguf = fs::path(SRI_MODEL_CACHE) / "SmolLM2-135M-Instruct.Q4_1.gguf";
const fs::path k_folder = fs::path(SRI_MODEL_CACHE) / "SmolLM2-135M-Instruct-hf";

void skip_without_model() {
  if (!fs::exists(k_gguf)) {
    std::printf("skipped: %s is absent; run scripts/fetch-models.sh\n", k_gguf.c_str());
    std::exit(77);
  }
}

nlohmann::json golden() {
  std::ifstream in(fs::path(SRI_TEST_DATA_DIR) / "checkpoint" / "data" / "smollm2_golden.json");
  std::ostringstream text;
  text << in.rdbuf();
  return nlohmann::json::parse(text.str());
}

// Compares one row of `values` with a golden entry: the first values and the row sum.
void check_row(const at::Tensor& values, const nlohmann::json& expected) {
  const at::Tensor row = expected["row"].is_null() ? values : values[expected["row"].get<int64_t>()];  // [columns]
  const at::Tensor prefix = row.slice(0, 0, static_cast<int64_t>(expected["prefix"].size())).contiguous();
  const float* actual = prefix.data_ptr<float>();
  // Dequantization is exact float32 arithmetic on both sides: tolerance 1e-6 absolute plus 1e-6 relative.
  for (std::size_t i = 0; i < expected["prefix"].size(); ++i) {
    const float want = expected["prefix"][i].get<float>();
    CHECK(std::abs(actual[i] - want) <= 1e-6f + 1e-6f * std::abs(want));
  }
  // Both sums add the same float32 values in float64, in different orders: tolerance 1e-6 absolute.
  const double sum = row.to(at::kDouble).sum().item<double>();
  CHECK(std::abs(sum - expected["sum"].get<double>()) <= 1e-6);
}

}  // namespace

TEST_CASE("smollm2 gguf config matches transformers") {
  skip_without_model();
  const auto checkpoint = Checkpoint::open(k_gguf);
  const auto expected = golden()["config"];
  const auto& config = checkpoint->config();
  CHECK(checkpoint->architecture() == "llama");
  CHECK(config["rope_theta"] == 100000.0);
  CHECK(config["rms_norm_eps"] == 1e-5);  // the shortest decimal of the stored float32
  CHECK(checkpoint->display_name() == "SmolLM2-135M-Instruct.Q4_1");
  CHECK(config["hidden_size"] == 576);
  CHECK(config["num_hidden_layers"] == 30);
  CHECK(config["num_attention_heads"] == 9);
  CHECK(config["num_key_value_heads"] == 3);
  CHECK(config["head_dim"] == 64);
  CHECK(config["vocab_size"] == 49152);
  CHECK(config["tie_word_embeddings"] == true);
  for (const auto& [key, value] : expected.items()) {
    CAPTURE(key);
    REQUIRE(config.contains(key));
    if (value.is_number_float()) {
      // GGUF stores these as float32, so they agree to float32 precision.
      CHECK(config[key].get<double>() == doctest::Approx(value.get<double>()).epsilon(1e-6));
    } else {
      CHECK(config[key] == value);
    }
  }
  CHECK((checkpoint->end_token_ids() == std::vector<int64_t>{2}));
  CHECK_FALSE(checkpoint->contains("lm_head.weight"));
  CHECK(checkpoint->gguf() != nullptr);
  CHECK_FALSE(checkpoint->folder().has_value());
  CHECK(checkpoint->tensor_names().size() == golden()["tensor_count"].get<std::size_t>());
}

TEST_CASE("smollm2 gguf tensors match gguf-py and transformers") {
  skip_without_model();
  const auto checkpoint = Checkpoint::open(k_gguf);
  const sri::io::GgufFile& file = *checkpoint->gguf();
  for (const auto& entry : golden()["tensors"]) {
    const std::string hf_name = entry["hf_name"];
    const std::string gguf_name = entry["gguf_name"];
    CAPTURE(hf_name);
    CHECK(file.tensor_info(gguf_name).type_name() == entry["type"].get<std::string>());
    CHECK((checkpoint->shape(hf_name) == entry["shape"].get<std::vector<int64_t>>()));

    // The raw GGUF tensor equals gguf-py's dequantization in GGUF row order.
    const at::Tensor stored = file.load(gguf_name);  // [rows, columns] in GGUF row order
    for (const auto& row : entry["gguf_rows"]) check_row(stored, row);

    // The checkpoint tensor equals transformers' tensor in Hugging Face layout (Q/K rows un-permuted).
    const at::Tensor hf = checkpoint->load(hf_name, at::kFloat);  // [rows, columns] in HF row order
    for (const auto& row : entry["hf_rows"]) check_row(hf, row);
  }
}

TEST_CASE("smollm2 q rows are permuted per head") {
  skip_without_model();
  const auto checkpoint = Checkpoint::open(k_gguf);
  const at::Tensor stored = checkpoint->gguf()->load("blk.0.attn_q.weight");         // [576, 576] GGUF order
  const at::Tensor hf = checkpoint->load("model.layers.0.self_attn.q_proj.weight");  // [576, 576] HF order
  // GGUF row h*64 + 2j + t is HF row h*64 + 32t + j.
  for (const auto& [head, j, t] : {std::tuple{0, 0, 1}, std::tuple{4, 17, 0}, std::tuple{8, 31, 1}}) {
    CAPTURE(head);
    CAPTURE(j);
    CHECK(at::equal(stored[head * 64 + 2 * j + t], hf[head * 64 + 32 * t + j]));
  }
  CHECK_FALSE(at::equal(stored, hf));
  // The values are the same set, only rows move.
  CHECK(stored.sum().item<double>() == doctest::Approx(hf.sum().item<double>()).epsilon(1e-9));
}

TEST_CASE("smollm2 load dtypes and identity") {
  skip_without_model();
  const auto checkpoint = Checkpoint::open(k_gguf);
  const at::Tensor f32 = checkpoint->load("model.layers.5.self_attn.k_proj.weight", at::kFloat);
  const at::Tensor bf16 = checkpoint->load("model.layers.5.self_attn.k_proj.weight", at::kBFloat16);
  CHECK((bf16.scalar_type() == at::kBFloat16));
  CHECK(at::equal(bf16, f32.to(at::kBFloat16)));

  const std::string identity = checkpoint->identity();
  CHECK(identity.rfind("sri-sampled-sha256:", 0) == 0);
  CHECK(identity.size() == 19 + 64);
  CHECK(Checkpoint::open(k_gguf)->identity() == identity);

  // Loading every tensor must take seconds, not minutes: 100 MB of Q4_1/Q8_0 took 1.3 to 1.5 s on
  // the 2 shared cores of the development VM, and 60 s leaves room for slow CI machines.
  const auto start = std::chrono::steady_clock::now();
  int64_t elements = 0;
  for (const auto& name : checkpoint->tensor_names()) elements += checkpoint->load(name).numel();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  MESSAGE("loaded ", elements, " elements in ", seconds, " s");
  CHECK(elements == 134515008);
  CHECK(seconds < 60.0);
}

TEST_CASE("smollm2 folder and gguf give the same tensors") {
  skip_without_model();
  if (!fs::exists(k_folder / "model.safetensors")) {
    std::printf("skipped: %s is absent; run tests/checkpoint/convert_gguf_to_hf.py\n", k_folder.c_str());
    std::exit(77);
  }
  const auto from_gguf = Checkpoint::open(k_gguf);
  const auto from_folder = Checkpoint::open(k_folder);
  CHECK(from_folder->architecture() == "llama");
  CHECK(from_folder->folder().value() == k_folder);
  CHECK(from_folder->gguf() == nullptr);
  CHECK(from_folder->display_name() == "SmolLM2-135M-Instruct-hf");
  CHECK(from_folder->identity() != from_gguf->identity());
  for (const char* key : {"hidden_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads",
                          "intermediate_size", "vocab_size", "tie_word_embeddings"}) {
    CAPTURE(key);
    CHECK(from_folder->config()[key] == from_gguf->config()[key]);
  }
  CHECK((from_folder->end_token_ids() == from_gguf->end_token_ids()));

  int compared = 0;
  for (const auto& name : from_gguf->tensor_names()) {
    CAPTURE(name);
    REQUIRE(from_folder->contains(name));
    CHECK((from_folder->shape(name) == from_gguf->shape(name)));
    const at::Tensor folder_values = from_folder->load(name, at::kFloat);
    const at::Tensor gguf_values = from_gguf->load(name, at::kFloat);
    // transformers wrote float32 copies of the same dequantized values: they must be identical.
    CHECK(at::equal(folder_values, gguf_values));
    ++compared;
  }
  CHECK(compared == 272);
}
