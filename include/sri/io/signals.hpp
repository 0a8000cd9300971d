#pragma once

// Signals files: the per-step SRI signal of each prompt, as JSON (the complete record) or CSV (the
// numbers only, in a long or a wide layout). docs/formats.md gives the JSON schema.

#include <sri/error.hpp>
#include <sri/io/atomic_file.hpp>
#include <sri/io/detail/csv.hpp>
#include <sri/io/detail/utf8.hpp>

#include <fmt/format.h>
#include <fmt/std.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sri::io {

// One prompt's signal and what is known about its run.
struct SignalRecord {
  std::string name;                               // tensor name, prompt id or index, as a string
  std::vector<double> signal;                     // [T] sigma_t, one value per step
  std::optional<std::string> prompt;              // the user prompt
  std::optional<std::string> response;            // the decoded response
  std::optional<bool> refusal;                    // the refusal judge's verdict on the response
  std::optional<std::vector<double>> text_signal;  // [T] 1 until a refusal phrase appears, then 0
  std::optional<std::int64_t> steps;              // steps really generated; later steps are padding
};

// Signals of a run plus free-form metadata (model, centers file, profile, ...).
struct SignalSet {
  nlohmann::json metadata = nlohmann::json::object();
  std::vector<SignalRecord> signals;
};

enum class SignalsCsvLayout {
  long_form,  // one row per prompt per step: name,step,signal[,text_signal]
  wide,       // one row per prompt: name,s0,s1,...; shorter signals leave trailing cells empty
};

namespace detail {

// Throws sri.io.signal_not_finite when `values` has a NaN or infinity, naming the record and step.
inline void require_finite(const std::vector<double>& values, std::string_view record, std::string_view what) {
  for (std::size_t t = 0; t < values.size(); ++t) {
    if (!std::isfinite(values[t])) {
      raise("sri.io.signal_not_finite",
            fmt::format("{} of '{}' is {} at step {}; signals must be finite numbers, so check the activations and "
                        "centers for NaN or zero vectors",
                        what, record, values[t], t));
    }
  }
}

inline void validate_record(const SignalRecord& record) {
  require_finite(record.signal, record.name, "the signal");
  if (record.text_signal) {
    require_finite(*record.text_signal, record.name, "the text signal");
    if (record.text_signal->size() != record.signal.size()) {
      raise("sri.io.invalid_argument",
            fmt::format("the text signal of '{}' has {} steps but its signal has {}; both need one value per step",
                        record.name, record.text_signal->size(), record.signal.size()));
    }
  }
  if (record.steps && (*record.steps < 0 || static_cast<std::size_t>(*record.steps) > record.signal.size())) {
    raise("sri.io.invalid_argument", fmt::format("'{}' has steps = {} outside [0, {}], the length of its signal",
                                                 record.name, *record.steps, record.signal.size()));
  }
}

[[noreturn]] inline void raise_invalid_signals(const std::filesystem::path& path, std::string_view problem) {
  raise("sri.io.signals_invalid", fmt::format("invalid signals file {}: {}", path, problem));
}

inline std::string read_text_file(const std::filesystem::path& path) {
  std::error_code error;
  if (!std::filesystem::is_regular_file(path, error)) {
    if (std::filesystem::exists(path, error)) {
      raise("sri.io.read_failed", fmt::format("{} is not a regular file; pass a signals file", path));
    }
    raise("sri.io.file_not_found", fmt::format("signals file not found: {}; check the path", path));
  }
  std::ifstream in(path, std::ios::binary);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) raise("sri.io.read_failed", fmt::format("failed to read {}", path));
  return text;
}

inline std::vector<double> numbers_from_json(const std::filesystem::path& path, const nlohmann::json& value,
                                             std::string_view where) {
  if (!value.is_array()) raise_invalid_signals(path, fmt::format("{} is not an array of numbers", where));
  std::vector<double> numbers;
  numbers.reserve(value.size());
  for (std::size_t t = 0; t < value.size(); ++t) {
    if (!value[t].is_number()) {
      raise_invalid_signals(path, fmt::format("{} has {} at step {}; expected a number", where, value[t].dump(), t));
    }
    numbers.push_back(value[t].get<double>());
  }
  return numbers;
}

inline double parse_csv_number(const std::filesystem::path& path, const std::string& cell, std::size_t line,
                               std::string_view column) {
  std::size_t used = 0;
  double value = 0.0;
  try {
    value = std::stod(cell, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || used != cell.size()) {
    raise_invalid_signals(path, fmt::format("line {}, column {}: '{}' is not a number", line, column, cell));
  }
  return value;
}

}  // namespace detail

// Serializes signals as the JSON document described in docs/formats.md. Throws
// sri.io.signal_not_finite for NaN or infinity (JSON cannot hold them).
inline nlohmann::json signals_to_json(const SignalSet& set) {
  nlohmann::json records = nlohmann::json::array();
  for (const SignalRecord& record : set.signals) {
    detail::validate_record(record);
    nlohmann::json item = {{"name", record.name}, {"signal", record.signal}};
    if (record.prompt) item["prompt"] = *record.prompt;
    if (record.response) item["response"] = *record.response;
    if (record.refusal) item["refusal"] = *record.refusal;
    if (record.text_signal) item["text_signal"] = *record.text_signal;
    if (record.steps) item["steps"] = *record.steps;
    records.push_back(std::move(item));
  }
  if (!set.metadata.is_object()) {
    raise("sri.io.invalid_argument",
          fmt::format("signals metadata must be a JSON object, got {}", set.metadata.type_name()));
  }
  return {{"metadata", set.metadata}, {"signals", std::move(records)}};
}

// Writes the JSON signals file atomically, indented by one space per level.
inline void write_signals_json(const std::filesystem::path& path, const SignalSet& set) {
  const nlohmann::json document = signals_to_json(set);
  std::string text;
  try {
    text = document.dump(1);
  } catch (const nlohmann::json::type_error& error) {
    raise("sri.io.invalid_argument",
          fmt::format("cannot write {}: a prompt, response or name is not valid UTF-8 ({})", path, error.what()));
  }
  text.push_back('\n');
  write_file_atomically(path, text);
}

// Parses a JSON signals document. Unknown fields are ignored; "name" may be a string or an integer index.
inline SignalSet signals_from_json(const nlohmann::json& document, const std::filesystem::path& path = "<memory>") {
  if (!document.is_object() || !document.contains("signals")) {
    detail::raise_invalid_signals(path, "expected a JSON object with a \"signals\" array");
  }
  SignalSet set;
  if (document.contains("metadata")) {
    if (!document["metadata"].is_object()) detail::raise_invalid_signals(path, "\"metadata\" is not an object");
    set.metadata = document["metadata"];
  }
  const nlohmann::json& records = document["signals"];
  if (!records.is_array()) detail::raise_invalid_signals(path, "\"signals\" is not an array");
  for (std::size_t i = 0; i < records.size(); ++i) {
    const nlohmann::json& item = records[i];
    const std::string where = fmt::format("signals[{}]", i);
    if (!item.is_object()) detail::raise_invalid_signals(path, fmt::format("{} is not an object", where));
    SignalRecord record;
    const auto name = item.find("name");
    if (name == item.end()) detail::raise_invalid_signals(path, fmt::format("{} has no \"name\"", where));
    if (name->is_string()) {
      record.name = name->get<std::string>();
    } else if (name->is_number_integer()) {
      record.name = std::to_string(name->get<std::int64_t>());
    } else {
      detail::raise_invalid_signals(path, fmt::format("{}.name is {}; expected a string or an integer", where,
                                                      name->dump()));
    }
    if (!item.contains("signal")) detail::raise_invalid_signals(path, fmt::format("{} has no \"signal\"", where));
    record.signal = detail::numbers_from_json(path, item["signal"], where + ".signal");

    const auto text_field = [&](const char* key) -> std::optional<std::string> {
      const auto found = item.find(key);
      if (found == item.end() || found->is_null()) return std::nullopt;
      if (!found->is_string()) detail::raise_invalid_signals(path, fmt::format("{}.{} is not a string", where, key));
      return found->get<std::string>();
    };
    record.prompt = text_field("prompt");
    record.response = text_field("response");
    if (const auto found = item.find("refusal"); found != item.end() && !found->is_null()) {
      if (!found->is_boolean()) detail::raise_invalid_signals(path, fmt::format("{}.refusal is not a boolean", where));
      record.refusal = found->get<bool>();
    }
    if (const auto found = item.find("text_signal"); found != item.end() && !found->is_null()) {
      record.text_signal = detail::numbers_from_json(path, *found, where + ".text_signal");
    }
    if (const auto found = item.find("steps"); found != item.end() && !found->is_null()) {
      if (!found->is_number_integer()) detail::raise_invalid_signals(path, fmt::format("{}.steps is not an integer", where));
      record.steps = found->get<std::int64_t>();
    }
    try {
      detail::validate_record(record);
    } catch (const sri::Error& error) {
      detail::raise_invalid_signals(path, fmt::format("{}: {}", where, error.what()));
    }
    set.signals.push_back(std::move(record));
  }
  return set;
}

// Reads a JSON signals file. Throws sri.io.file_not_found or sri.io.signals_invalid (with the line
// of a JSON syntax error).
inline SignalSet read_signals_json(const std::filesystem::path& path) {
  const std::string text = detail::read_text_file(path);
  nlohmann::json document;
  try {
    document = nlohmann::json::parse(text);
  } catch (const nlohmann::json::parse_error& error) {
    detail::raise_invalid_signals(path, fmt::format("malformed JSON at line {}: {}",
                                                    detail::line_of_offset(text, error.byte), error.what()));
  }
  return signals_from_json(document, path);
}

// Writes the CSV signals file atomically. The long layout has the header name,step,signal, plus
// text_signal when any record has one (records without one leave it empty). Steps count from 0.
// The wide layout has the header name,s0,...,s{T-1} for the longest signal. Only the numbers and
// names are written: prompts, responses, verdicts and metadata live in the JSON form.
inline void write_signals_csv(const std::filesystem::path& path, const SignalSet& set,
                              SignalsCsvLayout layout = SignalsCsvLayout::long_form) {
  bool any_text_signal = false;
  std::size_t longest = 0;
  for (const SignalRecord& record : set.signals) {
    detail::validate_record(record);
    any_text_signal = any_text_signal || record.text_signal.has_value();
    longest = std::max(longest, record.signal.size());
  }

  std::string text;
  if (layout == SignalsCsvLayout::long_form) {
    text = any_text_signal ? "name,step,signal,text_signal\r\n" : "name,step,signal\r\n";
    for (const SignalRecord& record : set.signals) {
      for (std::size_t t = 0; t < record.signal.size(); ++t) {
        detail::append_csv_field(text, record.name);
        text += fmt::format(",{},{}", t, record.signal[t]);
        if (any_text_signal) {
          text += record.text_signal ? fmt::format(",{}", (*record.text_signal)[t]) : std::string(",");
        }
        text += "\r\n";
      }
    }
  } else {
    text = "name";
    for (std::size_t t = 0; t < longest; ++t) text += fmt::format(",s{}", t);
    text += "\r\n";
    for (const SignalRecord& record : set.signals) {
      detail::append_csv_field(text, record.name);
      for (std::size_t t = 0; t < longest; ++t) {
        text += t < record.signal.size() ? fmt::format(",{}", record.signal[t]) : std::string(",");
      }
      text += "\r\n";
    }
  }
  write_file_atomically(path, text);
}

// Reads either CSV layout back, recognized by the header. Records keep their first-appearance order.
// In the long layout each record's rows must list steps 0, 1, 2, ... in order.
inline SignalSet read_signals_csv(const std::filesystem::path& path) {
  const std::string text = detail::read_text_file(path);
  const std::vector<detail::CsvRecord> rows = detail::parse_csv(path, text, "sri.io.signals_invalid");
  if (rows.empty()) detail::raise_invalid_signals(path, "the file is empty; expected a header row");
  const std::vector<std::string>& header = rows.front().fields;
  SignalSet set;

  const bool long_form = header.size() >= 3 && header[0] == "name" && header[1] == "step" && header[2] == "signal";
  const bool with_text = long_form && header.size() == 4 && header[3] == "text_signal";
  if (long_form && header.size() != 3 && !with_text) {
    detail::raise_invalid_signals(path, "the long layout header must be name,step,signal or name,step,signal,text_signal");
  }
  if (long_form) {
    std::map<std::string, std::size_t, std::less<>> index;
    for (std::size_t r = 1; r < rows.size(); ++r) {
      const detail::CsvRecord& row = rows[r];
      if (row.fields.size() != header.size()) {
        detail::raise_invalid_signals(path, fmt::format("line {} has {} fields but the header has {}", row.line,
                                                        row.fields.size(), header.size()));
      }
      auto [found, added] = index.try_emplace(row.fields[0], set.signals.size());
      if (added) set.signals.push_back(SignalRecord{.name = row.fields[0]});
      SignalRecord& record = set.signals[found->second];
      const double step = detail::parse_csv_number(path, row.fields[1], row.line, "step");
      if (step != static_cast<double>(record.signal.size())) {
        detail::raise_invalid_signals(path, fmt::format("line {}: step {} of '{}' follows {} steps; list steps 0, 1, "
                                                        "2, ... in order",
                                                        row.line, row.fields[1], record.name, record.signal.size()));
      }
      record.signal.push_back(detail::parse_csv_number(path, row.fields[2], row.line, "signal"));
      if (with_text && !row.fields[3].empty()) {
        if (!record.text_signal) {
          if (record.signal.size() != 1) {
            detail::raise_invalid_signals(path, fmt::format("line {}: '{}' has a text_signal cell only from step {}",
                                                            row.line, record.name, record.signal.size() - 1));
          }
          record.text_signal.emplace();
        }
        record.text_signal->push_back(detail::parse_csv_number(path, row.fields[3], row.line, "text_signal"));
      } else if (record.text_signal) {
        detail::raise_invalid_signals(path, fmt::format("line {}: '{}' has an empty text_signal cell", row.line,
                                                        record.name));
      }
    }
  } else {
    if (header.empty() || header[0] != "name") {
      detail::raise_invalid_signals(path, "the header must start with name,step,signal (long layout) or name,s0,s1,... "
                                          "(wide layout)");
    }
    for (std::size_t c = 1; c < header.size(); ++c) {
      if (header[c] != fmt::format("s{}", c - 1)) {
        detail::raise_invalid_signals(path, fmt::format("wide layout column {} is '{}'; expected 's{}'", c, header[c], c - 1));
      }
    }
    for (std::size_t r = 1; r < rows.size(); ++r) {
      const detail::CsvRecord& row = rows[r];
      if (row.fields.size() != header.size()) {
        detail::raise_invalid_signals(path, fmt::format("line {} has {} fields but the header has {}", row.line,
                                                        row.fields.size(), header.size()));
      }
      SignalRecord record{.name = row.fields[0]};
      for (std::size_t c = 1; c < row.fields.size(); ++c) {
        if (row.fields[c].empty()) {
          for (std::size_t rest = c; rest < row.fields.size(); ++rest) {
            if (!row.fields[rest].empty()) {
              detail::raise_invalid_signals(path, fmt::format("line {}: '{}' has an empty cell before step {}",
                                                              row.line, record.name, rest - 1));
            }
          }
          break;
        }
        record.signal.push_back(detail::parse_csv_number(path, row.fields[c], row.line, header[c]));
      }
      set.signals.push_back(std::move(record));
    }
  }
  for (const SignalRecord& record : set.signals) {
    try {
      detail::validate_record(record);
    } catch (const sri::Error& error) {
      detail::raise_invalid_signals(path, error.what());
    }
  }
  return set;
}

}  // namespace sri::io
