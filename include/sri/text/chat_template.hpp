#pragma once

// Chat templates: renders [system, user] plus the generation prompt exactly as Hugging Face
// `apply_chat_template(messages, add_generation_prompt=True, tokenize=False)` does.
//
// sri does not interpret Jinja. It recognizes a template by a fingerprint of its text and then
// runs a renderer written for that template. The fingerprint ignores the whitespace that Jinja
// (with Hugging Face's trim_blocks and lstrip_blocks settings) never outputs and the comments, so
// re-indented copies of a template are recognized too. Any other template is rejected with
// sri.text.unsupported_chat_template instead of being rendered approximately.

#include <sri/error.hpp>
#include <sri/text/detail/utf8.hpp>
#include <sri/text/tokenizer.hpp>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <array>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sri::text {

// The system prompt of the reference SRI setup.
inline constexpr std::string_view default_system_prompt = "You are a helpful assistant";

enum class ChatFamily {
  chatml_smollm2,  // SmolLM2-Instruct: ChatML, default system "You are a helpful AI assistant named SmolLM, ..."
  chatml_qwen2_5,  // Qwen2.5-Instruct: ChatML, default system "You are Qwen, created by Alibaba Cloud. ..."
  llama3_1,        // Llama 3.1 / 3.3 Instruct: header format with the "Cutting Knowledge Date" preamble
  llada,           // LLaDA-8B-Instruct: Llama 3 header format, BOS <|startoftext|>, no preamble
};

namespace detail {

// Returns the template text reduced to what Jinja renders from it: comments removed, the
// whitespace that `-` markers, trim_blocks and lstrip_blocks remove dropped, and the markers
// themselves removed from the tags.
inline std::string effective_template_text(std::string_view text) {
  std::string out;
  std::size_t pos = 0;
  bool trim_next_text = false;
  while (pos < text.size()) {
    const std::size_t open = text.find('{', pos);
    const bool is_tag = open != std::string_view::npos && open + 1 < text.size() &&
                        (text[open + 1] == '%' || text[open + 1] == '{' || text[open + 1] == '#');
    if (!is_tag) {
      const std::size_t end = open == std::string_view::npos ? text.size() : open + 1;
      std::string_view chunk = text.substr(pos, end - pos);
      if (trim_next_text) {
        while (!chunk.empty() && std::string_view(" \t\r\n").find(chunk.front()) != std::string_view::npos) {
          chunk.remove_prefix(1);
        }
        trim_next_text = chunk.empty();
      }
      out.append(chunk);
      pos = end;
      continue;
    }

    // Text before the tag.
    std::string_view before = text.substr(pos, open - pos);
    if (trim_next_text) {
      while (!before.empty() && std::string_view(" \t\r\n").find(before.front()) != std::string_view::npos) {
        before.remove_prefix(1);
      }
    }
    out.append(before);
    trim_next_text = false;

    const char kind = text[open + 1];
    const std::string_view closing = kind == '%' ? "%}" : (kind == '{' ? "}}" : "#}");
    const std::size_t close = text.find(closing, open + 2);
    if (close == std::string_view::npos) {
      out.append(text.substr(open));
      break;
    }
    std::string_view inner = text.substr(open + 2, close - open - 2);
    const bool trim_left = !inner.empty() && inner.front() == '-';
    const bool trim_right = !inner.empty() && inner.back() == '-';
    if (trim_left) inner.remove_prefix(1);
    if (trim_right) inner.remove_suffix(1);
    while (!inner.empty() && std::string_view(" \t\r\n").find(inner.front()) != std::string_view::npos) inner.remove_prefix(1);
    while (!inner.empty() && std::string_view(" \t\r\n").find(inner.back()) != std::string_view::npos) inner.remove_suffix(1);

    if (trim_left) {
      while (!out.empty() && std::string_view(" \t\r\n").find(out.back()) != std::string_view::npos) out.pop_back();
    } else if (kind != '{') {
      // lstrip_blocks: spaces and tabs between a line start and a block or comment tag.
      std::size_t cut = out.size();
      while (cut > 0 && (out[cut - 1] == ' ' || out[cut - 1] == '\t')) --cut;
      if (cut == 0 || out[cut - 1] == '\n') out.resize(cut);
    }
    if (kind != '#') {
      out.append(kind == '%' ? "{%" : "{{");
      out.append(inner);
      out.append(kind == '%' ? "%}" : "}}");
    }
    pos = close + 2;
    if (trim_right) {
      trim_next_text = true;
    } else if (kind != '{' && pos < text.size() && text[pos] == '\n') {
      ++pos;  // trim_blocks: the first newline after a block or comment tag
    }
  }
  return out;
}

// 64-bit FNV-1a hash of the effective template text.
inline uint64_t template_fingerprint(std::string_view template_text) {
  uint64_t hash = 0xcbf29ce484222325ULL;
  for (const char c : effective_template_text(template_text)) {
    hash ^= static_cast<unsigned char>(c);
    hash *= 0x100000001b3ULL;
  }
  return hash;
}

struct KnownTemplate {
  uint64_t fingerprint;
  ChatFamily family;
  std::string_view name;
};

// Sources of the recognized texts: SmolLM2-135M-Instruct's GGUF `tokenizer.chat_template`;
// Qwen2.5-Instruct, Llama 3.1 / 3.3 Instruct and LLaDA-8B-Instruct tokenizer_config.json
// `chat_template`, copies in tests/text/templates/ (their README names where each was read).
inline constexpr std::array<KnownTemplate, 5> known_templates{{
    {0x22d5b3fe02f79526ull, ChatFamily::chatml_smollm2, "SmolLM2-Instruct ChatML"},
    {0xa6338d11cf6f9219ull, ChatFamily::chatml_qwen2_5, "Qwen2.5-Instruct ChatML"},
    {0x764a555c681818cbull, ChatFamily::llama3_1, "Llama 3.1-Instruct"},
    {0x38e9204bee5adfb7ull, ChatFamily::llama3_1, "Llama 3.1/3.3-Instruct (tools default none)"},
    {0xb656211f005cb47cull, ChatFamily::llada, "LLaDA-8B-Instruct"},
}};

inline std::string escaped_prefix(std::string_view text, std::size_t max_bytes) {
  std::string out;
  for (std::size_t i = 0; i < text.size() && i < max_bytes; ++i) {
    const char c = text[i];
    if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else {
      out.push_back(c);
    }
  }
  return out;
}

}  // namespace detail

class ChatTemplate {
 public:
  // Recognizes `template_text`. `bos_token` and `eos_token` are the tokenizer's spellings of
  // those tokens. Templates that print `bos_token` (Llama 3.1, LLaDA) need it.
  static ChatTemplate from_text(std::string template_text, std::optional<std::string> bos_token = std::nullopt,
                                std::optional<std::string> eos_token = std::nullopt) {
    const uint64_t fingerprint = detail::template_fingerprint(template_text);
    for (const auto& known : detail::known_templates) {
      if (known.fingerprint != fingerprint) continue;
      if (template_renders_bos(known.family) && (!bos_token || bos_token->empty())) {
        raise("sri.text.missing_bos_token",
              fmt::format("the {} chat template starts with bos_token, but the tokenizer names no BOS token; set "
                          "bos_token in tokenizer_config.json (Llama 3: \"<|begin_of_text|>\", LLaDA: "
                          "\"<|startoftext|>\")",
                          known.name));
      }
      return ChatTemplate(std::move(template_text), known, std::move(bos_token), std::move(eos_token));
    }
    std::string names;
    for (const auto& known : detail::known_templates) names += fmt::format("{}{}", names.empty() ? "" : ", ", known.name);
    raise("sri.text.unsupported_chat_template",
          fmt::format("chat template starting with \"{}\" (fingerprint {:016x}) is not one sri can render; "
                      "recognized templates: {}. Render the prompt yourself and pass the text to "
                      "Tokenizer::encode, or add a renderer for this template",
                      detail::escaped_prefix(template_text, 60), fingerprint, names));
  }

  // Reads the template of a Hugging Face folder: chat_template.jinja when present, otherwise
  // tokenizer_config.json `chat_template` (a string, or a list of named templates whose
  // "default" entry is used), with bos_token and eos_token from tokenizer_config.json.
  static ChatTemplate from_folder(const std::filesystem::path& folder) {
    nlohmann::json config = nlohmann::json::object();
    const auto config_path = folder / "tokenizer_config.json";
    if (std::filesystem::exists(config_path)) {
      config = detail::parse_json(detail::read_text_file(config_path, "tokenizer config"), config_path.string());
    }
    std::optional<std::string> text;
    const auto jinja_path = folder / "chat_template.jinja";
    if (std::filesystem::exists(jinja_path)) {
      text = detail::read_text_file(jinja_path, "chat template");
    } else if (const auto it = config.find("chat_template"); it != config.end()) {
      if (it->is_string()) {
        text = it->get<std::string>();
      } else if (it->is_array()) {
        for (const auto& entry : *it) {
          if (entry.value("name", "") == "default") text = entry.at("template").get<std::string>();
        }
      }
    }
    if (!text) {
      raise("sri.text.chat_template_not_found",
            fmt::format("folder '{}' has no chat_template.jinja and its tokenizer_config.json has no default "
                        "chat_template; use an Instruct model's files",
                        folder.string()));
    }
    return from_text(std::move(*text), detail::config_token_text(config, "bos_token"),
                     detail::config_token_text(config, "eos_token"));
  }

  // Reads GGUF `tokenizer.chat_template`, with the BOS and EOS spellings from the vocabulary.
  template <GgufMetadata Gguf>
  static ChatTemplate from_gguf(const Gguf& gguf) {
    if (!gguf.contains("tokenizer.chat_template")) {
      raise("sri.text.chat_template_not_found",
            "GGUF file has no tokenizer.chat_template key; use an Instruct model converted with its chat template");
    }
    std::optional<std::string> bos;
    std::optional<std::string> eos;
    if (gguf.contains("tokenizer.ggml.tokens")) {
      const std::vector<std::string> tokens = gguf.get_string_array("tokenizer.ggml.tokens");
      const auto spelling = [&](std::string_view key) -> std::optional<std::string> {
        if (!gguf.contains(key)) return std::nullopt;
        const int64_t id = gguf.get_int(key);
        if (id < 0 || id >= static_cast<int64_t>(tokens.size())) return std::nullopt;
        return tokens[static_cast<std::size_t>(id)];
      };
      bos = spelling("tokenizer.ggml.bos_token_id");
      eos = spelling("tokenizer.ggml.eos_token_id");
    }
    return from_text(gguf.get_string("tokenizer.chat_template"), std::move(bos), std::move(eos));
  }

  // Reads the template of a checkpoint: its folder's files, otherwise its GGUF metadata.
  template <TokenizerSource Checkpoint>
  static ChatTemplate from_checkpoint(const Checkpoint& checkpoint) {
    if (const auto folder = checkpoint.folder()) return from_folder(*folder);
    if (const auto* gguf = checkpoint.gguf()) return from_gguf(*gguf);
    raise("sri.text.chat_template_not_found",
          fmt::format("checkpoint '{}' has neither a folder nor GGUF metadata to read a chat template from",
                      std::filesystem::path(checkpoint.path()).string()));
  }

  // Renders [system, user] and the assistant generation prompt. With `system` = nullopt no
  // system message is sent, and the template's own default applies (SmolLM2 and Qwen2.5 insert
  // their default system prompt, Llama 3.1 leaves the system block empty, and LLaDA writes no
  // system block).
  [[nodiscard]] std::string render(std::string_view user,
                                   std::optional<std::string_view> system = default_system_prompt) const {
    switch (family_) {
      case ChatFamily::chatml_smollm2:
        return render_chatml(user, system.value_or("You are a helpful AI assistant named SmolLM, trained by Hugging Face"));
      case ChatFamily::chatml_qwen2_5:
        return render_chatml(user, system.value_or("You are Qwen, created by Alibaba Cloud. You are a helpful assistant."));
      case ChatFamily::llama3_1:
        return render_llama3_1(user, system);
      case ChatFamily::llada:
        return render_llada(user, system);
    }
    return {};
  }

  [[nodiscard]] ChatFamily family() const noexcept { return family_; }
  [[nodiscard]] std::string_view name() const noexcept { return name_; }
  [[nodiscard]] const std::string& text() const noexcept { return text_; }
  [[nodiscard]] const std::optional<std::string>& bos_token() const noexcept { return bos_token_; }
  [[nodiscard]] const std::optional<std::string>& eos_token() const noexcept { return eos_token_; }
  // Whether render() output starts with the BOS token, so tokenizing it must not add another.
  [[nodiscard]] bool renders_bos() const noexcept { return template_renders_bos(family_); }

 private:
  static constexpr bool template_renders_bos(ChatFamily family) noexcept {
    return family == ChatFamily::llama3_1 || family == ChatFamily::llada;
  }

  ChatTemplate(std::string text, const detail::KnownTemplate& known, std::optional<std::string> bos,
               std::optional<std::string> eos)
      : text_(std::move(text)), family_(known.family), name_(known.name), bos_token_(std::move(bos)),
        eos_token_(std::move(eos)) {}

  static std::string render_chatml(std::string_view user, std::string_view system) {
    std::string out;
    out.reserve(user.size() + system.size() + 80);
    out += "<|im_start|>system\n";
    out += system;
    out += "<|im_end|>\n<|im_start|>user\n";
    out += user;
    out += "<|im_end|>\n<|im_start|>assistant\n";
    return out;
  }

  // Llama 3.1's template strips both messages (Jinja `trim`, i.e. Python str.strip()) and, with
  // no tools and no date_string passed (as apply_chat_template does by default), prints its
  // fixed preamble "Cutting Knowledge Date: December 2023" / "Today Date: 26 Jul 2024".
  std::string render_llama3_1(std::string_view user, std::optional<std::string_view> system) const {
    std::string out;
    out += *bos_token_;
    out += "<|start_header_id|>system<|end_header_id|>\n\n";
    out += "Cutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\n";
    if (system) out += detail::python_strip(*system);
    out += "<|eot_id|><|start_header_id|>user<|end_header_id|>\n\n";
    out += detail::python_strip(user);
    out += "<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n";
    return out;
  }

  // LLaDA's template writes each message as a Llama 3 header block with the content stripped
  // (Jinja `trim`), puts bos_token before the first message only, and appends the assistant
  // header whether or not add_generation_prompt is set.
  std::string render_llada(std::string_view user, std::optional<std::string_view> system) const {
    std::string out = *bos_token_;
    if (system) {
      out += "<|start_header_id|>system<|end_header_id|>\n\n";
      out += detail::python_strip(*system);
      out += "<|eot_id|>";
    }
    out += "<|start_header_id|>user<|end_header_id|>\n\n";
    out += detail::python_strip(user);
    out += "<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n";
    return out;
  }

  std::string text_;
  ChatFamily family_;
  std::string_view name_;
  std::optional<std::string> bos_token_;
  std::optional<std::string> eos_token_;
};

struct ChatEncodeOptions {
  // System message. With nullopt none is sent, so the template's default applies.
  std::optional<std::string_view> system = default_system_prompt;
  // Reproduces the reference SRI code, which renders the template and then tokenizes the text
  // with add_special_tokens=True: for Llama 3 the ids then start with two BOS tokens. Use it only
  // to compare with centers computed by that code.
  bool reference_double_bos = false;
};

// Returns the prompt ids as Hugging Face apply_chat_template(tokenize=True) produces them: the
// rendered text tokenized without adding special tokens, so the BOS that the template writes is
// the only one.
inline std::vector<int64_t> encode_chat(const Tokenizer& tokenizer, const ChatTemplate& chat_template,
                                        std::string_view user, const ChatEncodeOptions& options = {}) {
  const std::string rendered = chat_template.render(user, options.system);
  return tokenizer.encode(rendered, options.reference_double_bos);
}

}  // namespace sri::text
