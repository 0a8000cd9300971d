#pragma once

// Prompt sets: CSV with a header row (RFC 4180), a JSON array of objects or strings, JSON Lines and
// plain text with one prompt per line. The format comes from the file extension unless the caller
// names it.

#include <sri/error.hpp>
#include <sri/io/detail/csv.hpp>
#include <sri/io/detail/utf8.hpp>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <fmt/std.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <cctype>
#include <cstddef>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sri::io {

enum class PromptFormat {
  automatic,   // chosen from the extension: .csv, .json, .jsonl / .ndjson, .txt
  csv,         // header row, then one record per prompt; RFC 4180 quoting
  json,        // an array of objects (the prompt is one field) or of strings
  json_lines,  // one JSON object or string per line; blank lines are skipped
  text,        // one prompt per line; blank lines are skipped
};

struct PromptSetOptions {
  PromptFormat format = PromptFormat::automatic;
  // CSV column or JSON field holding the prompt. When empty, the first of `default_prompt_fields`
  // that the file has is used.
  std::string field;
  // Keep only the first `limit` prompts. A limit above the set size is an error.
  std::optional<std::size_t> limit;
};

// Field names tried in this order when PromptSetOptions::field is empty ("goal" is AdvBench's
// column, "instruction" is Alpaca's field).
inline constexpr std::array<std::string_view, 5> default_prompt_fields{"prompt", "instruction", "goal", "text",
                                                                       "question"};

// Parses a format name: "auto", "csv", "json", "jsonl" (or "ndjson", "json_lines") or "text" ("txt").
inline PromptFormat parse_prompt_format(std::string_view name) {
  if (name == "auto") return PromptFormat::automatic;
  if (name == "csv") return PromptFormat::csv;
  if (name == "json") return PromptFormat::json;
  if (name == "jsonl" || name == "ndjson" || name == "json_lines") return PromptFormat::json_lines;
  if (name == "text" || name == "txt") return PromptFormat::text;
  raise("sri.io.invalid_argument",
        fmt::format("unknown prompt format '{}'; use one of auto, csv, json, jsonl, text", name));
}

namespace detail {

// Picks the prompt column or field among `available`; throws sri.io.prompt_field_missing listing them.
inline std::string choose_prompt_field(const std::filesystem::path& path, const std::string& requested,
                                       const std::vector<std::string>& available, std::string_view what) {
  const auto has = [&](std::string_view name) {
    return std::find(available.begin(), available.end(), name) != available.end();
  };
  if (!requested.empty()) {
    if (has(requested)) return requested;
    raise("sri.io.prompt_field_missing",
          fmt::format("{} '{}' not found in {}; the available {}s are: {}; choose one of them", what, requested, path,
                      what, fmt::join(available, ", ")));
  }
  for (const auto name : default_prompt_fields) {
    if (has(name)) return std::string(name);
  }
  raise("sri.io.prompt_field_missing",
        fmt::format("{} has no {} named {}; the available {}s are: {}; name the one holding the prompt", path, what,
                    fmt::join(default_prompt_fields, ", "), what, fmt::join(available, ", ")));
}

inline std::vector<std::string> read_csv_prompts(const std::filesystem::path& path, std::string_view text,
                                                 const std::string& requested_field) {
  std::vector<CsvRecord> records = parse_csv(path, text, "sri.io.prompt_file_invalid");
  if (records.empty()) {
    raise("sri.io.prompt_set_empty", fmt::format("{} is empty; a CSV prompt file needs a header row and prompts", path));
  }
  const std::vector<std::string>& header = records.front().fields;
  const std::string field = choose_prompt_field(path, requested_field, header, "column");
  const auto column = static_cast<std::size_t>(std::find(header.begin(), header.end(), field) - header.begin());

  std::vector<std::string> prompts;
  prompts.reserve(records.size() - 1);
  for (std::size_t r = 1; r < records.size(); ++r) {
    const CsvRecord& record = records[r];
    if (record.fields.size() != header.size()) {
      raise("sri.io.prompt_file_invalid",
            fmt::format("invalid CSV in {}: the record on line {} has {} fields but the header has {}; quote fields "
                        "that contain commas",
                        path, record.line, record.fields.size(), header.size()));
    }
    prompts.push_back(record.fields[column]);
  }
  return prompts;
}

// Extracts the prompt from one JSON value (a string, or an object with the prompt field).
inline std::string prompt_from_json(const std::filesystem::path& path, const nlohmann::ordered_json& value,
                                    std::string& field, const std::string& requested_field, std::string_view where) {
  if (value.is_string()) return value.get<std::string>();
  if (!value.is_object()) {
    raise("sri.io.prompt_file_invalid",
          fmt::format("{} in {} is {}; expected a string or an object with the prompt field", where, path,
                      value.type_name()));
  }
  if (field.empty()) {
    std::vector<std::string> keys;
    for (const auto& item : value.items()) keys.push_back(item.key());
    field = choose_prompt_field(path, requested_field, keys, "field");
  }
  const auto found = value.find(field);
  if (found == value.end()) {
    std::vector<std::string> keys;
    for (const auto& item : value.items()) keys.push_back(item.key());
    raise("sri.io.prompt_field_missing",
          fmt::format("{} in {} has no field '{}'; its fields are: {}", where, path, field, fmt::join(keys, ", ")));
  }
  if (!found->is_string()) {
    raise("sri.io.prompt_file_invalid",
          fmt::format("field '{}' of {} in {} is {}, not a string", field, where, path, found->type_name()));
  }
  return found->get<std::string>();
}

inline std::vector<std::string> read_json_prompts(const std::filesystem::path& path, std::string_view text,
                                                  const std::string& requested_field) {
  nlohmann::ordered_json document;
  try {
    document = nlohmann::ordered_json::parse(text);
  } catch (const nlohmann::json::parse_error& error) {
    raise("sri.io.prompt_file_invalid",
          fmt::format("malformed JSON in {} at line {}: {}", path, line_of_offset(text, error.byte), error.what()));
  }
  if (!document.is_array()) {
    raise("sri.io.prompt_file_invalid",
          fmt::format("{} holds a JSON {}; expected an array of objects or strings", path, document.type_name()));
  }
  std::vector<std::string> prompts;
  prompts.reserve(document.size());
  std::string field;
  for (std::size_t i = 0; i < document.size(); ++i) {
    prompts.push_back(prompt_from_json(path, document[i], field, requested_field, fmt::format("element {}", i)));
  }
  return prompts;
}

inline std::vector<std::string> read_json_lines_prompts(const std::filesystem::path& path, std::string_view text,
                                                        const std::string& requested_field) {
  std::vector<std::string> prompts;
  std::string field;
  std::size_t line = 0;
  for (std::string_view rest = text; !rest.empty();) {
    ++line;
    const std::size_t newline = rest.find('\n');
    std::string_view row = rest.substr(0, newline);
    rest = newline == std::string_view::npos ? std::string_view() : rest.substr(newline + 1);
    if (row.find_first_not_of(" \t\r") == std::string_view::npos) continue;
    nlohmann::ordered_json value;
    try {
      value = nlohmann::ordered_json::parse(row);
    } catch (const nlohmann::json::parse_error& error) {
      raise("sri.io.prompt_file_invalid",
            fmt::format("malformed JSON in {} at line {}: {}", path, line, error.what()));
    }
    prompts.push_back(prompt_from_json(path, value, field, requested_field, fmt::format("line {}", line)));
  }
  return prompts;
}

inline std::vector<std::string> read_text_prompts(std::string_view text) {
  std::vector<std::string> prompts;
  for (std::string_view rest = text; !rest.empty();) {
    const std::size_t newline = rest.find('\n');
    std::string_view row = rest.substr(0, newline);
    rest = newline == std::string_view::npos ? std::string_view() : rest.substr(newline + 1);
    if (!row.empty() && row.back() == '\r') row.remove_suffix(1);
    if (row.find_first_not_of(" \t") == std::string_view::npos) continue;
    prompts.emplace_back(row);
  }
  return prompts;
}

inline PromptFormat format_from_extension(const std::filesystem::path& path) {
  std::string extension = path.extension().string();
  std::transform(extension.begin(), extension.end(), extension.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (extension == ".csv") return PromptFormat::csv;
  if (extension == ".json") return PromptFormat::json;
  if (extension == ".jsonl" || extension == ".ndjson") return PromptFormat::json_lines;
  if (extension == ".txt" || extension == ".text") return PromptFormat::text;
  raise("sri.io.invalid_argument",
        fmt::format("cannot tell the prompt format of {} from its extension '{}'; use .csv, .json, .jsonl or .txt, or "
                    "name the format explicitly",
                    path, extension));
}

}  // namespace detail

// Reads a prompt set. Throws sri.io.file_not_found, sri.io.prompt_file_invalid (malformed CSV or
// JSON, invalid UTF-8, with the line number), sri.io.prompt_field_missing (listing the available
// columns or fields), sri.io.prompt_set_empty, sri.io.prompt_set_too_small (limit above the size).
// A leading UTF-8 byte order mark is ignored. Prompts are returned as stored, without trimming.
inline std::vector<std::string> read_prompts(const std::filesystem::path& path, const PromptSetOptions& options = {}) {
  std::error_code error;
  if (!std::filesystem::is_regular_file(path, error)) {
    if (std::filesystem::exists(path, error)) {
      raise("sri.io.read_failed", fmt::format("{} is not a regular file; pass a prompt file", path));
    }
    raise("sri.io.file_not_found", fmt::format("prompt file not found: {}; check the path", path));
  }
  if (options.limit && *options.limit == 0) {
    raise("sri.io.invalid_argument", fmt::format("the prompt count for {} is 0; ask for at least one prompt", path));
  }
  const PromptFormat format =
      options.format == PromptFormat::automatic ? detail::format_from_extension(path) : options.format;

  std::ifstream in(path, std::ios::binary);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) raise("sri.io.read_failed", fmt::format("failed to read {}", path));
  std::string_view content = text;
  if (content.substr(0, 3) == "\xEF\xBB\xBF") content.remove_prefix(3);
  if (const auto bad = detail::find_invalid_utf8(content)) {
    raise("sri.io.prompt_file_invalid",
          fmt::format("{} is not valid UTF-8: invalid byte 0x{:02X} at line {}, byte offset {}; save the file as UTF-8",
                      path, static_cast<unsigned char>(content[*bad]), detail::line_of_offset(content, *bad), *bad));
  }

  std::vector<std::string> prompts;
  switch (format) {
    case PromptFormat::csv: prompts = detail::read_csv_prompts(path, content, options.field); break;
    case PromptFormat::json: prompts = detail::read_json_prompts(path, content, options.field); break;
    case PromptFormat::json_lines: prompts = detail::read_json_lines_prompts(path, content, options.field); break;
    case PromptFormat::text: prompts = detail::read_text_prompts(content); break;
    case PromptFormat::automatic: break;  // resolved above
  }

  if (prompts.empty()) {
    raise("sri.io.prompt_set_empty", fmt::format("{} contains no prompts; add prompts or choose another file", path));
  }
  for (std::size_t i = 0; i < prompts.size(); ++i) {
    if (prompts[i].empty()) {
      raise("sri.io.prompt_file_invalid",
            fmt::format("prompt {} (0-based) in {} is empty; remove it or fill it in", i, path));
    }
  }
  if (options.limit) {
    if (*options.limit > prompts.size()) {
      raise("sri.io.prompt_set_too_small",
            fmt::format("{} prompts requested from {} but it holds only {}; ask for at most {}", *options.limit, path,
                        prompts.size(), prompts.size()));
    }
    prompts.resize(*options.limit);
  }
  return prompts;
}

}  // namespace sri::io
