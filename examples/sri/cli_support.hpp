#pragma once

// File helpers shared by the verbs: reading an input file or standard input with errors that name
// the flag, and atomic output writes.

#include <sri/core/metric.hpp>
#include <sri/error.hpp>
#include <sri/io/atomic_file.hpp>

#include <fmt/format.h>
#include <fmt/std.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <iostream>
#include <iterator>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

namespace sri::cli {

// The metrics that --metric selects by their id.
template <class... Metrics>
struct MetricList {
  static std::vector<std::string> ids() { return {std::string(Metrics::id)...}; }

  // Calls `work(metric)` with a default metric of the type whose id is `id`; returns false when
  // no type has that id.
  template <class Work>
  static bool visit(std::string_view id, Work&& work) {
    return ((id == Metrics::id ? (work(Metrics{}), true) : false) || ...);
  }
};
using Metrics = MetricList<metric::Cosine, metric::Angular, metric::Euclidean, metric::SquaredEuclidean,
                           metric::Manhattan>;

// Raises sri.cli.file_not_found unless `path` names an existing regular file (or a device such as
// /dev/stdin). `flag` names the option that gave the path, for the message.
inline void require_input_file(const std::filesystem::path& path, std::string_view flag) {
  std::error_code error;
  const auto status = std::filesystem::status(path, error);
  if (!std::filesystem::exists(status)) {
    raise("sri.cli.file_not_found",
          fmt::format("{}: the file {} does not exist; check the path", flag, path));
  }
  if (std::filesystem::is_directory(status)) {
    raise("sri.cli.file_not_found", fmt::format("{}: {} is a folder, expected a file", flag, path));
  }
}

// Returns the whole content of `path`, or of standard input when `path` is "-".
inline std::string read_input(const std::string& path, std::string_view flag) {
  if (path == "-") {
    return std::string(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
  }
  require_input_file(path, flag);
  std::ifstream stream(path, std::ios::binary);
  std::ostringstream content;
  content << stream.rdbuf();
  if (!stream.good() && !stream.eof()) {
    raise("sri.cli.read_failed", fmt::format("{}: failed to read {}", flag, path));
  }
  return content.str();
}

// Returns the lower-case extension of `path`, with its dot (".json").
inline std::string lower_extension(const std::filesystem::path& path) {
  std::string extension = path.extension().string();
  std::transform(extension.begin(), extension.end(), extension.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return extension;
}

// Raises sri.cli.unsupported_extension unless `path` ends in one of `allowed` (any letter case).
inline void require_extension(const std::filesystem::path& path, std::initializer_list<std::string_view> allowed,
                              std::string_view flag) {
  const std::string extension = lower_extension(path);
  for (const std::string_view candidate : allowed) {
    if (extension == candidate) return;
  }
  raise("sri.cli.unsupported_extension",
        fmt::format("{}: {} has the extension \"{}\", expected {}", flag, path, extension,
                    fmt::join(allowed, " or ")));
}

// Raises the io errors for a missing or read-only output folder before any work starts, so that a
// long computation does not end in a failed write. The write itself is still atomic.
inline void require_output_folder(const std::filesystem::path& path, std::string_view flag) {
  std::filesystem::path folder = path.parent_path();
  if (folder.empty()) folder = ".";
  std::error_code error;
  if (!std::filesystem::is_directory(folder, error)) {
    raise("sri.io.folder_not_found",
          fmt::format("{}: cannot write {}: the folder {} does not exist; create it first", flag, path, folder));
  }
  io::AtomicWriter probe(path);  // creates and then discards a temporary file next to the target
}

}  // namespace sri::cli
