// Tokenizer parity with Hugging Face `tokenizers` on the committed corpus (golden/tokenize.json,
// produced by make_golden.py), plus byte-level, decoding and error-path checks.

#include <sri/text/chat_codec.hpp>
#include <sri/text/tokenizer.hpp>

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

namespace {

const std::filesystem::path text_dir = std::filesystem::path(SRI_TEST_DATA_DIR) / "text";

nlohmann::json load_json(const std::filesystem::path& path) {
  std::ifstream stream(path);
  REQUIRE_MESSAGE(stream.good(), "cannot open ", path.string());
  return nlohmann::json::parse(stream);
}

std::vector<int64_t> as_ids(const nlohmann::json& node) { return node.get<std::vector<int64_t>>(); }

std::string error_id_of(const std::function<void()>& action) {
  try {
    action();
  } catch (const sri::Error& error) {
    return error.id();
  }
  return "no error";
}

// Compares every corpus case of one tokenizer with the golden ids and decoded strings (exact).
void check_against_golden(const sri::text::Tokenizer& tokenizer, const nlohmann::json& golden) {
  CHECK(tokenizer.vocab_size() == golden.at("vocab_size").get<int64_t>());
  for (const auto& entry : golden.at("cases")) {
    const std::string text = entry.at("text").get<std::string>();
    INFO("text: \"", text, "\"");
    const std::vector<int64_t> ids = tokenizer.encode(text);
    CHECK(ids == as_ids(entry.at("ids")));
    CHECK(tokenizer.encode(text, true) == as_ids(entry.at("ids_with_special")));
    CHECK(tokenizer.decode(ids, false) == entry.at("decoded").get<std::string>());
    CHECK(tokenizer.decode(ids, true) == entry.at("decoded_skip_special").get<std::string>());
  }
}

}  // namespace

TEST_CASE("byte-level alphabet matches GPT-2") {
  CHECK(sri::text::byte_level_char(' ') == U'\u0120');
  CHECK(sri::text::byte_level_char('\n') == U'\u010A');
  CHECK(sri::text::byte_level_char('A') == U'A');
  CHECK(sri::text::byte_level_char(0xAD) == U'\u0143');
  CHECK(sri::text::byte_level_char(0x00) == U'\u0100');
  for (unsigned byte = 0; byte < 256; ++byte) {
    CHECK(sri::text::byte_level_byte(sri::text::byte_level_char(static_cast<unsigned char>(byte))) ==
          static_cast<int>(byte));
  }
  CHECK(sri::text::byte_level_byte(U' ') == -1);
}

TEST_CASE("lossy UTF-8 decoding") {
  using sri::text::detail::utf8_lossy;
  CHECK(utf8_lossy("abc") == "abc");
  CHECK(utf8_lossy("\xC3") == "\xEF\xBF\xBD");
  CHECK(utf8_lossy("a\xC3z") == "a\xEF\xBF\xBDz");
  // A truncated 3-byte sequence is one maximal subpart, so one replacement character.
  CHECK(utf8_lossy("\xE2\x82") == "\xEF\xBF\xBD");
  CHECK(utf8_lossy("\xFF\xFE") == "\xEF\xBF\xBD\xEF\xBF\xBD");
  CHECK(utf8_lossy("\xED\xA0\x80") == "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
}

TEST_CASE("NFC matches Python unicodedata") {
  const auto golden = load_json(text_dir / "golden/tokenize.json");
  for (const auto& entry : golden.at("nfc")) {
    const std::string text = entry.at("text").get<std::string>();
    INFO("text: \"", text, "\"");
    CHECK(sri::text::detail::normalize_nfc(text) == entry.at("nfc").get<std::string>());
  }
  // Hangul syllables compose arithmetically: U+1100 U+1161 U+11A8 is U+AC01.
  CHECK(sri::text::detail::normalize_nfc("\u1100\u1161\u11a8") == "\uac01");
}

TEST_CASE("SmolLM2 tokenizer.json matches tokenizers") {
  const auto golden = load_json(text_dir / "golden/tokenize.json");
  const auto tokenizer = sri::text::Tokenizer::from_tokenizer_json(text_dir / "fixtures/smollm2/tokenizer.json");
  check_against_golden(tokenizer, golden.at("tokenizers").at("smollm2"));
  CHECK(tokenizer.bos_id() == 1);
  CHECK(tokenizer.eos_id() == 2);
  CHECK(tokenizer.prefix_ids().empty());
}

TEST_CASE("Llama 3 fixture matches tokenizers") {
  const auto golden = load_json(text_dir / "golden/tokenize.json");
  const auto tokenizer = sri::text::Tokenizer::from_tokenizer_json(text_dir / "fixtures/llama3/tokenizer.json");
  check_against_golden(tokenizer, golden.at("tokenizers").at("llama3"));
  REQUIRE(tokenizer.token_id("<|begin_of_text|>").has_value());
  CHECK(tokenizer.prefix_ids() == std::vector<int64_t>{*tokenizer.token_id("<|begin_of_text|>")});
}

TEST_CASE("Qwen2 fixture matches tokenizers") {
  const auto golden = load_json(text_dir / "golden/tokenize.json");
  const auto tokenizer = sri::text::Tokenizer::from_tokenizer_json(text_dir / "fixtures/qwen2/tokenizer.json");
  check_against_golden(tokenizer, golden.at("tokenizers").at("qwen2"));
  CHECK_FALSE(tokenizer.bos_id().has_value());
}

TEST_CASE("diffusion fixture tokenizers match tokenizers") {
  // The tiny LLaDA and Dream checkpoints of tests/e2e/data (make_diffusion_fixtures.py).
  const auto golden = load_json(text_dir / "golden/tokenize.json");
  REQUIRE(golden.at("diffusion_fixtures").size() == 2);
  for (const auto& [name, entry] : golden.at("diffusion_fixtures").items()) {
    INFO("fixture: ", name);
    const auto tokenizer = sri::text::Tokenizer::from_tokenizer_json(text_dir / entry.at("tokenizer").get<std::string>());
    check_against_golden(tokenizer, entry);
  }
}

TEST_CASE("pre-tokenizer variants match tokenizers") {
  // ByteLevel add_prefix_space, Digits runs and String splits, on fixture vocabularies.
  const auto golden = load_json(text_dir / "golden/tokenize.json");
  for (const auto& [name, variant] : golden.at("pre_tokenizer_variants").items()) {
    INFO("variant: ", name);
    const auto fixture = text_dir / "fixtures" / variant.at("fixture").get<std::string>();
    std::ifstream stream(fixture / "tokenizer.json");
    auto root = nlohmann::json::parse(stream);
    root["pre_tokenizer"] = variant.at("pre_tokenizer");
    const auto config = load_json(fixture / "tokenizer_config.json");
    const auto tokenizer = sri::text::Tokenizer::from_tokenizer_json_text(root.dump(), config, name);
    check_against_golden(tokenizer, variant);
  }
}

TEST_CASE("Führer round trip") {
  for (const char* name : {"smollm2", "llama3", "qwen2"}) {
    INFO("tokenizer: ", name);
    const auto tokenizer =
        sri::text::Tokenizer::from_tokenizer_json(text_dir / "fixtures" / name / "tokenizer.json");
    const std::string text = "Führer";
    CHECK(tokenizer.decode(tokenizer.encode(text)) == text);
  }
}

TEST_CASE("special tokens split out before BPE") {
  const auto tokenizer = sri::text::Tokenizer::from_tokenizer_json(text_dir / "fixtures/smollm2/tokenizer.json");
  const std::vector<int64_t> ids = tokenizer.encode("<|im_start|>user\nhi");
  REQUIRE(!ids.empty());
  CHECK(ids.front() == 1);
  CHECK(tokenizer.decode(ids, true) == "user\nhi");
  CHECK(tokenizer.decode(ids, false) == "<|im_start|>user\nhi");
  CHECK(tokenizer.is_special(1));
  CHECK_FALSE(tokenizer.is_special(ids.back()));
}

TEST_CASE("invalid input raises stable error ids") {
  const auto tokenizer = sri::text::Tokenizer::from_tokenizer_json(text_dir / "fixtures/qwen2/tokenizer.json");
  CHECK(error_id_of([&] { (void)tokenizer.encode("bad \xC3 byte"); }) == "sri.text.invalid_utf8");
  CHECK(error_id_of([&] { (void)sri::text::Tokenizer::from_tokenizer_json(text_dir / "missing/tokenizer.json"); }) ==
        "sri.text.file_not_found");
  CHECK(error_id_of([&] { (void)sri::text::Tokenizer::from_tokenizer_json_text("{not json"); }) ==
        "sri.text.invalid_tokenizer");

  const std::string no_byte_level = R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []},
      "pre_tokenizer": {"type": "Whitespace"}, "decoder": {"type": "ByteLevel"}})";
  CHECK(error_id_of([&] { (void)sri::text::Tokenizer::from_tokenizer_json_text(no_byte_level); }) ==
        "sri.text.unsupported_pre_tokenizer");

  const std::string bad_merge = R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": ["a b"]},
      "pre_tokenizer": {"type": "ByteLevel"}, "decoder": {"type": "ByteLevel"}})";
  CHECK(error_id_of([&] { (void)sri::text::Tokenizer::from_tokenizer_json_text(bad_merge); }) ==
        "sri.text.invalid_tokenizer");

  const std::string word_piece = R"({"model": {"type": "WordPiece", "vocab": {"a": 0}},
      "pre_tokenizer": {"type": "ByteLevel"}, "decoder": {"type": "ByteLevel"}})";
  CHECK(error_id_of([&] { (void)sri::text::Tokenizer::from_tokenizer_json_text(word_piece); }) ==
        "sri.text.unsupported_tokenizer");

  CHECK(error_id_of([] { (void)sri::text::PreTokenizer::from_gguf_name("falcon"); }) ==
        "sri.text.unsupported_pre_tokenizer");
}

TEST_CASE("unknown and out-of-range ids are skipped by decode") {
  const auto tokenizer = sri::text::Tokenizer::from_tokenizer_json(text_dir / "fixtures/qwen2/tokenizer.json");
  const std::vector<int64_t> ids = tokenizer.encode("hello");
  std::vector<int64_t> padded = {-1};
  padded.insert(padded.end(), ids.begin(), ids.end());
  padded.push_back(tokenizer.vocab_size() + 100);
  CHECK(tokenizer.decode(padded) == "hello");
}

TEST_CASE("encode throughput on a long text") {
  // Measured, not asserted: prints tokens per second for docs/tokenizers.md. The round trip
  // check keeps the loop honest.
  const auto tokenizer = sri::text::Tokenizer::from_tokenizer_json(text_dir / "fixtures/smollm2/tokenizer.json");
  const auto corpus = load_json(text_dir / "corpus.json");
  std::string text;
  while (text.size() < 1'000'000) {
    for (const auto& entry : corpus) text += entry.get<std::string>() + "\n";
  }
  const auto start = std::chrono::steady_clock::now();
  const std::vector<int64_t> ids = tokenizer.encode(text);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  MESSAGE("SmolLM2 encode: ", text.size(), " bytes -> ", ids.size(), " tokens in ", seconds, " s = ",
          static_cast<double>(ids.size()) / seconds, " tokens/s");
  CHECK(tokenizer.decode(ids, false) == text);
}

namespace {

// GGUF metadata in memory, built from a tokenizer.json the way llama.cpp's converter writes it:
// tokens by id, "left right" merges, CONTROL for special added tokens, USER_DEFINED for others.
class FakeGguf {
 public:
  FakeGguf(const std::filesystem::path& tokenizer_json, std::string pre, bool add_bos_key, bool add_bos) {
    const auto root = load_json(tokenizer_json);
    std::map<int64_t, std::pair<std::string, int64_t>> by_id;
    for (const auto& [token, id] : root.at("model").at("vocab").items()) by_id[id.get<int64_t>()] = {token, 1};
    for (const auto& added : root.at("added_tokens")) {
      by_id[added.at("id").get<int64_t>()] = {added.at("content").get<std::string>(),
                                              added.at("special").get<bool>() ? 3 : 4};
    }
    for (const auto& [id, entry] : by_id) {
      tokens_.push_back(entry.first);
      types_.push_back(entry.second);
    }
    REQUIRE_MESSAGE(by_id.rbegin()->first + 1 == static_cast<int64_t>(tokens_.size()), "ids are not contiguous");
    for (const auto& merge : root.at("model").at("merges")) {
      merges_.push_back(merge.is_array() ? merge[0].get<std::string>() + " " + merge[1].get<std::string>()
                                         : merge.get<std::string>());
    }
    strings_["tokenizer.ggml.model"] = "gpt2";
    strings_["tokenizer.ggml.pre"] = std::move(pre);
    if (add_bos_key) bools_["tokenizer.ggml.add_bos_token"] = add_bos;
  }

  void set_int(const std::string& key, int64_t value) { ints_[key] = value; }
  void set_string(const std::string& key, std::string value) { strings_[key] = std::move(value); }
  void erase_string(const std::string& key) { strings_.erase(key); }

  bool contains(std::string_view key) const {
    const std::string name(key);
    return strings_.count(name) || ints_.count(name) || bools_.count(name) || name == "tokenizer.ggml.tokens" ||
           name == "tokenizer.ggml.merges" || name == "tokenizer.ggml.token_type";
  }
  std::string get_string(std::string_view key) const { return strings_.at(std::string(key)); }
  int64_t get_int(std::string_view key) const { return ints_.at(std::string(key)); }
  bool get_bool(std::string_view key) const { return bools_.at(std::string(key)); }
  std::vector<std::string> get_string_array(std::string_view key) const {
    return key == "tokenizer.ggml.tokens" ? tokens_ : merges_;
  }
  std::vector<int64_t> get_int_array(std::string_view) const { return types_; }

 private:
  std::vector<std::string> tokens_;
  std::vector<int64_t> types_;
  std::vector<std::string> merges_;
  std::map<std::string, std::string> strings_;
  std::map<std::string, int64_t> ints_;
  std::map<std::string, bool> bools_;
};

static_assert(sri::text::GgufMetadata<FakeGguf>);

// GGUF carries no lstrip/rstrip/single_word flags, so cases that use such tokens are left out.
bool uses_flagged_token(const std::string& text) {
  return text.find("[LSTRIP]") != std::string::npos || text.find("[RSTRIP]") != std::string::npos ||
         text.find("wordword") != std::string::npos;
}

void check_gguf_path(const sri::text::Tokenizer& tokenizer, const nlohmann::json& golden) {
  for (const auto& entry : golden.at("cases")) {
    const std::string text = entry.at("text").get<std::string>();
    if (uses_flagged_token(text)) continue;
    INFO("text: \"", text, "\"");
    const std::vector<int64_t> ids = tokenizer.encode(text);
    CHECK(ids == as_ids(entry.at("ids")));
    CHECK(tokenizer.encode(text, true) == as_ids(entry.at("ids_with_special")));
    CHECK(tokenizer.decode(ids, false) == entry.at("decoded").get<std::string>());
    CHECK(tokenizer.decode(ids, true) == entry.at("decoded_skip_special").get<std::string>());
  }
}

}  // namespace

TEST_CASE("GGUF metadata path for llama-bpe") {
  const auto golden = load_json(text_dir / "golden/tokenize.json");
  const auto path = text_dir / "fixtures/llama3/tokenizer.json";
  // Without an add_bos_token key, llama-bpe adds BOS like llama.cpp does.
  FakeGguf gguf(path, "llama-bpe", false, false);
  const auto json_tokenizer = sri::text::Tokenizer::from_tokenizer_json(path);
  gguf.set_int("tokenizer.ggml.bos_token_id", *json_tokenizer.token_id("<|begin_of_text|>"));
  gguf.set_int("tokenizer.ggml.eos_token_id", *json_tokenizer.token_id("<|eot_id|>"));
  const auto tokenizer = sri::text::Tokenizer::from_gguf(gguf);
  check_gguf_path(tokenizer, golden.at("tokenizers").at("llama3"));
  CHECK(tokenizer.bos_id() == json_tokenizer.bos_id());
  CHECK(tokenizer.eos_id() == json_tokenizer.eos_id());
}

TEST_CASE("GGUF metadata path for qwen2") {
  const auto golden = load_json(text_dir / "golden/tokenize.json");
  FakeGguf gguf(text_dir / "fixtures/qwen2/tokenizer.json", "qwen2", true, false);
  check_gguf_path(sri::text::Tokenizer::from_gguf(gguf), golden.at("tokenizers").at("qwen2"));
}

TEST_CASE("GGUF metadata path for smollm") {
  const auto golden = load_json(text_dir / "golden/tokenize.json");
  FakeGguf gguf(text_dir / "fixtures/smollm2/tokenizer.json", "smollm", true, false);
  check_gguf_path(sri::text::Tokenizer::from_gguf(gguf), golden.at("tokenizers").at("smollm2"));
}

TEST_CASE("GGUF metadata errors") {
  FakeGguf unknown_pre(text_dir / "fixtures/qwen2/tokenizer.json", "falcon", true, false);
  CHECK(error_id_of([&] { (void)sri::text::Tokenizer::from_gguf(unknown_pre); }) ==
        "sri.text.unsupported_pre_tokenizer");

  FakeGguf missing_pre(text_dir / "fixtures/qwen2/tokenizer.json", "qwen2", true, false);
  missing_pre.erase_string("tokenizer.ggml.pre");
  CHECK(error_id_of([&] { (void)sri::text::Tokenizer::from_gguf(missing_pre); }) ==
        "sri.text.unsupported_pre_tokenizer");

  FakeGguf sentencepiece(text_dir / "fixtures/qwen2/tokenizer.json", "qwen2", true, false);
  sentencepiece.set_string("tokenizer.ggml.model", "llama");
  CHECK(error_id_of([&] { (void)sri::text::Tokenizer::from_gguf(sentencepiece); }) ==
        "sri.text.unsupported_tokenizer");
}

namespace {

// A checkpoint with an optional folder and optional GGUF metadata, like sri::io::Checkpoint.
struct FakeCheckpoint {
  std::optional<std::filesystem::path> folder_path;
  const FakeGguf* metadata = nullptr;
  std::filesystem::path file = "model";

  std::optional<std::filesystem::path> folder() const { return folder_path; }
  const FakeGguf* gguf() const { return metadata; }
  const std::filesystem::path& path() const { return file; }
};

static_assert(sri::text::TokenizerSource<FakeCheckpoint>);

}  // namespace

TEST_CASE("from_checkpoint picks folder then GGUF") {
  const auto golden = load_json(text_dir / "golden/tokenize.json").at("tokenizers");

  // A folder with tokenizer.json wins over GGUF metadata. The folder here is Qwen2's and the GGUF
  // metadata SmolLM2's, so the ids show which one was read.
  FakeGguf smollm2(text_dir / "fixtures/smollm2/tokenizer.json", "smollm", true, false);
  FakeCheckpoint both{text_dir / "fixtures/qwen2", &smollm2};
  const auto& qwen_case = golden.at("qwen2").at("cases").at(3);
  CHECK(sri::text::Tokenizer::from_checkpoint(both).encode(qwen_case.at("text").get<std::string>()) ==
        as_ids(qwen_case.at("ids")));

  // A folder without tokenizer.json falls back to the GGUF metadata.
  FakeCheckpoint gguf_only{text_dir / "templates", &smollm2};
  const auto& smollm2_case = golden.at("smollm2").at("cases").at(3);
  CHECK(sri::text::Tokenizer::from_checkpoint(gguf_only).encode(smollm2_case.at("text").get<std::string>()) ==
        as_ids(smollm2_case.at("ids")));

  FakeCheckpoint neither{std::nullopt, nullptr};
  CHECK(error_id_of([&] { (void)sri::text::Tokenizer::from_checkpoint(neither); }) ==
        "sri.text.tokenizer_not_found");
}

TEST_CASE("chat codec picks byte-level pair") {
  // The tiny LLaDA checkpoint of tests/e2e/data: byte-level BPE and LLaDA's chat template.
  const auto folder = text_dir.parent_path() / "e2e" / "data" / "llada-tiny-chat";
  const auto codec = sri::text::ChatCodec::from_checkpoint(FakeCheckpoint{folder, nullptr}, "llada");
  REQUIRE(codec.byte_level_tokenizer() != nullptr);
  REQUIRE(codec.chat_template() != nullptr);
  CHECK(codec.sentencepiece_tokenizer() == nullptr);
  CHECK(codec.chat_template()->family() == sri::text::ChatFamily::llada);

  const auto tokenizer = sri::text::Tokenizer::from_tokenizer_json(folder / "tokenizer.json");
  const auto chat_template = sri::text::ChatTemplate::from_folder(folder);
  const std::string user = " What is the capital of France? ";
  CHECK(codec.encode_chat(user) == sri::text::encode_chat(tokenizer, chat_template, user));
  sri::text::ChatEncodeOptions double_bos;
  double_bos.reference_double_bos = true;
  CHECK(codec.encode_chat(user, double_bos) == sri::text::encode_chat(tokenizer, chat_template, user, double_bos));

  const std::vector<int64_t> ids = tokenizer.encode("the cat sat");
  CHECK(codec.decode(ids) == "the cat sat");
  CHECK(codec.token_id("<|mdm_mask|>") == std::optional<int64_t>(314));
  CHECK(codec.vocab_size() == tokenizer.vocab_size());

  // Without a tokenizer.json or GGUF metadata the codec reports the missing tokenizer.
  CHECK(error_id_of([&] { (void)sri::text::ChatCodec::from_checkpoint(FakeCheckpoint{std::nullopt, nullptr}, "qwen2"); }) ==
        "sri.text.tokenizer_not_found");
}
