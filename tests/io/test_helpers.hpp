#pragma once

// Helpers shared by the io test suites: a scratch folder per test and file read/write shortcuts.

#include <sri/error.hpp>

// libtorch's headers (ATen included) bring glog, whose CHECK macros abort the process instead of
// reporting a doctest failure. Test files include their sri headers before this one, and the glog
// names that doctest also defines are dropped here so that doctest's definitions win.
#undef CHECK
#undef CHECK_EQ
#undef CHECK_NE
#undef CHECK_LT
#undef CHECK_LE
#undef CHECK_GT
#undef CHECK_GE
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <sstream>
#include <string>
#include <string_view>

namespace sri::io::test {

inline const std::filesystem::path data_dir = std::filesystem::path(SRI_TEST_DATA_DIR) / "io" / "data";
inline const std::filesystem::path shared_data_dir = SRI_SHARED_DATA_DIR;

// A fresh folder under the system temporary folder, removed with its contents on destruction.
class ScratchFolder {
 public:
  ScratchFolder() {
    std::random_device seed;
    path_ = std::filesystem::temp_directory_path() / ("sri-io-test-" + std::to_string(seed()) + std::to_string(seed()));
    std::filesystem::create_directories(path_);
  }
  ScratchFolder(const ScratchFolder&) = delete;
  ScratchFolder& operator=(const ScratchFolder&) = delete;
  ~ScratchFolder() {
    std::error_code ignored;
    std::filesystem::permissions(path_, std::filesystem::perms::owner_all, std::filesystem::perm_options::add,
                                 ignored);
    std::filesystem::remove_all(path_, ignored);
  }
  [[nodiscard]] const std::filesystem::path& path() const { return path_; }
  [[nodiscard]] std::filesystem::path operator/(std::string_view name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

inline std::string read_bytes(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  REQUIRE_MESSAGE(in.good(), "cannot open " << path);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

inline void write_bytes(const std::filesystem::path& path, std::string_view bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  REQUIRE_MESSAGE(out.good(), "cannot write " << path);
}

// Number of entries in a folder (used to check that no temporary file is left behind).
inline std::size_t count_entries(const std::filesystem::path& folder) {
  std::size_t count = 0;
  for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator(folder)) ++count;
  return count;
}

// Runs `action`, requires that it throws sri::Error with `id`, and returns the message.
template <typename Action>
std::string error_message(Action&& action, std::string_view id) {
  try {
    action();
  } catch (const sri::Error& error) {
    CHECK_MESSAGE(error.id() == id, "message: " << std::string(error.what()));
    return error.what();
  }
  FAIL("expected sri::Error " << id << " but nothing was thrown");
  return {};
}

}  // namespace sri::io::test
