#include <sri/io/activations.hpp>
#include <sri/io/centers_file.hpp>

#include "test_helpers.hpp"

#include <nlohmann/json.hpp>

#include <cstdlib>

using namespace sri::io::test;
using sri::io::CentersSource;

namespace {

bool contains(const std::string& text, std::string_view part) { return text.find(part) != std::string::npos; }

const nlohmann::json& expected_fixtures() {
  static const nlohmann::json expected = nlohmann::json::parse(read_bytes(data_dir / "torch_pt.expected.json"));
  return expected;
}

// Compares a matrix with the expected values exactly (every fixture value is exact in float32).
void check_matrix(const sri::RowMatrixXf& matrix, const nlohmann::json& want) {
  const auto shape = want["shape"].get<std::vector<int64_t>>();
  REQUIRE(shape.size() == 2);
  CHECK(matrix.rows() == shape[0]);
  CHECK(matrix.cols() == shape[1]);
  const auto values = want["values"].get<std::vector<double>>();
  REQUIRE(static_cast<std::size_t>(matrix.size()) == values.size());
  for (std::size_t i = 0; i < values.size(); ++i) CHECK(static_cast<double>(matrix.data()[i]) == values[i]);
}

sri::CentersMetadata sample_metadata(int64_t steps, int64_t hidden) {
  sri::CentersMetadata metadata;
  metadata.model_identity = "sha256:0123abcd";
  metadata.model_name = "SmolLM2-135M-Instruct.Q4_1";
  metadata.hook_point = "final_norm_out";
  metadata.pooling = "reference_running_mean";
  metadata.hidden_size = hidden;
  metadata.profile.steps = steps;
  metadata.profile.temperature = 0.7;
  metadata.profile.seed = 18'446'744'073'709'551'615ULL;
  metadata.profile.eps = 1e-8;
  metadata.harmless = {"alpaca", "../shared/data/prompts/alpaca.json", 400, 3};
  metadata.harmful = {"advbench", "advbench.csv", 400, 391};
  metadata.filtering = sri::CenterFiltering::unfiltered_harmless;
  metadata.prompt_format = R"({"reference_double_bos":false,"system_prompt":"You are a helpful assistant"})";
  return metadata;
}

sri::CenterAccumulator sample_accumulator(int64_t steps, int64_t hidden) {
  sri::CenterAccumulator accumulator(steps, hidden);
  sri::RowMatrixXf run = sri::RowMatrixXf::Random(steps, hidden);  // [steps, hidden]
  accumulator.add(run, sri::PromptSet::harmless, false);
  accumulator.add(run * 2.0F, sri::PromptSet::harmful, true);
  accumulator.add(run * -1.0F, sri::PromptSet::harmful, true);
  return accumulator;
}

}  // namespace

TEST_CASE("activations read Python safetensors") {
  const auto& want = expected_fixtures()["files"]["activations.safetensors"]["tensors"];
  const auto records = sri::io::read_activations(data_dir / "activations.safetensors");
  REQUIRE(records.size() == 3);
  for (std::size_t i = 0; i < 3; ++i) {
    CHECK(records[i].name == want[i]["name"]);
    check_matrix(records[i].data, want[i]);
  }
}

TEST_CASE("activations read pt list and dict") {
  const auto& files = expected_fixtures()["files"];
  const auto list = sri::io::read_activations(data_dir / "activations_list.pt");
  REQUIRE(list.size() == 3);
  for (std::size_t i = 0; i < 3; ++i) {
    CHECK(list[i].name == std::to_string(i));
    check_matrix(list[i].data, files["activations_list.pt"]["tensors"][i]);
  }
  // The list fixture mixes [5, 4], [3, 4] and [2, 4] tensors: records may differ in shape.
  const auto named = sri::io::read_activations(data_dir / "activations_dict.pt");
  REQUIRE(named.size() == 2);
  CHECK(named[0].name == "second");
  check_matrix(named[0].data, files["activations_dict.pt"]["tensors"][0]);
  check_matrix(named[1].data, files["activations_dict.pt"]["tensors"][1]);
}

TEST_CASE("activations round trip and stacked tensor") {
  ScratchFolder folder;
  std::vector<sri::io::NamedActivations> records;
  for (int i = 0; i < 4; ++i) {
    records.push_back({"p" + std::to_string(3 - i), sri::RowMatrixXf::Random(5, 7)});  // [5, 7]
  }
  sri::io::write_activations(folder / "a.safetensors", records, {{"model", "test"}});
  const auto read = sri::io::read_activations(folder / "a.safetensors");
  REQUIRE(read.size() == 4);
  for (std::size_t i = 0; i < 4; ++i) {
    CHECK(read[i].name == records[i].name);
    CHECK(read[i].data == records[i].data);
  }

  const at::Tensor stacked = at::randn({3, 2, 6});  // [prompts, steps, hidden]
  sri::io::write_safetensors(folder / "stacked.safetensors", {{"activations", stacked}});
  const auto rows = sri::io::read_activations(folder / "stacked.safetensors");
  REQUIRE(rows.size() == 3);
  CHECK(rows[2].name == "2");
  CHECK(rows[2].data(1, 5) == stacked[2][1][5].item<float>());
}

TEST_CASE("activations reject bad content") {
  ScratchFolder folder;
  sri::io::write_safetensors(folder / "ints.safetensors", {{"a", at::zeros({2, 3}, at::kLong)}});
  CHECK(contains(error_message([&] { (void)sri::io::read_activations(folder / "ints.safetensors"); },
                               "sri.io.activations_invalid"),
                 "Long"));
  sri::io::write_safetensors(folder / "flat.safetensors", {{"a", at::zeros({2, 3})}, {"b", at::zeros({6})}});
  const std::string flat =
      error_message([&] { (void)sri::io::read_activations(folder / "flat.safetensors"); }, "sri.io.activations_invalid");
  CHECK(contains(flat, "'b'"));
  CHECK(contains(flat, "shape [6]"));
  sri::io::write_safetensors(folder / "none.safetensors", {});
  CHECK(contains(error_message([&] { (void)sri::io::read_activations(folder / "none.safetensors"); },
                               "sri.io.activations_invalid"),
                 "no tensors"));
  error_message([&] { (void)sri::io::read_activations(folder / "absent.safetensors"); }, "sri.io.file_not_found");
  write_bytes(folder / "junk.bin", "not a tensor file at all");
  error_message([&] { (void)sri::io::read_activations(folder / "junk.bin"); }, "sri.io.safetensors_invalid");
}

TEST_CASE("centers load reference pt") {
  for (const char* name : {"sri-signal_llama3-8b_centers.pt", "sri-signal_llada-8b_centers.pt"}) {
    CAPTURE(name);
    const auto path = shared_data_dir / "reference" / name;
    if (!std::filesystem::exists(path)) {
      MESSAGE("skipping: " << path << " is missing");
      continue;
    }
    const auto golden = nlohmann::json::parse(read_bytes(data_dir / "reference_centers.golden.json"))["files"][name];
    const sri::io::CentersFile file = sri::io::load_centers(path);
    CHECK(file.source == CentersSource::reference_pt);
    CHECK_FALSE(file.metadata.has_value());
    CHECK_FALSE(file.accumulator.has_value());
    CHECK(file.stored_dtype == (golden["dtype"] == "float16" ? "Half" : "BFloat16"));
    CHECK(file.centers.harmless.rows() == 32);
    CHECK(file.centers.harmless.cols() == 4096);
    // float16 and bfloat16 values are exact in float32.
    for (const auto& sample : golden["tensors"][1]["sampled"]) {
      CHECK(static_cast<double>(file.centers.harmful(sample[0].get<int>(), sample[1].get<int>())) ==
            sample[2].get<double>());
    }
    for (const auto& sample : golden["tensors"][0]["sampled"]) {
      CHECK(static_cast<double>(file.centers.harmless(sample[0].get<int>(), sample[1].get<int>())) ==
            sample[2].get<double>());
    }
  }
  const auto small = sri::io::load_centers(data_dir / "centers_bf16.pt");
  check_matrix(small.centers.harmless, expected_fixtures()["files"]["centers_bf16.pt"]["tensors"][0]);
  check_matrix(small.centers.harmful, expected_fixtures()["files"]["centers_bf16.pt"]["tensors"][1]);
}

TEST_CASE("centers round trip with metadata and state") {
  ScratchFolder folder;
  const sri::CenterAccumulator accumulator = sample_accumulator(3, 5);
  const sri::CentersResult built = accumulator.finalize();
  const sri::CentersMetadata metadata = sample_metadata(3, 5);
  sri::io::write_centers(folder / "c.safetensors", built.centers, metadata, &accumulator);

  const sri::io::CentersFile file = sri::io::load_centers(folder / "c.safetensors");
  CHECK(file.source == CentersSource::sri_safetensors);
  CHECK(file.centers.harmless == built.centers.harmless);
  CHECK(file.centers.harmful == built.centers.harmful);
  REQUIRE(file.metadata.has_value());
  const sri::CentersMetadata& read = *file.metadata;
  CHECK(read.model_identity == metadata.model_identity);
  CHECK(read.model_name == metadata.model_name);
  CHECK(read.hook_point == metadata.hook_point);
  CHECK(read.pooling == metadata.pooling);
  CHECK(read.judge == metadata.judge);
  CHECK(read.hidden_size == 5);
  CHECK(read.profile.steps == 3);
  CHECK(read.profile.temperature == 0.7);
  CHECK(read.profile.eps == 1e-8);
  CHECK(read.profile.seed == metadata.profile.seed);
  CHECK(read.profile.remasking == metadata.profile.remasking);
  CHECK(read.harmless.source == metadata.harmless.source);
  CHECK(read.harmful.n == 400);
  CHECK(read.harmful.refused == 391);
  CHECK(read.filtering == sri::CenterFiltering::unfiltered_harmless);
  CHECK(read.library_version == metadata.library_version);
  CHECK(read.prompt_format == metadata.prompt_format);
  CHECK_FALSE(read.prompt_format.empty());
  sri::check_compatible(read, {metadata.model_identity, "final_norm_out", metadata.pooling, 5, metadata.profile});

  REQUIRE(file.accumulator.has_value());
  for (std::size_t g = 0; g < sri::CenterAccumulator::group_count; ++g) {
    CAPTURE(g);
    CHECK((*file.accumulator)[g].sum == accumulator.groups()[g].sum);
    CHECK(((*file.accumulator)[g].count == accumulator.groups()[g].count).all());
    CHECK((*file.accumulator)[g].runs == accumulator.groups()[g].runs);
  }
  const auto resumed = sri::CenterAccumulator::from_groups(*file.accumulator).finalize();
  CHECK(resumed.centers.harmful == built.centers.harmful);

  // Metadata entries are readable strings for other tools.
  const sri::io::SafetensorsFile raw(folder / "c.safetensors");
  CHECK(raw.metadata().at("format") == "sri.centers");
  CHECK(raw.metadata().at("hidden_size") == "5");
  CHECK(nlohmann::json::parse(raw.metadata().at("harmful"))["refusal_rate"] == doctest::Approx(391.0 / 400.0));
}

TEST_CASE("centers without state and plain safetensors") {
  ScratchFolder folder;
  const sri::CentersResult built = sample_accumulator(2, 4).finalize();
  sri::io::write_centers(folder / "c.safetensors", built.centers, sample_metadata(2, 4));
  const auto file = sri::io::load_centers(folder / "c.safetensors");
  CHECK_FALSE(file.accumulator.has_value());
  CHECK(file.metadata.has_value());

  sri::io::write_safetensors(folder / "plain.safetensors",
                             {{"harmless", at::ones({2, 4}, at::kHalf)}, {"harmful", at::zeros({2, 4}, at::kHalf)}});
  const auto plain = sri::io::load_centers(folder / "plain.safetensors");
  CHECK(plain.source == CentersSource::plain_safetensors);
  CHECK_FALSE(plain.metadata.has_value());
  CHECK(plain.stored_dtype == "Half");
  CHECK(plain.centers.harmless(1, 3) == 1.0F);
}

TEST_CASE("centers reject bad files") {
  ScratchFolder folder;
  const sri::CentersResult built = sample_accumulator(2, 4).finalize();

  sri::io::write_safetensors(folder / "one.safetensors", {{"harmless", at::ones({2, 4})}});
  CHECK(contains(error_message([&] { (void)sri::io::load_centers(folder / "one.safetensors"); }, "sri.io.centers_invalid"),
                 "no 'harmful' tensor"));

  sri::io::write_safetensors(folder / "shape.safetensors", {{"harmless", at::ones({2, 4})}, {"harmful", at::ones({3, 4})}});
  CHECK(contains(error_message([&] { (void)sri::io::load_centers(folder / "shape.safetensors"); }, "sri.io.centers_invalid"),
                 "[3, 4]"));

  sri::io::write_safetensors(folder / "nan.safetensors",
                             {{"harmless", at::full({2, 4}, std::nanf(""))}, {"harmful", at::ones({2, 4})}});
  CHECK(contains(error_message([&] { (void)sri::io::load_centers(folder / "nan.safetensors"); }, "sri.io.centers_invalid"),
                 "NaN"));

  auto entries = sri::io::centers_metadata_entries(sample_metadata(2, 4));
  const auto harmless = at::from_blob(const_cast<float*>(built.centers.harmless.data()), {2, 4});
  const auto with_entries = [&](const std::map<std::string, std::string>& metadata) {
    sri::io::write_safetensors(folder / "m.safetensors", {{"harmless", harmless}, {"harmful", harmless}}, metadata);
    return error_message([&] { (void)sri::io::load_centers(folder / "m.safetensors"); }, "sri.io.centers_invalid");
  };
  auto altered = entries;
  altered["hidden_size"] = "8";
  CHECK(contains(with_entries(altered), "hidden_size = 8"));
  altered = entries;
  altered["format_version"] = "2";
  CHECK(contains(with_entries(altered), "format_version 2"));
  altered = entries;
  altered.erase("pooling");
  CHECK(contains(with_entries(altered), "'pooling'"));
  altered = entries;
  altered["profile"] = "{\"steps\": 2}";
  CHECK(contains(with_entries(altered), "no field 'gen_length'"));
  altered = entries;
  altered["harmful"] = "{not json";
  CHECK(contains(with_entries(altered), "not valid JSON"));
  altered = entries;
  altered["filtering"] = "loose";
  CHECK(contains(with_entries(altered), "'loose'"));
  altered = entries;
  altered["format"] = "other";
  CHECK(contains(with_entries(altered), "'other'"));

  error_message([&] { (void)sri::io::load_centers(folder / "absent.pt"); }, "sri.io.file_not_found");
  error_message([&] { (void)sri::io::load_centers(data_dir / "activations_list.pt"); }, "sri.io.torch_pt_invalid");
}

TEST_CASE("centers writer rejects inconsistent input") {
  ScratchFolder folder;
  const sri::CentersResult built = sample_accumulator(2, 4).finalize();
  CHECK(contains(error_message([&] { sri::io::write_centers(folder / "c.safetensors", built.centers, sample_metadata(3, 4)); },
                               "sri.io.invalid_argument"),
                 "steps = 3"));
  const sri::CenterAccumulator other = sample_accumulator(2, 5);
  error_message([&] { sri::io::write_centers(folder / "c.safetensors", built.centers, sample_metadata(2, 4), &other); },
                "sri.io.invalid_argument");
  sri::CenterPair uneven = built.centers;
  uneven.harmful = sri::RowMatrixXf::Zero(3, 4);
  error_message([&] { sri::io::write_centers(folder / "c.safetensors", uneven, sample_metadata(2, 4)); },
                "sri.io.centers_invalid");
  CHECK(count_entries(folder.path()) == 0);
}

// Writes a centers file for tests/io/data/check_interop.py. Skipped by default; see that script.
TEST_CASE("centers files for Python check" * doctest::skip()) {
  const char* folder = std::getenv("SRI_IO_INTEROP_DIR");
  REQUIRE_MESSAGE(folder != nullptr, "set SRI_IO_INTEROP_DIR to the output folder");
  sri::CenterPair centers{sri::RowMatrixXf(3, 4), sri::RowMatrixXf(3, 4)};
  for (int i = 0; i < 12; ++i) {
    centers.harmless.data()[i] = static_cast<float>(i) * 0.125F - 0.5F;
    centers.harmful.data()[i] = -2.0F * centers.harmless.data()[i] + 1.0F;
  }
  const sri::CenterAccumulator accumulator = sample_accumulator(3, 4);
  sri::io::write_centers(std::filesystem::path(folder) / "cpp_centers.safetensors", centers, sample_metadata(3, 4),
                         &accumulator);
}
