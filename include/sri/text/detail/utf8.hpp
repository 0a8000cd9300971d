#pragma once

// UTF-8 helpers for the tokenizer: validation, code point iteration, lossy decoding and the
// whitespace set of Python's str.strip().

#include <sri/error.hpp>

#include <fmt/format.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace sri::text::detail {

inline constexpr char32_t replacement_character = U'\uFFFD';

// Appends the UTF-8 encoding of `code_point` to `out`.
inline void append_utf8(std::string& out, char32_t code_point) {
  if (code_point < 0x80) {
    out.push_back(static_cast<char>(code_point));
  } else if (code_point < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (code_point >> 6)));
    out.push_back(static_cast<char>(0x80 | (code_point & 0x3F)));
  } else if (code_point < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (code_point >> 12)));
    out.push_back(static_cast<char>(0x80 | ((code_point >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (code_point & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (code_point >> 18)));
    out.push_back(static_cast<char>(0x80 | ((code_point >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((code_point >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (code_point & 0x3F)));
  }
}

// Length of the longest valid prefix of a UTF-8 sequence starting at `text[pos]` ("maximal
// subpart" in Unicode terms), and whether that prefix is a complete character.
struct Utf8Step {
  std::size_t length;
  bool valid;
  char32_t code_point;
};

inline Utf8Step next_utf8(std::string_view text, std::size_t pos) noexcept {
  const auto byte = [&](std::size_t i) { return static_cast<unsigned char>(text[i]); };
  const unsigned char lead = byte(pos);
  if (lead < 0x80) return {1, true, lead};

  std::size_t need = 0;
  unsigned char second_min = 0x80;
  unsigned char second_max = 0xBF;
  char32_t value = 0;
  if (lead >= 0xC2 && lead <= 0xDF) {
    need = 1;
    value = lead & 0x1F;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    need = 2;
    value = lead & 0x0F;
    if (lead == 0xE0) second_min = 0xA0;
    if (lead == 0xED) second_max = 0x9F;  // excludes UTF-16 surrogates
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    need = 3;
    value = lead & 0x07;
    if (lead == 0xF0) second_min = 0x90;
    if (lead == 0xF4) second_max = 0x8F;  // caps at U+10FFFF
  } else {
    return {1, false, 0};
  }

  for (std::size_t k = 1; k <= need; ++k) {
    if (pos + k >= text.size()) return {k, false, 0};
    const unsigned char continuation = byte(pos + k);
    const unsigned char low = k == 1 ? second_min : 0x80;
    const unsigned char high = k == 1 ? second_max : 0xBF;
    if (continuation < low || continuation > high) return {k, false, 0};
    value = (value << 6) | (continuation & 0x3F);
  }
  return {need + 1, true, value};
}

// Returns the byte offset of the first invalid UTF-8 sequence, or npos when `text` is valid.
inline std::size_t find_invalid_utf8(std::string_view text) noexcept {
  std::size_t pos = 0;
  while (pos < text.size()) {
    const Utf8Step step = next_utf8(text, pos);
    if (!step.valid) return pos;
    pos += step.length;
  }
  return std::string_view::npos;
}

inline void require_valid_utf8(std::string_view text, std::string_view description) {
  const std::size_t bad = find_invalid_utf8(text);
  if (bad != std::string_view::npos) {
    raise("sri.text.invalid_utf8",
          fmt::format("{} is not valid UTF-8: byte 0x{:02X} at offset {} starts an invalid sequence; "
                      "convert the text to UTF-8 before tokenizing",
                      description, static_cast<unsigned char>(text[bad]), bad));
  }
}

// Decodes bytes as UTF-8, replacing each maximal invalid subpart with U+FFFD. This is the
// substitution rule of Rust's String::from_utf8_lossy, which Hugging Face tokenizers uses when
// it turns decoded bytes back into text.
inline std::string utf8_lossy(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size());
  std::size_t pos = 0;
  while (pos < bytes.size()) {
    const Utf8Step step = next_utf8(bytes, pos);
    if (step.valid) {
      out.append(bytes.substr(pos, step.length));
    } else {
      append_utf8(out, replacement_character);
    }
    pos += step.length;
  }
  return out;
}

// Whether Python's str.isspace() is true for `c`. Jinja's `trim` filter calls str.strip(),
// which removes exactly these characters.
constexpr bool is_python_space(char32_t c) noexcept {
  return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 || c == 0x1680 ||
         (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F ||
         c == 0x3000;
}

// Returns `text` without leading and trailing Python whitespace (Python's str.strip()).
inline std::string_view python_strip(std::string_view text) {
  std::size_t begin = 0;
  while (begin < text.size()) {
    const Utf8Step step = next_utf8(text, begin);
    if (!step.valid || !is_python_space(step.code_point)) break;
    begin += step.length;
  }
  std::size_t end = begin;
  std::size_t pos = begin;
  while (pos < text.size()) {
    const Utf8Step step = next_utf8(text, pos);
    pos += step.length;
    if (!step.valid || !is_python_space(step.code_point)) end = pos;
  }
  return text.substr(begin, end - begin);
}

}  // namespace sri::text::detail
