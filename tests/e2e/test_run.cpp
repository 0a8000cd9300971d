// sri run on the real SmolLM2-135M-Instruct model with the first 8 Alpaca and 8 AdvBench prompts
// and T = 32 steps. The suites check the centers file, the signals JSON against the schema in
// docs/formats.md, the CSV against the JSON and the two figures. Reruns must give identical bytes.

#include "e2e_support.hpp"

#include <sri/builtin_prompts.hpp>

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

namespace {

using nlohmann::json;
using sri_e2e::contains;
using sri_e2e::RunResult;
using sri_e2e::Safetensors;

constexpr int steps = 32;         // T, the reference's default
constexpr int hidden_size = 576;  // SmolLM2-135M
constexpr int prompts_per_set = 8;

std::vector<std::string> run_args(const std::filesystem::path& out) {
  return {"run",
          "--model",
          sri_e2e::smollm2_path().string(),
          "--harmless",
          sri_e2e::shared_prompts("alpaca.json").string(),
          "--harmful",
          sri_e2e::shared_prompts("advbench.csv").string(),
          "-n",
          std::to_string(prompts_per_set),
          "--threads",
          "2",
          "--out",
          out.string()};
}

std::vector<std::string> with(std::vector<std::string> args, std::initializer_list<std::string> more) {
  args.insert(args.end(), more);
  return args;
}

// The runs every test case below inspects, made once.
struct Runs {
  sri_e2e::Session session{"run"};
  RunResult filtered;  // without --allow-unfiltered
  std::vector<std::string> files_after_failure;  // in the output folder, after the filtered run
  RunResult first;     // with --allow-unfiltered, in the same folder
  RunResult rebuilt;   // --rebuild into a second folder
  RunResult reused;    // the first folder again, without --rebuild
  std::filesystem::path first_out;
  std::filesystem::path rebuilt_out;
  std::string first_signals;  // signals.json of the first run, before the reuse run rewrites it
};

Runs& runs() {
  // A static unique_ptr, so the session's destructor removes the temporary folder at exit.
  static const std::unique_ptr<Runs> instance = [] {
    sri_e2e::require_model_or_skip();
    auto r = std::make_unique<Runs>();
    r->first_out = r->session / "first";
    r->rebuilt_out = r->session / "rebuilt";
    r->filtered = r->session.run(run_args(r->first_out));
    r->files_after_failure = sri_e2e::files_under(r->first_out);
    // The failed build leaves its resume file, so this run finishes from the saved sums instead of
    // generating the 16 prompts again. The rebuilt run below starts from nothing, so comparing the
    // two also checks that resuming gives the centers of an uninterrupted build.
    r->first = r->session.run(with(run_args(r->first_out), {"--allow-unfiltered"}));
    r->first_signals = sri_e2e::read_file(r->first_out / "signals.json");
    r->rebuilt = r->session.run(with(run_args(r->rebuilt_out), {"--allow-unfiltered", "--rebuild"}));
    r->reused = r->session.run(with(run_args(r->first_out), {"--allow-unfiltered"}));
    return r;
  }();
  return *instance;
}

json parse_string_json(const json& value) {
  REQUIRE(value.is_string());
  return json::parse(value.get<std::string>());
}

}  // namespace

// SmolLM2-135M-Instruct (Q4_1 GGUF, greedy, T = 32) refused none of the first 8 AdvBench goals
// and none of the first 8 Alpaca instructions when this test was written. The filtered harmful set
// is then empty, so the reference's filtering cannot build a harmful center. The run must stop
// with the core's error and the refusal counts, and leave no centers, signals or figures behind.
TEST_CASE("run without allow-unfiltered reports empty filtered set") {
  Runs& r = runs();
  INFO(r.session.commands());
  INFO("stderr: ", r.filtered.err);
  CHECK(r.filtered.exit_code == 1);
  CHECK(contains(r.filtered.err, "sri: error: [sri.centers.empty_filtered_set]"));
  CHECK(contains(r.filtered.err, "harmful refused 0 of 8"));
  CHECK(contains(r.filtered.err, "of 8, harmful"));  // the harmless count
  CHECK(contains(r.filtered.err, "--allow-unfiltered"));
  for (const std::string& file : r.files_after_failure) {
    INFO("left after the failure: ", file);
    CHECK(file == "centers.progress.safetensors");  // the resume state, kept for a rerun
  }
}

TEST_CASE("run with allow-unfiltered succeeds") {
  Runs& r = runs();
  INFO(r.session.commands());
  INFO("stderr: ", r.first.err);
  REQUIRE(r.first.exit_code == 0);
  REQUIRE(r.rebuilt.exit_code == 0);
  for (const char* name : {"centers.safetensors", "signals.json", "signals.csv", "signal.png", "signal.svg"}) {
    INFO("file ", name);
    CHECK(std::filesystem::is_regular_file(r.first_out / name));
  }
  CHECK_FALSE(std::filesystem::exists(r.first_out / "centers.progress.safetensors"));
  CHECK(contains(r.first.err, "refusal rates: harmless"));
  CHECK(contains(r.first.err, "resuming the center build from"));
}

TEST_CASE("run centers have shape and metadata") {
  Runs& r = runs();
  INFO(r.session.commands());
  const Safetensors centers = Safetensors::read(r.first_out / "centers.safetensors");
  for (const char* name : {"harmless", "harmful"}) {
    INFO("tensor ", name);
    REQUIRE(centers.header.contains(name));
    CHECK(centers.header[name]["dtype"] == "F32");
    CHECK(centers.header[name]["shape"] == json::array({steps, hidden_size}));
    const std::vector<float> values = centers.floats(name);
    REQUIRE(values.size() == static_cast<std::size_t>(steps * hidden_size));
    CHECK(std::all_of(values.begin(), values.end(), [](float v) { return std::isfinite(v); }));
    // Final-norm outputs are not all zero; a zero center would make every cosine distance 1.
    CHECK(std::any_of(values.begin(), values.end(), [](float v) { return v != 0.0F; }));
  }

  const json meta = centers.metadata();
  INFO("metadata: ", meta.dump());
  CHECK(meta["format"] == "sri.centers");
  CHECK(meta["model_name"] == "SmolLM2-135M-Instruct.Q4_1");
  CHECK(meta["hook_point"] == "final_norm_out");
  CHECK(meta["pooling"] == "reference_running_mean");
  CHECK(meta["hidden_size"] == std::to_string(hidden_size));
  CHECK(parse_string_json(meta["profile"])["steps"] == steps);

  const json harmless = parse_string_json(meta["harmless"]);
  const json harmful = parse_string_json(meta["harmful"]);
  CHECK(harmless["n"] == prompts_per_set);
  CHECK(harmful["n"] == prompts_per_set);
  CHECK(harmless["name"] == "alpaca");
  CHECK(harmful["name"] == "advbench");

  // The filtering mode follows from the refusal counts: a set falls back to its unfiltered mean
  // only when its filtered subset is empty.
  const bool harmless_empty = harmless["refused"] == harmless["n"];
  const bool harmful_empty = harmful["refused"] == 0;
  const std::string expected = harmless_empty && harmful_empty ? "unfiltered_both"
                               : harmless_empty                ? "unfiltered_harmless"
                               : harmful_empty                 ? "unfiltered_harmful"
                                                               : "reference";
  CHECK(meta["filtering"] == expected);
}

TEST_CASE("run signals json follows schema") {
  Runs& r = runs();
  INFO(r.session.commands());
  const json document = json::parse(r.first_signals);
  REQUIRE(document.is_object());
  REQUIRE(document.contains("signals"));
  REQUIRE(document["signals"].is_array());
  const json& signals = document["signals"];
  REQUIRE(signals.size() == sri::builtin::test_prompts.size());

  for (std::size_t i = 0; i < signals.size(); ++i) {
    const json& record = signals[i];
    INFO("signals[", i, "]: ", record.dump());
    REQUIRE(record.is_object());
    CHECK(record["name"] == std::string(sri::builtin::test_prompts[i].label));
    CHECK(record["prompt"] == std::string(sri::builtin::test_prompts[i].text));
    CHECK(record["response"].is_string());
    CHECK(record["refusal"].is_boolean());

    REQUIRE(record["signal"].is_array());
    REQUIRE(record["signal"].size() == static_cast<std::size_t>(steps));
    for (const json& sigma : record["signal"]) {
      REQUIRE(sigma.is_number());
      CHECK(sigma.get<double>() >= 0.0);
      CHECK(sigma.get<double>() <= 1.0);
    }

    // 1 until a refusal phrase appears in the text so far, then 0 for good.
    REQUIRE(record["text_signal"].is_array());
    REQUIRE(record["text_signal"].size() == static_cast<std::size_t>(steps));
    double previous = 1.0;
    for (const json& value : record["text_signal"]) {
      REQUIRE(value.is_number());
      const double v = value.get<double>();
      CHECK((v == 0.0 || v == 1.0));
      CHECK(v <= previous);
      previous = v;
    }
    if (record["refusal"].get<bool>()) CHECK(record["text_signal"].back() == 0);

    REQUIRE(record["steps"].is_number_integer());
    CHECK(record["steps"].get<int>() >= 1);
    CHECK(record["steps"].get<int>() <= steps);
  }

  REQUIRE(document["metadata"].is_object());
  const json& meta = document["metadata"];
  INFO("metadata: ", meta.dump());
  CHECK(meta["model"] == "SmolLM2-135M-Instruct.Q4_1");
  CHECK(meta["hook_point"] == "final_norm_out");
  CHECK(meta["pooling"] == "reference_running_mean");
  CHECK(meta["metric"] == "cosine");
  CHECK(meta["profile"]["steps"] == steps);
  CHECK(meta["centers"]["n_harmless"] == prompts_per_set);
  CHECK(meta["centers"]["n_harmful"] == prompts_per_set);
  const json centers_meta = Safetensors::read(r.first_out / "centers.safetensors").metadata();
  CHECK(meta["centers"]["filtering"] == centers_meta["filtering"]);
}

TEST_CASE("run signals csv matches json") {
  Runs& r = runs();
  INFO(r.session.commands());
  const json signals = json::parse(r.first_signals)["signals"];
  const std::vector<std::string> lines = sri_e2e::crlf_lines(sri_e2e::read_file(r.first_out / "signals.csv"));
  REQUIRE(lines.size() == 1 + signals.size() * steps);
  CHECK(lines[0] == "name,step,signal,text_signal");

  std::size_t line = 1;
  for (const json& record : signals) {
    for (int t = 0; t < steps; ++t, ++line) {
      INFO("CSV line ", line + 1, ": ", lines[line]);
      const std::vector<std::string> fields = sri_e2e::csv_fields(lines[line]);
      REQUIRE(fields.size() == 4);
      CHECK(fields[0] == record["name"].get<std::string>());
      CHECK(fields[1] == std::to_string(t));
      // Both files write the shortest decimal that reads back to the same double.
      CHECK(std::strtod(fields[2].c_str(), nullptr) == record["signal"][t].get<double>());
      CHECK(std::strtod(fields[3].c_str(), nullptr) == record["text_signal"][t].get<double>());
    }
  }
}

TEST_CASE("run figures are png and svg") {
  Runs& r = runs();
  INFO(r.session.commands());
  const sri_e2e::PngSize size = sri_e2e::png_size(sri_e2e::read_file(r.first_out / "signal.png"));
  CHECK(size.width == 960);    // the default width at scale 1
  CHECK(size.height >= 540);   // the default height; a tall legend may add rows

  const std::string svg = sri_e2e::read_file(r.first_out / "signal.svg");
  CHECK(contains(svg, "<svg"));
  CHECK(sri_e2e::xml_nesting_problem(svg).empty());
  INFO("nesting: ", sri_e2e::xml_nesting_problem(svg));
  CHECK(contains(svg, "Generation Step"));
  CHECK(contains(svg, "Refusal Score"));
  for (const auto& prompt : sri::builtin::test_prompts) {
    INFO("legend label ", prompt.label);
    CHECK(contains(svg, std::string(prompt.label)));
  }
}

TEST_CASE("rerun with rebuild is identical") {
  Runs& r = runs();
  INFO(r.session.commands());
  INFO("stderr of the rebuilt run: ", r.rebuilt.err);
  REQUIRE(r.rebuilt.exit_code == 0);
  CHECK_FALSE(contains(r.rebuilt.err, "reusing centers"));
  CHECK(r.first_signals == sri_e2e::read_file(r.rebuilt_out / "signals.json"));
  CHECK(sri_e2e::read_file(r.first_out / "signals.csv") == sri_e2e::read_file(r.rebuilt_out / "signals.csv"));

  const Safetensors first = Safetensors::read(r.first_out / "centers.safetensors");
  const Safetensors rebuilt = Safetensors::read(r.rebuilt_out / "centers.safetensors");
  for (const char* name : {"harmless", "harmful"}) {
    INFO("tensor ", name);
    CHECK(first.tensor_bytes(name) == rebuilt.tensor_bytes(name));  // bit-identical floats
  }
  CHECK(first.metadata() == rebuilt.metadata());
}

TEST_CASE("rerun reuses matching centers") {
  Runs& r = runs();
  INFO(r.session.commands());
  INFO("stderr of the reuse run: ", r.reused.err);
  REQUIRE(r.reused.exit_code == 0);
  CHECK(contains(r.reused.err, "reusing centers"));
  CHECK(r.first_signals == sri_e2e::read_file(r.first_out / "signals.json"));
}
