// sri run with no model or prompt flags: the default model from the cache, the built-in harmless
// and harmful sets and the three built-in test prompts.

#include "e2e_support.hpp"

#include <sri/builtin_prompts.hpp>

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using sri_e2e::contains;

}  // namespace

TEST_CASE("run on embedded defaults") {
  sri_e2e::require_model_or_skip();
  // The tool looks for its default model in $SRI_CACHE_DIR/models, so the suite points it at the
  // folder above the test model cache.
  const fs::path cache = fs::path(SRI_MODEL_CACHE);
  if (cache.filename() != "models") {
    std::fprintf(stderr, "skipped: SRI_MODEL_CACHE (%s) is not a folder named 'models', so SRI_CACHE_DIR cannot "
                         "point the tool at it\n", cache.c_str());
    std::exit(77);
  }
  sri_e2e::Session session("defaults");
  session.set_env("SRI_CACHE_DIR", cache.parent_path().string());
  INFO(session.commands());

  const fs::path out = session / "out";
  const sri_e2e::RunResult result = session.run({"run", "--out", out.string(), "--threads", "2"});
  INFO("stderr: ", result.err);
  REQUIRE(result.exit_code == 0);
  for (const char* name : {"centers.safetensors", "signals.json", "signals.csv", "signal.png", "signal.svg"}) {
    INFO("file ", name);
    CHECK(fs::is_regular_file(out / name));
  }

  const json meta = sri_e2e::Safetensors::read(out / "centers.safetensors").metadata();
  INFO("centers metadata: ", meta.dump());
  CHECK(meta["model_name"] == "SmolLM2-135M-Instruct.Q4_1");
  const json harmless = json::parse(meta["harmless"].get<std::string>());
  const json harmful = json::parse(meta["harmful"].get<std::string>());
  CHECK(harmless["source"] == "builtin");
  CHECK(harmful["source"] == "builtin");
  CHECK(harmless["n"] == sri::builtin::harmless_prompts.size());
  CHECK(harmful["n"] == sri::builtin::harmful_prompts.size());

  const json signals = json::parse(sri_e2e::read_file(out / "signals.json"))["signals"];
  REQUIRE(signals.size() == sri::builtin::test_prompts.size());
  for (std::size_t i = 0; i < signals.size(); ++i) {
    const json& record = signals[i];
    INFO("signals[", i, "]: ", record.dump());
    CHECK(record["name"] == std::string(sri::builtin::test_prompts[i].label));
    CHECK(record["prompt"] == std::string(sri::builtin::test_prompts[i].text));
    CHECK(record["signal"].size() == 32);
    CHECK(record["response"].is_string());
  }

  // The summary table on standard output names each built-in test prompt.
  for (const auto& prompt : sri::builtin::test_prompts) {
    INFO("label ", prompt.label);
    CHECK(contains(result.out, std::string(prompt.label)));
  }
}
