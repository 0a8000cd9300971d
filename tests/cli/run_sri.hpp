#pragma once

// Runs the built sri binary as a child process with the given arguments and standard input, and
// returns its exit code, standard output and standard error.

#include <doctest/doctest.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <sys/wait.h>

namespace sri_test {

struct RunResult {
  int exit_code = -1;
  std::string out;  // standard output
  std::string err;  // standard error
};

inline std::string shell_quote(const std::string& argument) {
  std::string quoted = "'";
  for (const char c : argument) {
    if (c == '\'') quoted += "'\\''";
    else quoted += c;
  }
  return quoted + "'";
}

inline std::string slurp(const std::filesystem::path& path) {
  std::ifstream stream(path, std::ios::binary);
  std::ostringstream content;
  content << stream.rdbuf();
  return content.str();
}

// A folder for one test's files, emptied on creation and removed afterwards.
struct Scratch {
  std::filesystem::path path;
  explicit Scratch(const std::string& name)
      : path(std::filesystem::path(SRI_CLI_SCRATCH_DIR) / name) {
    std::filesystem::remove_all(path);
    std::filesystem::create_directories(path);
  }
  ~Scratch() {
    std::error_code ignored;
    std::filesystem::remove_all(path, ignored);
  }
  [[nodiscard]] std::filesystem::path operator/(const std::string& name) const { return path / name; }
  [[nodiscard]] std::vector<std::string> entries() const {
    std::vector<std::string> names;
    for (const auto& entry : std::filesystem::directory_iterator(path)) names.push_back(entry.path().filename());
    return names;
  }
};

// Runs `sri args...` with `input` on standard input; the child's outputs go through files in
// `scratch` so that large outputs cannot block a pipe.
inline RunResult run_sri(const Scratch& scratch, const std::vector<std::string>& args, const std::string& input = "") {
  const auto stdin_path = scratch.path / ".stdin";
  const auto stdout_path = scratch.path / ".stdout";
  const auto stderr_path = scratch.path / ".stderr";
  std::ofstream(stdin_path, std::ios::binary) << input;
  std::string command = shell_quote(SRI_BINARY);
  for (const std::string& argument : args) command += " " + shell_quote(argument);
  command += " <" + shell_quote(stdin_path) + " >" + shell_quote(stdout_path) + " 2>" + shell_quote(stderr_path);
  const int status = std::system(command.c_str());
  RunResult result;
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  result.out = slurp(stdout_path);
  result.err = slurp(stderr_path);
  std::filesystem::remove(stdin_path);
  std::filesystem::remove(stdout_path);
  std::filesystem::remove(stderr_path);
  INFO("sri ", command);
  return result;
}

}  // namespace sri_test
