// sri judge: applies the reference's keyword refusal judge to JSON Lines input.

#include "cli_support.hpp"
#include "verbs.hpp"

#include <sri/core/judge.hpp>
#include <sri/error.hpp>
#include <sri/io/atomic_file.hpp>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <cstdio>
#include <memory>
#include <string>
#include <string_view>

namespace sri::cli {
namespace {

struct JudgeOptions {
  std::string input;
  std::string output;
};

// Returns one output line per non-blank input line: the input object with "refusal" added.
// Judges the whole input before returning, so a malformed line produces no partial output.
std::string judge_lines(std::string_view content, std::string_view source) {
  const judge::KeywordJudge judge;
  std::string output;
  std::size_t line_number = 0;
  std::size_t begin = 0;
  if (content.substr(0, 3) == "\xEF\xBB\xBF") begin = 3;  // UTF-8 byte order mark
  while (begin < content.size()) {
    std::size_t end = content.find('\n', begin);
    if (end == std::string_view::npos) end = content.size();
    std::string_view line = content.substr(begin, end - begin);
    begin = end + 1;
    ++line_number;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.find_first_not_of(" \t") == std::string_view::npos) continue;

    nlohmann::ordered_json object;
    try {
      object = nlohmann::ordered_json::parse(line);
    } catch (const nlohmann::json::parse_error& error) {
      raise("sri.cli.invalid_json_line",
            fmt::format("{} line {}: invalid JSON ({}); each line must be one object such as {{\"text\": \"...\"}}",
                        source, line_number, error.what()));
    }
    if (!object.is_object() || !object.contains("text")) {
      raise("sri.cli.invalid_json_line",
            fmt::format("{} line {}: expected an object with a \"text\" field, got {}", source, line_number,
                        object.dump().substr(0, 80)));
    }
    if (!object["text"].is_string()) {
      raise("sri.cli.invalid_json_line", fmt::format("{} line {}: \"text\" must be a string, got {}", source,
                                                     line_number, object["text"].type_name()));
    }
    object["refusal"] = judge.is_refusal(object["text"].get_ref<const std::string&>());
    output += object.dump();
    output += '\n';
  }
  return output;
}

}  // namespace

Verb add_judge_verb(CLI::App& app, const GlobalOptions& /*globals*/) {
  auto options = std::make_shared<JudgeOptions>();
  CLI::App* command = app.add_subcommand(
      "judge", "Judge responses with the reference's keyword refusal judge (31 phrases, exact matching rules)");
  command->add_option("file", options->input,
                      "JSON Lines input, one object with a \"text\" string per line; '-' reads standard input")
      ->required();
  command->add_option("-o,--out", options->output,
                      "Write the results to this file instead of standard output (replaced atomically)");
  command->footer(
      "Prints one JSON object per input line: the input object with a boolean \"refusal\" added. Blank lines are "
      "skipped.\nExample: echo '{\"text\": \"I cannot help with that.\"}' | sri judge -");

  return Verb{command, [options] {
                if (!options->output.empty()) require_output_folder(options->output, "--out");
                const std::string content = read_input(options->input, "judge FILE");
                const std::string source = options->input == "-" ? std::string("standard input") : options->input;
                const std::string output = judge_lines(content, source);
                if (options->output.empty()) {
                  std::fwrite(output.data(), 1, output.size(), stdout);
                  std::fflush(stdout);
                } else {
                  io::write_file_atomically(options->output, output);
                }
              }};
}

}  // namespace sri::cli
