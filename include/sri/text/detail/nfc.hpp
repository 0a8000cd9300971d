#pragma once

// Unicode Normalization Form C (UAX #15): canonical decomposition, canonical ordering of
// combining marks, then canonical composition. Qwen2's tokenizer.json normalizes its input this way.

#include <sri/text/detail/nfc_tables.hpp>
#include <sri/text/detail/utf8.hpp>

#include <algorithm>
#include <string>
#include <string_view>
#include <vector>

namespace sri::text::detail {

namespace nfc {

// Hangul syllables compose and decompose arithmetically (Unicode chapter 3.12).
inline constexpr char32_t hangul_s_base = 0xAC00;
inline constexpr char32_t hangul_l_base = 0x1100;
inline constexpr char32_t hangul_v_base = 0x1161;
inline constexpr char32_t hangul_t_base = 0x11A7;
inline constexpr char32_t hangul_l_count = 19;
inline constexpr char32_t hangul_v_count = 21;
inline constexpr char32_t hangul_t_count = 28;
inline constexpr char32_t hangul_n_count = hangul_v_count * hangul_t_count;
inline constexpr char32_t hangul_s_count = hangul_l_count * hangul_n_count;

inline uint8_t combining_class(char32_t c) noexcept {
  const auto it = std::upper_bound(combining_classes.begin(), combining_classes.end(), c,
                                   [](char32_t value, const ClassRange& range) { return value < range.first; });
  if (it == combining_classes.begin()) return 0;
  const ClassRange& range = *std::prev(it);
  return c <= range.last ? range.combining_class : 0;
}

inline void append_decomposition(char32_t c, std::vector<char32_t>& out) {
  if (c >= hangul_s_base && c < hangul_s_base + hangul_s_count) {
    const char32_t index = c - hangul_s_base;
    out.push_back(hangul_l_base + index / hangul_n_count);
    out.push_back(hangul_v_base + (index % hangul_n_count) / hangul_t_count);
    if (index % hangul_t_count != 0) out.push_back(hangul_t_base + index % hangul_t_count);
    return;
  }
  const auto it = std::lower_bound(decompositions.begin(), decompositions.end(), c,
                                   [](const Decomposition& entry, char32_t value) { return entry.code_point < value; });
  if (it == decompositions.end() || it->code_point != c) {
    out.push_back(c);
    return;
  }
  out.insert(out.end(), decomposition_data.begin() + it->offset, decomposition_data.begin() + it->offset + it->length);
}

// Returns the primary composite of (first, second), or 0 when there is none.
inline char32_t compose(char32_t first, char32_t second) noexcept {
  if (first >= hangul_l_base && first < hangul_l_base + hangul_l_count && second >= hangul_v_base &&
      second < hangul_v_base + hangul_v_count) {
    return hangul_s_base + ((first - hangul_l_base) * hangul_v_count + (second - hangul_v_base)) * hangul_t_count;
  }
  if (first >= hangul_s_base && first < hangul_s_base + hangul_s_count && (first - hangul_s_base) % hangul_t_count == 0 &&
      second > hangul_t_base && second < hangul_t_base + hangul_t_count) {
    return first + (second - hangul_t_base);
  }
  const auto it = std::lower_bound(compositions.begin(), compositions.end(), std::pair{first, second},
                                   [](const Composition& entry, const std::pair<char32_t, char32_t>& value) {
                                     return entry.first != value.first ? entry.first < value.first
                                                                       : entry.second < value.second;
                                   });
  if (it == compositions.end() || it->first != first || it->second != second) return 0;
  return it->composite;
}

}  // namespace nfc

// Returns `text` (valid UTF-8) in Unicode NFC.
inline std::string normalize_nfc(std::string_view text) {
  if (std::all_of(text.begin(), text.end(), [](char c) { return (static_cast<unsigned char>(c) & 0x80) == 0; })) {
    return std::string(text);
  }

  std::vector<char32_t> code_points;
  code_points.reserve(text.size());
  for (std::size_t pos = 0; pos < text.size();) {
    const Utf8Step step = next_utf8(text, pos);
    nfc::append_decomposition(step.code_point, code_points);
    pos += step.length;
  }

  // Canonical ordering: a stable sort of each run of non-starters by combining class.
  for (std::size_t begin = 0; begin < code_points.size();) {
    if (nfc::combining_class(code_points[begin]) == 0) {
      ++begin;
      continue;
    }
    std::size_t end = begin;
    while (end < code_points.size() && nfc::combining_class(code_points[end]) != 0) ++end;
    std::stable_sort(code_points.begin() + static_cast<std::ptrdiff_t>(begin),
                     code_points.begin() + static_cast<std::ptrdiff_t>(end),
                     [](char32_t a, char32_t b) { return nfc::combining_class(a) < nfc::combining_class(b); });
    begin = end;
  }

  // Canonical composition: a mark joins the last starter unless a character between them is a
  // starter or has a combining class at least as high as the mark's (it is then "blocked").
  std::size_t starter = 0;
  std::size_t written = 0;
  int last_class = -1;  // -1: no starter seen yet
  for (std::size_t read = 0; read < code_points.size(); ++read) {
    const char32_t c = code_points[read];
    const int c_class = nfc::combining_class(c);
    if (last_class >= 0 && (last_class < c_class || (last_class == 0 && written == starter + 1))) {
      if (const char32_t composite = nfc::compose(code_points[starter], c); composite != 0) {
        code_points[starter] = composite;
        continue;
      }
    }
    if (c_class == 0) {
      starter = written;
      last_class = 0;
    } else if (last_class >= 0) {
      last_class = c_class;
    }
    code_points[written++] = c;
  }
  code_points.resize(written);

  std::string out;
  out.reserve(text.size());
  for (const char32_t c : code_points) append_utf8(out, c);
  return out;
}

}  // namespace sri::text::detail
