// The Gemma tokenizer and chat template against Hugging Face: ids and decoded strings on a tricky
// corpus, from GGUF metadata and from tokenizer.json, and the rendered Gemma 3 chat prompt.
// Golden files come from make_golden.py (transformers reading the same GGUF). Skipped (exit code
// 77) when the model is not downloaded (scripts/fetch-models.sh).

#include <sri/io/gguf.hpp>
#include <sri/text/chat_codec.hpp>
#include <sri/text/gemma_template.hpp>
#include <sri/text/sentencepiece_bpe.hpp>

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

namespace {

const std::filesystem::path gemma_dir = std::filesystem::path(SRI_TEST_DATA_DIR) / "gemma";
const std::filesystem::path gemma_gguf = std::filesystem::path(SRI_MODEL_CACHE) / "gemma-3-270m.Q4_K_M.gguf";
const std::filesystem::path gemma_tokenizer_json =
    std::filesystem::path(SRI_MODEL_CACHE) / "gemma-3-270m-hf" / "tokenizer.json";

nlohmann::json load_json(const std::filesystem::path& path) {
  std::ifstream stream(path);
  REQUIRE_MESSAGE(stream.good(), "cannot open ", path.string());
  return nlohmann::json::parse(stream);
}

std::string read_text(const std::filesystem::path& path) {
  std::ifstream stream(path, std::ios::binary);
  REQUIRE_MESSAGE(stream.good(), "cannot open ", path.string());
  std::ostringstream buffer;
  buffer << stream.rdbuf();
  return buffer.str();
}

void skip_without(const std::filesystem::path& path, std::string_view how) {
  if (!std::filesystem::exists(path)) {
    MESSAGE("skipped: ", path.string(), " is missing; ", how);
    std::exit(77);
  }
}

void check_corpus(const sri::text::SentencePieceBpe& tokenizer) {
  const auto golden = load_json(gemma_dir / "golden/tokenizer_ids.json");
  CHECK(tokenizer.vocab_size() == golden.at("vocab_size").get<int64_t>());
  CHECK(tokenizer.bos_id() == 2);
  CHECK(tokenizer.eos_id() == 1);
  for (const auto& entry : golden.at("cases")) {
    const std::string text = entry.at("text").get<std::string>();
    INFO("text: \"", text, "\"");
    const auto ids = tokenizer.encode(text);
    CHECK(ids == entry.at("ids").get<std::vector<int64_t>>());
    CHECK(tokenizer.encode(text, true) == entry.at("ids_with_special").get<std::vector<int64_t>>());
    const auto expected = entry.at("ids").get<std::vector<int64_t>>();
    CHECK(tokenizer.decode(expected, false) == entry.at("decoded").get<std::string>());
    CHECK(tokenizer.decode(expected, true) == entry.at("decoded_skip_special").get<std::string>());
  }
}

}  // namespace

TEST_CASE("Gemma GGUF tokenizer matches transformers") {
  skip_without(gemma_gguf, "run scripts/fetch-models.sh");
  const sri::io::GgufFile gguf(gemma_gguf);
  check_corpus(sri::text::SentencePieceBpe::from_gguf(gguf));
}

TEST_CASE("Gemma tokenizer.json matches transformers") {
  skip_without(gemma_tokenizer_json, "run tests/gemma/make_golden.py --only tokenizer to convert it from the GGUF");
  check_corpus(sri::text::SentencePieceBpe::from_tokenizer_json(gemma_tokenizer_json));
}

TEST_CASE("Gemma tokenizer byte fallback round trip") {
  skip_without(gemma_gguf, "run scripts/fetch-models.sh");
  const sri::io::GgufFile gguf(gemma_gguf);
  const auto tokenizer = sri::text::SentencePieceBpe::from_gguf(gguf);
  // U+10FFFD (private use) is not in the vocabulary: four <0xXX> tokens, decoded back to the text.
  const std::string text = "a\xF4\x8F\xBF\xBD" "b";
  const auto ids = tokenizer.encode(text);
  REQUIRE(ids.size() == 6);
  CHECK(tokenizer.token_text(ids[1]) == "<0xF4>");
  CHECK(tokenizer.token_text(ids[4]) == "<0xBD>");
  CHECK(tokenizer.decode(ids) == text);
  // A lone continuation byte decodes to U+FFFD, as tokenizers' ByteFallback decoder does.
  const std::vector<int64_t> lone{*tokenizer.token_id("<0xBF>")};
  CHECK(tokenizer.decode(lone) == "\xEF\xBF\xBD");
}

TEST_CASE("Gemma tokenizer rejects invalid input") {
  skip_without(gemma_gguf, "run scripts/fetch-models.sh");
  const sri::io::GgufFile gguf(gemma_gguf);
  const auto tokenizer = sri::text::SentencePieceBpe::from_gguf(gguf);
  CHECK_THROWS_AS(tokenizer.encode("bad \xC3 byte"), sri::Error);
  // A byte-level vocabulary is refused with a message naming the right class.
  const std::filesystem::path smollm2 = std::filesystem::path(SRI_MODEL_CACHE) / "SmolLM2-135M-Instruct.Q4_1.gguf";
  if (std::filesystem::exists(smollm2)) {
    const sri::io::GgufFile other(smollm2);
    try {
      (void)sri::text::SentencePieceBpe::from_gguf(other);
      FAIL("a gpt2 vocabulary was accepted");
    } catch (const sri::Error& error) {
      CHECK(error.id() == "sri.text.unsupported_tokenizer");
      CHECK(std::string(error.what()).find("'gpt2'") != std::string::npos);
    }
  }
}

TEST_CASE("Gemma chat template matches apply_chat_template") {
  skip_without(gemma_gguf, "run scripts/fetch-models.sh");
  const sri::io::GgufFile gguf(gemma_gguf);
  const auto tokenizer = sri::text::SentencePieceBpe::from_gguf(gguf);
  // The packaged GGUF carries no template, so the built-in Gemma 3 format applies.
  const auto builtin = sri::text::GemmaChatTemplate::from_gguf(gguf);
  CHECK_FALSE(builtin.from_file());
  const auto from_text =
      sri::text::GemmaChatTemplate::from_text(read_text(gemma_dir / "data/gemma3_chat_template.jinja"));
  CHECK(from_text.from_file());

  const auto golden = load_json(gemma_dir / "golden/chat_template.json");
  for (const auto& entry : golden.at("cases")) {
    const std::string user = entry.at("user").get<std::string>();
    std::optional<std::string> system;
    if (!entry.at("system").is_null()) system = entry.at("system").get<std::string>();
    INFO("user: \"", user, "\" system: ", system.value_or("(none)"));
    const std::optional<std::string_view> system_view = system ? std::optional<std::string_view>(*system) : std::nullopt;
    CHECK(builtin.render(user, system_view) == entry.at("rendered").get<std::string>());
    CHECK(from_text.render(user, system_view) == entry.at("rendered").get<std::string>());
    CHECK(sri::text::encode_gemma_chat(tokenizer, builtin, user, system_view) ==
          entry.at("ids").get<std::vector<int64_t>>());
  }
  // The reference's double BOS: rendering writes <bos> and tokenizing with special tokens adds one.
  const auto doubled = sri::text::encode_gemma_chat(tokenizer, builtin, "hi", "sys", true);
  REQUIRE(doubled.size() > 2);
  CHECK(doubled[0] == 2);
  CHECK(doubled[1] == 2);
}

TEST_CASE("Gemma chat template rejects other templates") {
  try {
    (void)sri::text::GemmaChatTemplate::from_text("{{ bos_token }}{% for m in messages %}{{ m['content'] }}{% endfor %}");
    FAIL("an unknown template was accepted");
  } catch (const sri::Error& error) {
    CHECK(error.id() == "sri.text.unsupported_chat_template");
  }
}

namespace {

// The GGUF file as a tokenizer source, as sri::io::Checkpoint offers it for a .gguf path.
struct GgufSource {
  const sri::io::GgufFile* file;
  std::filesystem::path file_path;

  std::optional<std::filesystem::path> folder() const { return std::nullopt; }
  const sri::io::GgufFile* gguf() const { return file; }
  const std::filesystem::path& path() const { return file_path; }
};

}  // namespace

TEST_CASE("chat codec picks Gemma pair") {
  skip_without(gemma_gguf, "run scripts/fetch-models.sh");
  const sri::io::GgufFile gguf(gemma_gguf);
  const auto codec = sri::text::ChatCodec::from_checkpoint(GgufSource{&gguf, gemma_gguf}, "gemma3");
  CHECK(codec.sentencepiece_tokenizer() != nullptr);
  CHECK(codec.byte_level_tokenizer() == nullptr);
  CHECK(codec.chat_template() == nullptr);

  const auto tokenizer = sri::text::SentencePieceBpe::from_gguf(gguf);
  const auto chat_template = sri::text::GemmaChatTemplate::from_gguf(gguf);
  const std::string user = "  How many legs does a spider have? ";
  CHECK(codec.encode_chat(user) == sri::text::encode_gemma_chat(tokenizer, chat_template, user));
  sri::text::ChatEncodeOptions no_system;
  no_system.system = std::nullopt;
  CHECK(codec.encode_chat(user, no_system) == sri::text::encode_gemma_chat(tokenizer, chat_template, user, std::nullopt));

  const std::vector<int64_t> ids = tokenizer.encode("Spiders have eight legs.");
  CHECK(codec.decode(ids) == "Spiders have eight legs.");
  CHECK(codec.token_id("<end_of_turn>") == tokenizer.token_id("<end_of_turn>"));
  CHECK(codec.vocab_size() == tokenizer.vocab_size());
}
