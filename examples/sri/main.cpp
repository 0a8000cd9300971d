// Entry point of the sri command-line tool: parses the flags, runs the chosen verb and turns every
// failure into one "sri: error: ..." line on stderr. Exit codes: 0 success, 1 runtime error
// (a bad file, an invalid value found while running), 2 invalid command line.

#include "verbs.hpp"

#include <sri/error.hpp>
#include <sri/version.hpp>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cstdio>
#include <exception>
#include <string>
#include <vector>

namespace {

constexpr int exit_runtime_error = 1;
constexpr int exit_usage_error = 2;

void print_error(std::string_view message) {
  std::fflush(stdout);
  fmt::print(stderr, "sri: error: {}\n", message);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"sri measures step-wise refusal internal dynamics (SRI): how a language model's hidden state "
               "moves toward a harmless or a refusal center at each generation step.",
               "sri"};
  sri::cli::GlobalOptions globals;
  app.add_flag("-q,--quiet", globals.quiet, "Print no progress output; results and errors are still printed");
  app.set_version_flag("--version", std::string(sri::version_string), "Print the sri version and exit");
  app.require_subcommand(1);
  app.fallthrough();  // so that --quiet also works after the verb
  const std::vector<sri::cli::Verb> verbs = sri::cli::add_verbs(app, globals);

  // The global flags take no values, so the first argument that is not a flag names the verb.
  // CLI11 alone would report an unknown verb only as "a subcommand is required".
  for (int i = 1; i < argc; ++i) {
    const std::string argument = argv[i];
    if (argument.starts_with("-")) continue;
    const bool known = std::any_of(verbs.begin(), verbs.end(),
                                   [&](const sri::cli::Verb& verb) { return verb.command->check_name(argument); });
    if (!known) {
      std::vector<std::string> names;
      for (const sri::cli::Verb& verb : verbs) names.push_back(verb.command->get_name());
      print_error(fmt::format("unknown verb '{}'; the verbs are {}", argument, fmt::join(names, ", ")));
      fmt::print(stderr, "Run 'sri --help' for usage.\n");
      return exit_usage_error;
    }
    break;
  }

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    if (error.get_exit_code() == 0) return app.exit(error);  // --help and --version
    print_error(error.what());
    fmt::print(stderr, "Run 'sri --help' or 'sri <verb> --help' for usage.\n");
    return exit_usage_error;
  }

  for (const sri::cli::Verb& verb : verbs) {
    if (!verb.command->parsed()) continue;
    try {
      verb.run();
      return 0;
    } catch (const sri::Error& error) {
      print_error(error.what());
    } catch (const std::exception& error) {
      // Errors from dependencies (libtorch, the JSON parser, memory allocation) that the library
      // did not translate; their text is the only description available.
      print_error(error.what());
    }
    return exit_runtime_error;
  }
  return exit_runtime_error;
}
