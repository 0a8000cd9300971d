#pragma once

// The text side of a checkpoint: the tokenizer and the chat template that belong together, chosen
// from the architecture so that a wrapper needs no per-family code.
//
//   llama, qwen2, llada, dream   byte-level BPE (sri::text::Tokenizer) + a recognized ChatTemplate
//   gemma2, gemma3               SentencePiece-style BPE (SentencePieceBpe) + GemmaChatTemplate

#include <cstdint>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include <sri/text/chat_template.hpp>
#include <sri/text/gemma_template.hpp>
#include <sri/text/sentencepiece_bpe.hpp>
#include <sri/text/tokenizer.hpp>

namespace sri::text {

class ChatCodec {
 public:
  // Reads the tokenizer and the chat template of `checkpoint`: the folder's tokenizer.json and
  // tokenizer_config.json when it has them, otherwise the GGUF metadata. `architecture` is the
  // normalized family name that sri::io::Checkpoint::architecture() returns.
  template <TokenizerSource Checkpoint>
  static ChatCodec from_checkpoint(const Checkpoint& checkpoint, std::string_view architecture) {
    if (architecture == "gemma2" || architecture == "gemma3") {
      return ChatCodec(SentencePiece{sentencepiece_of(checkpoint), gemma_template_of(checkpoint)});
    }
    return ChatCodec(ByteLevel{Tokenizer::from_checkpoint(checkpoint), ChatTemplate::from_checkpoint(checkpoint)});
  }

  // Returns the ids of one user prompt after the chat template, as apply_chat_template(tokenize=True)
  // produces them (see ChatEncodeOptions for the system message and the reference's double BOS).
  [[nodiscard]] std::vector<int64_t> encode_chat(std::string_view user, const ChatEncodeOptions& options = {}) const {
    return std::visit(
        [&](const auto& parts) {
          return parts.tokenizer.encode(parts.chat_template.render(user, options.system), options.reference_double_bos);
        },
        parts_);
  }

  [[nodiscard]] std::string decode(std::span<const int64_t> ids, bool skip_special_tokens = true) const {
    return std::visit([&](const auto& parts) { return parts.tokenizer.decode(ids, skip_special_tokens); }, parts_);
  }

  // Returns the id of a vocabulary entry or added token spelled `token`, if there is one.
  [[nodiscard]] std::optional<int64_t> token_id(std::string_view token) const {
    return std::visit([&](const auto& parts) { return parts.tokenizer.token_id(token); }, parts_);
  }

  [[nodiscard]] int64_t vocab_size() const {
    return std::visit([](const auto& parts) { return parts.tokenizer.vocab_size(); }, parts_);
  }

  // The byte-level tokenizer and its template, or nullptr for a Gemma checkpoint.
  [[nodiscard]] const Tokenizer* byte_level_tokenizer() const {
    const auto* parts = std::get_if<ByteLevel>(&parts_);
    return parts != nullptr ? &parts->tokenizer : nullptr;
  }
  [[nodiscard]] const ChatTemplate* chat_template() const {
    const auto* parts = std::get_if<ByteLevel>(&parts_);
    return parts != nullptr ? &parts->chat_template : nullptr;
  }
  // The SentencePiece-style tokenizer, or nullptr for a byte-level checkpoint.
  [[nodiscard]] const SentencePieceBpe* sentencepiece_tokenizer() const {
    const auto* parts = std::get_if<SentencePiece>(&parts_);
    return parts != nullptr ? &parts->tokenizer : nullptr;
  }

 private:
  struct ByteLevel {
    Tokenizer tokenizer;
    ChatTemplate chat_template;
  };
  struct SentencePiece {
    SentencePieceBpe tokenizer;
    GemmaChatTemplate chat_template;
  };

  explicit ChatCodec(ByteLevel parts) : parts_(std::move(parts)) {}
  explicit ChatCodec(SentencePiece parts) : parts_(std::move(parts)) {}

  template <TokenizerSource Checkpoint>
  static SentencePieceBpe sentencepiece_of(const Checkpoint& checkpoint) {
    if (const auto folder = checkpoint.folder()) {
      const auto json_path = *folder / "tokenizer.json";
      if (std::filesystem::exists(json_path)) return SentencePieceBpe::from_tokenizer_json(json_path);
    }
    if (const auto* gguf = checkpoint.gguf()) return SentencePieceBpe::from_gguf(*gguf);
    raise("sri.text.tokenizer_not_found",
          fmt::format("checkpoint '{}' has neither a tokenizer.json nor GGUF tokenizer metadata; copy the model's "
                      "tokenizer.json into its folder",
                      std::filesystem::path(checkpoint.path()).string()));
  }

  template <TokenizerSource Checkpoint>
  static GemmaChatTemplate gemma_template_of(const Checkpoint& checkpoint) {
    if (const auto folder = checkpoint.folder()) return GemmaChatTemplate::from_folder(*folder);
    if (const auto* gguf = checkpoint.gguf()) return GemmaChatTemplate::from_gguf(*gguf);
    return GemmaChatTemplate::builtin();
  }

  std::variant<ByteLevel, SentencePiece> parts_;
};

}  // namespace sri::text
