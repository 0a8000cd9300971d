#pragma once

// Added tokens (special tokens such as "<|im_start|>" and user-added tokens) and the search that
// splits them out of the text before pre-tokenization.
//
// The rules follow huggingface/tokenizers `tokenizer/added_vocabulary.rs`. Matches are found
// leftmost-longest without overlap. A `single_word` match whose neighbours are word characters
// is skipped, so its text stays ordinary text. `lstrip` absorbs the whitespace before the match,
// but never text that an earlier match already took, and `rstrip` absorbs the whitespace after it.
// Tokens with `normalized: false` are searched in the raw text first, tokens with
// `normalized: true` afterwards in the stretches between those matches.

#include <sri/text/detail/regex.hpp>
#include <sri/text/detail/utf8.hpp>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sri::text {

// One entry of tokenizer.json `added_tokens`, or a CONTROL / USER_DEFINED token of a GGUF vocabulary.
struct AddedToken {
  int64_t id = 0;
  std::string content;
  bool special = false;      // skipped by decode(skip_special_tokens = true)
  bool single_word = false;  // matches only when not inside a word
  bool lstrip = false;       // absorbs whitespace on its left
  bool rstrip = false;       // absorbs whitespace on its right
  bool normalized = false;   // matched in normalized text rather than raw text
};

namespace detail {

// A stretch of the input: either an added token (`id` set) or ordinary text for the BPE model.
struct Segment {
  std::string_view text;
  std::optional<int64_t> id;
};

class AddedTokenMatcher {
 public:
  AddedTokenMatcher() = default;

  explicit AddedTokenMatcher(std::vector<const AddedToken*> tokens) : tokens_(std::move(tokens)) {
    // Longest first, so the first hit at a position is the leftmost-longest match.
    std::stable_sort(tokens_.begin(), tokens_.end(),
                     [](const AddedToken* a, const AddedToken* b) { return a->content.size() > b->content.size(); });
    for (std::size_t i = 0; i < tokens_.size(); ++i) {
      if (!tokens_[i]->content.empty()) by_first_byte_[static_cast<unsigned char>(tokens_[i]->content[0])].push_back(i);
    }
  }

  [[nodiscard]] bool empty() const noexcept { return tokens_.empty(); }

  // Splits `text` into added-token segments and the ordinary text between them.
  void split(std::string_view text, std::vector<Segment>& out) const {
    if (tokens_.empty()) {
      if (!text.empty()) out.push_back({text, std::nullopt});
      return;
    }
    std::size_t consumed = 0;  // end of the previous match, including what rstrip absorbed
    std::size_t pos = 0;
    while (pos < text.size()) {
      const AddedToken* token = longest_at(text, pos);
      if (token == nullptr) {
        ++pos;
        continue;
      }
      std::size_t start = pos;
      std::size_t stop = pos + token->content.size();
      pos = stop;  // the search resumes after the match, also when the match is skipped
      if (token->single_word) {
        const bool free_on_left = start == 0 || !ends_with_word(text.substr(0, start));
        const bool free_on_right = stop == text.size() || !starts_with_word(text.substr(stop));
        if (!free_on_left || !free_on_right) continue;
      }
      if (token->lstrip) start = std::max(whitespace_run_start(text, start), consumed);
      if (token->rstrip) stop = whitespace_run_end(text, stop);
      if (consumed < start) out.push_back({text.substr(consumed, start - consumed), std::nullopt});
      out.push_back({text.substr(start, stop - start), token->id});
      consumed = stop;
      pos = stop;
    }
    if (consumed < text.size()) out.push_back({text.substr(consumed), std::nullopt});
  }

 private:
  const AddedToken* longest_at(std::string_view text, std::size_t pos) const {
    for (const std::size_t index : by_first_byte_[static_cast<unsigned char>(text[pos])]) {
      const std::string& content = tokens_[index]->content;
      if (content.size() <= text.size() - pos && std::memcmp(content.data(), text.data() + pos, content.size()) == 0) {
        return tokens_[index];
      }
    }
    return nullptr;
  }

  static std::size_t last_char_start(std::string_view text) {
    std::size_t pos = text.size() - 1;
    while (pos > 0 && (static_cast<unsigned char>(text[pos]) & 0xC0) == 0x80) --pos;
    return pos;
  }

  bool ends_with_word(std::string_view before) const {
    return !before.empty() && word_.search(before.substr(last_char_start(before)));
  }

  bool starts_with_word(std::string_view after) const {
    return !after.empty() && word_.search(after.substr(0, next_utf8(after, 0).length));
  }

  std::size_t whitespace_run_start(std::string_view text, std::size_t end) const {
    std::size_t start = end;
    while (start > 0) {
      const std::size_t char_start = last_char_start(text.substr(0, start));
      if (!space_.search(text.substr(char_start, start - char_start))) break;
      start = char_start;
    }
    return start;
  }

  std::size_t whitespace_run_end(std::string_view text, std::size_t begin) const {
    std::size_t end = begin;
    while (end < text.size()) {
      const std::size_t length = next_utf8(text, end).length;
      if (!space_.search(text.substr(end, length))) break;
      end += length;
    }
    return end;
  }

  std::vector<const AddedToken*> tokens_;
  std::vector<std::size_t> by_first_byte_[256];
  Regex word_{R"(\w)"};
  Regex space_{R"(\s)"};
};

}  // namespace detail
}  // namespace sri::text
