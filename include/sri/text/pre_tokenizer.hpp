#pragma once

// Pre-tokenizers: the regular-expression splits that cut text into pieces before BPE.
//
// Supported tokenizer.json pre-tokenizers: `Split` (Regex or String pattern, behavior
// "Isolated", invert false), `Digits`, `ByteLevel` and a `Sequence` of these. Every match of a
// split becomes one piece and so does every stretch between matches. Empty pieces are dropped.

#include <sri/error.hpp>
#include <sri/text/detail/regex.hpp>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <deque>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace sri::text {

// Pre-tokenizer patterns of the byte-level BPE families, as written in their tokenizer.json files.
namespace patterns {
// GPT-2 (tokenizers `ByteLevel` with use_regex). The contractions are case-sensitive.
inline constexpr std::string_view gpt2 = R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";
// Llama 3 and 3.x: numbers in groups of up to three digits.
inline constexpr std::string_view llama3 =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
// Qwen2 and Qwen2.5: identical to Llama 3 except that every digit is its own piece.
inline constexpr std::string_view qwen2 =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
}  // namespace patterns

class PreTokenizer {
 public:
  enum class StepKind { split, byte_level };

  struct Step {
    StepKind kind = StepKind::split;
    std::shared_ptr<const detail::Regex> regex;  // null for a ByteLevel step without use_regex
    bool add_prefix_space = false;               // ByteLevel only
  };

  // Builds the pre-tokenizer from a tokenizer.json `pre_tokenizer` value.
  static PreTokenizer from_json(const nlohmann::json& node) {
    PreTokenizer result;
    result.append_json(node);
    return result;
  }

  // Builds the pre-tokenizer named by GGUF `tokenizer.ggml.pre`, as the Hugging Face
  // tokenizer.json of that family defines it.
  static PreTokenizer from_gguf_name(std::string_view name) {
    PreTokenizer result;
    if (name == "smollm") {
      result.steps_.push_back(split_step(R"(\p{N})"));
      result.steps_.push_back(byte_level_step(true, false));
    } else if (name == "llama-bpe" || name == "llama3" || name == "llama-v3") {
      result.steps_.push_back(split_step(patterns::llama3));
      result.steps_.push_back(byte_level_step(false, false));
    } else if (name == "qwen2" || name == "deepseek-r1-qwen") {
      result.steps_.push_back(split_step(patterns::qwen2));
      result.steps_.push_back(byte_level_step(false, false));
    } else if (name == "gpt-2" || name == "gpt2") {
      result.steps_.push_back(byte_level_step(true, false));
    } else {
      raise("sri.text.unsupported_pre_tokenizer",
            fmt::format("GGUF tokenizer.ggml.pre is '{}', which sri does not know; supported: smollm, llama-bpe "
                        "(aliases llama3, llama-v3), qwen2 (alias deepseek-r1-qwen), gpt-2; open the model from "
                        "a Hugging Face folder with tokenizer.json instead",
                        name));
    }
    result.byte_level_ = true;
    return result;
  }

  // Whether a ByteLevel step is present, so that pieces must be mapped to the byte-level alphabet.
  [[nodiscard]] bool is_byte_level() const noexcept { return byte_level_; }
  [[nodiscard]] const std::vector<Step>& steps() const noexcept { return steps_; }

  // Splits `text` (valid UTF-8) into pieces. The views point into `text` or into `storage`,
  // which holds pieces that ByteLevel's add_prefix_space had to rebuild.
  void split(std::string_view text, std::vector<std::string_view>& pieces, std::deque<std::string>& storage) const {
    pieces.clear();
    if (text.empty()) return;
    pieces.push_back(text);
    std::vector<std::string_view> next;
    for (const Step& step : steps_) {
      next.clear();
      for (std::string_view piece : pieces) {
        if (step.kind == StepKind::byte_level && step.add_prefix_space && piece.front() != ' ') {
          storage.push_back(" " + std::string(piece));
          piece = storage.back();
        }
        if (step.regex == nullptr) {
          next.push_back(piece);
          continue;
        }
        std::size_t last = 0;
        step.regex->for_each_match(piece, [&](std::size_t begin, std::size_t end) {
          if (begin > last) next.push_back(piece.substr(last, begin - last));
          next.push_back(piece.substr(begin, end - begin));
          last = end;
        });
        if (last < piece.size()) next.push_back(piece.substr(last));
      }
      pieces.swap(next);
    }
  }

 private:
  static Step split_step(std::string_view pattern, bool literal = false) {
    return Step{StepKind::split, std::make_shared<const detail::Regex>(pattern, literal), false};
  }

  static Step byte_level_step(bool use_regex, bool add_prefix_space) {
    Step step{StepKind::byte_level, nullptr, add_prefix_space};
    if (use_regex) step.regex = std::make_shared<const detail::Regex>(patterns::gpt2);
    return step;
  }

  static void reject(const nlohmann::json& node, std::string_view why) {
    raise("sri.text.unsupported_pre_tokenizer",
          fmt::format("tokenizer.json pre_tokenizer {} is not supported: {}; supported are Split (Isolated), "
                      "Digits, ByteLevel and Sequence of them",
                      node.dump().substr(0, 200), why));
  }

  void append_json(const nlohmann::json& node) {
    if (node.is_null()) return;
    const std::string type = node.value("type", "");
    if (type == "Sequence") {
      for (const auto& child : node.at("pretokenizers")) append_json(child);
    } else if (type == "Split") {
      if (node.value("behavior", "") != "Isolated") reject(node, "only behavior \"Isolated\" is implemented");
      if (node.value("invert", false)) reject(node, "invert=true is not implemented");
      const auto& pattern = node.at("pattern");
      if (pattern.contains("Regex")) {
        steps_.push_back(split_step(pattern.at("Regex").get<std::string>()));
      } else if (pattern.contains("String")) {
        steps_.push_back(split_step(pattern.at("String").get<std::string>(), true));
      } else {
        reject(node, "the pattern is neither Regex nor String");
      }
    } else if (type == "Digits") {
      steps_.push_back(split_step(node.value("individual_digits", false) ? R"(\p{N})" : R"(\p{N}+)"));
    } else if (type == "ByteLevel") {
      steps_.push_back(byte_level_step(node.value("use_regex", true), node.value("add_prefix_space", false)));
      byte_level_ = true;
    } else {
      reject(node, fmt::format("type '{}' is not implemented", type));
    }
  }

  std::vector<Step> steps_;
  bool byte_level_ = false;
};

}  // namespace sri::text
