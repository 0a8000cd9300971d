#pragma once

// RFC 4180 CSV reading and writing for the prompt and signal formats.

#include <sri/error.hpp>

#include <fmt/format.h>
#include <fmt/std.h>

#include <cstddef>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace sri::io::detail {

// One parsed CSV record with the physical line it starts on (1-based).
struct CsvRecord {
  std::vector<std::string> fields;
  std::size_t line = 0;
};

// Splits RFC 4180 CSV text into records. Quoted fields may hold commas, doubled quotes and line
// breaks; records end with LF or CRLF. Rows that are entirely empty are skipped, as Python's csv
// module does. A quote inside an unquoted field is kept as a literal character (also as Python does).
// Malformed input raises `error_id` with the line number.
inline std::vector<CsvRecord> parse_csv(const std::filesystem::path& path, std::string_view text,
                                        std::string_view error_id) {
  std::vector<CsvRecord> records;
  CsvRecord record;
  std::string field;
  std::size_t line = 1;
  std::size_t i = 0;
  bool row_has_content = false;
  record.line = 1;

  const auto end_field = [&] {
    record.fields.push_back(std::move(field));
    field.clear();
  };
  const auto end_record = [&] {
    end_field();
    if (row_has_content) records.push_back(std::move(record));
    record = CsvRecord{};
    row_has_content = false;
  };

  while (i < text.size()) {
    const char c = text[i];
    if (c == '"' && field.empty()) {
      // A quoted field: runs to the matching quote; "" is one literal quote.
      const std::size_t start_line = line;
      row_has_content = true;
      ++i;
      bool closed = false;
      while (i < text.size()) {
        if (text[i] == '"') {
          if (i + 1 < text.size() && text[i + 1] == '"') {
            field.push_back('"');
            i += 2;
            continue;
          }
          ++i;
          closed = true;
          break;
        }
        if (text[i] == '\n') ++line;
        field.push_back(text[i]);
        ++i;
      }
      if (!closed) {
        raise(error_id,
              fmt::format("invalid CSV in {}: the quoted field starting on line {} is never closed; add the closing "
                          "quote (a quote inside a quoted field is written as two quotes)",
                          path, start_line));
      }
      if (i < text.size() && text[i] != ',' && text[i] != '\n' && !(text[i] == '\r' && i + 1 < text.size() && text[i + 1] == '\n')) {
        raise(error_id,
              fmt::format("invalid CSV in {} on line {}: unexpected character '{}' after a closing quote; quote the "
                          "whole field and double the quotes inside it",
                          path, line, text[i]));
      }
      continue;
    }
    if (c == ',') {
      row_has_content = true;
      end_field();
      ++i;
      continue;
    }
    if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') {
      ++i;
      continue;
    }
    if (c == '\n') {
      end_record();
      ++line;
      record.line = line;
      ++i;
      continue;
    }
    row_has_content = true;
    field.push_back(c);
    ++i;
  }
  if (row_has_content || !field.empty()) end_record();
  return records;
}

// Appends one field to a CSV line, quoting it when it contains a comma, a quote or a line break.
inline void append_csv_field(std::string& line, std::string_view field) {
  if (field.find_first_of(",\"\r\n") == std::string_view::npos) {
    line.append(field);
    return;
  }
  line.push_back('"');
  for (const char c : field) {
    if (c == '"') line.push_back('"');
    line.push_back(c);
  }
  line.push_back('"');
}

}  // namespace sri::io::detail
