#include <sri/io/safetensors.hpp>

#include "test_helpers.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>

using namespace sri::io::test;
using sri::io::SafetensorsFile;

namespace {

// The dtype of a tensor as libtorch spells it ("Float", "Half", "BFloat16"), for readable checks.
std::string dtype_name(const at::Tensor& tensor) { return c10::toString(tensor.scalar_type()); }

// Builds a safetensors file from a header text and a data section; `length` overrides the 8-byte
// header length when given.
std::string make_raw(std::string_view header, std::string_view data, std::optional<std::uint64_t> length = {}) {
  const std::uint64_t n = length.value_or(header.size());
  std::string bytes;
  for (int i = 0; i < 8; ++i) bytes.push_back(static_cast<char>((n >> (8 * i)) & 0xFF));
  bytes.append(header);
  bytes.append(data);
  return bytes;
}

std::string invalid_message(std::string_view header, std::string_view data, std::optional<std::uint64_t> length = {}) {
  ScratchFolder folder;
  const auto path = folder / "bad.safetensors";
  write_bytes(path, make_raw(header, data, length));
  const std::string message = error_message([&] { SafetensorsFile file(path); }, "sri.io.safetensors_invalid");
  CHECK(message.find("bad.safetensors") != std::string::npos);
  return message;
}

bool contains(const std::string& text, std::string_view part) { return text.find(part) != std::string::npos; }

}  // namespace

TEST_CASE("safetensors reads Python fixture") {
  const auto expected = nlohmann::json::parse(read_bytes(data_dir / "mixed.expected.json"));
  SafetensorsFile file(data_dir / "mixed.safetensors");

  CHECK(file.metadata().size() == 2);
  CHECK(file.metadata().at("producer") == "make_safetensors_fixtures.py");
  CHECK(file.metadata().at("note") == "quote \" and unicode \xc3\xa9");

  // Header order as the Python writer produced it (sorted by alignment, then name).
  std::vector<std::string> names;
  for (const auto& info : file.tensors()) names.push_back(info.name);
  const std::vector<std::string> header_order{"ids.i64", "weights.f64", "empty",        "scalar",   "weights.f32",
                                              "ids.i32", "weights.bf16", "weights.f16", "flags.u8", "flags.bool"};
  CHECK(names == header_order);
  CHECK(file.tensors().size() == expected["tensors"].size());

  for (const auto& [name, want] : expected["tensors"].items()) {
    CAPTURE(name);
    REQUIRE(file.contains(name));
    const at::Tensor tensor = file.tensor(name);
    CHECK(tensor.sizes().vec() == want["shape"].get<std::vector<int64_t>>());
    CHECK(file.info(name).shape == want["shape"].get<std::vector<int64_t>>());
    // Every fixture value is exactly representable in its dtype, so the comparison is exact.
    if (tensor.is_floating_point()) {
      const at::Tensor values = tensor.to(at::kDouble).flatten();
      const auto want_values = want["values"].get<std::vector<double>>();
      REQUIRE(values.numel() == static_cast<int64_t>(want_values.size()));
      for (int64_t i = 0; i < values.numel(); ++i) CHECK(values[i].item<double>() == want_values[i]);
    } else {
      const at::Tensor values = tensor.to(at::kLong).flatten();
      const auto want_values = want["values"].get<std::vector<int64_t>>();
      REQUIRE(values.numel() == static_cast<int64_t>(want_values.size()));
      for (int64_t i = 0; i < values.numel(); ++i) CHECK(values[i].item<int64_t>() == want_values[i]);
    }
  }
  CHECK(dtype_name(file.tensor("weights.f16")) == "Half");
  CHECK(dtype_name(file.tensor("weights.bf16")) == "BFloat16");
  CHECK(dtype_name(file.tensor("flags.bool")) == "Bool");
  CHECK(file.tensor("scalar").dim() == 0);
  CHECK(file.info("weights.f32").dtype == "F32");
  CHECK(file.info("weights.f32").end - file.info("weights.f32").begin == 48);
}

TEST_CASE("safetensors tensor views outlive the file object") {
  ScratchFolder folder;
  const auto path = folder / "view.safetensors";
  sri::io::write_safetensors(path, {{"x", at::arange(6, at::kFloat).reshape({2, 3})}});
  const std::string before = read_bytes(path);

  at::Tensor view;
  {
    SafetensorsFile file(path);
    view = file.tensor("x");
    const auto* first = static_cast<const char*>(view.data_ptr());
    const auto* second = static_cast<const char*>(file.tensor("x").data_ptr());
    CHECK(first == second);  // both views point into the one mapping: no copy was made
  }
  CHECK(view[1][2].item<float>() == 5.0F);
  view.fill_(-1.0F);  // copy-on-write pages: the file must not change
  CHECK(read_bytes(path) == before);
}

TEST_CASE("safetensors round trip keeps order, values and metadata") {
  ScratchFolder folder;
  const auto path = folder / "round.safetensors";
  const at::Tensor transposed = at::arange(12, at::kFloat).reshape({3, 4}).t();  // non-contiguous input
  const at::Tensor halves = at::linspace(-2, 2, 5, at::kFloat).to(at::kHalf);
  const at::Tensor brains = at::linspace(-3, 3, 7, at::kFloat).to(at::kBFloat16);
  const at::Tensor ids = at::tensor(std::vector<int64_t>{1, -2, 3});
  const std::map<std::string, std::string> metadata{{"b", "2"}, {"a", "{\"json\": [1]}"}};
  sri::io::write_safetensors(
      path, {{"z_last_name_first", transposed}, {"half", halves}, {"bf", brains}, {"ids", ids}, {"empty", at::zeros({0})}},
      metadata);

  const std::string bytes = read_bytes(path);
  std::uint64_t header_size = 0;
  for (int i = 7; i >= 0; --i) header_size = (header_size << 8) | static_cast<unsigned char>(bytes[i]);
  CHECK(header_size % 8 == 0);

  SafetensorsFile file(path);
  CHECK(file.metadata() == metadata);
  REQUIRE(file.tensors().size() == 5);
  CHECK(file.tensors()[0].name == "z_last_name_first");
  CHECK(file.tensors()[4].name == "empty");
  CHECK(at::equal(file.tensor("z_last_name_first"), transposed));
  CHECK(at::equal(file.tensor("half"), halves));
  CHECK(at::equal(file.tensor("bf"), brains));
  CHECK(at::equal(file.tensor("ids"), ids));
  CHECK(file.tensor("empty").numel() == 0);
  CHECK(count_entries(folder.path()) == 1);
}

TEST_CASE("safetensors missing tensor lists names") {
  SafetensorsFile file(data_dir / "mixed.safetensors");
  const std::string message = error_message([&] { (void)file.info("nope"); }, "sri.io.tensor_not_found");
  CHECK(contains(message, "'nope'"));
  CHECK(contains(message, "weights.f32"));
  CHECK(contains(message, "mixed.safetensors"));
  error_message([&] { (void)file.tensor("nope"); }, "sri.io.tensor_not_found");
  CHECK_FALSE(file.contains("nope"));
}

TEST_CASE("safetensors missing file and folder") {
  ScratchFolder folder;
  const std::string message =
      error_message([&] { SafetensorsFile file(folder / "absent.safetensors"); }, "sri.io.file_not_found");
  CHECK(contains(message, "absent.safetensors"));
  error_message([&] { SafetensorsFile file(folder.path()); }, "sri.io.read_failed");
}

TEST_CASE("safetensors rejects corrupt headers") {
  const std::string good = R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
  const std::string eight(8, '\0');

  SUBCASE("header length past end of file") {
    CHECK(contains(invalid_message(good, eight, good.size() + 9), "truncated"));
  }
  SUBCASE("header length above limit") { CHECK(contains(invalid_message(good, eight, 200'000'000), "limit")); }
  SUBCASE("bad JSON") { CHECK(contains(invalid_message(R"({"a": {"dtype": )", ""), "not valid JSON")); }
  SUBCASE("not an object") { CHECK(contains(invalid_message("[1, 2]", ""), "does not start with")); }
  SUBCASE("unknown dtype") {
    CHECK(contains(invalid_message(R"({"a":{"dtype":"F31","shape":[2],"data_offsets":[0,8]}})", eight), "F31"));
  }
  SUBCASE("wrong dtype size") {
    const std::string message = invalid_message(R"({"a":{"dtype":"F16","shape":[2],"data_offsets":[0,8]}})", eight);
    CHECK(contains(message, "needs 4 bytes"));
    CHECK(contains(message, "'a'"));
  }
  SUBCASE("offsets past end of data") {
    const std::string message = invalid_message(R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", eight);
    CHECK(contains(message, "truncated"));
  }
  SUBCASE("truncated data") { CHECK(contains(invalid_message(good, std::string(5, '\0')), "truncated")); }
  SUBCASE("trailing bytes") { CHECK(contains(invalid_message(good, std::string(12, '\0')), "cover only 8")); }
  SUBCASE("overlap") {
    const std::string message = invalid_message(
        R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
        eight);
    CHECK(contains(message, "overlap"));
  }
  SUBCASE("gap") {
    CHECK(contains(invalid_message(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", eight),
                   "belong to no tensor"));
  }
  SUBCASE("end before begin") {
    CHECK(contains(invalid_message(R"({"a":{"dtype":"F32","shape":[0],"data_offsets":[8,0]}})", eight),
                   "end before begin"));
  }
  SUBCASE("negative dimension") {
    CHECK(contains(invalid_message(R"({"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", eight),
                   "non-negative"));
  }
  SUBCASE("huge shape") {
    CHECK(contains(invalid_message(
                       R"({"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,8]}})", eight),
                   "too large"));
  }
  SUBCASE("missing field") {
    CHECK(contains(invalid_message(R"({"a":{"dtype":"F32","shape":[2]}})", eight), "data_offsets"));
  }
  SUBCASE("metadata value not a string") {
    CHECK(contains(invalid_message(R"({"__metadata__":{"n":3}})", ""), "must be strings"));
  }
  SUBCASE("metadata not an object") { CHECK(contains(invalid_message(R"({"__metadata__":"x"})", ""), "not a JSON")); }
  SUBCASE("repeated tensor name") {
    const std::string message = invalid_message(
        R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
        eight);
    CHECK(contains(message, "twice"));
  }
  SUBCASE("entry not an object") { CHECK(contains(invalid_message(R"({"a":[1]})", ""), "not a JSON object")); }
}

TEST_CASE("safetensors short file") {
  ScratchFolder folder;
  write_bytes(folder / "short.safetensors", "abc");
  const std::string message =
      error_message([&] { SafetensorsFile file(folder / "short.safetensors"); }, "sri.io.safetensors_invalid");
  CHECK(contains(message, "3 bytes"));
}

TEST_CASE("safetensors empty file is valid") {
  ScratchFolder folder;
  sri::io::write_safetensors(folder / "empty.safetensors", {});
  SafetensorsFile file(folder / "empty.safetensors");
  CHECK(file.tensors().empty());
  CHECK(file.metadata().empty());
}

TEST_CASE("safetensors writer rejects bad input") {
  ScratchFolder folder;
  const auto path = folder / "w.safetensors";
  const at::Tensor x = at::zeros({2});
  CHECK(contains(error_message([&] { sri::io::write_safetensors(path, {{"a", x}, {"a", x}}); }, "sri.io.invalid_argument"),
                 "twice"));
  error_message([&] { sri::io::write_safetensors(path, {{"__metadata__", x}}); }, "sri.io.invalid_argument");
  error_message([&] { sri::io::write_safetensors(path, {{"", x}}); }, "sri.io.invalid_argument");
  error_message([&] { sri::io::write_safetensors(path, {{"u", at::Tensor()}}); }, "sri.io.invalid_argument");
  CHECK(contains(error_message([&] { sri::io::write_safetensors(path, {{"c", at::zeros({2}, at::kComplexFloat)}}); },
                               "sri.io.safetensors_dtype_unsupported"),
                 "ComplexFloat"));
  error_message([&] { sri::io::write_safetensors(folder / "missing" / "w.safetensors", {{"a", x}}); },
                "sri.io.folder_not_found");
  CHECK(count_entries(folder.path()) == 0);
}

TEST_CASE("safetensors unsupported dtype in header") {
  ScratchFolder folder;
  write_bytes(folder / "u16.safetensors", make_raw(std::string(R"({"a":{"dtype":"U16","shape":[2],"data_offsets":[0,4]}})") + "    ",
                                                   std::string(4, '\0')));
  SafetensorsFile file(folder / "u16.safetensors");
  CHECK(file.info("a").dtype == "U16");
  CHECK(contains(error_message([&] { (void)file.tensor("a"); }, "sri.io.safetensors_dtype_unsupported"), "U16"));
}
