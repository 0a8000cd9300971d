#pragma once

// The terminal side of sri::ProgressCallback: a redrawn bar with counts, rate and ETA when the
// stream is a terminal, plain log lines otherwise, nothing under --quiet.

#include <sri/progress.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <string>

#include <sys/ioctl.h>
#include <unistd.h>

namespace sri::cli {

// Formats a duration as "42s", "3m07s" or "2h05m".
inline std::string format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0.0) return "?";
  const auto total = static_cast<long long>(std::llround(seconds));
  if (total < 60) return fmt::format("{}s", total);
  if (total < 3600) return fmt::format("{}m{:02}s", total / 60, total % 60);
  return fmt::format("{}h{:02}m", total / 3600, (total % 3600) / 60);
}

// Formats a rate with three significant digits, e.g. "4.12 prompts/s" or "1250 prompts/s".
inline std::string format_rate(double per_second, const std::string& unit) {
  if (!std::isfinite(per_second) || per_second <= 0.0) return fmt::format("- {}/s", unit);
  if (per_second >= 100.0) return fmt::format("{:.0f} {}/s", per_second, unit);
  if (per_second >= 10.0) return fmt::format("{:.1f} {}/s", per_second, unit);
  return fmt::format("{:.2f} {}/s", per_second, unit);
}

// Returns the counts, percentage, rate and ETA part shared by both display modes.
inline std::string format_progress_status(const Progress& progress, double elapsed_seconds) {
  const double rate = elapsed_seconds > 0.0 ? static_cast<double>(progress.done) / elapsed_seconds : 0.0;
  if (progress.total == 0) {
    return fmt::format("{} {}, {}, {} elapsed", progress.done, progress.unit, format_rate(rate, progress.unit),
                       format_duration(elapsed_seconds));
  }
  const double fraction = std::min(1.0, static_cast<double>(progress.done) / static_cast<double>(progress.total));
  std::string status = fmt::format("{}/{} {} ({:.0f}%), {}", progress.done, progress.total, progress.unit,
                                   100.0 * fraction, format_rate(rate, progress.unit));
  if (progress.done >= progress.total) {
    status += fmt::format(", took {}", format_duration(elapsed_seconds));
  } else {
    const double remaining = rate > 0.0 ? static_cast<double>(progress.total - progress.done) / rate : NAN;
    status += fmt::format(", ETA {}", format_duration(remaining));
  }
  return status;
}

// Returns one terminal line of at most `columns` characters: "stage [####....] status".
inline std::string format_progress_bar(const Progress& progress, double elapsed_seconds, std::size_t columns) {
  const std::string status = format_progress_status(progress, elapsed_seconds);
  const std::string prefix = progress.stage + " ";
  const std::size_t fixed = prefix.size() + status.size() + 3;  // "[", "]" and the space before the status
  if (progress.total == 0 || columns < fixed + 10) return (prefix + status).substr(0, std::max<std::size_t>(columns, 1));
  const std::size_t bar_width = std::min<std::size_t>(40, columns - fixed);
  const double fraction = std::min(1.0, static_cast<double>(progress.done) / static_cast<double>(progress.total));
  const auto filled = static_cast<std::size_t>(fraction * static_cast<double>(bar_width));
  return fmt::format("{}[{}{}] {}", prefix, std::string(filled, '#'), std::string(bar_width - filled, '.'), status);
}

// A ProgressCallback target. Terminal mode redraws one line at most 10 times a second. Line mode
// prints at most one line every 5 seconds per stage, plus a final line when the stage ends.
class ProgressBar {
 public:
  enum class Mode { silent, terminal, lines };

  // Picks terminal mode when `stream` is a terminal, line mode otherwise, silent under --quiet.
  static Mode mode_for(std::FILE* stream, bool quiet) {
    if (quiet) return Mode::silent;
    return ::isatty(::fileno(stream)) != 0 ? Mode::terminal : Mode::lines;
  }

  ProgressBar(std::FILE* stream, Mode mode) : stream_(stream), mode_(mode) {}
  ProgressBar(const ProgressBar&) = delete;
  ProgressBar& operator=(const ProgressBar&) = delete;
  ~ProgressBar() { finish(); }

  void operator()(const Progress& progress) {
    if (mode_ == Mode::silent) return;
    const auto now = Clock::now();
    if (progress.stage != stage_) {
      finish();
      stage_ = progress.stage;
      stage_start_ = now;
      // A terminal shows the bar at once; a log gets its first line only after one interval.
      last_draw_ = mode_ == Mode::terminal ? Clock::time_point{} : now;
    }
    const bool stage_done = progress.total > 0 && progress.done >= progress.total;
    const double since_draw = std::chrono::duration<double>(now - last_draw_).count();
    const double interval = mode_ == Mode::terminal ? 0.1 : 5.0;
    if (!stage_done && since_draw < interval) return;
    last_draw_ = now;
    const double elapsed = std::chrono::duration<double>(now - stage_start_).count();

    if (mode_ == Mode::terminal) {
      fmt::print(stream_, "\r{}\x1b[K", format_progress_bar(progress, elapsed, terminal_columns()));
      line_open_ = !stage_done;
      if (stage_done) fmt::print(stream_, "\n");
    } else {
      fmt::print(stream_, "{}: {}\n", progress.stage, format_progress_status(progress, elapsed));
    }
    std::fflush(stream_);
  }

  // Ends a bar line left open by a stage that did not reach its total (for example on an error).
  void finish() {
    if (line_open_) {
      fmt::print(stream_, "\n");
      std::fflush(stream_);
      line_open_ = false;
    }
  }

  [[nodiscard]] ProgressCallback callback() {
    return [this](const Progress& progress) { (*this)(progress); };
  }

 private:
  using Clock = std::chrono::steady_clock;

  std::size_t terminal_columns() const {
    winsize size{};
    if (::ioctl(::fileno(stream_), TIOCGWINSZ, &size) == 0 && size.ws_col > 0) return size.ws_col - 1;
    return 79;
  }

  std::FILE* stream_;
  Mode mode_;
  std::string stage_;
  Clock::time_point stage_start_;
  Clock::time_point last_draw_;
  bool line_open_ = false;
};

}  // namespace sri::cli
