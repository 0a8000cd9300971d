// sri run, sri centers and sri signal on the tiny LLaDA and Dream checkpoints of tests/e2e/data
// (random weights, byte-level tokenizers, the real chat templates): the masked-diffusion
// compositions of the tool end to end, from center build to figure. The text is meaningless, so
// the suites check shapes, recorded profiles, reproducibility and the flag rules, not verdicts.

#include "e2e_support.hpp"

#include <sri/builtin_prompts.hpp>

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace {

using nlohmann::json;
using sri_e2e::contains;
using sri_e2e::RunResult;
using sri_e2e::Safetensors;

namespace fs = std::filesystem;

constexpr int hidden_size = 32;  // both tiny checkpoints
constexpr int steps = 8;
constexpr int gen_length = 16;

fs::path fixture(const std::string& name) { return fs::path(SRI_TEST_DATA_DIR) / "e2e" / "data" / name; }

std::vector<std::string> run_args(const std::string& model, const fs::path& out, std::initializer_list<std::string> more) {
  std::vector<std::string> args{"run",
                                "--model",
                                fixture(model).string(),
                                "--harmless",
                                sri_e2e::shared_prompts("alpaca.json").string(),
                                "--harmful",
                                sri_e2e::shared_prompts("advbench.csv").string(),
                                "-n",
                                "4",
                                "--batch-size",
                                "3",
                                "--allow-unfiltered",
                                "--out",
                                out.string()};
  args.insert(args.end(), more);
  return args;
}

// The runs the test cases inspect, made once.
struct Runs {
  sri_e2e::Session session{"diffusion"};
  RunResult llada;          // LLaDA sampler, two blocks, reference pooling
  RunResult llada_again;    // the same command into another folder
  RunResult llada_signal;   // sri signal --model with the centers of `llada`
  RunResult llada_guided;   // guidance, random remasking, temperature, committed positions, layer 1
  RunResult llada_ar;       // left to right on the LLaDA weights
  RunResult dream;          // Dream's entropy algorithm, one block by default
  RunResult dream_centers;  // sri centers with Dream's maskgit_plus algorithm
};

Runs& runs() {
  static const std::unique_ptr<Runs> instance = [] {
    auto r = std::make_unique<Runs>();
    Runs& x = *r;
    const std::string s = std::to_string(steps), g = std::to_string(gen_length);
    x.llada = x.session.run(run_args("llada-tiny-chat", x.session / "llada",
                                     {"--steps", s, "--gen-length", g, "--block-length", "8"}));
    x.llada_again = x.session.run(run_args("llada-tiny-chat", x.session / "llada-again",
                                           {"--steps", s, "--gen-length", g, "--block-length", "8"}));
    x.llada_signal = x.session.run({"signal", "--model", fixture("llada-tiny-chat").string(), "--centers",
                                    (x.session / "llada" / "centers.safetensors").string(), "--json",
                                    (x.session / "llada-signal.json").string()});
    x.llada_guided = x.session.run(run_args("llada-tiny-chat", x.session / "llada-guided",
                                            {"--steps", s, "--gen-length", g, "--cfg-scale", "1.5", "--remasking",
                                             "random", "--temperature", "0.7", "--seed", "5", "--pooling",
                                             "committed_positions", "--layer", "1"}));
    x.llada_ar = x.session.run(
        run_args("llada-tiny-chat", x.session / "llada-ar", {"--sampling", "ar", "--steps", g, "--gen-length", g}));
    x.dream = x.session.run(
        run_args("dream-tiny-chat", x.session / "dream", {"--steps", s, "--gen-length", g, "--sampler", "entropy"}));
    x.dream_centers = x.session.run({"centers", "--model", fixture("dream-tiny-chat").string(), "--steps", s,
                                     "--gen-length", g, "--sampler", "maskgit_plus", "-n", "3", "--allow-unfiltered",
                                     "--out", (x.session / "dream-centers.safetensors").string()});
    return r;
  }();
  return *instance;
}

json parse_string_json(const json& value) {
  REQUIRE(value.is_string());
  return json::parse(value.get<std::string>());
}

json centers_metadata(const fs::path& file, int expected_steps) {
  const Safetensors centers = Safetensors::read(file);
  for (const char* name : {"harmless", "harmful"}) {
    INFO("tensor ", name);
    REQUIRE(centers.header.contains(name));
    CHECK(centers.header[name]["shape"] == json::array({expected_steps, hidden_size}));
    const std::vector<float> values = centers.floats(name);
    CHECK(std::all_of(values.begin(), values.end(), [](float v) { return std::isfinite(v); }));
    CHECK(std::any_of(values.begin(), values.end(), [](float v) { return v != 0.0F; }));
  }
  return centers.metadata();
}

// Checks every record of a signals.json written for the built-in test prompts.
void check_signals(const json& document, int expected_steps) {
  REQUIRE(document["signals"].is_array());
  const json& signals = document["signals"];
  REQUIRE(signals.size() == sri::builtin::test_prompts.size());
  for (const json& record : signals) {
    INFO("record: ", record.dump());
    CHECK(record["response"].is_string());
    CHECK(record["steps"] == expected_steps);
    REQUIRE(record["signal"].size() == static_cast<std::size_t>(expected_steps));
    for (const json& sigma : record["signal"]) {
      CHECK(sigma.get<double>() >= 0.0);
      CHECK(sigma.get<double>() <= 1.0);
    }
    REQUIRE(record["text_signal"].size() == static_cast<std::size_t>(expected_steps));
    double previous = 1.0;
    for (const json& value : record["text_signal"]) {
      const double v = value.get<double>();
      CHECK((v == 0.0 || v == 1.0));
      CHECK(v <= previous);  // committed text only grows, so a refusal phrase stays
      previous = v;
    }
  }
}

std::vector<std::vector<double>> sigmas(const json& document) {
  std::vector<std::vector<double>> out;
  for (const json& record : document["signals"]) out.push_back(record["signal"].get<std::vector<double>>());
  return out;
}

}  // namespace

TEST_CASE("llada run writes centers signals and figures") {
  Runs& r = runs();
  INFO(r.session.commands());
  INFO("stderr: ", r.llada.err);
  REQUIRE(r.llada.exit_code == 0);
  const fs::path out = r.session / "llada";
  for (const char* name : {"centers.safetensors", "signals.json", "signals.csv", "signal.png", "signal.svg"}) {
    INFO("file ", name);
    CHECK(fs::is_regular_file(out / name));
  }
  const sri_e2e::PngSize png = sri_e2e::png_size(sri_e2e::read_file(out / "signal.png"));
  CHECK(png.width > 0);
  CHECK(sri_e2e::xml_nesting_problem(sri_e2e::read_file(out / "signal.svg")).empty());

  const json meta = centers_metadata(out / "centers.safetensors", steps);
  CHECK(meta["model_name"] == "llada-tiny-chat");
  CHECK(meta["hook_point"] == "final_norm_out");
  CHECK(meta["pooling"] == "all_response_positions");
  const json profile = parse_string_json(meta["profile"]);
  CHECK(profile["sampler"] == "llada");
  CHECK(profile["steps"] == steps);
  CHECK(profile["gen_length"] == gen_length);
  CHECK(profile["block_length"] == 8);
  CHECK(parse_string_json(meta["harmless"])["n"] == 4);

  const json document = json::parse(sri_e2e::read_file(out / "signals.json"));
  check_signals(document, steps);
  CHECK(document["metadata"]["pooling"] == "all_response_positions");
}

TEST_CASE("llada run is reproducible") {
  Runs& r = runs();
  INFO(r.session.commands());
  REQUIRE(r.llada.exit_code == 0);
  REQUIRE(r.llada_again.exit_code == 0);
  CHECK(sri_e2e::read_file(r.session / "llada" / "signals.json") ==
        sri_e2e::read_file(r.session / "llada-again" / "signals.json"));
  const Safetensors first = Safetensors::read(r.session / "llada" / "centers.safetensors");
  const Safetensors second = Safetensors::read(r.session / "llada-again" / "centers.safetensors");
  CHECK(first.floats("harmless") == second.floats("harmless"));
  CHECK(first.floats("harmful") == second.floats("harmful"));
}

TEST_CASE("signal with llada centers repeats run") {
  Runs& r = runs();
  INFO(r.session.commands());
  INFO("stderr: ", r.llada_signal.err);
  REQUIRE(r.llada.exit_code == 0);
  REQUIRE(r.llada_signal.exit_code == 0);
  const json run = json::parse(sri_e2e::read_file(r.session / "llada" / "signals.json"));
  const json signal = json::parse(sri_e2e::read_file(r.session / "llada-signal.json"));
  CHECK(sigmas(signal) == sigmas(run));
  CHECK(signal["metadata"]["profile"]["sampler"] == "llada");
}

TEST_CASE("signal with dream centers on llada names the centers") {
  Runs& r = runs();
  REQUIRE(r.dream.exit_code == 0);
  const RunResult result = r.session.run({"signal", "--model", fixture("llada-tiny-chat").string(), "--centers",
                                          (r.session / "dream" / "centers.safetensors").string(), "--prompt", "hello"});
  INFO(r.session.commands());
  INFO("stderr: ", result.err);
  CHECK(result.exit_code == 1);
  CHECK(contains(result.err, "[sri.cli.invalid_value] the centers "));
  CHECK(contains(result.err, "were built with settings that"));
  CHECK(contains(result.err, "--sampler entropy"));
}

TEST_CASE("llada guided run records its profile") {
  Runs& r = runs();
  INFO(r.session.commands());
  INFO("stderr: ", r.llada_guided.err);
  REQUIRE(r.llada_guided.exit_code == 0);
  const json meta = centers_metadata(r.session / "llada-guided" / "centers.safetensors", steps);
  CHECK(meta["pooling"] == "committed_positions");
  CHECK(meta["hook_point"] == "resid_post.1");
  const json profile = parse_string_json(meta["profile"]);
  CHECK(profile["cfg_scale"] == 1.5);
  CHECK(profile["remasking"] == "random");
  CHECK(profile["temperature"] == 0.7);
  CHECK(profile["seed"] == 5);
  CHECK(profile["block_length"] == gen_length);  // one block without --block-length
  check_signals(json::parse(sri_e2e::read_file(r.session / "llada-guided" / "signals.json")), steps);
}

TEST_CASE("llada left to right records sampler") {
  Runs& r = runs();
  INFO(r.session.commands());
  INFO("stderr: ", r.llada_ar.err);
  REQUIRE(r.llada_ar.exit_code == 0);
  const json meta = centers_metadata(r.session / "llada-ar" / "centers.safetensors", gen_length);
  CHECK(parse_string_json(meta["profile"])["sampler"] == "left_to_right");
  check_signals(json::parse(sri_e2e::read_file(r.session / "llada-ar" / "signals.json")), gen_length);
}

TEST_CASE("dream run and centers record algorithm") {
  Runs& r = runs();
  INFO(r.session.commands());
  INFO("stderr: ", r.dream.err, "\n", r.dream_centers.err);
  REQUIRE(r.dream.exit_code == 0);
  REQUIRE(r.dream_centers.exit_code == 0);
  const json meta = centers_metadata(r.session / "dream" / "centers.safetensors", steps);
  CHECK(meta["model_name"] == "dream-tiny-chat");
  CHECK(meta["pooling"] == "all_response_positions");
  CHECK(parse_string_json(meta["profile"])["sampler"] == "dream_entropy");
  check_signals(json::parse(sri_e2e::read_file(r.session / "dream" / "signals.json")), steps);

  const json built = centers_metadata(r.session / "dream-centers.safetensors", steps);
  CHECK(parse_string_json(built["profile"])["sampler"] == "dream_maskgit_plus");
  CHECK(parse_string_json(built["harmless"])["n"] == 3);
}

TEST_CASE("diffusion flags are checked before loading") {
  sri_e2e::Session session("diffusion-flags");
  INFO(session.commands());
  const std::string llada = fixture("llada-tiny-chat").string();
  const std::string dream = fixture("dream-tiny-chat").string();
  struct Case {
    std::string name;
    std::vector<std::string> args;
    std::vector<std::string> expected;  // parts of standard error
  };
  const std::vector<Case> cases{
      {"guidance on dream", {"run", "--model", dream, "--cfg-scale", "1"}, {"[sri.cli.invalid_value]", "--cfg-scale 1"}},
      {"sampler on llada", {"run", "--model", llada, "--sampler", "entropy"}, {"[sri.cli.invalid_value]", "--sampler"}},
      {"unknown dream algorithm",
       {"run", "--model", dream, "--sampler", "fastest"},
       {"[sri.cli.invalid_value]", "'fastest'", "entropy"}},
      {"left to right with fewer steps",
       {"run", "--model", llada, "--sampling", "ar", "--steps", "8"},
       {"[sri.cli.invalid_value]", "--steps (8)", "--gen-length (128)"}},
      {"autoregressive pooling on llada",
       {"run", "--model", llada, "--pooling", "reference_running_mean"},
       {"[sri.cli.invalid_value]", "all_response_positions"}},
      {"steps not divisible by blocks",
       {"run", "--model", llada, "--steps", "5", "--gen-length", "16", "--block-length", "8"},
       {"[sri.cli.invalid_value]", "--steps 5", "number of blocks 2"}},
      {"gen length beyond context",
       {"run", "--model", llada, "--gen-length", "100000000"},
       {"[sri.cli.invalid_value]", "--gen-length 100000000", "context length 512"}},
      {"more steps than tokens",
       {"run", "--model", llada, "--steps", "32", "--gen-length", "16"},
       {"[sri.cli.invalid_value]", "--steps 32 exceeds --gen-length 16"}},
      {"block length on dream",
       {"run", "--model", dream, "--steps", "8", "--gen-length", "16", "--block-length", "4"},
       {"[sri.cli.invalid_value]", "--block-length 4", "LLaDA sampler only"}},
      {"remasking with left to right",
       {"run", "--model", llada, "--sampling", "ar", "--steps", "16", "--gen-length", "16", "--remasking", "random"},
       {"[sri.cli.invalid_value]", "--remasking random", "--sampling ar"}},
      {"layer beyond the model",
       {"run", "--model", llada, "--steps", "8", "--gen-length", "16", "--layer", "2"},
       {"[sri.cli.invalid_value]", "--layer 2", "2 decoder layers"}},
      {"mask token in a test prompt",
       {"run", "--model", llada, "--steps", "8", "--gen-length", "16", "-n", "2", "--prompt", "hi <|mdm_mask|> there",
        "--out", (session / "mask").string()},
       {"[sri.wrapper.prompt_contains_mask]", "prompt 1 of the test prompts", "id 314"}},
      {"centers out is a folder",
       {"centers", "--model", llada, "--steps", "8", "--gen-length", "16", "--out", session.root().string() + "/"},
       {"[sri.cli.invalid_value]", "is a folder"}},
  };
  for (const Case& c : cases) {
    INFO("case: ", c.name);
    const RunResult result = session.run(c.args);
    INFO("stderr: ", result.err);
    CHECK(result.exit_code == 1);
    for (const std::string& part : c.expected) CHECK(contains(result.err, part));
    CHECK_FALSE(fs::exists(fs::path("results") / "llada-tiny-chat" / "centers.safetensors"));
  }
  // The mask check runs before the center build, so nothing was generated or saved.
  CHECK_FALSE(fs::exists(session / "mask" / "centers.safetensors"));
  CHECK_FALSE(fs::exists(session / "mask" / "centers.progress.safetensors"));
}

// Rewrites the JSON header of a safetensors file with `edit` applied; the data section is kept.
void edit_safetensors_header(const fs::path& path, const std::function<void(json&)>& edit) {
  Safetensors file = Safetensors::read(path);
  edit(file.header);
  const std::string header = file.header.dump();
  std::string bytes(8, '\0');
  std::uint64_t length = header.size();
  for (int i = 0; i < 8; ++i) bytes[static_cast<std::size_t>(i)] = static_cast<char>((length >> (8 * i)) & 0xFFU);
  sri_e2e::write_file(path, bytes + header + file.data);
}

// A build that fails after generating (no harmful prompt refused, no --allow-unfiltered) keeps
// its progress file. A damaged count in that file must stop the rerun instead of giving centers
// that silently skip or repeat prompts.
TEST_CASE("damaged resume file is rejected") {
  sri_e2e::Session session("diffusion-resume");
  const fs::path out = session / "c.safetensors";
  const fs::path progress = session / "c.progress.safetensors";
  const std::vector<std::string> args{"centers", "--model", fixture("llada-tiny-chat").string(), "--steps", "8",
                                      "--gen-length", "16", "-n", "4", "--batch-size", "2", "--out", out.string()};
  const RunResult failed = session.run(args);
  INFO(session.commands());
  INFO("stderr: ", failed.err);
  REQUIRE(failed.exit_code == 1);
  REQUIRE(contains(failed.err, "[sri.centers.empty_filtered_set]"));
  REQUIRE(fs::exists(progress));

  edit_safetensors_header(progress, [](json& header) {
    json state = json::parse(header["__metadata__"]["sri_center_build"].get<std::string>());
    state["harmful_done"] = 3;  // not a batch boundary of 4 prompts in batches of 2
    header["__metadata__"]["sri_center_build"] = state.dump();
  });
  std::vector<std::string> rerun = args;
  rerun.push_back("--allow-unfiltered");
  const RunResult resumed = session.run(rerun);
  INFO("stderr: ", resumed.err);
  CHECK(resumed.exit_code == 1);
  CHECK(contains(resumed.err, "[sri.wrapper.resume_invalid]"));
  CHECK(contains(resumed.err, "harmful_done = 3"));
  CHECK_FALSE(fs::exists(out));
}
