// Resuming a center build. sri centers on 16 + 16 prompts in batches of 4 is killed with SIGKILL
// after its first saved batch and started again with the same command. The second run must
// produce the centers of an uninterrupted build bit for bit and then remove its resume file.

#include "e2e_support.hpp"

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using sri_e2e::contains;
using sri_e2e::Safetensors;

// The build passes --allow-unfiltered because SmolLM2-135M-Instruct refuses few AdvBench goals, so
// the filtered harmful set may be empty. The filtering does not change how the sums are saved.
std::vector<std::string> centers_args(const fs::path& out) {
  return {"centers",
          "--model",
          sri_e2e::smollm2_path().string(),
          "--harmless",
          sri_e2e::shared_prompts("alpaca.json").string(),
          "--harmful",
          sri_e2e::shared_prompts("advbench.csv").string(),
          "-n",
          "16",
          "--batch-size",
          "4",
          "--allow-unfiltered",
          "--threads",
          "2",
          "--out",
          out.string()};
}

}  // namespace

TEST_CASE("killed center build resumes to same centers") {
  sri_e2e::require_model_or_skip();
  sri_e2e::Session session("resume");
  INFO(session.commands());

  const fs::path resumed = session / "resumed/centers.safetensors";
  const fs::path progress = session / "resumed/centers.progress.safetensors";
  const std::vector<std::string> args = centers_args(resumed);

  // Start the build and kill it as soon as the first batch's sums are saved.
  const sri_e2e::Child child = session.start(args);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(20);
  while (!fs::exists(progress) && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  const sri_e2e::RunResult killed = session.kill_now(child);
  INFO("stderr of the killed run: ", killed.err);
  REQUIRE_MESSAGE(fs::exists(progress), "the resume file never appeared");
  CHECK(killed.exit_code == -1);  // it died of the signal, not by finishing
  CHECK_FALSE(fs::exists(resumed));

  // The resume file records how far the build got. A kill right after the first batch leaves
  // most of the 32 prompts to do.
  const json saved = json::parse(Safetensors::read(progress).metadata().at("sri_center_build").get<std::string>());
  const int done = saved["harmless_done"].get<int>() + saved["harmful_done"].get<int>();
  MESSAGE("killed after ", done, " of 32 prompts");
  CHECK(done >= 4);
  CHECK(done < 32);

  const sri_e2e::RunResult second = session.run(args);
  INFO("stderr of the resumed run: ", second.err);
  REQUIRE(second.exit_code == 0);
  CHECK(contains(second.err, "resuming the center build from"));
  CHECK_FALSE(fs::exists(progress));

  const fs::path uninterrupted = session / "uninterrupted/centers.safetensors";
  const sri_e2e::RunResult whole = session.run(centers_args(uninterrupted));
  INFO("stderr of the uninterrupted run: ", whole.err);
  REQUIRE(whole.exit_code == 0);
  CHECK_FALSE(contains(whole.err, "resuming"));
  CHECK_FALSE(fs::exists(session / "uninterrupted/centers.progress.safetensors"));

  const Safetensors a = Safetensors::read(resumed);
  const Safetensors b = Safetensors::read(uninterrupted);
  for (const char* name : {"harmless", "harmful"}) {
    INFO("tensor ", name);
    CHECK(a.header.at(name) == b.header.at(name));                // dtype, shape, offsets
    CHECK(a.tensor_bytes(name) == b.tensor_bytes(name));          // bit-identical floats
  }
  CHECK(a.metadata() == b.metadata());
}
