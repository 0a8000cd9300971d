// The tool's progress display: formatting of counts, rates and ETA, and the three modes.

#include "progress_bar.hpp"

#include <doctest/doctest.h>

#include <cstdio>
#include <string>

using sri::Progress;
using sri::cli::ProgressBar;

namespace {

std::string read_back(std::FILE* file) {
  std::fflush(file);
  std::rewind(file);
  std::string content;
  char buffer[256];
  std::size_t count = 0;
  while ((count = std::fread(buffer, 1, sizeof buffer, file)) > 0) content.append(buffer, count);
  return content;
}

}  // namespace

TEST_CASE("durations use s, m and h") {
  CHECK(sri::cli::format_duration(0.4) == "0s");
  CHECK(sri::cli::format_duration(42.0) == "42s");
  CHECK(sri::cli::format_duration(187.0) == "3m07s");
  CHECK(sri::cli::format_duration(7500.0) == "2h05m");
  CHECK(sri::cli::format_duration(-1.0) == "?");
  CHECK(sri::cli::format_duration(NAN) == "?");
}

TEST_CASE("rates keep three digits") {
  CHECK(sri::cli::format_rate(4.123, "prompts") == "4.12 prompts/s");
  CHECK(sri::cli::format_rate(41.23, "prompts") == "41.2 prompts/s");
  CHECK(sri::cli::format_rate(1250.4, "steps") == "1250 steps/s");
  CHECK(sri::cli::format_rate(0.0, "prompts") == "- prompts/s");
}

TEST_CASE("status shows counts, rate and ETA") {
  const Progress progress{"scoring", 30, 120, "prompts"};
  CHECK(sri::cli::format_progress_status(progress, 10.0) == "30/120 prompts (25%), 3.00 prompts/s, ETA 30s");
  const Progress finished{"scoring", 120, 120, "prompts"};
  CHECK(sri::cli::format_progress_status(finished, 40.0) == "120/120 prompts (100%), 3.00 prompts/s, took 40s");
  const Progress open_ended{"reading", 5, 0, "files"};
  CHECK(sri::cli::format_progress_status(open_ended, 2.0) == "5 files, 2.50 files/s, 2s elapsed");
}

TEST_CASE("bar fits the terminal width") {
  const Progress progress{"harmless center", 200, 400, "prompts"};
  for (const std::size_t columns : {20u, 60u, 79u, 200u}) {
    INFO("columns ", columns);
    const std::string line = sri::cli::format_progress_bar(progress, 50.0, columns);
    CHECK(line.size() <= columns);
    CHECK(line.rfind("harmless center", 0) == 0);
  }
  const std::string wide = sri::cli::format_progress_bar(progress, 50.0, 200);
  CHECK(wide.find("[####################....................]") != std::string::npos);
}

TEST_CASE("line mode prints the final line") {
  std::FILE* file = std::tmpfile();
  REQUIRE(file != nullptr);
  {
    ProgressBar bar(file, ProgressBar::Mode::lines);
    const auto callback = bar.callback();
    for (std::size_t done = 1; done <= 3; ++done) callback(Progress{"scoring", done, 3, "prompts"});
  }
  const std::string output = read_back(file);
  std::fclose(file);
  // Only the final report: the others fall inside the first 5-second interval.
  CHECK(output.find("scoring: 3/3 prompts (100%)") == 0);
  CHECK(output.find("1/3") == std::string::npos);
  CHECK(output.find("2/3") == std::string::npos);
  CHECK(output.back() == '\n');
  CHECK(output.find('\r') == std::string::npos);
}

TEST_CASE("terminal mode redraws one line") {
  std::FILE* file = std::tmpfile();
  REQUIRE(file != nullptr);
  {
    ProgressBar bar(file, ProgressBar::Mode::terminal);
    bar(Progress{"scoring", 1, 2, "prompts"});
    bar(Progress{"scoring", 2, 2, "prompts"});
  }
  const std::string output = read_back(file);
  std::fclose(file);
  CHECK(output.front() == '\r');
  CHECK(output.find("2/2 prompts (100%)") != std::string::npos);
  CHECK(output.back() == '\n');
}

TEST_CASE("unfinished stage closes its line") {
  std::FILE* file = std::tmpfile();
  REQUIRE(file != nullptr);
  {
    ProgressBar bar(file, ProgressBar::Mode::terminal);
    bar(Progress{"scoring", 1, 5, "prompts"});
  }
  const std::string output = read_back(file);
  std::fclose(file);
  CHECK(output.back() == '\n');
}

TEST_CASE("silent mode prints nothing") {
  std::FILE* file = std::tmpfile();
  REQUIRE(file != nullptr);
  {
    ProgressBar bar(file, ProgressBar::Mode::silent);
    bar(Progress{"scoring", 1, 1, "prompts"});
  }
  CHECK(read_back(file).empty());
  std::fclose(file);
}
