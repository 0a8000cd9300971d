// sri run on the real Gemma 3 270M (Q4_K_M GGUF): the SentencePiece-style tokenizer, the Gemma
// chat format and the Gemma backbone through the tool, with 2 Alpaca and 2 AdvBench prompts and
// T = 32. Exits with 77 (skipped) when scripts/fetch-models.sh has not downloaded the model.

#include "e2e_support.hpp"

#include <sri/builtin_prompts.hpp>

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

namespace {

using nlohmann::json;
using sri_e2e::Safetensors;

namespace fs = std::filesystem;

constexpr int steps = 32;
constexpr int hidden_size = 640;  // Gemma 3 270M

fs::path gemma_path() { return fs::path(SRI_MODEL_CACHE) / "gemma-3-270m.Q4_K_M.gguf"; }

}  // namespace

TEST_CASE("gemma run writes centers and signals") {
  if (!fs::exists(gemma_path())) {
    std::fprintf(stderr, "skipped: %s is missing; run scripts/fetch-models.sh to download it\n", gemma_path().c_str());
    std::exit(77);
  }
  sri_e2e::Session session("gemma");
  const fs::path out = session / "gemma";
  const sri_e2e::RunResult result = session.run({"run", "--model", gemma_path().string(), "--harmless",
                                                 sri_e2e::shared_prompts("alpaca.json").string(), "--harmful",
                                                 sri_e2e::shared_prompts("advbench.csv").string(), "-n", "2",
                                                 "--threads", "2", "--allow-unfiltered", "--out", out.string()});
  INFO(session.commands());
  INFO("stderr: ", result.err);
  REQUIRE(result.exit_code == 0);
  CHECK(sri_e2e::contains(result.err, "(gemma3, hidden size 640, 18 layers)"));

  const Safetensors centers = Safetensors::read(out / "centers.safetensors");
  for (const char* name : {"harmless", "harmful"}) {
    INFO("tensor ", name);
    CHECK(centers.header[name]["shape"] == json::array({steps, hidden_size}));
    const std::vector<float> values = centers.floats(name);
    CHECK(std::all_of(values.begin(), values.end(), [](float v) { return std::isfinite(v); }));
  }
  const json meta = centers.metadata();
  CHECK(meta["model_name"] == "gemma-3-270m.Q4_K_M");
  CHECK(meta["pooling"] == "reference_running_mean");
  CHECK(json::parse(meta["profile"].get<std::string>())["sampler"] == "greedy");

  const json document = json::parse(sri_e2e::read_file(out / "signals.json"));
  REQUIRE(document["signals"].size() == sri::builtin::test_prompts.size());
  for (const json& record : document["signals"]) {
    INFO("record: ", record.dump());
    // Greedy decoding of a base model writes text; an empty response would mean the prompt ids
    // or the end ids are wrong.
    CHECK_FALSE(record["response"].get<std::string>().empty());
    CHECK(record["steps"].get<int>() >= 1);
    REQUIRE(record["signal"].size() == static_cast<std::size_t>(steps));
    for (const json& sigma : record["signal"]) {
      CHECK(sigma.get<double>() >= 0.0);
      CHECK(sigma.get<double>() <= 1.0);
    }
  }
  CHECK(sri_e2e::png_size(sri_e2e::read_file(out / "signal.png")).width > 0);
}

TEST_CASE("gemma sampled run repeats with seed") {
  if (!fs::exists(gemma_path())) std::exit(77);
  sri_e2e::Session session("gemma-sampled");
  auto args = [&](const std::string& folder) {
    return std::vector<std::string>{"run",           "--model",   gemma_path().string(),
                                    "-n",            "1",         "--steps",
                                    "8",             "--temperature", "0.8",
                                    "--seed",        "11",        "--threads",
                                    "2",             "--allow-unfiltered", "--out",
                                    (session / folder).string()};
  };
  const sri_e2e::RunResult first = session.run(args("first"));
  const sri_e2e::RunResult second = session.run(args("second"));
  INFO(session.commands());
  INFO("stderr: ", first.err, "\n", second.err);
  REQUIRE(first.exit_code == 0);
  REQUIRE(second.exit_code == 0);
  const json meta = Safetensors::read(session / "first" / "centers.safetensors").metadata();
  const json profile = json::parse(meta["profile"].get<std::string>());
  CHECK(profile["sampler"] == "multinomial");
  CHECK(profile["temperature"] == 0.8);
  CHECK(profile["seed"] == 11);
  CHECK(sri_e2e::read_file(session / "first" / "signals.json") ==
        sri_e2e::read_file(session / "second" / "signals.json"));
}
