#pragma once

// GGUF reading (versions 2 and 3, little-endian): typed metadata, tensor infos and dequantized
// tensors over a memory-mapped file.
//
// Layout (ggml `docs/gguf.md`): magic "GGUF", u32 version, u64 tensor count, u64 metadata count and
// the metadata key/value pairs. Then come the tensor infos (name, u32 n_dims, u64 ne[n_dims] with
// ne[0] the contiguous axis, u32 ggml type, u64 offset), padding to `general.alignment` (default 32)
// and the tensor data. Every count, length and offset is checked against the file size before use, so
// a corrupt file raises sri::Error instead of reading out of bounds or allocating absurd amounts.

#include <sri/error.hpp>
#include <sri/io/dequantize.hpp>
#include <sri/io/detail/mapped_file.hpp>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <fmt/format.h>
#include <fmt/std.h>

#include <algorithm>
#include <bit>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace sri::io {

static_assert(std::endian::native == std::endian::little,
              "sri::io::GgufFile reads little-endian fields by copying bytes, so it needs a little-endian host.");

// Metadata value type codes (`gguf_metadata_value_type`).
enum class GgufValueType : uint32_t {
  UInt8 = 0, Int8 = 1, UInt16 = 2, Int16 = 3, UInt32 = 4, Int32 = 5, Float32 = 6,
  Bool = 7, String = 8, Array = 9, UInt64 = 10, Int64 = 11, Float64 = 12,
};

[[nodiscard]] constexpr std::string_view gguf_value_type_name(GgufValueType type) noexcept {
  switch (type) {
    case GgufValueType::UInt8: return "UINT8";
    case GgufValueType::Int8: return "INT8";
    case GgufValueType::UInt16: return "UINT16";
    case GgufValueType::Int16: return "INT16";
    case GgufValueType::UInt32: return "UINT32";
    case GgufValueType::Int32: return "INT32";
    case GgufValueType::Float32: return "FLOAT32";
    case GgufValueType::Bool: return "BOOL";
    case GgufValueType::String: return "STRING";
    case GgufValueType::Array: return "ARRAY";
    case GgufValueType::UInt64: return "UINT64";
    case GgufValueType::Int64: return "INT64";
    case GgufValueType::Float64: return "FLOAT64";
  }
  return "UNKNOWN";
}

[[nodiscard]] constexpr bool is_gguf_integer(GgufValueType type) noexcept {
  switch (type) {
    case GgufValueType::UInt8: case GgufValueType::Int8: case GgufValueType::UInt16: case GgufValueType::Int16:
    case GgufValueType::UInt32: case GgufValueType::Int32: case GgufValueType::UInt64: case GgufValueType::Int64:
      return true;
    default:
      return false;
  }
}

struct GgufValue;

// An array value: the element type and the elements, which may themselves be arrays.
struct GgufArray {
  GgufValueType element_type = GgufValueType::UInt8;
  std::vector<GgufValue> elements;
};

// One metadata value. Unsigned integers are stored as uint64_t, signed ones as int64_t and both float
// widths as double. `type` is the type code written in the file.
struct GgufValue {
  GgufValueType type = GgufValueType::UInt8;
  std::variant<uint64_t, int64_t, double, bool, std::string, GgufArray> data;
};

// One tensor info record.
struct GgufTensorInfo {
  std::string name;
  uint32_t type = 0;              // ggml type code, see ggml_type_table
  std::vector<int64_t> dims;      // ne[0..n_dims), ne[0] = contiguous axis (GGUF order)
  uint64_t offset = 0;            // relative to the start of the data section
  std::optional<uint64_t> bytes;  // stored size; nullopt for a type code sri does not know

  // The PyTorch shape: dims reversed, outermost first.
  [[nodiscard]] std::vector<int64_t> shape() const { return {dims.rbegin(), dims.rend()}; }

  [[nodiscard]] int64_t element_count() const {
    int64_t count = 1;
    for (const int64_t dim : dims) count *= dim;
    return count;
  }

  // "Q4_K", or "type 99" for a code sri does not know.
  [[nodiscard]] std::string type_name() const {
    const auto traits = find_ggml_type(type);
    return traits ? std::string(traits->name) : "type " + std::to_string(type);
  }
};

namespace detail::gguf {

inline constexpr uint32_t k_magic = 0x46554747u;  // "GGUF" read as a little-endian u32
inline constexpr uint64_t k_default_alignment = 32;
inline constexpr uint64_t k_max_dims = 4;
inline constexpr uint64_t k_max_tensor_name_bytes = 64;  // GGML_MAX_NAME, including the NUL
inline constexpr uint64_t k_max_key_bytes = 65535;
inline constexpr int k_max_array_nesting = 8;

// A bounds-checked little-endian reader over the mapped bytes. Every failure names the file, the
// byte offset and what was being read.
class Cursor {
 public:
  Cursor(const std::filesystem::path& path, const uint8_t* data, std::size_t size)
      : path_(path), data_(data), size_(size) {}

  [[nodiscard]] std::size_t position() const noexcept { return position_; }
  [[nodiscard]] std::size_t remaining() const noexcept { return size_ - position_; }

  void require(uint64_t bytes, std::string_view what) const {
    if (bytes > remaining()) {
      raise("sri.gguf.truncated",
            fmt::format("GGUF file {} is truncated: reading {} needs {} bytes at offset {}, but the file has only {} "
                        "bytes; download or convert the file again",
                        path_, what, bytes, position_, size_));
    }
  }

  template <typename T>
  [[nodiscard]] T read(std::string_view what) {
    require(sizeof(T), what);
    T value;
    std::memcpy(&value, data_ + position_, sizeof(T));
    position_ += sizeof(T);
    return value;
  }

  [[nodiscard]] std::string read_string(std::string_view what, uint64_t max_bytes = std::numeric_limits<uint64_t>::max()) {
    const auto length = read<uint64_t>(what);
    if (length > max_bytes) {
      raise("sri.gguf.invalid_metadata",
            fmt::format("GGUF file {}: {} at offset {} has length {}, but at most {} bytes are allowed; the file "
                        "is corrupt or was written by a broken converter",
                        path_, what, position_ - 8, length, max_bytes));
    }
    require(length, what);
    std::string text(reinterpret_cast<const char*>(data_ + position_), static_cast<std::size_t>(length));
    position_ += static_cast<std::size_t>(length);
    return text;
  }

  void skip_to(std::size_t position) { position_ = position; }

 private:
  const std::filesystem::path& path_;
  const uint8_t* data_;
  std::size_t size_;
  std::size_t position_ = 0;
};

// Smallest number of bytes one element of `type` occupies, used to reject absurd counts before
// reserving memory for them.
[[nodiscard]] inline uint64_t min_value_bytes(GgufValueType type) noexcept {
  switch (type) {
    case GgufValueType::UInt8: case GgufValueType::Int8: case GgufValueType::Bool: return 1;
    case GgufValueType::UInt16: case GgufValueType::Int16: return 2;
    case GgufValueType::UInt32: case GgufValueType::Int32: case GgufValueType::Float32: return 4;
    case GgufValueType::String: case GgufValueType::UInt64: case GgufValueType::Int64: case GgufValueType::Float64:
      return 8;
    case GgufValueType::Array: return 12;  // u32 element type + u64 count
  }
  return 1;
}

[[nodiscard]] inline GgufValueType read_value_type(Cursor& cursor, const std::filesystem::path& path,
                                                   const std::string& key) {
  const auto code = cursor.read<uint32_t>("a metadata value type");
  if (code > static_cast<uint32_t>(GgufValueType::Float64)) {
    raise("sri.gguf.invalid_metadata",
          fmt::format("GGUF file {}: metadata key '{}' has value type {}, but valid types are 0 to 12 (UINT8 .. "
                      "FLOAT64); the file is corrupt or uses a newer GGUF version",
                      path, key, code));
  }
  return static_cast<GgufValueType>(code);
}

inline GgufValue read_value(Cursor& cursor, const std::filesystem::path& path, const std::string& key,
                            GgufValueType type, int depth) {
  GgufValue value;
  value.type = type;
  switch (type) {
    case GgufValueType::UInt8: value.data = uint64_t{cursor.read<uint8_t>("a UINT8 value")}; break;
    case GgufValueType::Int8: value.data = int64_t{cursor.read<int8_t>("an INT8 value")}; break;
    case GgufValueType::UInt16: value.data = uint64_t{cursor.read<uint16_t>("a UINT16 value")}; break;
    case GgufValueType::Int16: value.data = int64_t{cursor.read<int16_t>("an INT16 value")}; break;
    case GgufValueType::UInt32: value.data = uint64_t{cursor.read<uint32_t>("a UINT32 value")}; break;
    case GgufValueType::Int32: value.data = int64_t{cursor.read<int32_t>("an INT32 value")}; break;
    case GgufValueType::UInt64: value.data = cursor.read<uint64_t>("a UINT64 value"); break;
    case GgufValueType::Int64: value.data = cursor.read<int64_t>("an INT64 value"); break;
    case GgufValueType::Float32: value.data = double{cursor.read<float>("a FLOAT32 value")}; break;
    case GgufValueType::Float64: value.data = cursor.read<double>("a FLOAT64 value"); break;
    case GgufValueType::Bool: {
      const auto byte = cursor.read<uint8_t>("a BOOL value");
      if (byte > 1) {
        raise("sri.gguf.invalid_metadata",
              fmt::format("GGUF file {}: metadata key '{}' holds BOOL byte {}, but only 0 and 1 are valid; the file "
                          "is corrupt",
                          path, key, byte));
      }
      value.data = byte == 1;
      break;
    }
    case GgufValueType::String: value.data = cursor.read_string("a STRING value"); break;
    case GgufValueType::Array: {
      if (depth >= k_max_array_nesting) {
        raise("sri.gguf.invalid_metadata",
              fmt::format("GGUF file {}: metadata key '{}' nests arrays more than {} levels deep; the file is corrupt",
                          path, key, k_max_array_nesting));
      }
      GgufArray array;
      array.element_type = read_value_type(cursor, path, key);
      const auto count = cursor.read<uint64_t>("an array length");
      const uint64_t min_bytes = min_value_bytes(array.element_type);
      if (count > cursor.remaining() / min_bytes) {
        raise("sri.gguf.invalid_metadata",
              fmt::format("GGUF file {}: metadata key '{}' declares an array of {} {} elements, which needs at least "
                          "{} bytes per element, but only {} bytes remain; the file is corrupt or truncated",
                          path, key, count, gguf_value_type_name(array.element_type), min_bytes, cursor.remaining()));
      }
      array.elements.reserve(static_cast<std::size_t>(count));
      for (uint64_t i = 0; i < count; ++i) {
        array.elements.push_back(read_value(cursor, path, key, array.element_type, depth + 1));
      }
      value.data = std::move(array);
      break;
    }
  }
  return value;
}

[[nodiscard]] inline uint64_t align_up(uint64_t offset, uint64_t alignment) noexcept {
  return offset + (alignment - offset % alignment) % alignment;
}

}  // namespace detail::gguf

class GgufFile {
 public:
  // Maps and validates `path`. Raises sri.io.file_not_found / sri.io.read_failed when the file
  // cannot be opened and sri.gguf.* when its contents are invalid.
  explicit GgufFile(const std::filesystem::path& path)
      : mapping_(std::make_shared<detail::MappedFile>(path)) {
    parse();
  }

  [[nodiscard]] const std::filesystem::path& path() const noexcept { return mapping_->path(); }
  [[nodiscard]] uint32_t version() const noexcept { return version_; }
  [[nodiscard]] uint64_t alignment() const noexcept { return alignment_; }
  [[nodiscard]] std::size_t file_size() const noexcept { return mapping_->size(); }
  // File offset of the tensor data section.
  [[nodiscard]] uint64_t data_offset() const noexcept { return data_offset_; }
  // The whole file, for hashing.
  [[nodiscard]] std::span<const std::byte> bytes() const noexcept { return mapping_->bytes(); }

  // ---- metadata ----

  // Keys in file order.
  [[nodiscard]] const std::vector<std::string>& keys() const noexcept { return keys_; }
  [[nodiscard]] bool contains(std::string_view key) const { return metadata_.find(key) != metadata_.end(); }
  // Returns the value stored under `key`, or nullptr.
  [[nodiscard]] const GgufValue* find_value(std::string_view key) const {
    const auto it = metadata_.find(key);
    return it == metadata_.end() ? nullptr : &it->second;
  }
  [[nodiscard]] const GgufValue& value(std::string_view key) const {
    const GgufValue* found = find_value(key);
    if (found == nullptr) {
      raise("sri.gguf.key_not_found",
            fmt::format("GGUF file {} has no metadata key '{}'; the file was converted without it, so use a "
                        "complete conversion or pass the value explicitly",
                        path(), key));
    }
    return *found;
  }

  [[nodiscard]] std::string get_string(std::string_view key) const { return as_string(key, value(key)); }
  [[nodiscard]] int64_t get_int(std::string_view key) const { return as_int(key, value(key)); }
  [[nodiscard]] double get_float(std::string_view key) const { return as_float(key, value(key)); }
  [[nodiscard]] bool get_bool(std::string_view key) const { return as_bool(key, value(key)); }
  [[nodiscard]] std::vector<std::string> get_string_array(std::string_view key) const {
    return map_array<std::string>(key, value(key), [this, key](const GgufValue& e) { return as_string(key, e); });
  }
  [[nodiscard]] std::vector<int64_t> get_int_array(std::string_view key) const {
    return map_array<int64_t>(key, value(key), [this, key](const GgufValue& e) { return as_int(key, e); });
  }
  [[nodiscard]] std::vector<double> get_float_array(std::string_view key) const {
    return map_array<double>(key, value(key), [this, key](const GgufValue& e) { return as_float(key, e); });
  }

  // The find_* variants return nothing for a missing key and still raise for a wrong type.
  [[nodiscard]] std::optional<std::string> find_string(std::string_view key) const {
    return contains(key) ? std::optional(get_string(key)) : std::nullopt;
  }
  [[nodiscard]] std::optional<int64_t> find_int(std::string_view key) const {
    return contains(key) ? std::optional(get_int(key)) : std::nullopt;
  }
  [[nodiscard]] std::optional<double> find_float(std::string_view key) const {
    return contains(key) ? std::optional(get_float(key)) : std::nullopt;
  }
  [[nodiscard]] std::optional<bool> find_bool(std::string_view key) const {
    return contains(key) ? std::optional(get_bool(key)) : std::nullopt;
  }
  [[nodiscard]] std::optional<std::vector<std::string>> find_string_array(std::string_view key) const {
    return contains(key) ? std::optional(get_string_array(key)) : std::nullopt;
  }
  [[nodiscard]] std::optional<std::vector<int64_t>> find_int_array(std::string_view key) const {
    return contains(key) ? std::optional(get_int_array(key)) : std::nullopt;
  }
  [[nodiscard]] std::optional<std::vector<double>> find_float_array(std::string_view key) const {
    return contains(key) ? std::optional(get_float_array(key)) : std::nullopt;
  }

  // ---- tensors ----

  // Tensor infos in file order.
  [[nodiscard]] const std::vector<GgufTensorInfo>& tensors() const noexcept { return tensors_; }
  [[nodiscard]] bool contains_tensor(std::string_view name) const {
    return tensor_index_.find(name) != tensor_index_.end();
  }
  [[nodiscard]] const GgufTensorInfo* find_tensor(std::string_view name) const {
    const auto it = tensor_index_.find(name);
    return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
  }
  [[nodiscard]] const GgufTensorInfo& tensor_info(std::string_view name) const {
    const GgufTensorInfo* info = find_tensor(name);
    if (info == nullptr) {
      raise("sri.gguf.tensor_not_found",
            fmt::format("GGUF file {} has no tensor '{}' (it has {} tensors, the first is '{}'); check the tensor "
                        "name, which uses GGUF naming such as 'blk.0.attn_q.weight'",
                        path(), name, tensors_.size(), tensors_.empty() ? std::string("none") : tensors_.front().name));
    }
    return *info;
  }

  // The stored bytes of a tensor, inside the mapping.
  [[nodiscard]] std::span<const uint8_t> tensor_bytes(const GgufTensorInfo& info) const {
    require_known_size(info);
    return {reinterpret_cast<const uint8_t*>(mapping_->data()) + data_offset_ + info.offset,
            static_cast<std::size_t>(*info.bytes)};
  }

  // Dequantizes a tensor into a new CPU tensor of `dtype` in PyTorch dimension order (GGUF dims
  // reversed). The tensor's own type field selects the decoder. An unsupported type raises
  // sri.gguf.unsupported_type before anything is allocated.
  [[nodiscard]] at::Tensor load(std::string_view name, at::ScalarType dtype = at::kFloat) const {
    const GgufTensorInfo& info = tensor_info(name);
    const auto traits = find_ggml_type(info.type);
    if (!traits || !traits->dequantizable) {
      raise("sri.gguf.unsupported_type",
            fmt::format("GGUF file {}: tensor '{}' has ggml type {} ({}), which sri cannot dequantize; supported "
                        "types are {}; re-quantize the model to one of them",
                        path(), info.name, info.type, traits ? std::string(traits->name) : std::string("unknown"),
                        supported_ggml_type_names()));
    }
    if (!at::isFloatingType(dtype)) {
      raise("sri.gguf.invalid_dtype",
            fmt::format("cannot load GGUF tensor '{}' as {}: dequantized values need a floating-point dtype such "
                        "as float32, float16 or bfloat16",
                        info.name, c10::toString(dtype)));
    }

    const std::span<const uint8_t> source = tensor_bytes(info);
    const int64_t block_count = info.element_count() / traits->block_elements;
    const int64_t block_elements = traits->block_elements;
    const int64_t block_bytes = traits->block_bytes;
    at::Tensor values = at::empty(info.shape(), at::TensorOptions().dtype(at::kFloat));  // PyTorch order
    float* destination = values.data_ptr<float>();
    const uint32_t code = info.type;
    // About 128 KiB of output per task, so small tensors stay on one thread.
    const int64_t grain = std::max<int64_t>(1, 32768 / block_elements);
    at::parallel_for(0, block_count, grain, [&](int64_t begin, int64_t end) {
      dequantize_blocks(code, source.data() + begin * block_bytes, destination + begin * block_elements, end - begin);
    });
    return dtype == at::kFloat ? values : values.to(dtype);
  }

 private:
  void parse() {
    const auto* data = reinterpret_cast<const uint8_t*>(mapping_->data());
    detail::gguf::Cursor cursor(path(), data, mapping_->size());
    parse_header(cursor);
    parse_metadata(cursor);
    parse_alignment();
    parse_tensor_infos(cursor);
    data_offset_ = detail::gguf::align_up(cursor.position(), alignment_);
    validate_tensor_data();
  }

  void parse_header(detail::gguf::Cursor& cursor) {
    const auto magic = cursor.read<uint32_t>("the magic number");
    if (magic != detail::gguf::k_magic) {
      raise("sri.gguf.bad_magic",
            fmt::format("{} is not a GGUF file: its first 4 bytes are {:02x} {:02x} {:02x} {:02x}, but a GGUF file "
                        "starts with 'GGUF' (47 47 55 46); pass a .gguf model file",
                        path(), magic & 0xFF, (magic >> 8) & 0xFF, (magic >> 16) & 0xFF, magic >> 24));
    }
    version_ = cursor.read<uint32_t>("the version");
    if (version_ != 2 && version_ != 3) {
      const uint32_t swapped = ((version_ & 0xFFu) << 24) | ((version_ & 0xFF00u) << 8) | ((version_ >> 8) & 0xFF00u) | (version_ >> 24);
      if (swapped == 2 || swapped == 3) {
        raise("sri.gguf.unsupported_version",
              fmt::format("GGUF file {} is big-endian (its version reads as {} byte-swapped); sri reads little-endian "
                          "GGUF only, so convert the model again without the big-endian option",
                          path(), swapped));
      }
      raise("sri.gguf.unsupported_version",
            fmt::format("GGUF file {} has version {}, but sri reads versions 2 and 3; convert the model with a "
                        "current llama.cpp or gguf-py",
                        path(), version_));
    }
    const auto tensor_count = cursor.read<uint64_t>("the tensor count");
    const auto metadata_count = cursor.read<uint64_t>("the metadata count");
    // A tensor info needs at least 8 (name length) + 4 (n_dims) + 4 (type) + 8 (offset) bytes and a
    // key/value pair at least 8 (key length) + 4 (type) + 1 bytes.
    check_count(cursor, tensor_count, 24, "tensor count");
    check_count(cursor, metadata_count, 13, "metadata count");
    tensor_count_ = tensor_count;
    metadata_count_ = metadata_count;
  }

  void check_count(const detail::gguf::Cursor& cursor, uint64_t count, uint64_t min_bytes, std::string_view what) const {
    if (count > cursor.remaining() / min_bytes) {
      raise("sri.gguf.invalid_header",
            fmt::format("GGUF file {} declares a {} of {}, which cannot fit in the remaining {} bytes; the file is "
                        "corrupt or truncated",
                        path(), what, count, cursor.remaining()));
    }
  }

  void parse_metadata(detail::gguf::Cursor& cursor) {
    keys_.reserve(static_cast<std::size_t>(metadata_count_));
    for (uint64_t i = 0; i < metadata_count_; ++i) {
      std::string key = cursor.read_string("a metadata key", detail::gguf::k_max_key_bytes);
      const GgufValueType type = detail::gguf::read_value_type(cursor, path(), key);
      GgufValue value = detail::gguf::read_value(cursor, path(), key, type, 0);
      if (metadata_.find(key) != metadata_.end()) {
        raise("sri.gguf.invalid_metadata",
              fmt::format("GGUF file {} contains metadata key '{}' twice; the file is corrupt", path(), key));
      }
      keys_.push_back(key);
      metadata_.emplace(std::move(key), std::move(value));
    }
  }

  void parse_alignment() {
    const GgufValue* stored = find_value("general.alignment");
    if (stored == nullptr) return;
    if (!is_gguf_integer(stored->type)) {
      raise("sri.gguf.invalid_metadata",
            fmt::format("GGUF file {}: general.alignment has type {}, but it must be an integer", path(),
                        gguf_value_type_name(stored->type)));
    }
    const int64_t alignment = as_int("general.alignment", *stored);
    if (alignment <= 0 || !std::has_single_bit(static_cast<uint64_t>(alignment)) || alignment > (1 << 24)) {
      raise("sri.gguf.invalid_metadata",
            fmt::format("GGUF file {}: general.alignment is {}, but it must be a power of two between 1 and 2^24 "
                        "(ggml writes 32); the file is corrupt",
                        path(), alignment));
    }
    alignment_ = static_cast<uint64_t>(alignment);
  }

  void parse_tensor_infos(detail::gguf::Cursor& cursor) {
    tensors_.reserve(static_cast<std::size_t>(tensor_count_));
    for (uint64_t i = 0; i < tensor_count_; ++i) {
      GgufTensorInfo info;
      info.name = cursor.read_string("a tensor name", detail::gguf::k_max_tensor_name_bytes - 1);
      const auto dim_count = cursor.read<uint32_t>("a tensor dimension count");
      if (dim_count > detail::gguf::k_max_dims) {
        raise("sri.gguf.invalid_tensor_info",
              fmt::format("GGUF file {}: tensor '{}' has {} dimensions, but GGUF allows at most {}; the file is "
                          "corrupt",
                          path(), info.name, dim_count, detail::gguf::k_max_dims));
      }
      uint64_t element_count = 1;
      for (uint32_t d = 0; d < dim_count; ++d) {
        const auto dim = cursor.read<uint64_t>("a tensor dimension");
        // Every dimension is at least 1 and the product stays below 2^62, so sizes never overflow.
        if (dim == 0 || dim > (uint64_t{1} << 62) / element_count) {
          raise("sri.gguf.invalid_tensor_info",
                fmt::format("GGUF file {}: tensor '{}' has dimension {} = {}, which is zero or makes the element "
                            "count overflow; the file is corrupt",
                            path(), info.name, d, dim));
        }
        element_count *= dim;
        info.dims.push_back(static_cast<int64_t>(dim));
      }
      info.type = cursor.read<uint32_t>("a tensor type");
      info.offset = cursor.read<uint64_t>("a tensor offset");
      if (const auto traits = find_ggml_type(info.type)) {
        const uint64_t row = info.dims.empty() ? 1 : static_cast<uint64_t>(info.dims[0]);
        if (row % static_cast<uint64_t>(traits->block_elements) != 0) {
          raise("sri.gguf.invalid_tensor_info",
                fmt::format("GGUF file {}: tensor '{}' of type {} has rows of {} elements, which is not a multiple "
                            "of the type's block size {}; the file is corrupt",
                            path(), info.name, traits->name, row, traits->block_elements));
        }
        info.bytes = element_count / static_cast<uint64_t>(traits->block_elements) *
                     static_cast<uint64_t>(traits->block_bytes);
      }
      if (tensor_index_.find(info.name) != tensor_index_.end()) {
        raise("sri.gguf.invalid_tensor_info",
              fmt::format("GGUF file {} contains tensor '{}' twice; the file is corrupt", path(), info.name));
      }
      tensor_index_.emplace(info.name, tensors_.size());
      tensors_.push_back(std::move(info));
    }
  }

  void validate_tensor_data() const {
    const uint64_t file_size = mapping_->size();
    const uint64_t data_size = data_offset_ <= file_size ? file_size - data_offset_ : 0;
    for (const GgufTensorInfo& info : tensors_) {
      if (info.offset % alignment_ != 0) {
        raise("sri.gguf.invalid_tensor_info",
              fmt::format("GGUF file {}: tensor '{}' starts at data offset {}, which is not a multiple of the "
                          "alignment {}; the file is corrupt",
                          path(), info.name, info.offset, alignment_));
      }
      if (info.bytes && (info.offset > data_size || *info.bytes > data_size - info.offset)) {
        raise("sri.gguf.truncated",
              fmt::format("GGUF file {}: tensor '{}' ({}, {} bytes at data offset {}) ends past the end of the file "
                          "(the data section has {} bytes); the file is truncated, so download it again",
                          path(), info.name, info.type_name(), *info.bytes, info.offset, data_size));
      }
    }
  }

  void require_known_size(const GgufTensorInfo& info) const {
    if (!info.bytes) {
      raise("sri.gguf.unsupported_type",
            fmt::format("GGUF file {}: tensor '{}' has ggml type {}, which sri does not know; supported types are {}",
                        path(), info.name, info.type, supported_ggml_type_names()));
    }
  }

  [[noreturn]] void raise_wrong_type(std::string_view key, const GgufValue& found, std::string_view expected) const {
    raise("sri.gguf.wrong_value_type",
          fmt::format("GGUF file {}: metadata key '{}' holds a {}, but {} was expected; the file was written by a "
                      "converter sri does not know",
                      path(), key, gguf_value_type_name(found.type), expected));
  }

  [[nodiscard]] std::string as_string(std::string_view key, const GgufValue& stored) const {
    if (const auto* text = std::get_if<std::string>(&stored.data)) return *text;
    raise_wrong_type(key, stored, "a STRING");
  }

  [[nodiscard]] int64_t as_int(std::string_view key, const GgufValue& stored) const {
    if (const auto* value = std::get_if<int64_t>(&stored.data)) return *value;
    if (const auto* value = std::get_if<uint64_t>(&stored.data)) {
      if (*value > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
        raise("sri.gguf.wrong_value_type",
              fmt::format("GGUF file {}: metadata key '{}' holds {}, which does not fit in int64", path(), key, *value));
      }
      return static_cast<int64_t>(*value);
    }
    raise_wrong_type(key, stored, "an integer");
  }

  // Floats and, because converters store some hyperparameters as integers, integers too.
  [[nodiscard]] double as_float(std::string_view key, const GgufValue& stored) const {
    if (const auto* value = std::get_if<double>(&stored.data)) return *value;
    if (const auto* value = std::get_if<int64_t>(&stored.data)) return static_cast<double>(*value);
    if (const auto* value = std::get_if<uint64_t>(&stored.data)) return static_cast<double>(*value);
    raise_wrong_type(key, stored, "a number");
  }

  [[nodiscard]] bool as_bool(std::string_view key, const GgufValue& stored) const {
    if (const auto* value = std::get_if<bool>(&stored.data)) return *value;
    raise_wrong_type(key, stored, "a BOOL");
  }

  template <typename T, typename Convert>
  [[nodiscard]] std::vector<T> map_array(std::string_view key, const GgufValue& stored, Convert convert) const {
    const auto* array = std::get_if<GgufArray>(&stored.data);
    if (array == nullptr) raise_wrong_type(key, stored, "an ARRAY");
    std::vector<T> result;
    result.reserve(array->elements.size());
    for (const GgufValue& element : array->elements) result.push_back(convert(element));
    return result;
  }

  std::shared_ptr<detail::MappedFile> mapping_;
  uint32_t version_ = 0;
  uint64_t tensor_count_ = 0;
  uint64_t metadata_count_ = 0;
  uint64_t alignment_ = detail::gguf::k_default_alignment;
  uint64_t data_offset_ = 0;
  std::vector<std::string> keys_;
  std::map<std::string, GgufValue, std::less<>> metadata_;
  std::vector<GgufTensorInfo> tensors_;
  std::map<std::string, std::size_t, std::less<>> tensor_index_;
};

}  // namespace sri::io
