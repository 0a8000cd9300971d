// SmolLM2's tokenizer and chat template read from the real GGUF file must give the same ids,
// decoded strings and rendered prompts as Hugging Face (golden files from make_golden.py).
// Skipped (exit code 77) when the model is not downloaded (scripts/fetch-models.sh).

#include <sri/io/checkpoint.hpp>
#include <sri/io/gguf.hpp>
#include <sri/text/chat_template.hpp>

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>

namespace {

const std::filesystem::path text_dir = std::filesystem::path(SRI_TEST_DATA_DIR) / "text";
const std::filesystem::path smollm2_gguf =
    std::filesystem::path(SRI_MODEL_CACHE) / "SmolLM2-135M-Instruct.Q4_1.gguf";

nlohmann::json load_json(const std::filesystem::path& path) {
  std::ifstream stream(path);
  REQUIRE_MESSAGE(stream.good(), "cannot open ", path.string());
  return nlohmann::json::parse(stream);
}

void skip_without_model() {
  if (!std::filesystem::exists(smollm2_gguf)) {
    MESSAGE("skipped: ", smollm2_gguf.string(), " is missing; run scripts/fetch-models.sh");
    std::exit(77);
  }
}

}  // namespace

TEST_CASE("SmolLM2 GGUF tokenizer matches tokenizers") {
  skip_without_model();
  const sri::io::GgufFile gguf(smollm2_gguf);
  const auto tokenizer = sri::text::Tokenizer::from_gguf(gguf);
  const auto golden = load_json(text_dir / "golden/tokenize.json").at("tokenizers").at("smollm2");

  CHECK(tokenizer.vocab_size() == golden.at("vocab_size").get<int64_t>());
  CHECK(tokenizer.bos_id() == 1);
  CHECK(tokenizer.eos_id() == 2);
  CHECK(tokenizer.prefix_ids().empty());
  for (const auto& entry : golden.at("cases")) {
    const std::string text = entry.at("text").get<std::string>();
    INFO("text: \"", text, "\"");
    const auto ids = tokenizer.encode(text);
    CHECK(ids == entry.at("ids").get<std::vector<int64_t>>());
    CHECK(tokenizer.encode(text, true) == entry.at("ids_with_special").get<std::vector<int64_t>>());
    CHECK(tokenizer.decode(ids, false) == entry.at("decoded").get<std::string>());
    CHECK(tokenizer.decode(ids, true) == entry.at("decoded_skip_special").get<std::string>());
  }
}

TEST_CASE("SmolLM2 GGUF chat template matches apply_chat_template") {
  skip_without_model();
  const sri::io::GgufFile gguf(smollm2_gguf);
  const auto tokenizer = sri::text::Tokenizer::from_gguf(gguf);
  const auto chat_template = sri::text::ChatTemplate::from_gguf(gguf);
  CHECK(chat_template.family() == sri::text::ChatFamily::chatml_smollm2);
  CHECK(chat_template.bos_token() == "<|im_start|>");

  const auto golden = load_json(text_dir / "golden/chat.json");
  const auto& smollm2 = golden.at("templates").at(0);
  REQUIRE(smollm2.at("template").get<std::string>() == "smollm2.jinja");
  for (const auto& example : smollm2.at("cases")) {
    const std::string user = example.at("user").get<std::string>();
    INFO("user: \"", user, "\"");
    sri::text::ChatEncodeOptions options;
    std::string system;
    if (example.at("system").is_null()) {
      options.system = std::nullopt;
    } else {
      system = example.at("system").get<std::string>();
      options.system = system;
    }
    CHECK(chat_template.render(user, options.system) == example.at("rendered").get<std::string>());
    CHECK(sri::text::encode_chat(tokenizer, chat_template, user, options) ==
          example.at("ids").get<std::vector<int64_t>>());
  }
}

TEST_CASE("SmolLM2 checkpoint gives GGUF tokenizer and template") {
  skip_without_model();
  const auto checkpoint = sri::io::Checkpoint::open(smollm2_gguf);
  const auto tokenizer = sri::text::Tokenizer::from_checkpoint(*checkpoint);
  const auto chat_template = sri::text::ChatTemplate::from_checkpoint(*checkpoint);
  CHECK(chat_template.family() == sri::text::ChatFamily::chatml_smollm2);

  const auto golden = load_json(text_dir / "golden/chat.json").at("templates").at(0).at("cases").at(0);
  const std::string user = golden.at("user").get<std::string>();
  CHECK(sri::text::encode_chat(tokenizer, chat_template, user) == golden.at("ids").get<std::vector<int64_t>>());
}
