#include <sri/io/torch_pt.hpp>

#include "test_helpers.hpp"

#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdlib>

using namespace sri::io::test;

namespace {

// The dtype of a tensor as libtorch spells it ("Float", "Half", "BFloat16"), for readable checks.
std::string dtype_name(const at::Tensor& tensor) { return c10::toString(tensor.scalar_type()); }

bool contains(const std::string& text, std::string_view part) { return text.find(part) != std::string::npos; }

// Compares every value exactly: the fixtures hold values that each dtype represents exactly.
void check_values(const at::Tensor& tensor, const nlohmann::json& want) {
  CHECK(tensor.sizes().vec() == want["shape"].get<std::vector<int64_t>>());
  const at::Tensor values = tensor.to(at::kDouble).contiguous().flatten();
  const auto want_values = want["values"].get<std::vector<double>>();
  REQUIRE(values.numel() == static_cast<int64_t>(want_values.size()));
  for (int64_t i = 0; i < values.numel(); ++i) CHECK(values[i].item<double>() == want_values[i]);
}

const nlohmann::json& expected_fixtures() {
  static const nlohmann::json expected = nlohmann::json::parse(read_bytes(data_dir / "torch_pt.expected.json"));
  return expected;
}

}  // namespace

TEST_CASE("torch centers read every dtype") {
  const auto& files = expected_fixtures()["files"];
  const std::vector<std::pair<std::string, at::ScalarType>> cases{
      {"centers_f32.pt", at::kFloat}, {"centers_f16.pt", at::kHalf}, {"centers_bf16.pt", at::kBFloat16}};
  for (const auto& [name, dtype] : cases) {
    CAPTURE(name);
    const auto centers = sri::io::read_torch_centers(data_dir / name);
    CHECK(dtype_name(centers.harmless) == c10::toString(dtype));
    CHECK(dtype_name(centers.harmful) == c10::toString(dtype));
    check_values(centers.harmless, files[name]["tensors"][0]);
    check_values(centers.harmful, files[name]["tensors"][1]);
  }
}

TEST_CASE("torch centers read reference files") {
  const auto golden = nlohmann::json::parse(read_bytes(data_dir / "reference_centers.golden.json"));
  const std::vector<std::pair<std::string, at::ScalarType>> cases{
      {"sri-signal_llama3-8b_centers.pt", at::kHalf}, {"sri-signal_llada-8b_centers.pt", at::kBFloat16}};
  for (const auto& [name, dtype] : cases) {
    CAPTURE(name);
    const auto path = shared_data_dir / "reference" / name;
    if (!std::filesystem::exists(path)) {
      MESSAGE("skipping: " << path << " is missing");
      continue;
    }
    const auto centers = sri::io::read_torch_centers(path);
    const auto& want = golden["files"][name];
    CHECK(want["dtype"] == (dtype == at::kHalf ? "float16" : "bfloat16"));
    const at::Tensor* tensors[2] = {&centers.harmless, &centers.harmful};
    for (int k = 0; k < 2; ++k) {
      CAPTURE(k);
      const at::Tensor& tensor = *tensors[k];
      const auto& expected = want["tensors"][k];
      CHECK(dtype_name(tensor) == c10::toString(dtype));
      REQUIRE(tensor.sizes().vec() == expected["shape"].get<std::vector<int64_t>>());
      const at::Tensor t64 = tensor.to(at::kDouble);  // [32, 4096]
      // Element values are exact: a float16/bfloat16 value converts to float64 without rounding.
      const auto first = expected["first_row"].get<std::vector<double>>();
      for (std::size_t j = 0; j < first.size(); ++j) CHECK(t64[0][static_cast<int64_t>(j)].item<double>() == first[j]);
      const auto last = expected["last_row"].get<std::vector<double>>();
      for (std::size_t j = 0; j < last.size(); ++j) {
        CHECK(t64[-1][4096 - static_cast<int64_t>(last.size() - j)].item<double>() == last[j]);
      }
      for (const auto& sample : expected["sampled"]) {
        CHECK(t64[sample[0].get<int64_t>()][sample[1].get<int64_t>()].item<double>() == sample[2].get<double>());
      }
      // Row sums differ only by float64 summation order: relative tolerance 1e-12.
      const at::Tensor sums = t64.sum(1);
      const auto want_sums = expected["row_sums"].get<std::vector<double>>();
      for (std::size_t t = 0; t < want_sums.size(); ++t) {
        CHECK(sums[static_cast<int64_t>(t)].item<double>() ==
              doctest::Approx(want_sums[t]).epsilon(1e-12));
      }
    }
  }
}

TEST_CASE("torch tensors read list with shared storage") {
  const auto& want = expected_fixtures()["files"]["activations_list.pt"]["tensors"];
  const auto tensors = sri::io::read_torch_tensors(data_dir / "activations_list.pt");
  REQUIRE(tensors.size() == 3);
  for (std::size_t i = 0; i < 3; ++i) {
    CHECK(tensors[i].first == std::to_string(i));
    check_values(tensors[i].second, want[i]);
  }
}

TEST_CASE("torch tensors read dict in insertion order") {
  const auto& want = expected_fixtures()["files"]["activations_dict.pt"]["tensors"];
  const auto tensors = sri::io::read_torch_tensors(data_dir / "activations_dict.pt");
  REQUIRE(tensors.size() == 2);
  CHECK(tensors[0].first == "second");
  CHECK(tensors[1].first == "first");
  check_values(tensors[0].second, want[0]);
  check_values(tensors[1].second, want[1]);
}

TEST_CASE("torch centers round trip") {
  ScratchFolder folder;
  for (const auto dtype : {at::kFloat, at::kHalf, at::kBFloat16}) {
    CAPTURE(dtype);
    const at::Tensor harmless = at::randn({4, 6}).to(dtype);
    const at::Tensor harmful = at::randn({6, 4}).t().to(dtype);  // non-contiguous input
    sri::io::write_torch_centers(folder / "c.pt", harmless, harmful);
    const auto centers = sri::io::read_torch_centers(folder / "c.pt");
    CHECK(dtype_name(centers.harmless) == c10::toString(dtype));
    CHECK(at::equal(centers.harmless, harmless));
    CHECK(at::equal(centers.harmful, harmful));
  }
  CHECK(count_entries(folder.path()) == 1);
}

TEST_CASE("torch tensor list round trip") {
  ScratchFolder folder;
  const std::vector<at::Tensor> tensors{at::randn({3, 5}), at::randn({1, 5}).to(at::kHalf), at::zeros({0, 5})};
  sri::io::write_torch_tensors(folder / "list.pt", tensors);
  const auto read = sri::io::read_torch_tensors(folder / "list.pt");
  REQUIRE(read.size() == 3);
  for (std::size_t i = 0; i < 3; ++i) CHECK(at::equal(read[i].second, tensors[i]));
}

TEST_CASE("torch centers reject wrong content") {
  ScratchFolder folder;
  SUBCASE("list file has three tensors") {
    const std::string message = error_message([&] { (void)sri::io::read_torch_centers(data_dir / "activations_list.pt"); },
                                              "sri.io.torch_pt_invalid");
    CHECK(contains(message, "a list of 3 values"));
    CHECK(contains(message, "activations_list.pt"));
  }
  SUBCASE("dict file") {
    const std::string message = error_message([&] { (void)sri::io::read_torch_centers(data_dir / "activations_dict.pt"); },
                                              "sri.io.torch_pt_invalid");
    CHECK(contains(message, "a dict of 2 entries"));
  }
  SUBCASE("mismatched shapes") {
    sri::io::write_torch_tensors(folder / "pair.pt", {at::zeros({2, 3}), at::zeros({2, 4})});
    const std::string message =
        error_message([&] { (void)sri::io::read_torch_centers(folder / "pair.pt"); }, "sri.io.torch_pt_invalid");
    CHECK(contains(message, "[2, 3]"));
    CHECK(contains(message, "[2, 4]"));
  }
  SUBCASE("one-dimensional center") {
    sri::io::write_torch_tensors(folder / "pair.pt", {at::zeros({3}), at::zeros({3})});
    const std::string message =
        error_message([&] { (void)sri::io::read_torch_centers(folder / "pair.pt"); }, "sri.io.torch_pt_invalid");
    CHECK(contains(message, "harmless"));
  }
  SUBCASE("integer center") {
    sri::io::write_torch_tensors(folder / "pair.pt", {at::zeros({2, 3}), at::zeros({2, 3}, at::kLong)});
    const std::string message =
        error_message([&] { (void)sri::io::read_torch_centers(folder / "pair.pt"); }, "sri.io.torch_pt_invalid");
    CHECK(contains(message, "harmful"));
    CHECK(contains(message, "Long"));
  }
  SUBCASE("not a zip") {
    write_bytes(folder / "legacy.pt", std::string("\x80\x02\x8a\x0a", 4) + std::string(60, 'x'));
    const std::string message =
        error_message([&] { (void)sri::io::read_torch_centers(folder / "legacy.pt"); }, "sri.io.torch_pt_invalid");
    CHECK(contains(message, "not a zip archive"));
  }
  SUBCASE("truncated zip") {
    const std::string bytes = read_bytes(data_dir / "centers_f32.pt");
    write_bytes(folder / "cut.pt", bytes.substr(0, bytes.size() / 2));
    const std::string message =
        error_message([&] { (void)sri::io::read_torch_centers(folder / "cut.pt"); }, "sri.io.torch_pt_invalid");
    CHECK(contains(message, "cut.pt"));
  }
  SUBCASE("missing file") {
    error_message([&] { (void)sri::io::read_torch_centers(folder / "absent.pt"); }, "sri.io.file_not_found");
  }
}

TEST_CASE("torch centers writer rejects bad tensors") {
  ScratchFolder folder;
  error_message([&] { sri::io::write_torch_centers(folder / "c.pt", at::zeros({2, 3}), at::zeros({3, 2})); },
                "sri.io.invalid_argument");
  error_message([&] { sri::io::write_torch_centers(folder / "c.pt", at::zeros({2, 3}, at::kDouble), at::zeros({2, 3})); },
                "sri.io.invalid_argument");
  error_message([&] { sri::io::write_torch_centers(folder / "c.pt", at::zeros({6}), at::zeros({6})); },
                "sri.io.invalid_argument");
  error_message([&] { sri::io::write_torch_centers(folder / "c.pt", at::Tensor(), at::zeros({2, 3})); },
                "sri.io.invalid_argument");
  CHECK(count_entries(folder.path()) == 0);
}

// Writes files for tests/io/data/check_interop.py, which loads them with Python's torch and
// safetensors. Skipped by default; run with
//   SRI_IO_INTEROP_DIR=/some/folder io_torch_pt_test --no-skip -tc="torch files for Python check"
TEST_CASE("torch files for Python check" * doctest::skip()) {
  const char* folder = std::getenv("SRI_IO_INTEROP_DIR");
  REQUIRE_MESSAGE(folder != nullptr, "set SRI_IO_INTEROP_DIR to the output folder");
  const std::filesystem::path out(folder);
  const at::Tensor base = at::arange(12, at::kFloat).reshape({3, 4}) * 0.125 - 0.5;  // [3, 4]
  sri::io::write_torch_centers(out / "cpp_centers_f32.pt", base, -2 * base + 1);
  sri::io::write_torch_centers(out / "cpp_centers_f16.pt", base.to(at::kHalf), (-2 * base + 1).to(at::kHalf));
  sri::io::write_torch_centers(out / "cpp_centers_bf16.pt", base.to(at::kBFloat16), (-2 * base + 1).to(at::kBFloat16));
  sri::io::write_torch_tensors(out / "cpp_list.pt", {base, base.to(at::kHalf), at::zeros({0, 4})});
}
