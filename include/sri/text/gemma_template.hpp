#pragma once

// The Gemma 3 chat template, rendered byte-identical to Hugging Face apply_chat_template with
// [system, user] and the generation prompt:
//
//   <bos><start_of_turn>user\n{system}\n\n{strip(user)}<end_of_turn>\n<start_of_turn>model\n
//
// Gemma has no system role. Its template folds the system text, unstripped and followed by a
// blank line, into the start of the first user turn. The user text goes through Jinja `trim`
// (Python str.strip()). Without a system message the "{system}\n\n" part is absent.
//
// The template text comes from the checkpoint when it carries one (tokenizer_config.json or GGUF
// `tokenizer.chat_template`) and must then be the Gemma 3 template. The Gemma 3 270M GGUF that
// scripts/fetch-models.sh downloads (a conversion of the base model google/gemma-3-270m) carries
// no template, so a Gemma checkpoint without one gets this format as a built-in default.

#include <sri/error.hpp>
#include <sri/text/chat_template.hpp>
#include <sri/text/detail/utf8.hpp>
#include <sri/text/sentencepiece_bpe.hpp>

#include <fmt/format.h>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sri::text {

class GemmaChatTemplate {
 public:
  // Fingerprint (detail::template_fingerprint) of the Gemma 3 tokenizer_config.json template;
  // a copy of that template is tests/gemma/data/gemma3_chat_template.jinja.
  static constexpr uint64_t gemma3_fingerprint = 0xecfe2c8f235e2cd7ull;

  // The Gemma 3 format without a template text to check, for checkpoints that carry none.
  static GemmaChatTemplate builtin(std::string bos_token = "<bos>") {
    return GemmaChatTemplate(std::move(bos_token), /*from_file=*/false);
  }

  // Accepts `template_text` when it is the Gemma 3 template, else raises
  // sri.text.unsupported_chat_template.
  static GemmaChatTemplate from_text(std::string_view template_text, std::string bos_token = "<bos>") {
    const uint64_t fingerprint = detail::template_fingerprint(template_text);
    if (fingerprint != gemma3_fingerprint) {
      raise("sri.text.unsupported_chat_template",
            fmt::format("chat template starting with \"{}\" (fingerprint {:016x}) is not the Gemma 3 template "
                        "(fingerprint {:016x}); Gemma 2's template rejects system messages and is not supported, "
                        "so render the prompt yourself and pass the text to encode()",
                        detail::escaped_prefix(template_text, 60), fingerprint, gemma3_fingerprint));
    }
    return GemmaChatTemplate(std::move(bos_token), /*from_file=*/true);
  }

  // Reads GGUF `tokenizer.chat_template` when present, otherwise returns the built-in format.
  template <GgufMetadata Gguf>
  static GemmaChatTemplate from_gguf(const Gguf& gguf) {
    std::string bos = "<bos>";
    if (gguf.contains("tokenizer.ggml.bos_token_id") && gguf.contains("tokenizer.ggml.tokens")) {
      const std::vector<std::string> tokens = gguf.get_string_array("tokenizer.ggml.tokens");
      const int64_t id = gguf.get_int("tokenizer.ggml.bos_token_id");
      if (id >= 0 && id < static_cast<int64_t>(tokens.size())) bos = tokens[static_cast<std::size_t>(id)];
    }
    if (!gguf.contains("tokenizer.chat_template")) return builtin(std::move(bos));
    return from_text(gguf.get_string("tokenizer.chat_template"), std::move(bos));
  }

  // Reads chat_template.jinja or tokenizer_config.json `chat_template` of a Hugging Face folder,
  // otherwise returns the built-in format.
  static GemmaChatTemplate from_folder(const std::filesystem::path& folder) {
    nlohmann::json config = nlohmann::json::object();
    const auto config_path = folder / "tokenizer_config.json";
    if (std::filesystem::exists(config_path)) {
      config = detail::parse_json(detail::read_text_file(config_path, "tokenizer config"), config_path.string());
    }
    const std::string bos = detail::config_token_text(config, "bos_token").value_or("<bos>");
    const auto jinja_path = folder / "chat_template.jinja";
    if (std::filesystem::exists(jinja_path)) return from_text(detail::read_text_file(jinja_path, "chat template"), bos);
    if (const auto it = config.find("chat_template"); it != config.end() && it->is_string()) {
      return from_text(it->get<std::string>(), bos);
    }
    return builtin(bos);
  }

  // Renders [system, user] and the generation prompt. With `system` = nullopt no system message is sent.
  [[nodiscard]] std::string render(std::string_view user,
                                   std::optional<std::string_view> system = default_system_prompt) const {
    std::string out;
    out.reserve(user.size() + (system ? system->size() : 0) + 64);
    out += bos_token_;
    out += "<start_of_turn>user\n";
    if (system) {
      out += *system;
      out += "\n\n";
    }
    out += detail::python_strip(user);
    out += "<end_of_turn>\n<start_of_turn>model\n";
    return out;
  }

  // Always true: the text starts with BOS, so tokenizing it must not add another.
  [[nodiscard]] static constexpr bool renders_bos() noexcept { return true; }
  // Whether the template text came from the checkpoint (false: built-in default).
  [[nodiscard]] bool from_file() const noexcept { return from_file_; }

 private:
  GemmaChatTemplate(std::string bos_token, bool from_file) : bos_token_(std::move(bos_token)), from_file_(from_file) {}

  std::string bos_token_;
  bool from_file_;
};

// Returns the prompt ids as apply_chat_template(tokenize=True) produces them for Gemma: the
// rendered text tokenized without adding special tokens, so the template's <bos> is the only one.
// reference_double_bos reproduces code that tokenizes the rendered text with special tokens.
inline std::vector<int64_t> encode_gemma_chat(const SentencePieceBpe& tokenizer, const GemmaChatTemplate& chat_template,
                                              std::string_view user,
                                              std::optional<std::string_view> system = default_system_prompt,
                                              bool reference_double_bos = false) {
  return tokenizer.encode(chat_template.render(user, system), reference_double_bos);
}

}  // namespace sri::text
