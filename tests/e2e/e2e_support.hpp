#pragma once

// Helpers of the end-to-end suites. They run the built sri tool as a child process, in the
// foreground or in the background, and keep every command line for failure messages. They read
// what the tool wrote (safetensors headers and data, CSV rows, PNG sizes) without libtorch.

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

namespace sri_e2e {

namespace fs = std::filesystem;

// The real model every suite runs. Suites exit with 77 (skipped) when it is not downloaded.
inline fs::path smollm2_path() { return fs::path(SRI_MODEL_CACHE) / "SmolLM2-135M-Instruct.Q4_1.gguf"; }

inline fs::path shared_prompts(const std::string& name) { return fs::path(SRI_SHARED_DATA_DIR) / "prompts" / name; }

// Exits with 77, which CTest reports as skipped, when the real model is missing.
inline void require_model_or_skip() {
  if (!fs::exists(smollm2_path())) {
    std::fprintf(stderr, "skipped: %s is missing; run scripts/fetch-models.sh to download it\n",
                 smollm2_path().c_str());
    std::exit(77);
  }
}

inline std::string read_file(const fs::path& path) {
  std::ifstream stream(path, std::ios::binary);
  if (!stream) throw std::runtime_error("failed to open " + path.string());
  std::ostringstream content;
  content << stream.rdbuf();
  return content.str();
}

inline void write_file(const fs::path& path, std::string_view bytes) {
  std::ofstream stream(path, std::ios::binary);
  stream.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!stream) throw std::runtime_error("failed to write " + path.string());
}

inline bool contains(std::string_view text, std::string_view part) { return text.find(part) != std::string_view::npos; }

// Lists every file under `folder` as paths relative to it, or nothing when the folder does not exist.
inline std::vector<std::string> files_under(const fs::path& folder) {
  std::vector<std::string> names;
  if (!fs::exists(folder)) return names;
  for (const auto& entry : fs::recursive_directory_iterator(folder)) {
    if (!entry.is_directory()) names.push_back(fs::relative(entry.path(), folder).string());
  }
  return names;
}

struct RunResult {
  int exit_code = -1;  // -1 when the child did not exit normally (killed by a signal)
  std::string out;     // standard output
  std::string err;     // standard error
};

// A background child started by Session::start.
struct Child {
  pid_t pid = -1;
  std::size_t index = 0;  // position in the session's command list, which names its log files
  std::string command;
};

// One test's temporary folder, the commands run in it and their logs. The folder is created
// fresh (mkdtemp) and removed at the end. Set SRI_E2E_KEEP=1 to keep it for inspection.
class Session {
 public:
  explicit Session(const std::string& name) {
    std::string pattern = (fs::temp_directory_path() / ("sri-e2e-" + name + "-XXXXXX")).string();
    if (mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed for " + pattern);
    root_ = pattern;
    fs::create_directories(root_ / "logs");
  }
  ~Session() {
    if (const char* keep = std::getenv("SRI_E2E_KEEP"); keep != nullptr && std::string_view(keep) == "1") return;
    std::error_code ignored;
    fs::remove_all(root_, ignored);
  }
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  [[nodiscard]] const fs::path& root() const { return root_; }
  [[nodiscard]] fs::path operator/(const std::string& name) const { return root_ / name; }

  // The commands run so far, one per line, for failure messages (doctest's INFO reads it lazily).
  [[nodiscard]] std::string commands() const {
    std::string text = "commands run (temporary folder " + root_.string() + "):";
    for (const std::string& command : commands_) text += "\n  " + command;
    return text;
  }

  // Sets an environment variable for the children started afterwards.
  void set_env(const std::string& name, const std::string& value) { env_[name] = value; }

  // Starts `sri args...` in the background. Its standard output and error go to log files.
  Child start(const std::vector<std::string>& args) {
    const std::size_t index = commands_.size();
    std::string command = env_prefix() + SRI_TOOL_PATH;
    for (const std::string& argument : args) command += " " + shell_quote(argument);
    commands_.push_back(command);

    std::vector<std::string> argv_storage{SRI_TOOL_PATH};
    argv_storage.insert(argv_storage.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (std::string& argument : argv_storage) argv.push_back(argument.data());
    argv.push_back(nullptr);

    std::vector<std::string> env_storage = environment();
    std::vector<char*> envp;
    for (std::string& entry : env_storage) envp.push_back(entry.data());
    envp.push_back(nullptr);

    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    const std::string out_log = log_path(index, "out").string();
    const std::string err_log = log_path(index, "err").string();
    posix_spawn_file_actions_addopen(&actions, 1, out_log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&actions, 2, err_log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    pid_t pid = -1;
    const int failed = posix_spawn(&pid, SRI_TOOL_PATH, &actions, nullptr, argv.data(), envp.data());
    posix_spawn_file_actions_destroy(&actions);
    if (failed != 0) throw std::runtime_error(std::string("posix_spawn failed: ") + std::strerror(failed));
    return Child{pid, index, command};
  }

  // Waits for a background child, killing it after `limit`, and returns its outputs.
  RunResult wait(const Child& child, std::chrono::seconds limit = std::chrono::seconds(1500)) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    int status = 0;
    while (waitpid(child.pid, &status, WNOHANG) == 0) {
      if (std::chrono::steady_clock::now() > deadline) {
        kill(child.pid, SIGKILL);
        waitpid(child.pid, &status, 0);
        FAIL("timed out after ", limit.count(), " s: ", child.command);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return collect(child, status);
  }

  // Kills a background child with SIGKILL and reaps it.
  RunResult kill_now(const Child& child) {
    kill(child.pid, SIGKILL);
    int status = 0;
    waitpid(child.pid, &status, 0);
    return collect(child, status);
  }

  // Runs `sri args...` to completion.
  RunResult run(const std::vector<std::string>& args) { return wait(start(args)); }

 private:
  static std::string shell_quote(const std::string& argument) {
    if (!argument.empty() && argument.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                                        "0123456789-_./=:,") == std::string::npos) {
      return argument;
    }
    std::string quoted = "'";
    for (const char c : argument) {
      if (c == '\'') quoted += "'\\''";
      else quoted += c;
    }
    return quoted + "'";
  }

  std::string env_prefix() const {
    std::string prefix;
    for (const auto& [name, value] : env_) prefix += name + "=" + shell_quote(value) + " ";
    return prefix;
  }

  // The parent's environment with the session's overrides applied.
  std::vector<std::string> environment() const {
    std::vector<std::string> entries;
    for (char** entry = environ; *entry != nullptr; ++entry) {
      const std::string_view text(*entry);
      const std::string name(text.substr(0, text.find('=')));
      if (env_.count(name) == 0) entries.emplace_back(text);
    }
    for (const auto& [name, value] : env_) entries.push_back(name + "=" + value);
    return entries;
  }

  [[nodiscard]] fs::path log_path(std::size_t index, const std::string& stream) const {
    return root_ / "logs" / (std::to_string(index) + "." + stream);
  }

  RunResult collect(const Child& child, int status) const {
    RunResult result;
    result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    result.out = read_file(log_path(child.index, "out"));
    result.err = read_file(log_path(child.index, "err"));
    return result;
  }

  fs::path root_;
  std::vector<std::string> commands_;
  std::map<std::string, std::string> env_;
};

// A safetensors file read without libtorch: the JSON header and the raw data section.
struct Safetensors {
  nlohmann::json header;  // tensor entries and __metadata__
  std::string data;       // the data section

  static Safetensors read(const fs::path& path) {
    const std::string bytes = read_file(path);
    REQUIRE(bytes.size() >= 8);
    std::uint64_t length = 0;
    for (int i = 7; i >= 0; --i) length = (length << 8U) | static_cast<unsigned char>(bytes[static_cast<std::size_t>(i)]);
    REQUIRE(length <= bytes.size() - 8);
    Safetensors file;
    file.header = nlohmann::json::parse(bytes.substr(8, length));
    file.data = bytes.substr(8 + length);
    return file;
  }

  [[nodiscard]] nlohmann::json metadata() const {
    return header.contains("__metadata__") ? header["__metadata__"] : nlohmann::json::object();
  }

  // The raw little-endian bytes of one tensor.
  [[nodiscard]] std::string tensor_bytes(const std::string& name) const {
    const auto offsets = header.at(name).at("data_offsets").get<std::vector<std::size_t>>();
    REQUIRE(offsets.size() == 2);
    REQUIRE(offsets[0] <= offsets[1]);
    REQUIRE(offsets[1] <= data.size());
    return data.substr(offsets[0], offsets[1] - offsets[0]);
  }

  // The values of an F32 tensor (the host is little-endian, as the format).
  [[nodiscard]] std::vector<float> floats(const std::string& name) const {
    REQUIRE(header.at(name).at("dtype") == "F32");
    const std::string bytes = tensor_bytes(name);
    std::vector<float> values(bytes.size() / sizeof(float));
    std::memcpy(values.data(), bytes.data(), values.size() * sizeof(float));
    return values;
  }
};

// Splits one CSV line (RFC 4180 quoting, no embedded line ends) into fields.
inline std::vector<std::string> csv_fields(std::string_view line) {
  std::vector<std::string> fields(1);
  bool quoted = false;
  for (std::size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (quoted) {
      if (c == '"' && i + 1 < line.size() && line[i + 1] == '"') {
        fields.back() += '"';
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        fields.back() += c;
      }
    } else if (c == '"') {
      quoted = true;
    } else if (c == ',') {
      fields.emplace_back();
    } else {
      fields.back() += c;
    }
  }
  return fields;
}

// Splits text into lines ending in CRLF; the last line must end in CRLF too.
inline std::vector<std::string> crlf_lines(const std::string& text) {
  std::vector<std::string> lines;
  std::size_t begin = 0;
  while (begin < text.size()) {
    const std::size_t end = text.find("\r\n", begin);
    REQUIRE_MESSAGE(end != std::string::npos, "a CSV line does not end in CRLF: ", text.substr(begin, 80));
    lines.push_back(text.substr(begin, end - begin));
    begin = end + 2;
  }
  return lines;
}

struct PngSize {
  std::uint32_t width = 0;
  std::uint32_t height = 0;
};

// Checks the PNG signature and reads the size from the IHDR chunk, which must come first.
inline PngSize png_size(const std::string& bytes) {
  const std::string_view signature("\x89PNG\r\n\x1a\n", 8);
  REQUIRE(bytes.size() >= 33);  // signature, IHDR length, type, 13 data bytes, CRC
  REQUIRE(std::string_view(bytes).substr(0, 8) == signature);
  REQUIRE(std::string_view(bytes).substr(12, 4) == "IHDR");
  auto big_endian = [&bytes](std::size_t at) {
    std::uint32_t value = 0;
    for (std::size_t i = 0; i < 4; ++i) value = (value << 8U) | static_cast<unsigned char>(bytes[at + i]);
    return value;
  };
  REQUIRE(big_endian(8) == 13);
  return PngSize{big_endian(16), big_endian(20)};
}

// Checks that the tags of an XML document nest, so every start tag is closed by an end tag of the
// same name, in order. Returns an empty string when they do, else what went wrong. Declarations,
// comments and CDATA are skipped, and attribute values must not contain '>'.
inline std::string xml_nesting_problem(const std::string& text) {
  std::vector<std::string> open;
  std::size_t at = 0;
  while ((at = text.find('<', at)) != std::string::npos) {
    if (text.compare(at, 4, "<!--") == 0) {
      at = text.find("-->", at);
      if (at == std::string::npos) return "unterminated comment";
      continue;
    }
    if (text.compare(at, 9, "<![CDATA[") == 0) {
      at = text.find("]]>", at);
      if (at == std::string::npos) return "unterminated CDATA";
      continue;
    }
    const std::size_t end = text.find('>', at);
    if (end == std::string::npos) return "unterminated tag at byte " + std::to_string(at);
    const std::string tag = text.substr(at + 1, end - at - 1);
    at = end + 1;
    if (tag.empty() || tag[0] == '?' || tag[0] == '!') continue;
    if (tag[0] == '/') {
      const std::string name = tag.substr(1, tag.find_first_of(" \t\r\n", 1) - 1);
      if (open.empty()) return "end tag </" + name + "> without a start tag";
      if (open.back() != name) return "end tag </" + name + "> closes <" + open.back() + ">";
      open.pop_back();
      continue;
    }
    if (tag.back() == '/') continue;  // empty-element tag
    open.push_back(tag.substr(0, tag.find_first_of(" \t\r\n/")));
  }
  if (!open.empty()) return "<" + open.back() + "> is never closed";
  return "";
}

}  // namespace sri_e2e
