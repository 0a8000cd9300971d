#pragma once

// The one exception type of sri. Every error carries a stable id ("sri.<area>.<name>") that
// docs/errors.md lists; the message says what was expected, what was found and how to fix it.

#include <stdexcept>
#include <string>
#include <string_view>

namespace sri {

class Error : public std::runtime_error {
 public:
  Error(std::string_view id, std::string_view message)
      : std::runtime_error(std::string("[") + std::string(id) + "] " + std::string(message)), id_(id),
        message_(message) {}

  // Stable identifier such as "sri.centers.shape_mismatch"; never changes between releases.
  [[nodiscard]] const std::string& id() const noexcept { return id_; }
  // The message without the "[id] " prefix that what() adds, for callers that add context.
  [[nodiscard]] const std::string& message() const noexcept { return message_; }

 private:
  std::string id_;
  std::string message_;
};

// Throws sri::Error; kept out of line in callers' hot paths by [[noreturn]].
[[noreturn]] inline void raise(std::string_view id, std::string_view message) { throw Error(id, message); }

}  // namespace sri
