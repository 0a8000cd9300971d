#pragma once

namespace sri {

inline constexpr int version_major = 0;
inline constexpr int version_minor = 1;
inline constexpr int version_patch = 0;
// Library version recorded in every centers and signals file that sri writes.
inline constexpr const char* version_string = "0.1.0";

}  // namespace sri
