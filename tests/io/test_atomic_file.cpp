#include <sri/io/atomic_file.hpp>

#include "test_helpers.hpp"

#include <csignal>
#include <sys/resource.h>
#include <unistd.h>

using namespace sri::io::test;

TEST_CASE("write_file_atomically creates and replaces") {
  ScratchFolder folder;
  const auto target = folder / "out.txt";

  sri::io::write_file_atomically(target, "first");
  CHECK(read_bytes(target) == "first");

  sri::io::write_file_atomically(target, std::string(100'000, 'x'));
  CHECK(read_bytes(target) == std::string(100'000, 'x'));
  CHECK(count_entries(folder.path()) == 1);
}

TEST_CASE("write_file_atomically gives new files umask permissions") {
  ScratchFolder folder;
  const mode_t old_mask = ::umask(022);
  sri::io::write_file_atomically(folder / "mode.txt", "x");
  ::umask(old_mask);
  const auto perms = std::filesystem::status(folder / "mode.txt").permissions();
  using std::filesystem::perms;
  CHECK((perms & perms::owner_read) != perms::none);
  CHECK((perms & perms::group_read) != perms::none);
  CHECK((perms & perms::others_read) != perms::none);
  CHECK((perms & perms::group_write) == perms::none);
}

TEST_CASE("AtomicWriter without commit leaves old file") {
  ScratchFolder folder;
  const auto target = folder / "keep.txt";
  write_bytes(target, "old contents");
  {
    sri::io::AtomicWriter writer(target);
    writer.write("new contents that are never committed");
    CHECK(std::filesystem::exists(writer.temporary_path()));
    CHECK(writer.temporary_path().parent_path() == folder.path());
  }
  CHECK(read_bytes(target) == "old contents");
  CHECK(count_entries(folder.path()) == 1);
}

TEST_CASE("AtomicWriter streams several pieces") {
  ScratchFolder folder;
  sri::io::AtomicWriter writer(folder / "pieces.bin");
  writer.write("ab");
  const char raw[3] = {'\0', 'c', '\n'};
  writer.write(raw, sizeof raw);
  CHECK(writer.bytes_written() == 5);
  CHECK_FALSE(std::filesystem::exists(folder / "pieces.bin"));
  writer.commit();
  CHECK(read_bytes(folder / "pieces.bin") == std::string("ab\0c\n", 5));
  CHECK(count_entries(folder.path()) == 1);
  const std::string message = error_message([&] { writer.write("late"); }, "sri.io.write_failed");
  CHECK(message.find("already committed") != std::string::npos);
}

TEST_CASE("AtomicWriter write failure removes temporary file") {
  ScratchFolder folder;
  const auto target = folder / "big.bin";
  write_bytes(target, "previous");

  // RLIMIT_FSIZE makes write() fail with EFBIG once the file would exceed 1 KiB (SIGXFSZ ignored).
  struct rlimit old_limit {};
  REQUIRE(::getrlimit(RLIMIT_FSIZE, &old_limit) == 0);
  const auto old_handler = std::signal(SIGXFSZ, SIG_IGN);
  struct rlimit small = old_limit;
  small.rlim_cur = 1024;
  REQUIRE(::setrlimit(RLIMIT_FSIZE, &small) == 0);

  std::string message;
  try {
    sri::io::write_file_atomically(target, std::string(4096, 'y'));
  } catch (const sri::Error& error) {
    message = error.what();
    CHECK(error.id() == "sri.io.write_failed");
  }
  ::setrlimit(RLIMIT_FSIZE, &old_limit);
  std::signal(SIGXFSZ, old_handler);

  CHECK(message.find("big.bin") != std::string::npos);
  CHECK(message.find("unchanged") != std::string::npos);
  CHECK(read_bytes(target) == "previous");
  CHECK(count_entries(folder.path()) == 1);
}

TEST_CASE("AtomicWriter reports missing folder") {
  ScratchFolder folder;
  const auto missing = folder / "no-such-folder";
  const std::string message =
      error_message([&] { sri::io::write_file_atomically(missing / "x.txt", "x"); }, "sri.io.folder_not_found");
  CHECK(message.find("no-such-folder") != std::string::npos);
}

TEST_CASE("AtomicWriter reports unwritable folder") {
  ScratchFolder folder;
  std::filesystem::path locked = folder / "locked";
  std::filesystem::create_directory(locked);
  std::filesystem::permissions(locked, std::filesystem::perms::owner_read | std::filesystem::perms::owner_exec);
  // root ignores directory permissions, so use sysfs, which rejects new files even for root.
  if (::geteuid() == 0) locked = "/sys";
  const std::string message =
      error_message([&] { sri::io::write_file_atomically(locked / "x.txt", "x"); }, "sri.io.folder_not_writable");
  CHECK(message.find(locked.string()) != std::string::npos);
  CHECK(message.find("not writable") != std::string::npos);
}

TEST_CASE("AtomicWriter rejects a folder as target") {
  ScratchFolder folder;
  std::filesystem::create_directory(folder / "sub");
  error_message([&] { sri::io::write_file_atomically(folder / "sub", "x"); }, "sri.io.write_failed");
  error_message([&] { sri::io::write_file_atomically("", "x"); }, "sri.io.write_failed");
}
