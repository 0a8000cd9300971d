// Chat templates against Hugging Face apply_chat_template (golden/chat.json from make_golden.py):
// rendered strings byte for byte, prompt ids without a double BOS, and the reference's
// double-BOS ids behind the compatibility switch.

#include <sri/text/chat_template.hpp>

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

namespace {

const std::filesystem::path text_dir = std::filesystem::path(SRI_TEST_DATA_DIR) / "text";

std::string read_file(const std::filesystem::path& path) {
  std::ifstream stream(path, std::ios::binary);
  REQUIRE_MESSAGE(stream.good(), "cannot open ", path.string());
  std::ostringstream buffer;
  buffer << stream.rdbuf();
  return buffer.str();
}

std::optional<std::string> optional_string(const nlohmann::json& node) {
  return node.is_null() ? std::nullopt : std::optional(node.get<std::string>());
}

std::string error_of(const std::function<void()>& action) {
  try {
    action();
  } catch (const sri::Error& error) {
    return error.what();
  }
  return "no error";
}

}  // namespace

TEST_CASE("chat templates match apply_chat_template") {
  const auto golden = nlohmann::json::parse(read_file(text_dir / "golden/chat.json"));
  for (const auto& entry : golden.at("templates")) {
    const std::string template_name = entry.at("template").get<std::string>();
    INFO("template: ", template_name);
    const auto chat_template = sri::text::ChatTemplate::from_text(read_file(text_dir / "templates" / template_name),
                                                                   optional_string(entry.at("bos_token")),
                                                                   optional_string(entry.at("eos_token")));
    const auto tokenizer = sri::text::Tokenizer::from_tokenizer_json(text_dir / entry.at("tokenizer").get<std::string>());

    for (const auto& example : entry.at("cases")) {
      const std::string user = example.at("user").get<std::string>();
      const std::optional<std::string> system = optional_string(example.at("system"));
      INFO("user: \"", user, "\", system: ", system.value_or("(none)"));
      const std::optional<std::string_view> system_view =
          system ? std::optional<std::string_view>(*system) : std::nullopt;

      CHECK(chat_template.render(user, system_view) == example.at("rendered").get<std::string>());

      sri::text::ChatEncodeOptions options;
      options.system = system_view;
      CHECK(sri::text::encode_chat(tokenizer, chat_template, user, options) ==
            example.at("ids").get<std::vector<int64_t>>());
      options.reference_double_bos = true;
      CHECK(sri::text::encode_chat(tokenizer, chat_template, user, options) ==
            example.at("reference_double_bos_ids").get<std::vector<int64_t>>());
    }
  }
}

TEST_CASE("Llama 3 prompt ids have one BOS") {
  const auto tokenizer = sri::text::Tokenizer::from_tokenizer_json(text_dir / "fixtures/llama3/tokenizer.json");
  const auto chat_template = sri::text::ChatTemplate::from_folder(text_dir / "fixtures/llama3");
  REQUIRE(tokenizer.bos_id().has_value());
  const int64_t bos = *tokenizer.bos_id();

  const std::vector<int64_t> ids = sri::text::encode_chat(tokenizer, chat_template, "hi");
  REQUIRE(ids.size() > 2);
  CHECK(ids[0] == bos);
  CHECK(ids[1] != bos);

  sri::text::ChatEncodeOptions reference;
  reference.reference_double_bos = true;
  const std::vector<int64_t> double_bos = sri::text::encode_chat(tokenizer, chat_template, "hi", reference);
  REQUIRE(double_bos.size() == ids.size() + 1);
  CHECK(double_bos[0] == bos);
  CHECK(double_bos[1] == bos);
  CHECK(chat_template.renders_bos());
}

TEST_CASE("templates are read from folders") {
  CHECK(sri::text::ChatTemplate::from_folder(text_dir / "fixtures/smollm2").family() ==
        sri::text::ChatFamily::chatml_smollm2);
  CHECK(sri::text::ChatTemplate::from_folder(text_dir / "fixtures/qwen2").family() ==
        sri::text::ChatFamily::chatml_qwen2_5);
  CHECK(sri::text::ChatTemplate::from_folder(text_dir / "fixtures/llama3").family() ==
        sri::text::ChatFamily::llama3_1);
  CHECK(error_of([] { (void)sri::text::ChatTemplate::from_folder(text_dir / "templates"); })
            .starts_with("[sri.text.chat_template_not_found]"));
}

TEST_CASE("diffusion fixture templates are recognized") {
  const auto e2e_data = std::filesystem::path(SRI_TEST_DATA_DIR) / "e2e/data";
  const auto llada = sri::text::ChatTemplate::from_folder(e2e_data / "llada-tiny-chat");
  CHECK(llada.family() == sri::text::ChatFamily::llada);
  CHECK(llada.bos_token() == std::optional<std::string>("<|startoftext|>"));
  CHECK(llada.renders_bos());
  // The Dream fixture carries Qwen2.5's template because no public copy of Dream's own text was found.
  const auto dream = sri::text::ChatTemplate::from_folder(e2e_data / "dream-tiny-chat");
  CHECK(dream.family() == sri::text::ChatFamily::chatml_qwen2_5);
  CHECK_FALSE(dream.renders_bos());
}

TEST_CASE("LLaDA prompt ids have one BOS") {
  const auto folder = std::filesystem::path(SRI_TEST_DATA_DIR) / "e2e/data/llada-tiny-chat";
  const auto tokenizer = sri::text::Tokenizer::from_tokenizer_json(folder / "tokenizer.json");
  const auto chat_template = sri::text::ChatTemplate::from_folder(folder);
  const auto bos = tokenizer.token_id("<|startoftext|>");
  REQUIRE(bos.has_value());

  const std::vector<int64_t> ids = sri::text::encode_chat(tokenizer, chat_template, "hi");
  REQUIRE(ids.size() > 2);
  CHECK(ids[0] == *bos);
  CHECK(std::count(ids.begin(), ids.end(), *bos) == 1);
}

TEST_CASE("fingerprint ignores trimmed whitespace") {
  std::string reindented = read_file(text_dir / "templates/qwen2.5.jinja");
  // Indentation before `{%-` / `{{-` tags and comments never reach the output.
  std::string::size_type pos = 0;
  while ((pos = reindented.find("\n{%-", pos)) != std::string::npos) {
    reindented.replace(pos, 1, "\n        ");
    pos += 9;
  }
  reindented = "{#- a comment #}\n" + reindented;
  CHECK(sri::text::ChatTemplate::from_text(reindented).family() == sri::text::ChatFamily::chatml_qwen2_5);

  // A change in rendered text is a different template.
  std::string changed = read_file(text_dir / "templates/qwen2.5.jinja");
  changed.replace(changed.find("You are Qwen"), 3, "Yoo");
  const std::string message = error_of([&] { (void)sri::text::ChatTemplate::from_text(changed); });
  CHECK(message.starts_with("[sri.text.unsupported_chat_template]"));
  CHECK(message.find("chat template starting with \"{%- if tools %}\\n    {{- '<|im_start|>system") != std::string::npos);
}

TEST_CASE("Llama template needs a BOS spelling") {
  const std::string text = read_file(text_dir / "templates/llama3.1.jinja");
  CHECK(error_of([&] { (void)sri::text::ChatTemplate::from_text(text); }).starts_with("[sri.text.missing_bos_token]"));
}

TEST_CASE("LLaDA template needs a BOS spelling") {
  const std::string text = read_file(text_dir / "templates/llada.jinja");
  CHECK(error_of([&] { (void)sri::text::ChatTemplate::from_text(text); }).starts_with("[sri.text.missing_bos_token]"));
  CHECK(error_of([&] { (void)sri::text::ChatTemplate::from_text(text, std::string()); })
            .starts_with("[sri.text.missing_bos_token]"));
}

TEST_CASE("Llama template strips messages like Python") {
  const auto chat_template = sri::text::ChatTemplate::from_text(read_file(text_dir / "templates/llama3.1.jinja"),
                                                                std::string("<|begin_of_text|>"));
  // U+3000 and U+00A0 are whitespace for Python's str.strip(), but U+200B is not.
  const std::string rendered = chat_template.render("\u3000\u00a0 hi \u200b\n", std::nullopt);
  CHECK(rendered.find("<|end_header_id|>\n\nhi \u200b<|eot_id|>") != std::string::npos);
}
