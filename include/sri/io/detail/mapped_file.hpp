#pragma once

// A read-only view of a whole file through mmap, shared by the format readers. The mapping is
// private (copy-on-write), so a caller that writes into a tensor view changes its own pages and
// never the file.

#include <sri/error.hpp>

#include <fmt/format.h>
#include <fmt/std.h>

#include <cerrno>
#include <cstddef>
#include <cstring>
#include <filesystem>
#include <memory>
#include <span>
#include <string>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

namespace sri::io::detail {

class MappedFile {
 public:
  // Maps `path`; throws sri.io.file_not_found or sri.io.read_failed.
  explicit MappedFile(std::filesystem::path path) : path_(std::move(path)) {
    const int fd = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      const int error = errno;
      if (error == ENOENT || error == ENOTDIR) {
        raise("sri.io.file_not_found", fmt::format("file not found: {}; check the path", path_));
      }
      raise("sri.io.read_failed",
            fmt::format("cannot open {}: {}; check that it exists and is readable", path_, std::strerror(error)));
    }
    struct stat status {};
    if (::fstat(fd, &status) != 0 || !S_ISREG(status.st_mode)) {
      ::close(fd);
      raise("sri.io.read_failed", fmt::format("{} is not a regular file; pass a file, not a folder or device", path_));
    }
    size_ = static_cast<std::size_t>(status.st_size);
    if (size_ > 0) {
      void* address = ::mmap(nullptr, size_, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
      if (address == MAP_FAILED) {
        const int error = errno;
        ::close(fd);
        raise("sri.io.read_failed", fmt::format("cannot memory-map {} ({} bytes): {}", path_, size_, std::strerror(error)));
      }
      data_ = static_cast<std::byte*>(address);
    }
    ::close(fd);  // the mapping stays valid after the descriptor is closed
  }

  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  ~MappedFile() {
    if (data_ != nullptr) ::munmap(data_, size_);
  }

  [[nodiscard]] const std::filesystem::path& path() const noexcept { return path_; }
  [[nodiscard]] std::size_t size() const noexcept { return size_; }
  [[nodiscard]] std::byte* data() const noexcept { return data_; }
  [[nodiscard]] std::span<const std::byte> bytes() const noexcept { return {data_, size_}; }

 private:
  std::filesystem::path path_;
  std::byte* data_ = nullptr;
  std::size_t size_ = 0;
};

}  // namespace sri::io::detail
