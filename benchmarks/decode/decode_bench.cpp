// Prefill and decode tokens/s of sri::model::Llama with a KV cache, greedy, batch 1.
//
//   sri_decode_bench MODEL [--threads N] [--prompt-tokens P] [--decode-tokens N] [--repeats R]
//
// Prints one JSON object: best-of-R prefill and decode rates and the peak resident memory
// (VmHWM from /proc/self/status). The prompt is token ids 1000, 1001, ... so the Python side
// (hf_decode_bench.py) feeds the same ids.

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <string>

#include "sri/model/llama.hpp"
#if __has_include("sri/io/checkpoint.hpp")
#include "sri/io/checkpoint.hpp"
#define SRI_BENCH_HAS_CHECKPOINT 1
#else
#include "../../tests/model/gguf_weights.hpp"
#endif

namespace {

long peak_resident_kib() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stol(line.substr(6));
  }
  return -1;
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << "usage: sri_decode_bench MODEL [--threads N] [--prompt-tokens P] [--decode-tokens N] [--repeats R]\n";
    return 2;
  }
  int threads = 2;
  int64_t prompt_tokens = 64, decode_tokens = 64, repeats = 3;
  for (int i = 2; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    const long value = std::stol(argv[i + 1]);
    if (flag == "--threads") threads = static_cast<int>(value);
    else if (flag == "--prompt-tokens") prompt_tokens = value;
    else if (flag == "--decode-tokens") decode_tokens = value;
    else if (flag == "--repeats") repeats = value;
    else {
      std::cerr << "unknown option " << flag << "\n";
      return 2;
    }
  }

  auto load_start = std::chrono::steady_clock::now();
  const sri::model::RuntimeOptions options{at::kCPU, at::kFloat, threads};
#ifdef SRI_BENCH_HAS_CHECKPOINT
  auto checkpoint = sri::io::Checkpoint::open(argv[1]);
  auto model = sri::model::Llama::from_checkpoint(*checkpoint, options);
#else
  auto gguf = sri_test::open_gguf_llama(argv[1]);
  sri::model::Llama model(gguf.config, sri_test::weights_of_gguf(gguf), gguf.end_token_ids, options);
#endif
  const double load_seconds = seconds_since(load_start);

  at::Tensor prompt = at::arange(1000, 1000 + prompt_tokens, at::TensorOptions().dtype(at::kLong)).view({1, -1});  // [1, P]
  double best_prefill = 1e30, best_decode = 1e30;
  for (int64_t r = 0; r < repeats; ++r) {
    auto cache = model.make_cache(1, prompt_tokens + decode_tokens);
    auto start = std::chrono::steady_clock::now();
    auto out = model.forward({prompt, {}, 0, true}, &cache);
    best_prefill = std::min(best_prefill, seconds_since(start));

    start = std::chrono::steady_clock::now();
    for (int64_t s = 0; s < decode_tokens; ++s) {
      at::Tensor next = out.logits.select(1, 0).argmax(-1).view({1, 1});  // [1, 1]
      out = model.forward({next, {}, s + 1, true}, &cache);
    }
    best_decode = std::min(best_decode, seconds_since(start));
  }
  std::printf(
      "{\"implementation\": \"sri\", \"threads\": %d, \"prompt_tokens\": %ld, \"decode_tokens\": %ld, "
      "\"load_seconds\": %.3f, \"prefill_tokens_per_second\": %.2f, \"decode_tokens_per_second\": %.2f, "
      "\"peak_resident_mib\": %.1f}\n",
      threads, static_cast<long>(prompt_tokens), static_cast<long>(decode_tokens), load_seconds,
      static_cast<double>(prompt_tokens) / best_prefill, static_cast<double>(decode_tokens) / best_decode,
      static_cast<double>(peak_resident_kib()) / 1024.0);
  return 0;
}
