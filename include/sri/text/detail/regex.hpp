#pragma once

// A compiled PCRE2 pattern in UTF + UCP mode, so that \p{L}, \p{N}, \s and \w follow Unicode
// properties as the Oniguruma patterns of Hugging Face tokenizers do.

#ifndef PCRE2_CODE_UNIT_WIDTH
#define PCRE2_CODE_UNIT_WIDTH 8
#endif
#include <pcre2.h>

#include <sri/error.hpp>

#include <fmt/format.h>

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

namespace sri::text::detail {

class Regex {
 public:
  // `literal` compiles the pattern as a plain string (tokenizers' `{"String": ...}` split pattern).
  explicit Regex(std::string_view pattern, bool literal = false) : pattern_(pattern) {
    int error_code = 0;
    PCRE2_SIZE error_offset = 0;
    // PCRE2 rejects UCP together with LITERAL, and a literal pattern has no classes for UCP to change.
    const uint32_t options = literal ? (PCRE2_UTF | PCRE2_LITERAL) : (PCRE2_UTF | PCRE2_UCP);
    pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(), options,
                                     &error_code, &error_offset, nullptr);
    if (code == nullptr) {
      PCRE2_UCHAR message[256];
      pcre2_get_error_message(error_code, message, sizeof(message));
      raise("sri.text.invalid_regex",
            fmt::format("pre-tokenizer pattern '{}' does not compile with PCRE2 at offset {}: {}; the "
                        "tokenizer file uses a regular expression feature PCRE2 lacks",
                        pattern, error_offset, reinterpret_cast<const char*>(message)));
    }
    // JIT only speeds matching up, because pcre2_match falls back to the interpreter without it.
    pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);
    code_.reset(code, pcre2_code_free);
  }

  [[nodiscard]] const std::string& pattern() const noexcept { return pattern_; }

  // Calls `on_match(begin, end)` for each non-overlapping match in `subject`, left to right.
  // `subject` must be valid UTF-8 (the caller validates once per encode call).
  template <class OnMatch>
  void for_each_match(std::string_view subject, OnMatch&& on_match) const {
    std::unique_ptr<pcre2_match_data, decltype(&pcre2_match_data_free)> match_data(
        pcre2_match_data_create_from_pattern(code_.get(), nullptr), pcre2_match_data_free);
    const auto* data = reinterpret_cast<PCRE2_SPTR>(subject.data());
    std::size_t offset = 0;
    while (offset <= subject.size()) {
      const int rc = pcre2_match(code_.get(), data, subject.size(), offset, PCRE2_NO_UTF_CHECK, match_data.get(),
                                 nullptr);
      if (rc == PCRE2_ERROR_NOMATCH) return;
      if (rc < 0) {
        PCRE2_UCHAR message[256];
        pcre2_get_error_message(rc, message, sizeof(message));
        raise("sri.text.regex_failed",
              fmt::format("matching pre-tokenizer pattern '{}' failed at byte {} of a {}-byte piece: {}", pattern_,
                          offset, subject.size(), reinterpret_cast<const char*>(message)));
      }
      const PCRE2_SIZE* ovector = pcre2_get_ovector_pointer(match_data.get());
      const std::size_t begin = ovector[0];
      const std::size_t end = ovector[1];
      if (end > begin) {
        on_match(begin, end);
        offset = end;
      } else {
        // An empty match produces no piece, so the search steps over one whole code point.
        offset = end + 1;
        while (offset < subject.size() && (static_cast<unsigned char>(subject[offset]) & 0xC0) == 0x80) ++offset;
      }
    }
  }

  // Whether the pattern matches anywhere in `subject`.
  [[nodiscard]] bool search(std::string_view subject) const {
    std::unique_ptr<pcre2_match_data, decltype(&pcre2_match_data_free)> match_data(
        pcre2_match_data_create_from_pattern(code_.get(), nullptr), pcre2_match_data_free);
    const int rc = pcre2_match(code_.get(), reinterpret_cast<PCRE2_SPTR>(subject.data()), subject.size(), 0,
                               PCRE2_NO_UTF_CHECK, match_data.get(), nullptr);
    return rc >= 0;
  }

 private:
  std::string pattern_;
  std::shared_ptr<pcre2_code> code_;
};

}  // namespace sri::text::detail
