// GGUF reader tests: dequantization of every supported type against gguf-py, metadata of every
// value type, versions, and corrupt files. data/quant_types.* come from make_gguf_fixtures.py.

#include <sri/io/gguf.hpp>

// libtorch 1.13 pulls in glog, whose CHECK macros abort the process, so they are replaced by doctest's.
#undef CHECK
#undef CHECK_EQ
#undef CHECK_NE
#undef CHECK_LT
#undef CHECK_LE
#undef CHECK_GT
#undef CHECK_GE
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

namespace fs = std::filesystem;
using sri::io::GgufFile;

namespace {

const fs::path k_data = fs::path(SRI_TEST_DATA_DIR) / "checkpoint" / "data";

std::string read_all(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

// A file under the system temporary folder, removed when the test ends.
class TempFile {
 public:
  explicit TempFile(const std::string& bytes) {
    static int counter = 0;
    path_ = fs::temp_directory_path() / ("sri_gguf_test_" + std::to_string(::getpid()) + "_" +
                                         std::to_string(counter++) + ".gguf");
    std::ofstream(path_, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  }
  ~TempFile() { fs::remove(path_); }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;
  [[nodiscard]] const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

// Little-endian byte builder for hand-made GGUF files.
struct Bytes {
  std::string data;
  Bytes& u8(uint8_t v) { data.push_back(static_cast<char>(v)); return *this; }
  Bytes& u32(uint32_t v) { return raw(&v, 4); }
  Bytes& u64(uint64_t v) { return raw(&v, 8); }
  Bytes& f32(float v) { return raw(&v, 4); }
  Bytes& str(std::string_view s) { u64(s.size()); data.append(s); return *this; }
  Bytes& raw(const void* p, std::size_t n) { data.append(static_cast<const char*>(p), n); return *this; }
  Bytes& pad_to(std::size_t alignment) {
    while (data.size() % alignment != 0) data.push_back('\0');
    return *this;
  }
};

// Header of a v3 file with the given counts.
Bytes header(uint64_t tensors, uint64_t keys, uint32_t version = 3) {
  Bytes b;
  b.raw("GGUF", 4).u32(version).u64(tensors).u64(keys);
  return b;
}

// Checks that `action` raises sri::Error with `id` and a message containing every fragment.
void expect_error(const std::function<void()>& action, std::string_view id, std::vector<std::string> fragments) {
  try {
    action();
    const std::string failure = "expected sri::Error " + std::string(id) + " but nothing was raised";
    FAIL(failure);
  } catch (const sri::Error& error) {
    CHECK(error.id() == std::string(id));
    const std::string message = error.what();
    for (const auto& fragment : fragments) {
      INFO("message: ", message);
      CHECK(message.find(fragment) != std::string::npos);
    }
  }
}

}  // namespace

TEST_CASE("gguf dequantizes every supported type like gguf-py") {
  const auto manifest = nlohmann::json::parse(read_all(k_data / "quant_types.expected.json"));
  const std::string expected_bytes = read_all(k_data / "quant_types.expected.bin");
  std::vector<float> expected(expected_bytes.size() / 4);
  std::memcpy(expected.data(), expected_bytes.data(), expected.size() * 4);

  const GgufFile file(k_data / "quant_types.gguf");
  CHECK(file.version() == 3);
  CHECK(file.alignment() == 64);
  CHECK(file.data_offset() % 64 == 0);

  int type_count = 0;
  for (const auto& entry : manifest["tensors"]) {
    const std::string name = entry["name"];
    CAPTURE(name);
    const auto& info = file.tensor_info(name);
    CHECK(info.type == entry["type_code"].get<uint32_t>());
    CHECK(info.type_name() == entry["type"].get<std::string>());
    CHECK((info.shape() == entry["shape"].get<std::vector<int64_t>>()));

    const at::Tensor values = file.load(name);  // float32 by default
    REQUIRE((values.scalar_type() == at::kFloat));
    REQUIRE((values.sizes().vec() == entry["shape"].get<std::vector<int64_t>>()));
    REQUIRE(values.is_contiguous());
    const float* actual = values.data_ptr<float>();
    const auto offset = entry["offset"].get<std::size_t>();
    const auto count = entry["count"].get<std::size_t>();
    REQUIRE(static_cast<std::size_t>(values.numel()) == count);

    // Both sides compute the same float32 products in the same order, so they agree to rounding:
    // tolerance 1e-6 absolute plus 1e-6 relative.
    std::size_t mismatches = 0;
    std::size_t nonzero = 0;
    for (std::size_t i = 0; i < count; ++i) {
      const float want = expected[offset + i];
      if (std::abs(actual[i] - want) > 1e-6f + 1e-6f * std::abs(want)) {
        if (mismatches++ < 5) MESSAGE("element ", i, ": got ", actual[i], ", expected ", want);
      }
      if (actual[i] != 0.0f) ++nonzero;
    }
    CHECK(mismatches == 0);
    CHECK(nonzero > count / 2);
    ++type_count;
  }
  CHECK(type_count == 12);
}

TEST_CASE("gguf load converts to the requested dtype") {
  const GgufFile file(k_data / "quant_types.gguf");
  for (const char* name : {"q4_k_matrix", "bf16_matrix", "f16_cube"}) {
    CAPTURE(name);
    const at::Tensor reference = file.load(name, at::kFloat);
    for (const auto dtype : {at::kHalf, at::kBFloat16, at::kDouble}) {
      const at::Tensor converted = file.load(name, dtype);
      CHECK((converted.scalar_type() == dtype));
      CHECK((converted.sizes() == reference.sizes()));
      CHECK(at::equal(converted, reference.to(dtype)));
    }
  }
  // The float32 result owns its memory, so writing into it leaves the file and later loads intact.
  at::Tensor first = file.load("f32_matrix");
  first.fill_(0.0f);
  CHECK(file.load("f32_matrix").abs().sum().item<float>() > 0.0f);

  expect_error([&] { (void)file.load("q8_0_matrix", at::kInt); }, "sri.gguf.invalid_dtype",
               {"q8_0_matrix", "floating-point"});
}

TEST_CASE("gguf unsupported type names tensor and types") {
  const GgufFile file(k_data / "quant_types.gguf");
  const auto& info = file.tensor_info("iq2_xxs_matrix");
  CHECK(info.type == 16);
  CHECK(info.bytes.value() == 2 * 66);
  expect_error([&] { (void)file.load("iq2_xxs_matrix"); }, "sri.gguf.unsupported_type",
               {"iq2_xxs_matrix", "16", "IQ2_XXS", "Q4_K", "Q6_K", "BF16"});
  expect_error([&] { (void)file.load("no_such_tensor"); }, "sri.gguf.tensor_not_found", {"no_such_tensor"});
}

TEST_CASE("gguf metadata of every value type") {
  const GgufFile file(k_data / "quant_types.gguf");
  CHECK(file.get_string("general.architecture") == "llama");
  CHECK(file.get_int("general.alignment") == 64);
  CHECK(file.get_int("test.uint8") == 200);
  CHECK(file.get_int("test.int8") == -100);
  CHECK(file.get_int("test.uint16") == 60000);
  CHECK(file.get_int("test.int16") == -30000);
  CHECK(file.get_int("test.uint32") == 4000000000LL);
  CHECK(file.get_int("test.int32") == -2000000000LL);
  CHECK(file.get_float("test.float32") == 0.25);
  CHECK(file.get_bool("test.bool_true"));
  CHECK_FALSE(file.get_bool("test.bool_false"));
  CHECK(file.get_string("test.string") == "Führer 🙂 text");
  CHECK(file.get_string("test.empty_string").empty());
  CHECK(file.get_int("test.int64") == -9000000000000000000LL);
  CHECK(file.get_float("test.float64") == -1.0e-300);
  CHECK((file.get_int_array("test.int_array") == std::vector<int64_t>{1, -2, 3}));
  CHECK((file.get_float_array("test.float_array") == std::vector<double>{0.5, -1.5}));
  CHECK((file.get_string_array("test.string_array") == std::vector<std::string>{"a", "", "ü c"}));
  // Integers read as floats, because converters store some hyperparameters as integers.
  CHECK(file.get_float("test.uint16") == 60000.0);

  const auto* big = file.find_value("test.uint64");
  REQUIRE(big != nullptr);
  CHECK(big->type == sri::io::GgufValueType::UInt64);
  CHECK(std::get<uint64_t>(big->data) == 18000000000000000000ULL);
  expect_error([&] { (void)file.get_int("test.uint64"); }, "sri.gguf.wrong_value_type",
               {"test.uint64", "18000000000000000000", "int64"});

  const auto* nested = file.find_value("test.nested_array");
  REQUIRE(nested != nullptr);
  const auto& outer = std::get<sri::io::GgufArray>(nested->data);
  CHECK(outer.element_type == sri::io::GgufValueType::Array);
  REQUIRE(outer.elements.size() == 2);
  const auto& first = std::get<sri::io::GgufArray>(outer.elements[0].data);
  CHECK(first.element_type == sri::io::GgufValueType::Int32);
  REQUIRE(first.elements.size() == 2);
  CHECK(std::get<int64_t>(first.elements[1].data) == 2);
  CHECK(std::get<sri::io::GgufArray>(outer.elements[1].data).elements.size() == 1);

  CHECK(file.keys().front() == "general.architecture");
  CHECK_FALSE(file.find_string("test.missing").has_value());
  CHECK(file.find_int("test.int8") == -100);
  expect_error([&] { (void)file.get_string("test.missing"); }, "sri.gguf.key_not_found", {"test.missing"});
  expect_error([&] { (void)file.get_string("test.int8"); }, "sri.gguf.wrong_value_type", {"test.int8", "INT8", "STRING"});
  expect_error([&] { (void)file.find_bool("test.string"); }, "sri.gguf.wrong_value_type", {"test.string", "BOOL"});
  expect_error([&] { (void)file.get_int_array("test.string_array"); }, "sri.gguf.wrong_value_type",
               {"test.string_array", "integer"});
  expect_error([&] { (void)file.get_int_array("test.int8"); }, "sri.gguf.wrong_value_type", {"ARRAY"});
}

TEST_CASE("gguf version 2 reads like version 3") {
  std::string bytes = read_all(k_data / "quant_types.gguf");
  bytes[4] = 2;  // the version field; v2 and v3 share the layout
  const TempFile v2(bytes);
  const GgufFile file(v2.path());
  CHECK(file.version() == 2);
  const GgufFile v3(k_data / "quant_types.gguf");
  CHECK(at::equal(file.load("q5_k_matrix"), v3.load("q5_k_matrix")));
  CHECK(file.get_string_array("test.string_array") == v3.get_string_array("test.string_array"));
}

TEST_CASE("gguf rejects unknown and big-endian versions") {
  const std::string original = read_all(k_data / "quant_types.gguf");
  for (const uint32_t version : {0u, 1u, 4u}) {
    CAPTURE(version);
    std::string bytes = original;
    std::memcpy(bytes.data() + 4, &version, 4);
    const TempFile file(bytes);
    expect_error([&] { GgufFile{file.path()}; }, "sri.gguf.unsupported_version",
                 {"version " + std::to_string(version), "2 and 3"});
  }
  std::string big_endian = original;
  const char swapped[4] = {0, 0, 0, 3};
  std::memcpy(big_endian.data() + 4, swapped, 4);
  const TempFile file(big_endian);
  expect_error([&] { GgufFile{file.path()}; }, "sri.gguf.unsupported_version", {"big-endian"});
}

TEST_CASE("gguf rejects corrupt headers") {
  const std::string original = read_all(k_data / "quant_types.gguf");

  SUBCASE("empty file") {
    const TempFile file("");
    expect_error([&] { GgufFile{file.path()}; }, "sri.gguf.truncated", {"truncated", "magic"});
  }
  SUBCASE("truncated header") {
    const TempFile file(original.substr(0, 10));
    expect_error([&] { GgufFile{file.path()}; }, "sri.gguf.truncated", {"tensor count", "10 bytes"});
  }
  SUBCASE("bad magic") {
    std::string bytes = original;
    bytes[0] = 'X';
    const TempFile file(bytes);
    expect_error([&] { GgufFile{file.path()}; }, "sri.gguf.bad_magic", {"not a GGUF file", "58 47 55 46"});
  }
  SUBCASE("absurd tensor count") {
    std::string bytes = original;
    const uint64_t count = uint64_t{1} << 60;
    std::memcpy(bytes.data() + 8, &count, 8);
    const TempFile file(bytes);
    expect_error([&] { GgufFile{file.path()}; }, "sri.gguf.invalid_header", {"tensor count", "1152921504606846976"});
  }
  SUBCASE("absurd metadata count") {
    std::string bytes = original;
    const uint64_t count = ~uint64_t{0};
    std::memcpy(bytes.data() + 16, &count, 8);
    const TempFile file(bytes);
    expect_error([&] { GgufFile{file.path()}; }, "sri.gguf.invalid_header", {"metadata count"});
  }
  SUBCASE("tensor data past the end") {
    const TempFile file(original.substr(0, original.size() - 100));
    expect_error([&] { GgufFile{file.path()}; }, "sri.gguf.truncated", {"iq2_xxs_matrix", "past the end"});
  }
  SUBCASE("cut inside the metadata") {
    // The string-array count no longer fits in the remaining bytes.
    const TempFile file(original.substr(0, 600));
    expect_error([&] { GgufFile{file.path()}; }, "sri.gguf.invalid_metadata", {"only", "bytes remain", "truncated"});
  }
}

TEST_CASE("gguf rejects corrupt metadata") {
  SUBCASE("absurd array length") {
    Bytes b = header(0, 1);
    b.str("big").u32(9).u32(4).u64(uint64_t{1} << 40);
    const TempFile file(b.data);
    expect_error([&] { GgufFile{file.path()}; }, "sri.gguf.invalid_metadata", {"'big'", "1099511627776", "UINT32"});
  }
  SUBCASE("absurd string length") {
    Bytes b = header(0, 1);
    b.str("name").u32(8).u64(uint64_t{1} << 50);
    const TempFile file(b.data);
    expect_error([&] { GgufFile{file.path()}; }, "sri.gguf.truncated", {"STRING"});
  }
  SUBCASE("unknown value type") {
    Bytes b = header(0, 1);
    b.str("odd").u32(13).u32(0);
    const TempFile file(b.data);
    expect_error([&] { GgufFile{file.path()}; }, "sri.gguf.invalid_metadata", {"'odd'", "value type 13"});
  }
  SUBCASE("bool other than 0 or 1") {
    Bytes b = header(0, 1);
    b.str("flag").u32(7).u8(2);
    const TempFile file(b.data);
    expect_error([&] { GgufFile{file.path()}; }, "sri.gguf.invalid_metadata", {"'flag'", "BOOL byte 2"});
  }
  SUBCASE("duplicate key") {
    Bytes b = header(0, 2);
    b.str("k").u32(4).u32(1).str("k").u32(4).u32(2);
    const TempFile file(b.data);
    expect_error([&] { GgufFile{file.path()}; }, "sri.gguf.invalid_metadata", {"'k'", "twice"});
  }
  SUBCASE("alignment not a power of two") {
    Bytes b = header(0, 1);
    b.str("general.alignment").u32(4).u32(24);
    const TempFile file(b.data);
    expect_error([&] { GgufFile{file.path()}; }, "sri.gguf.invalid_metadata", {"general.alignment", "24"});
  }
  SUBCASE("empty array and default alignment") {
    Bytes b = header(1, 1);
    b.str("empty").u32(9).u32(5).u64(0);
    b.str("w").u32(1).u64(8).u32(0).u64(0);  // F32 [8] at offset 0
    b.pad_to(32);
    for (int i = 0; i < 8; ++i) b.f32(static_cast<float>(i) - 3.5f);
    const TempFile file(b.data);
    const GgufFile gguf(file.path());
    CHECK(gguf.alignment() == 32);
    CHECK(gguf.get_int_array("empty").empty());
    const at::Tensor w = gguf.load("w");
    CHECK((w.sizes().vec() == std::vector<int64_t>{8}));
    CHECK(w[0].item<float>() == -3.5f);
    CHECK(w[7].item<float>() == 3.5f);
  }
}

TEST_CASE("gguf rejects corrupt tensor infos") {
  SUBCASE("too many dimensions") {
    Bytes b = header(1, 0);
    b.str("w").u32(5);
    for (int i = 0; i < 5; ++i) b.u64(1);
    b.u32(0).u64(0);
    const TempFile file(b.data);
    expect_error([&] { GgufFile{file.path()}; }, "sri.gguf.invalid_tensor_info", {"'w'", "5 dimensions"});
  }
  SUBCASE("name too long") {
    Bytes b = header(1, 0);
    b.str(std::string(64, 'n')).u32(1).u64(32).u32(0).u64(0);
    const TempFile file(b.data);
    expect_error([&] { GgufFile{file.path()}; }, "sri.gguf.invalid_metadata", {"tensor name", "length 64"});
  }
  SUBCASE("row not a multiple of the block size") {
    Bytes b = header(1, 0);
    b.str("w").u32(2).u64(48).u64(2).u32(12).u64(0);  // Q4_K rows need multiples of 256
    const TempFile file(b.data);
    expect_error([&] { GgufFile{file.path()}; }, "sri.gguf.invalid_tensor_info", {"'w'", "Q4_K", "48", "256"});
  }
  SUBCASE("zero dimension") {
    Bytes b = header(1, 0);
    b.str("w").u32(2).u64(32).u64(0).u32(0).u64(0);
    const TempFile file(b.data);
    expect_error([&] { GgufFile{file.path()}; }, "sri.gguf.invalid_tensor_info", {"'w'", "dimension 1 = 0"});
  }
  SUBCASE("offset not aligned") {
    Bytes b = header(1, 0);
    b.str("w").u32(1).u64(4).u32(0).u64(8);
    b.pad_to(32);
    b.data.append(64, '\0');
    const TempFile file(b.data);
    expect_error([&] { GgufFile{file.path()}; }, "sri.gguf.invalid_tensor_info", {"'w'", "offset 8", "alignment 32"});
  }
  SUBCASE("offset past the end") {
    Bytes b = header(1, 0);
    b.str("w").u32(1).u64(4).u32(0).u64(uint64_t{1} << 62);
    b.pad_to(32);
    b.data.append(16, '\0');
    const TempFile file(b.data);
    expect_error([&] { GgufFile{file.path()}; }, "sri.gguf.truncated", {"'w'", "past the end"});
  }
  SUBCASE("duplicate tensor") {
    Bytes b = header(2, 0);
    b.str("w").u32(1).u64(4).u32(0).u64(0);
    b.str("w").u32(1).u64(4).u32(0).u64(32);
    b.pad_to(32);
    b.data.append(64, '\0');
    const TempFile file(b.data);
    expect_error([&] { GgufFile{file.path()}; }, "sri.gguf.invalid_tensor_info", {"'w'", "twice"});
  }
  SUBCASE("unknown type opens but does not load") {
    Bytes b = header(1, 0);
    b.str("w").u32(1).u64(4).u32(99).u64(0);
    b.pad_to(32);
    const TempFile file(b.data);
    const GgufFile gguf(file.path());
    CHECK(gguf.tensor_info("w").type_name() == "type 99");
    CHECK_FALSE(gguf.tensor_info("w").bytes.has_value());
    expect_error([&] { (void)gguf.load("w"); }, "sri.gguf.unsupported_type", {"'w'", "99", "unknown", "Q8_0"});
  }
}
