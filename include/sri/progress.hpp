#pragma once

// Progress reporting for long library calls (building centers, scoring many prompts). The library
// never prints: it calls a ProgressCallback, and the sri tool turns the calls into a progress bar.

#include <cstddef>
#include <functional>
#include <string>

namespace sri {

// One progress report: `done` of `total` units of the named stage are finished.
struct Progress {
  std::string stage;             // short name of the work, e.g. "harmless center" or "scoring"
  std::size_t done = 0;          // units finished so far
  std::size_t total = 0;         // units in the stage; 0 when the total is unknown
  std::string unit = "prompts";  // plural name of one unit, used in rates ("prompts/s")
};

// Called on the thread doing the work after each finished unit; the last call of a stage has
// done == total. An empty function disables reporting.
using ProgressCallback = std::function<void(const Progress&)>;

}  // namespace sri
