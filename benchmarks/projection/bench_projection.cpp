// Projection kernel benchmark: N = 1000 prompts x T = 32 steps x D in {576, 4096}.
//
//   BM_LibraryKernel        sri::SignalKernel<Cosine>::score_batch, one thread
//   BM_NaiveLibtorch        the reference's per-step loop written with ATen ops, one thread
//   BM_Triad                a[i] = b[i] + s * c[i] over arrays larger than the caches
//   BM_CenterAccumulation   sri::CenterAccumulator::add over the same activations
//
// Rates are in bytes of activations read per second (the triad counts its 2 reads and 1 write).

#include <sri/core.hpp>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <benchmark/benchmark.h>

#include <cstdint>
#include <map>
#include <memory>
#include <random>
#include <vector>

namespace {

constexpr Eigen::Index prompts = 1000;
constexpr Eigen::Index steps = 32;

struct Dataset {
  sri::RowMatrixXf activations;  // [prompts * steps, hidden]
  sri::CenterPair centers;       // [steps, hidden] each
};

// Standard normal activations and centers; generated once per hidden size and reused.
const Dataset& dataset(Eigen::Index hidden) {
  static std::map<Eigen::Index, std::unique_ptr<Dataset>> cache;
  auto& slot = cache[hidden];
  if (!slot) {
    slot = std::make_unique<Dataset>();
    std::mt19937 engine(static_cast<std::uint32_t>(hidden));
    std::normal_distribution<float> normal(0.0F, 1.0F);
    auto fill = [&](sri::RowMatrixXf& matrix, Eigen::Index rows) {
      matrix.resize(rows, hidden);
      for (Eigen::Index i = 0; i < matrix.size(); ++i) {
        matrix.data()[i] = normal(engine);
      }
    };
    fill(slot->activations, prompts * steps);
    fill(slot->centers.harmless, steps);
    fill(slot->centers.harmful, steps);
  }
  return *slot;
}

void BM_LibraryKernel(benchmark::State& state) {
  const Eigen::Index hidden = state.range(0);
  const Dataset& data = dataset(hidden);
  const sri::SignalKernel<sri::metric::Cosine> kernel(data.centers);
  sri::RowMatrixXf sigma(prompts, steps);  // [prompts, steps]
  for (auto _ : state) {
    kernel.score_batch(data.activations, sigma);
    benchmark::DoNotOptimize(sigma.data());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(state.iterations() * prompts * steps * hidden * static_cast<std::int64_t>(sizeof(float)));
  state.counters["prompts_per_second"] =
      benchmark::Counter(static_cast<double>(prompts), benchmark::Counter::kIsIterationInvariantRate);
}

// Runs the reference create_signal loop, step by step, with ATen in float32 on one thread.
void BM_NaiveLibtorch(benchmark::State& state) {
  const Eigen::Index hidden = state.range(0);
  const Dataset& data = dataset(hidden);
  at::set_num_threads(1);
  const double eps = 1e-8;
  const double sig_t = 0.1;
  // Zero-copy views over the Eigen buffers.
  const at::Tensor activations = at::from_blob(const_cast<float*>(data.activations.data()),
                                               {prompts, steps, hidden});  // [prompts, steps, hidden]
  const at::Tensor harmless = at::from_blob(const_cast<float*>(data.centers.harmless.data()),
                                            {steps, hidden});  // [steps, hidden]
  const at::Tensor harmful = at::from_blob(const_cast<float*>(data.centers.harmful.data()),
                                           {steps, hidden});  // [steps, hidden]
  auto cosine_distance = [eps](const at::Tensor& x, const at::Tensor& y) {  // x, y: [hidden]
    return 1.0 - at::dot(x / (x.norm() + eps), y / (y.norm() + eps));
  };
  std::vector<float> sigma(static_cast<std::size_t>(prompts * steps));  // [prompts * steps]
  for (auto _ : state) {
    for (Eigen::Index n = 0; n < prompts; ++n) {
      const at::Tensor prompt = activations[n];  // [steps, hidden]
      for (Eigen::Index t = 0; t < steps; ++t) {
        const at::Tensor x = prompt[t];  // [hidden]
        const at::Tensor d_harmless = cosine_distance(x, harmless[t]);
        const at::Tensor d_harmful = cosine_distance(x, harmful[t]);
        const at::Tensor logit = (at::log(d_harmful + eps) - at::log(d_harmless + eps)) / sig_t;
        sigma[static_cast<std::size_t>(n * steps + t)] = at::sigmoid(logit).item<float>();
      }
    }
    benchmark::DoNotOptimize(sigma.data());
  }
  state.SetBytesProcessed(state.iterations() * prompts * steps * hidden * static_cast<std::int64_t>(sizeof(float)));
  state.counters["prompts_per_second"] =
      benchmark::Counter(static_cast<double>(prompts), benchmark::Counter::kIsIterationInvariantRate);
}

// STREAM triad on float32 arrays of 2^25 elements (128 MiB each, 4x the 32 MiB L3 of the
// machine the results were taken on), one thread like the kernels above.
void BM_Triad(benchmark::State& state) {
  const std::size_t size = std::size_t{1} << 25;
  std::vector<float> a(size, 0.0F);
  std::vector<float> b(size, 1.0F);
  std::vector<float> c(size, 2.0F);
  const float scalar = 3.0F;
  for (auto _ : state) {
    float* out = a.data();
    const float* left = b.data();
    const float* right = c.data();
    for (std::size_t i = 0; i < size; ++i) {
      out[i] = left[i] + scalar * right[i];
    }
    benchmark::DoNotOptimize(a.data());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(3 * size * sizeof(float)));
}

void BM_CenterAccumulation(benchmark::State& state) {
  const Eigen::Index hidden = state.range(0);
  const Dataset& data = dataset(hidden);
  for (auto _ : state) {
    sri::CenterAccumulator accumulator(steps, hidden);
    for (Eigen::Index n = 0; n < prompts; ++n) {
      accumulator.add(data.activations.middleRows(n * steps, steps), n % 2 == 0 ? sri::PromptSet::harmless
                                                                                 : sri::PromptSet::harmful,
                      n % 3 == 0);
    }
    benchmark::DoNotOptimize(accumulator.groups().data());
  }
  state.SetBytesProcessed(state.iterations() * prompts * steps * hidden * static_cast<std::int64_t>(sizeof(float)));
}

}  // namespace

BENCHMARK(BM_Triad)->Unit(benchmark::kMillisecond)->MinTime(1.0);
BENCHMARK(BM_LibraryKernel)->Arg(576)->Arg(4096)->Unit(benchmark::kMillisecond)->MinTime(1.0);
BENCHMARK(BM_CenterAccumulation)->Arg(576)->Arg(4096)->Unit(benchmark::kMillisecond)->MinTime(1.0);
BENCHMARK(BM_NaiveLibtorch)->Arg(576)->Arg(4096)->Unit(benchmark::kMillisecond)->Iterations(1);

BENCHMARK_MAIN();
