// Checkpoint tests on tiny llama, qwen2 and gemma2 models stored twice: as a GGUF file with
// llama.cpp's converter transforms and as a sharded Hugging Face folder. data/tiny/ comes from
// make_checkpoint_fixtures.py, which also checked the GGUF files with transformers' GGUF loader.

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

#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

namespace fs = std::filesystem;
using sri::io::Checkpoint;

namespace {

const fs::path k_tiny = fs::path(SRI_TEST_DATA_DIR) / "checkpoint" / "data" / "tiny";

// Checks that `action` raises sri::Error with `id` and a message containing every fragment.
void expect_error(const std::function<void()>& action, const std::string& id, const std::vector<std::string>& fragments) {
  try {
    action();
    const std::string failure = "expected sri::Error " + id + " but nothing was raised";
    FAIL(failure);
  } catch (const sri::Error& error) {
    CHECK(error.id() == id);
    const std::string message = error.what();
    for (const auto& fragment : fragments) {
      INFO("message: ", message);
      CHECK(message.find(fragment) != std::string::npos);
    }
  }
}

// A folder under the system temporary folder, removed when the test ends.
class TempFolder {
 public:
  TempFolder() {
    static int counter = 0;
    path_ = fs::temp_directory_path() / ("sri_checkpoint_test_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
    fs::create_directories(path_);
  }
  ~TempFolder() { fs::remove_all(path_); }
  TempFolder(const TempFolder&) = delete;
  TempFolder& operator=(const TempFolder&) = delete;
  [[nodiscard]] const fs::path& path() const { return path_; }
  void write(const std::string& name, const std::string& text) const { std::ofstream(path_ / name) << text; }

 private:
  fs::path path_;
};

}  // namespace

TEST_CASE("checkpoint gguf equals hf folder") {
  for (const std::string arch : {"llama", "qwen2", "gemma2"}) {
    CAPTURE(arch);
    const auto from_gguf = Checkpoint::open(k_tiny / (arch + ".gguf"));
    const auto from_folder = Checkpoint::open(k_tiny / (arch + "-hf"));
    CHECK(from_gguf->architecture() == arch);
    CHECK(from_folder->architecture() == arch);

    // Every config.json field that the GGUF metadata carries comes back with the same value.
    std::vector<std::string> keys{"hidden_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads",
                                  "head_dim", "intermediate_size", "vocab_size", "max_position_embeddings",
                                  "tie_word_embeddings", "rms_norm_eps", "rope_theta", "bos_token_id",
                                  "eos_token_id", "hidden_act", "model_type", "architectures"};
    if (arch == "gemma2") {
      keys.insert(keys.end(), {"sliding_window", "attn_logit_softcapping", "final_logit_softcapping",
                               "query_pre_attn_scalar"});
    }
    for (const auto& key : keys) {
      CAPTURE(key);
      REQUIRE(from_folder->config().contains(key));
      REQUIRE(from_gguf->config().contains(key));
      CHECK(from_gguf->config()[key] == from_folder->config()[key]);
    }
    CHECK(from_gguf->config()["attention_bias"] == (arch == "qwen2"));

    const auto names = from_gguf->tensor_names();
    CHECK((names == from_folder->tensor_names()));
    for (const auto& name : names) {
      CAPTURE(name);
      CHECK((from_gguf->shape(name) == from_folder->shape(name)));
      // The folder contains the dequantized values, so the tensors are identical after the Q/K row
      // permutation and the Gemma norm shift are undone.
      CHECK(at::equal(from_gguf->load(name, at::kFloat), from_folder->load(name, at::kFloat)));
    }
  }
}

TEST_CASE("checkpoint transforms only where converters do") {
  const auto llama = Checkpoint::open(k_tiny / "llama.gguf");
  const auto* llama_file = llama->gguf();
  REQUIRE(llama_file != nullptr);
  // llama: q/k rows are permuted in the file, v rows are not.
  CHECK_FALSE(at::equal(llama_file->load("blk.0.attn_q.weight"), llama->load("model.layers.0.self_attn.q_proj.weight")));
  CHECK_FALSE(at::equal(llama_file->load("blk.1.attn_k.weight"), llama->load("model.layers.1.self_attn.k_proj.weight")));
  CHECK(at::equal(llama_file->load("blk.0.attn_v.weight"), llama->load("model.layers.0.self_attn.v_proj.weight")));
  CHECK(at::equal(llama_file->load("output_norm.weight"), llama->load("model.norm.weight")));

  // qwen2: nothing is permuted, biases included.
  const auto qwen = Checkpoint::open(k_tiny / "qwen2.gguf");
  CHECK(at::equal(qwen->gguf()->load("blk.0.attn_q.weight"), qwen->load("model.layers.0.self_attn.q_proj.weight")));
  CHECK(at::equal(qwen->gguf()->load("blk.0.attn_k.bias"), qwen->load("model.layers.0.self_attn.k_proj.bias")));
  CHECK(qwen->contains("lm_head.weight"));
  CHECK(qwen->config()["tie_word_embeddings"] == false);

  // gemma2: every norm weight is stored as 1 + w; nothing else changes.
  const auto gemma = Checkpoint::open(k_tiny / "gemma2.gguf");
  for (const auto& [gguf_name, hf_name] :
       {std::pair{"output_norm.weight", "model.norm.weight"},
        std::pair{"blk.0.attn_norm.weight", "model.layers.0.input_layernorm.weight"},
        std::pair{"blk.0.post_attention_norm.weight", "model.layers.0.post_attention_layernorm.weight"},
        std::pair{"blk.1.ffn_norm.weight", "model.layers.1.pre_feedforward_layernorm.weight"},
        std::pair{"blk.1.post_ffw_norm.weight", "model.layers.1.post_feedforward_layernorm.weight"}}) {
    CAPTURE(hf_name);
    CHECK(at::allclose(gemma->gguf()->load(gguf_name) - 1.0, gemma->load(hf_name), 0.0, 1e-6));
  }
  CHECK(at::equal(gemma->gguf()->load("blk.0.attn_q.weight"), gemma->load("model.layers.0.self_attn.q_proj.weight")));
  CHECK(gemma->config()["rope_theta"] == 10000.0);  // the Gemma 2 converter writes no rope base
}

TEST_CASE("checkpoint end ids and generation config") {
  const auto folder = Checkpoint::open(k_tiny / "llama-hf");
  CHECK((folder->end_token_ids() == std::vector<int64_t>{2, 5}));  // generation_config.json wins over config.json
  CHECK(folder->generation_config()["bos_token_id"] == 1);
  CHECK(folder->folder().value() == k_tiny / "llama-hf");
  CHECK(folder->display_name() == "llama-hf");

  const auto gguf = Checkpoint::open(k_tiny / "llama.gguf");
  CHECK((gguf->end_token_ids() == std::vector<int64_t>{2}));
  CHECK(gguf->generation_config()["eos_token_id"] == 2);
  CHECK(gguf->display_name() == "llama");
}

TEST_CASE("checkpoint folder load maps without copies") {
  const auto folder = Checkpoint::open(k_tiny / "qwen2-hf");
  const at::Tensor first = folder->load("model.layers.0.mlp.up_proj.weight", at::kFloat);
  const at::Tensor second = folder->load("model.layers.0.mlp.up_proj.weight", at::kFloat);
  CHECK(first.data_ptr() == second.data_ptr());  // both are views of the same mapped bytes
  const at::Tensor half = folder->load("model.layers.0.mlp.up_proj.weight", at::kHalf);
  CHECK((half.scalar_type() == at::kHalf));
  CHECK(half.data_ptr() != first.data_ptr());
}

TEST_CASE("checkpoint identity is stable and distinct") {
  const std::string llama = Checkpoint::open(k_tiny / "llama.gguf")->identity();
  CHECK(llama == Checkpoint::open(k_tiny / "llama.gguf")->identity());
  CHECK(llama != Checkpoint::open(k_tiny / "qwen2.gguf")->identity());
  const std::string folder = Checkpoint::open(k_tiny / "llama-hf")->identity();
  CHECK(folder == Checkpoint::open(k_tiny / "llama-hf")->identity());
  CHECK(folder != Checkpoint::open(k_tiny / "gemma2-hf")->identity());
  CHECK(folder.rfind("sri-sampled-sha256:", 0) == 0);
}

TEST_CASE("checkpoint normalizes architecture names") {
  using sri::io::normalize_architecture;
  CHECK(normalize_architecture("llama") == "llama");
  CHECK(normalize_architecture("LlamaForCausalLM") == "llama");
  CHECK(normalize_architecture("Qwen2ForCausalLM") == "qwen2");
  CHECK(normalize_architecture("gemma3_text") == "gemma3");
  CHECK(normalize_architecture("Gemma2ForCausalLM") == "gemma2");
  CHECK(normalize_architecture("LLaDAModelLM") == "llada");
  CHECK(normalize_architecture("Dream") == "dream");
  CHECK_FALSE(normalize_architecture("gpt2").has_value());
  CHECK_FALSE(normalize_architecture("").has_value());
}

TEST_CASE("checkpoint open errors") {
  expect_error([] { (void)Checkpoint::open(k_tiny / "missing.gguf"); }, "sri.checkpoint.not_found", {"missing.gguf"});
  expect_error([] { (void)Checkpoint::open(k_tiny / "llama-hf" / "config.json"); }, "sri.checkpoint.unknown_format",
               {"config.json", "GGUF"});
  expect_error([] { (void)Checkpoint::open(k_tiny / "llama.gguf")->load("model.layers.9.mlp.up_proj.weight"); },
               "sri.checkpoint.tensor_not_found", {"model.layers.9.mlp.up_proj.weight"});

  const TempFolder unsupported;
  unsupported.write("config.json", R"({"model_type": "gpt2", "architectures": ["GPT2LMHeadModel"]})");
  expect_error([&] { (void)Checkpoint::open(unsupported.path()); }, "sri.checkpoint.unsupported_architecture",
               {"gpt2", "GPT2LMHeadModel", "llama, qwen2, gemma2, gemma3, llada, dream"});

  const TempFolder no_weights;
  no_weights.write("config.json", R"({"model_type": "llama"})");
  expect_error([&] { (void)Checkpoint::open(no_weights.path()); }, "sri.checkpoint.missing_file",
               {"model.safetensors", "pytorch_model.bin"});

  const TempFolder no_config;
  expect_error([&] { (void)Checkpoint::open(no_config.path()); }, "sri.checkpoint.missing_file", {"config.json"});

  const TempFolder bad_json;
  bad_json.write("config.json", "{not json");
  expect_error([&] { (void)Checkpoint::open(bad_json.path()); }, "sri.checkpoint.invalid_config", {"not valid JSON"});

  const TempFolder bad_index;
  bad_index.write("config.json", R"({"model_type": "qwen2"})");
  fs::copy_file(k_tiny / "qwen2-hf" / "model-00001-of-00002.safetensors",
                bad_index.path() / "model-00001-of-00002.safetensors");
  bad_index.write("model.safetensors.index.json",
                  R"({"weight_map": {"model.not_there.weight": "model-00001-of-00002.safetensors"}})");
  expect_error([&] { (void)Checkpoint::open(bad_index.path()); }, "sri.checkpoint.invalid_index",
               {"model.not_there.weight", "model-00001-of-00002.safetensors"});

  // A GGUF file of an architecture sri does not run.
  const TempFolder falcon;
  std::string bytes = "GGUF";
  auto append = [&bytes](const void* data, std::size_t size) { bytes.append(static_cast<const char*>(data), size); };
  const uint32_t version = 3;
  const uint64_t tensor_count = 0;
  const uint64_t key_count = 1;
  const std::string key = "general.architecture";
  const std::string value = "falcon";
  const uint64_t key_size = key.size();
  const uint64_t value_size = value.size();
  const uint32_t string_type = 8;
  append(&version, 4);
  append(&tensor_count, 8);
  append(&key_count, 8);
  append(&key_size, 8);
  bytes += key;
  append(&string_type, 4);
  append(&value_size, 8);
  bytes += value;
  falcon.write("falcon.gguf", bytes);
  expect_error([&] { (void)Checkpoint::open(falcon.path() / "falcon.gguf"); }, "sri.checkpoint.unsupported_architecture",
               {"falcon", "llama, qwen2"});
}
