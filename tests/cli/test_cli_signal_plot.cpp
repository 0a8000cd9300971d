// sri signal and sri plot, run as child processes on the reference's real Llama-3.1-8B centers
// ([32, 4096] float16). The activations are each center plus small Gaussian noise, so the
// harmless-like prompt scores near 1 and the harmful-like one near 0.

#include "run_sri.hpp"

#include <sri/io/activations.hpp>
#include <sri/io/torch_pt.hpp>

#include <cairo.h>
#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

namespace fs = std::filesystem;
using sri_test::run_sri;
using sri_test::Scratch;

namespace {

const fs::path reference_centers = fs::path(SRI_SHARED_DATA_DIR) / "reference/sri-signal_llama3-8b_centers.pt";

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

sri::RowMatrixXf with_noise(const sri::RowMatrixXf& center, float stddev, std::uint32_t seed) {
  std::mt19937 generator(seed);
  std::normal_distribution<float> noise(0.0F, stddev);
  sri::RowMatrixXf noisy = center;  // [steps, hidden]
  for (Eigen::Index i = 0; i < noisy.size(); ++i) noisy.data()[i] += noise(generator);
  return noisy;
}

struct Fixture {
  sri::RowMatrixXf harmless;  // [32, 4096]
  sri::RowMatrixXf harmful;   // [32, 4096]
};

const Fixture& fixture() {
  static const Fixture loaded = [] {
    const sri::io::TorchCenters centers = sri::io::read_torch_centers(reference_centers);
    return Fixture{sri::io::detail::to_row_matrix(centers.harmless), sri::io::detail::to_row_matrix(centers.harmful)};
  }();
  return loaded;
}

// Writes two prompts' activations (names "harmless_like" and "harmful_like") to `path`.
void write_two_prompts(const fs::path& path) {
  constexpr std::uint32_t seed = 20261204;
  MESSAGE("noise seed ", seed);
  sri::io::write_activations(path, {{"harmless_like", with_noise(fixture().harmless, 0.01F, seed)},
                                    {"harmful_like", with_noise(fixture().harmful, 0.01F, seed + 1)}});
}

nlohmann::json read_json(const fs::path& path) { return nlohmann::json::parse(sri_test::slurp(path)); }

struct PngSize {
  int width = 0;
  int height = 0;
};

PngSize png_size(const fs::path& path) {
  cairo_surface_t* surface = cairo_image_surface_create_from_png(path.c_str());
  REQUIRE(cairo_surface_status(surface) == CAIRO_STATUS_SUCCESS);
  const PngSize size{cairo_image_surface_get_width(surface), cairo_image_surface_get_height(surface)};
  cairo_surface_destroy(surface);
  return size;
}

}  // namespace

TEST_CASE("signal scores prompts near their centers") {
  REQUIRE(fs::exists(reference_centers));
  Scratch scratch("signal_good");
  write_two_prompts(scratch / "acts.safetensors");
  const auto result = run_sri(scratch, {"--quiet", "signal", "--centers", reference_centers.string(), "--activations",
                                        (scratch / "acts.safetensors").string(), "--json",
                                        (scratch / "signals.json").string(), "--csv", (scratch / "signals.csv").string()});
  INFO(result.err);
  REQUIRE(result.exit_code == 0);
  CHECK(result.out.empty());
  CHECK(result.err.empty());  // --quiet

  const nlohmann::json document = read_json(scratch / "signals.json");
  REQUIRE(document["signals"].size() == 2);
  CHECK(document["signals"][0]["name"] == "harmless_like");
  CHECK(document["signals"][1]["name"] == "harmful_like");
  const auto& harmless = document["signals"][0]["signal"];
  const auto& harmful = document["signals"][1]["signal"];
  REQUIRE(harmless.size() == 32);
  REQUIRE(harmful.size() == 32);
  for (std::size_t t = 0; t < 32; ++t) {
    INFO("step ", t);
    // Noise of 0.01 per element keeps each state far closer to its own center than to the other
    // (the centers' rows have norms of 50 to 90), so sigma saturates: tolerance 0.01.
    CHECK(harmless[t].get<double>() > 0.99);
    CHECK(harmful[t].get<double>() < 0.01);
  }
  CHECK(document["metadata"]["metric"] == "cosine");
  CHECK(document["metadata"]["sig_t"] == 0.1);

  const std::string csv = sri_test::slurp(scratch / "signals.csv");
  CHECK(csv.rfind("name,step,signal\r\n", 0) == 0);
  CHECK(contains(csv, "harmful_like,31,"));
}

TEST_CASE("signal reads safetensors centers") {
  Scratch scratch("signal_safetensors_centers");
  write_two_prompts(scratch / "acts.safetensors");
  // A plain safetensors file with "harmless" and "harmful" tensors, converted from the float16 .pt.
  sri::io::write_activations(scratch / "centers.safetensors",
                             {{"harmless", fixture().harmless}, {"harmful", fixture().harmful}});
  std::vector<nlohmann::json> documents;
  for (const fs::path& centers : {reference_centers, scratch / "centers.safetensors"}) {
    const auto output = scratch / "signals.json";
    const auto result = run_sri(scratch, {"-q", "signal", "--centers", centers.string(), "--activations",
                                          (scratch / "acts.safetensors").string(), "--json", output.string()});
    INFO(result.err);
    REQUIRE(result.exit_code == 0);
    documents.push_back(read_json(output));
  }
  // Both files hold the same float16 values, so the signals agree exactly.
  CHECK(documents[0]["signals"] == documents[1]["signals"]);
  CHECK(documents[0]["metadata"]["centers_source"] == "reference torch.save file");
  CHECK(documents[1]["metadata"]["centers_source"] == "safetensors without sri metadata");
}

TEST_CASE("signal prints a table without outputs") {
  Scratch scratch("signal_table");
  write_two_prompts(scratch / "acts.safetensors");
  const auto result = run_sri(scratch, {"signal", "--centers", reference_centers.string(), "--activations",
                                        (scratch / "acts.safetensors").string(), "--metric", "euclidean"});
  INFO(result.err);
  REQUIRE(result.exit_code == 0);
  CHECK(result.out.rfind("name", 0) == 0);
  CHECK(contains(result.out, "harmless_like     32   1.0000"));
  CHECK(contains(result.out, "harmful_like      32   0.0000"));
  // Standard error is not a terminal here, so progress comes as plain lines.
  CHECK(contains(result.err, "scoring: 2/2 prompts (100%)"));
}

TEST_CASE("signal rejects mismatched steps naming both") {
  Scratch scratch("signal_steps");
  sri::RowMatrixXf longer(40, 4096);  // [40, 4096]
  longer.topRows(32) = fixture().harmless;
  longer.bottomRows(8) = fixture().harmless.topRows(8);
  sri::io::write_activations(scratch / "acts.safetensors", {{"too_long", longer}});
  const auto result = run_sri(scratch, {"signal", "--centers", reference_centers.string(), "--activations",
                                        (scratch / "acts.safetensors").string(), "--json",
                                        (scratch / "signals.json").string()});
  CHECK(result.exit_code == 1);
  CHECK(contains(result.err, "[sri.cli.shape_mismatch]"));
  CHECK(contains(result.err, "'too_long'"));
  CHECK(contains(result.err, "[40 steps, 4096 hidden]"));
  CHECK(contains(result.err, "[32 steps, 4096 hidden]"));
  CHECK_FALSE(fs::exists(scratch / "signals.json"));
  CHECK(scratch.entries() == std::vector<std::string>{"acts.safetensors"});
}

TEST_CASE("signal rejects a mismatched hidden size") {
  Scratch scratch("signal_hidden");
  sri::io::write_activations(scratch / "acts.safetensors",
                             {{"small", sri::RowMatrixXf::Ones(32, 576)}});  // [32, 576]
  const auto result = run_sri(scratch, {"signal", "--centers", reference_centers.string(), "--activations",
                                        (scratch / "acts.safetensors").string()});
  CHECK(result.exit_code == 1);
  CHECK(contains(result.err, "[32 steps, 576 hidden]"));
  CHECK(contains(result.err, "[32 steps, 4096 hidden]"));
}

TEST_CASE("signal input file errors") {
  Scratch scratch("signal_inputs");
  write_two_prompts(scratch / "acts.safetensors");
  const std::string acts = (scratch / "acts.safetensors").string();

  SUBCASE("missing centers") {
    const auto missing = (scratch / "absent.pt").string();
    const auto result = run_sri(scratch, {"signal", "--centers", missing, "--activations", acts});
    CHECK(result.exit_code == 1);
    CHECK(contains(result.err, "[sri.cli.file_not_found] --centers"));
    CHECK(contains(result.err, missing));
  }
  SUBCASE("missing activations") {
    const auto result = run_sri(scratch, {"signal", "--centers", reference_centers.string(), "--activations",
                                          (scratch / "absent.safetensors").string()});
    CHECK(result.exit_code == 1);
    CHECK(contains(result.err, "[sri.cli.file_not_found] --activations"));
  }
  SUBCASE("centers with an unknown extension") {
    std::ofstream(scratch / "centers.bin") << "not centers";
    const auto result = run_sri(scratch, {"signal", "--centers", (scratch / "centers.bin").string(),
                                          "--activations", acts});
    CHECK(result.exit_code == 1);
    CHECK(contains(result.err, "[sri.cli.unsupported_extension] --centers"));
  }
  SUBCASE("corrupt centers") {
    std::ofstream(scratch / "centers.pt") << "PK but not a zip archive";
    const auto result = run_sri(scratch, {"signal", "--centers", (scratch / "centers.pt").string(),
                                          "--activations", acts});
    CHECK(result.exit_code == 1);
    CHECK(result.err.rfind("sri: error: ", 0) == 0);
  }
  SUBCASE("corrupt activations") {
    std::ofstream(scratch / "broken.safetensors") << "garbage";
    const auto result = run_sri(scratch, {"signal", "--centers", reference_centers.string(), "--activations",
                                          (scratch / "broken.safetensors").string()});
    CHECK(result.exit_code == 1);
    CHECK(contains(result.err, "sri.io.safetensors_invalid"));
  }
}

TEST_CASE("signal output errors leave no file") {
  Scratch scratch("signal_outputs");
  write_two_prompts(scratch / "acts.safetensors");
  const std::vector<std::string> base{"signal", "--centers", reference_centers.string(), "--activations",
                                      (scratch / "acts.safetensors").string()};
  const auto with = [&](std::vector<std::string> extra) {
    std::vector<std::string> args = base;
    args.insert(args.end(), extra.begin(), extra.end());
    return run_sri(scratch, args);
  };

  SUBCASE("json with the wrong extension") {
    const auto result = with({"--json", (scratch / "signals.txt").string()});
    CHECK(result.exit_code == 1);
    CHECK(contains(result.err, "[sri.cli.unsupported_extension] --json"));
  }
  SUBCASE("csv into a missing folder") {
    const auto result = with({"--csv", (scratch / "missing" / "signals.csv").string()});
    CHECK(result.exit_code == 1);
    CHECK(contains(result.err, "[sri.io.folder_not_found]"));
  }
  SUBCASE("json into a folder that is not writable") {
    // /sys rejects new files even for root, which ignores permission bits.
    const auto result = with({"--json", "/sys/signals.json"});
    CHECK(result.exit_code == 1);
    CHECK(contains(result.err, "[sri.io.folder_not_writable]"));
  }
  SUBCASE("valid json but invalid csv writes neither") {
    const auto result = with({"--json", (scratch / "signals.json").string(), "--csv",
                              (scratch / "missing" / "signals.csv").string()});
    CHECK(result.exit_code == 1);
  }
  CHECK(scratch.entries() == std::vector<std::string>{"acts.safetensors"});
}

TEST_CASE("signal flag values are checked") {
  Scratch scratch("signal_flags");
  for (const std::vector<std::string>& extra : {std::vector<std::string>{"--metric", "hamming"},
                                                std::vector<std::string>{"--sig-t", "0"},
                                                std::vector<std::string>{"--eps", "-1"},
                                                std::vector<std::string>{"--csv-layout", "tall"}}) {
    std::vector<std::string> args{"signal", "--centers", "c.pt", "--activations", "a.safetensors"};
    args.insert(args.end(), extra.begin(), extra.end());
    INFO(extra[0], " ", extra[1]);
    const auto result = run_sri(scratch, args);
    CHECK(result.exit_code == 2);
    CHECK(contains(result.err, extra[0]));
  }
}

TEST_CASE("plot draws png and svg from signal output") {
  Scratch scratch("plot_good");
  write_two_prompts(scratch / "acts.safetensors");
  REQUIRE(run_sri(scratch, {"-q", "signal", "--centers", reference_centers.string(), "--activations",
                            (scratch / "acts.safetensors").string(), "--json", (scratch / "signals.json").string()})
              .exit_code == 0);
  const auto result = run_sri(scratch, {"plot", "--signals", (scratch / "signals.json").string(), "--out",
                                        (scratch / "figure.png").string(), "--out", (scratch / "figure.svg").string(),
                                        "--title", "Reference centers", "--scale", "2", "--threshold", "0.3"});
  INFO(result.err);
  REQUIRE(result.exit_code == 0);
  const PngSize size = png_size(scratch / "figure.png");
  CHECK(size.width == 1920);
  CHECK(size.height == 1080);
  const std::string svg = sri_test::slurp(scratch / "figure.svg");
  CHECK(contains(svg, ">Reference centers</text>"));
  CHECK(contains(svg, ">harmless_like</text>"));
  CHECK(contains(svg, ">Refusal threshold 0.3</text>"));
}

TEST_CASE("plot draws text-level signals and prompts") {
  Scratch scratch("plot_text");
  std::ofstream(scratch / "run.json") << R"({"signals": [
    {"name": "0", "prompt": "Write a haiku", "signal": [0.9, 0.95, 0.97], "text_signal": [1, 1, 1]},
    {"name": "1", "prompt": "Build a weapon", "signal": [0.6, 0.2, 0.05], "text_signal": [1, 0, 0]}]})";
  const auto result = run_sri(scratch, {"plot", "--signals", (scratch / "run.json").string(), "--out",
                                        (scratch / "figure.svg").string(), "--text-signal"});
  INFO(result.err);
  REQUIRE(result.exit_code == 0);
  const std::string svg = sri_test::slurp(scratch / "figure.svg");
  CHECK(contains(svg, ">Write a haiku</text>"));
  CHECK(contains(svg, ">Text-level signal</text>"));
}

TEST_CASE("plot errors leave no file") {
  Scratch scratch("plot_errors");
  std::ofstream(scratch / "plain.json") << R"({"signals": [{"name": "a", "signal": [0.5, 0.6]}]})";
  std::ofstream(scratch / "broken.json") << R"({"signals": [{"name": "a", "signal": [0.5, )";
  std::ofstream(scratch / "high.json") << R"({"signals": [{"name": "a", "signal": [0.5, 1.5]}]})";
  const std::string plain = (scratch / "plain.json").string();
  const std::string figure = (scratch / "figure.png").string();
  const struct {
    std::vector<std::string> args;
    int exit_code;
    const char* expected;
  } cases[] = {
      {{"plot", "--signals", (scratch / "absent.json").string(), "--out", figure}, 1, "[sri.cli.file_not_found]"},
      {{"plot", "--signals", (scratch / "broken.json").string(), "--out", figure}, 1, "[sri.io.signals_invalid]"},
      {{"plot", "--signals", (scratch / "high.json").string(), "--out", figure}, 1, "[sri.plot.out_of_range]"},
      {{"plot", "--signals", plain, "--out", (scratch / "figure.jpg").string()}, 1,
       "[sri.plot.unsupported_extension]"},
      {{"plot", "--signals", plain, "--out", figure, "--out", (scratch / "figure.gif").string()}, 1,
       "[sri.plot.unsupported_extension]"},
      {{"plot", "--signals", plain, "--out", (scratch / "missing" / "figure.png").string()}, 1,
       "[sri.io.folder_not_found]"},
      {{"plot", "--signals", plain, "--out", figure, "--text-signal"}, 1, "[sri.cli.no_text_signal]"},
      {{"plot", "--signals", plain, "--out", figure, "--threshold", "0.7"}, 2, "--threshold"},
      {{"plot", "--signals", plain}, 2, "--out"},
  };
  for (const auto& one : cases) {
    INFO("expected ", one.expected);
    const auto result = run_sri(scratch, one.args);
    CHECK(result.exit_code == one.exit_code);
    CHECK(contains(result.err, one.expected));
    CHECK(scratch.entries().size() == 3);  // the three input files only
  }
}
