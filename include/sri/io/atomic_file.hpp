#pragma once

// Atomic file replacement for every writer in sri: the bytes go to a temporary file in the target's
// folder, which is flushed to disk (fsync) and then renamed over the target. A reader therefore
// sees either the old file or the complete new one. On any failure the temporary file is removed
// and the old file is left untouched.

#include <sri/error.hpp>

#include <fmt/format.h>
#include <fmt/std.h>

#include <cerrno>
#include <cstddef>
#include <cstring>
#include <filesystem>
#include <random>
#include <string>
#include <string_view>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace sri::io {

// Streams bytes into a temporary file and publishes it under the target path on commit().
// Destroying an uncommitted writer discards the temporary file.
class AtomicWriter {
 public:
  // Creates the temporary file next to `target`. Throws sri.io.folder_not_found or
  // sri.io.folder_not_writable naming the folder.
  explicit AtomicWriter(std::filesystem::path target) : target_(std::move(target)) {
    if (target_.empty() || !target_.has_filename()) {
      raise("sri.io.write_failed", fmt::format("invalid output path {}; give a file name", target_));
    }
    std::filesystem::path folder = target_.parent_path();
    if (folder.empty()) folder = ".";
    std::error_code error;
    if (!std::filesystem::is_directory(folder, error)) {
      raise("sri.io.folder_not_found",
            fmt::format("cannot write {}: the folder {} does not exist; create it first", target_, folder));
    }
    if (std::filesystem::is_directory(target_, error)) {
      raise("sri.io.write_failed", fmt::format("cannot write {}: it is a folder; give a file name", target_));
    }

    // O_EXCL with a random suffix instead of mkstemp, so that the file gets mode 0666 minus the umask
    // like any other new file (mkstemp would create it with 0600).
    std::random_device seed;
    std::mt19937_64 generator(seed());
    for (int attempt = 0; attempt < 100; ++attempt) {
      temporary_ = folder / fmt::format(".{}.tmp-{:016x}", target_.filename().string(), generator());
      fd_ = ::open(temporary_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
      if (fd_ >= 0) return;
      if (errno != EEXIST) break;
    }
    const int code = errno;
    if (code == EACCES || code == EPERM || code == EROFS) {
      raise("sri.io.folder_not_writable",
            fmt::format("cannot write {}: the folder {} is not writable ({}); choose another output folder or fix "
                        "its permissions",
                        target_, folder, std::strerror(code)));
    }
    raise("sri.io.write_failed",
          fmt::format("cannot create a temporary file in {} for {}: {}", folder, target_, std::strerror(code)));
  }

  AtomicWriter(const AtomicWriter&) = delete;
  AtomicWriter& operator=(const AtomicWriter&) = delete;

  ~AtomicWriter() { discard(); }

  [[nodiscard]] const std::filesystem::path& target() const noexcept { return target_; }
  [[nodiscard]] const std::filesystem::path& temporary_path() const noexcept { return temporary_; }
  [[nodiscard]] std::size_t bytes_written() const noexcept { return written_; }

  // Appends bytes. On a failed write (disk full, I/O error) it discards the temporary file and throws
  // sri.io.write_failed.
  void write(const void* data, std::size_t size) {
    require_open("write");
    const auto* cursor = static_cast<const char*>(data);
    while (size > 0) {
      const ::ssize_t count = ::write(fd_, cursor, size);
      if (count < 0) {
        if (errno == EINTR) continue;
        fail("writing");
      }
      cursor += count;
      size -= static_cast<std::size_t>(count);
      written_ += static_cast<std::size_t>(count);
    }
  }

  void write(std::string_view bytes) { write(bytes.data(), bytes.size()); }

  // Flushes the data to disk and renames the temporary file over the target.
  void commit() {
    require_open("commit");
    if (::fsync(fd_) != 0) fail("flushing");
    if (::close(fd_) != 0) {
      fd_ = -1;
      fail("closing");
    }
    fd_ = -1;
    if (::rename(temporary_.c_str(), target_.c_str()) != 0) fail("renaming the temporary file to");
    temporary_.clear();
    committed_ = true;

    // Persist the rename itself. A failure here cannot undo the replacement, so it is ignored.
    std::filesystem::path folder = target_.parent_path();
    if (folder.empty()) folder = ".";
    const int folder_fd = ::open(folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (folder_fd >= 0) {
      ::fsync(folder_fd);
      ::close(folder_fd);
    }
  }

  // Closes and removes the temporary file; the target is not touched. Safe to call twice.
  void discard() noexcept {
    if (fd_ >= 0) {
      ::close(fd_);
      fd_ = -1;
    }
    if (!temporary_.empty()) {
      ::unlink(temporary_.c_str());
      temporary_.clear();
    }
  }

 private:
  void require_open(std::string_view operation) const {
    if (committed_ || temporary_.empty()) {
      raise("sri.io.write_failed",
            fmt::format("{} called on a writer for {} that was already committed or discarded", operation, target_));
    }
  }

  [[noreturn]] void fail(std::string_view operation) {
    const int code = errno;
    discard();
    raise("sri.io.write_failed", fmt::format("failed {} {}: {}; the previous file, if any, is unchanged", operation,
                                             target_, std::strerror(code)));
  }

  std::filesystem::path target_;
  std::filesystem::path temporary_;
  int fd_ = -1;
  std::size_t written_ = 0;
  bool committed_ = false;
};

// Replaces the file at `path` with `bytes` atomically (see AtomicWriter).
inline void write_file_atomically(const std::filesystem::path& path, std::string_view bytes) {
  AtomicWriter writer(path);
  writer.write(bytes);
  writer.commit();
}

}  // namespace sri::io
