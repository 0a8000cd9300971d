#pragma once

// The whole sri library. Include <sri/core.hpp> alone for the Eigen-only maths.

#include <sri/builtin_prompts.hpp>
#include <sri/core.hpp>
#include <sri/error.hpp>
#include <sri/version.hpp>
