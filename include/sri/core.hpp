#pragma once

// The maths core of sri: distance metrics, step pooling rules, center accumulation, centers
// metadata, the SRI signal and the refusal judge. It needs Eigen and the standard library only,
// never prints and does no I/O, so activations produced anywhere can be scored without libtorch.

#include <sri/core/centers.hpp>
#include <sri/core/judge.hpp>
#include <sri/core/metadata.hpp>
#include <sri/core/metric.hpp>
#include <sri/core/pooling.hpp>
#include <sri/core/signal.hpp>
#include <sri/core/types.hpp>
#include <sri/error.hpp>
#include <sri/version.hpp>
