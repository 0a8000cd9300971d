#pragma once

// The byte-level alphabet of GPT-2 style BPE vocabularies: each of the 256 byte values maps to
// one printable code point, so that vocabularies and merge lists are plain text.
//
// Bytes 0x21-0x7E, 0xA1-0xAC and 0xAE-0xFF map to the code point of the same value, and the other
// 68 bytes, in increasing order, map to U+0100, U+0101, ... (space 0x20 -> U+0120 'Ġ', newline
// 0x0A -> U+010A 'Ċ'). This is GPT-2's `bytes_to_unicode` table, which Hugging Face tokenizers'
// ByteLevel pre-tokenizer and decoder use.

#include <sri/text/detail/utf8.hpp>

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace sri::text {

namespace detail {

constexpr bool keeps_its_code_point(unsigned byte) noexcept {
  return (byte >= 0x21 && byte <= 0x7E) || (byte >= 0xA1 && byte <= 0xAC) || (byte >= 0xAE && byte <= 0xFF);
}

constexpr std::array<char16_t, 256> make_byte_to_code_point() {
  std::array<char16_t, 256> table{};
  unsigned next_shifted = 0;
  for (unsigned byte = 0; byte < 256; ++byte) {
    table[byte] = keeps_its_code_point(byte) ? static_cast<char16_t>(byte) : static_cast<char16_t>(256 + next_shifted++);
  }
  return table;
}

// The highest code point of the alphabet is U+0143 (256 + 67).
inline constexpr unsigned byte_alphabet_limit = 256 + 68;

constexpr std::array<int16_t, byte_alphabet_limit> make_code_point_to_byte() {
  std::array<int16_t, byte_alphabet_limit> table{};
  for (auto& entry : table) entry = -1;
  const auto forward = make_byte_to_code_point();
  for (unsigned byte = 0; byte < 256; ++byte) table[forward[byte]] = static_cast<int16_t>(byte);
  return table;
}

inline constexpr std::array<char16_t, 256> byte_to_code_point = make_byte_to_code_point();
inline constexpr std::array<int16_t, byte_alphabet_limit> code_point_to_byte = make_code_point_to_byte();

}  // namespace detail

// Returns the code point that stands for `byte` in byte-level vocabularies.
constexpr char32_t byte_level_char(unsigned char byte) noexcept { return detail::byte_to_code_point[byte]; }

// Returns the byte that `code_point` stands for, or -1 when it is outside the byte-level alphabet.
constexpr int byte_level_byte(char32_t code_point) noexcept {
  return code_point < detail::byte_alphabet_limit ? detail::code_point_to_byte[code_point] : -1;
}

// Maps raw bytes to their byte-level text (UTF-8 encoded).
inline std::string byte_level_encode(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size() * 2);
  for (const char c : bytes) detail::append_utf8(out, byte_level_char(static_cast<unsigned char>(c)));
  return out;
}

// Appends the bytes that a byte-level token stands for. Returns false, appending nothing, when a
// character of `token` is outside the alphabet (an added token written with a literal space, for
// example). The caller then uses the token's own UTF-8 bytes, as tokenizers' ByteLevel decoder does.
inline bool append_byte_level_decoded(std::string& out, std::string_view token) {
  const std::size_t mark = out.size();
  std::size_t pos = 0;
  while (pos < token.size()) {
    const detail::Utf8Step step = detail::next_utf8(token, pos);
    const int byte = step.valid ? byte_level_byte(step.code_point) : -1;
    if (byte < 0) {
      out.resize(mark);
      return false;
    }
    out.push_back(static_cast<char>(byte));
    pos += step.length;
  }
  return true;
}

}  // namespace sri::text
