#pragma once

// Safetensors reading and writing.
//
// Layout (https://github.com/huggingface/safetensors): an 8-byte little-endian header length N, then
// N bytes of JSON, then the data section. The JSON object maps each tensor name to
// {"dtype", "shape", "data_offsets": [begin, end]} with offsets relative to the data section, plus an
// optional "__metadata__" object of string values. The reader validates the header the way the
// reference Rust implementation does: tensors must tile the data section exactly, in offset order,
// with no gap or overlap.

#include <sri/error.hpp>
#include <sri/io/atomic_file.hpp>
#include <sri/io/detail/mapped_file.hpp>

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <fmt/std.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sri::io {

struct SafetensorsTensorInfo {
  std::string name;
  std::string dtype;            // safetensors dtype name: "F32", "F16", "BF16", "I64", ...
  std::vector<int64_t> shape;   // empty for a scalar
  std::size_t begin = 0;        // byte offset of the first byte in the data section
  std::size_t end = 0;          // byte offset one past the last byte in the data section
};

namespace detail {

struct SafetensorsDtype {
  std::string_view name;
  std::size_t size;                          // bytes per element
  std::optional<at::ScalarType> scalar_type;  // nullopt where libtorch 1.13 has no matching type
};

// The dtype names of safetensors 0.4. The 8-bit floats and unsigned 16/32/64-bit integers are accepted
// in headers but cannot become tensors, because libtorch 1.13 lacks those types.
inline constexpr std::size_t safetensors_dtype_count = 15;
inline const std::array<SafetensorsDtype, safetensors_dtype_count>& safetensors_dtypes() {
  static const std::array<SafetensorsDtype, safetensors_dtype_count> table{{
      {"BOOL", 1, at::kBool},
      {"U8", 1, at::kByte},
      {"I8", 1, at::kChar},
      {"I16", 2, at::kShort},
      {"U16", 2, std::nullopt},
      {"I32", 4, at::kInt},
      {"U32", 4, std::nullopt},
      {"I64", 8, at::kLong},
      {"U64", 8, std::nullopt},
      {"F16", 2, at::kHalf},
      {"BF16", 2, at::kBFloat16},
      {"F32", 4, at::kFloat},
      {"F64", 8, at::kDouble},
      {"F8_E4M3", 1, std::nullopt},
      {"F8_E5M2", 1, std::nullopt},
  }};
  return table;
}

inline const SafetensorsDtype* find_safetensors_dtype(std::string_view name) {
  for (const auto& dtype : safetensors_dtypes()) {
    if (dtype.name == name) return &dtype;
  }
  return nullptr;
}

inline std::string_view safetensors_dtype_name(at::ScalarType type) {
  for (const auto& dtype : safetensors_dtypes()) {
    if (dtype.scalar_type == type) return dtype.name;
  }
  raise("sri.io.safetensors_dtype_unsupported",
        fmt::format("tensors of dtype {} cannot be stored in safetensors; convert them to float32, float16, "
                    "bfloat16 or an integer type first",
                    c10::toString(type)));
}

// The Rust safetensors crate rejects headers above 100,000,000 bytes, and so does this reader.
inline constexpr std::uint64_t safetensors_max_header_size = 100'000'000;

[[noreturn]] inline void raise_invalid_safetensors(const std::filesystem::path& path, std::string_view problem) {
  raise("sri.io.safetensors_invalid",
        fmt::format("invalid safetensors file {}: {}; the file is damaged or not safetensors, so write it again "
                    "(for example with safetensors.torch.save_file)",
                    path, problem));
}

// Parses one tensor entry of the header and checks its dtype, shape and byte count.
inline SafetensorsTensorInfo parse_safetensors_entry(const std::filesystem::path& path, const std::string& name,
                                                     const nlohmann::ordered_json& entry) {
  if (!entry.is_object()) {
    raise_invalid_safetensors(path, fmt::format("the entry of tensor '{}' is not a JSON object", name));
  }
  for (const char* key : {"dtype", "shape", "data_offsets"}) {
    if (!entry.contains(key)) {
      raise_invalid_safetensors(path, fmt::format("tensor '{}' has no \"{}\" field", name, key));
    }
  }

  SafetensorsTensorInfo info;
  info.name = name;
  const auto& dtype = entry["dtype"];
  if (!dtype.is_string()) raise_invalid_safetensors(path, fmt::format("tensor '{}': \"dtype\" is not a string", name));
  info.dtype = dtype.get<std::string>();
  const SafetensorsDtype* known = find_safetensors_dtype(info.dtype);
  if (known == nullptr) {
    raise_invalid_safetensors(path, fmt::format("tensor '{}' has unknown dtype \"{}\"", name, info.dtype));
  }

  const auto& shape = entry["shape"];
  if (!shape.is_array()) raise_invalid_safetensors(path, fmt::format("tensor '{}': \"shape\" is not an array", name));
  std::uint64_t element_count = 1;
  bool overflow = false;
  for (const auto& dim : shape) {
    if (!dim.is_number_unsigned()) {
      raise_invalid_safetensors(path, fmt::format("tensor '{}' has shape {}; dimensions must be non-negative integers",
                                                  name, shape.dump()));
    }
    const std::uint64_t extent = dim.get<std::uint64_t>();
    if (extent > static_cast<std::uint64_t>(std::numeric_limits<int64_t>::max())) overflow = true;
    if (extent != 0 && element_count > std::numeric_limits<std::uint64_t>::max() / extent) overflow = true;
    element_count *= extent;
    info.shape.push_back(static_cast<int64_t>(extent));
  }
  if (overflow || element_count > std::numeric_limits<std::uint64_t>::max() / known->size) {
    raise_invalid_safetensors(path, fmt::format("tensor '{}' has shape {}, which is too large", name, shape.dump()));
  }

  const auto& offsets = entry["data_offsets"];
  if (!offsets.is_array() || offsets.size() != 2 || !offsets[0].is_number_unsigned() ||
      !offsets[1].is_number_unsigned()) {
    raise_invalid_safetensors(
        path, fmt::format("tensor '{}' has data_offsets {}; expected [begin, end] with non-negative integers", name,
                          offsets.dump()));
  }
  const std::uint64_t begin = offsets[0].get<std::uint64_t>();
  const std::uint64_t end = offsets[1].get<std::uint64_t>();
  if (end < begin) {
    raise_invalid_safetensors(path, fmt::format("tensor '{}' has data_offsets [{}, {}] with end before begin", name,
                                                begin, end));
  }
  const std::uint64_t expected_bytes = element_count * known->size;
  if (end - begin != expected_bytes) {
    raise_invalid_safetensors(
        path, fmt::format("tensor '{}' ({} {}) needs {} bytes but its data_offsets [{}, {}] cover {} bytes", name,
                          info.dtype, shape.dump(), expected_bytes, begin, end, end - begin));
  }
  info.begin = static_cast<std::size_t>(begin);
  info.end = static_cast<std::size_t>(end);
  return info;
}

}  // namespace detail

// A memory-mapped, read-only safetensors file whose header is validated on open.
class SafetensorsFile {
 public:
  // Throws sri.io.file_not_found, sri.io.read_failed or sri.io.safetensors_invalid.
  explicit SafetensorsFile(const std::filesystem::path& path)
      : mapping_(std::make_shared<detail::MappedFile>(path)) {
    const std::size_t file_size = mapping_->size();
    if (file_size < 8) {
      detail::raise_invalid_safetensors(path, fmt::format("the file has {} bytes, fewer than the 8-byte header length",
                                                          file_size));
    }
    std::uint64_t header_size = 0;
    const auto* head = reinterpret_cast<const unsigned char*>(mapping_->data());
    for (int i = 7; i >= 0; --i) header_size = (header_size << 8) | head[i];
    if (header_size > detail::safetensors_max_header_size) {
      detail::raise_invalid_safetensors(path, fmt::format("the header length is {} bytes, above the limit of {}",
                                                          header_size, detail::safetensors_max_header_size));
    }
    if (header_size > file_size - 8) {
      detail::raise_invalid_safetensors(
          path, fmt::format("the header length is {} bytes but only {} bytes follow it (truncated file?)", header_size,
                            file_size - 8));
    }
    data_offset_ = 8 + static_cast<std::size_t>(header_size);
    parse_header(std::string_view(reinterpret_cast<const char*>(head) + 8, static_cast<std::size_t>(header_size)),
                 file_size - data_offset_);
  }

  [[nodiscard]] const std::filesystem::path& path() const noexcept { return mapping_->path(); }
  [[nodiscard]] const std::map<std::string, std::string>& metadata() const noexcept { return metadata_; }
  [[nodiscard]] const std::vector<SafetensorsTensorInfo>& tensors() const noexcept { return tensors_; }

  [[nodiscard]] bool contains(std::string_view name) const { return index_.find(name) != index_.end(); }

  // Throws sri.io.tensor_not_found listing the tensors the file has.
  [[nodiscard]] const SafetensorsTensorInfo& info(std::string_view name) const {
    const auto found = index_.find(name);
    if (found == index_.end()) {
      std::vector<std::string_view> names;
      for (const auto& tensor : tensors_) names.push_back(tensor.name);
      raise("sri.io.tensor_not_found", fmt::format("tensor '{}' not found in {}; the file has: {}", name, path(),
                                                   names.empty() ? std::string("no tensors")
                                                                 : fmt::format("{}", fmt::join(names, ", "))));
    }
    return tensors_[found->second];
  }

  // Returns a CPU tensor over the mapped bytes without copying, and the tensor keeps the mapping
  // alive. Writes to it change private copy-on-write pages, not the file. Data that is not aligned to its
  // element size (possible in files from other writers) is copied instead.
  [[nodiscard]] at::Tensor tensor(std::string_view name) const {
    const SafetensorsTensorInfo& entry = info(name);
    const detail::SafetensorsDtype* dtype = detail::find_safetensors_dtype(entry.dtype);
    if (!dtype->scalar_type) {
      raise("sri.io.safetensors_dtype_unsupported",
            fmt::format("tensor '{}' in {} has dtype {}, which libtorch cannot represent; convert it to F32, F16 or "
                        "BF16 when saving",
                        name, path(), entry.dtype));
    }
    const auto options = at::TensorOptions().dtype(*dtype->scalar_type).device(at::kCPU);
    if (entry.begin == entry.end) return at::empty(entry.shape, options);

    std::byte* address = mapping_->data() + data_offset_ + entry.begin;
    if (reinterpret_cast<std::uintptr_t>(address) % dtype->size != 0) {
      at::Tensor copy = at::empty(entry.shape, options);
      std::memcpy(copy.data_ptr(), address, entry.end - entry.begin);
      return copy;
    }
    std::shared_ptr<detail::MappedFile> keep_alive = mapping_;
    return at::from_blob(
        address, entry.shape, [keep_alive](void*) mutable { keep_alive.reset(); }, options);
  }

 private:
  void parse_header(std::string_view text, std::size_t data_size) {
    const std::filesystem::path& file = mapping_->path();
    if (text.empty() || text.front() != '{') {
      detail::raise_invalid_safetensors(file, "the header does not start with '{'");
    }

    // A JSON object with a repeated key would silently keep one of the values, so count the keys of
    // the top-level object while parsing.
    std::set<std::string> keys;
    std::string duplicate;
    const auto watch_keys = [&](int depth, nlohmann::ordered_json::parse_event_t event, nlohmann::ordered_json& value) {
      if (event == nlohmann::ordered_json::parse_event_t::key && depth == 1) {
        if (!keys.insert(value.get<std::string>()).second && duplicate.empty()) duplicate = value.get<std::string>();
      }
      return true;
    };
    nlohmann::ordered_json header;
    try {
      header = nlohmann::ordered_json::parse(text.begin(), text.end(), watch_keys);
    } catch (const nlohmann::json::exception& error) {
      detail::raise_invalid_safetensors(file, fmt::format("the header is not valid JSON ({})", error.what()));
    }
    if (!header.is_object()) detail::raise_invalid_safetensors(file, "the header is not a JSON object");
    if (!duplicate.empty()) {
      detail::raise_invalid_safetensors(file, fmt::format("the header lists '{}' twice", duplicate));
    }

    for (const auto& [key, value] : header.items()) {
      if (key == "__metadata__") {
        parse_metadata(value);
        continue;
      }
      tensors_.push_back(detail::parse_safetensors_entry(file, key, value));
    }

    // The tensors must cover the data section exactly: sorted by offset, each starts where the
    // previous one ends, the first at 0 and the last at the end of the file.
    std::vector<const SafetensorsTensorInfo*> by_offset;
    for (const auto& tensor : tensors_) by_offset.push_back(&tensor);
    std::stable_sort(by_offset.begin(), by_offset.end(), [](const auto* a, const auto* b) {
      return a->begin != b->begin ? a->begin < b->begin : a->end < b->end;
    });
    std::size_t expected_begin = 0;
    const SafetensorsTensorInfo* previous = nullptr;
    for (const auto* tensor : by_offset) {
      if (tensor->begin < expected_begin) {
        detail::raise_invalid_safetensors(
            file, fmt::format("tensors '{}' [{}, {}] and '{}' [{}, {}] overlap", previous->name, previous->begin,
                              previous->end, tensor->name, tensor->begin, tensor->end));
      }
      if (tensor->begin > expected_begin) {
        detail::raise_invalid_safetensors(
            file, fmt::format("{} bytes before tensor '{}' (offset {}) belong to no tensor", tensor->begin - expected_begin,
                              tensor->name, tensor->begin));
      }
      expected_begin = tensor->end;
      previous = tensor;
    }
    if (expected_begin > data_size) {
      detail::raise_invalid_safetensors(
          file, fmt::format("tensor '{}' ends at data offset {} but the data section has only {} bytes (truncated "
                            "file?)",
                            previous->name, expected_begin, data_size));
    }
    if (expected_begin < data_size) {
      detail::raise_invalid_safetensors(
          file, fmt::format("the data section has {} bytes but the tensors cover only {}", data_size, expected_begin));
    }

    for (std::size_t i = 0; i < tensors_.size(); ++i) index_.emplace(tensors_[i].name, i);
  }

  void parse_metadata(const nlohmann::ordered_json& value) {
    if (!value.is_object()) {
      detail::raise_invalid_safetensors(mapping_->path(), "\"__metadata__\" is not a JSON object");
    }
    for (const auto& [key, text] : value.items()) {
      if (!text.is_string()) {
        detail::raise_invalid_safetensors(
            mapping_->path(), fmt::format("metadata entry '{}' is {}; metadata values must be strings", key, text.dump()));
      }
      metadata_.emplace(key, text.get<std::string>());
    }
  }

  std::shared_ptr<detail::MappedFile> mapping_;
  std::size_t data_offset_ = 0;
  std::map<std::string, std::string> metadata_;
  std::vector<SafetensorsTensorInfo> tensors_;
  std::map<std::string, std::size_t, std::less<>> index_;
};

// Writes `tensors` in the given order with `metadata` as "__metadata__", atomically (temporary file
// plus rename). Tensors are made contiguous CPU first. The header is padded with spaces to a multiple
// of 8 bytes, as the reference writer does, so the data of every tensor is 8-byte aligned.
// Throws sri.io.invalid_argument for an empty or repeated name or the reserved name "__metadata__".
inline void write_safetensors(const std::filesystem::path& path,
                              const std::vector<std::pair<std::string, at::Tensor>>& tensors,
                              const std::map<std::string, std::string>& metadata = {}) {
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) {
    nlohmann::ordered_json entries = nlohmann::ordered_json::object();
    for (const auto& [key, value] : metadata) entries[key] = value;
    header["__metadata__"] = std::move(entries);
  }

  std::vector<at::Tensor> contiguous;
  contiguous.reserve(tensors.size());
  std::set<std::string_view> names;
  std::size_t offset = 0;
  for (const auto& [name, tensor] : tensors) {
    if (name.empty() || name == "__metadata__") {
      raise("sri.io.invalid_argument",
            fmt::format("invalid tensor name '{}' for {}; names must be non-empty and not \"__metadata__\"", name, path));
    }
    if (!names.insert(name).second) {
      raise("sri.io.invalid_argument", fmt::format("tensor name '{}' is given twice for {}; names must be unique", name, path));
    }
    if (!tensor.defined()) {
      raise("sri.io.invalid_argument", fmt::format("tensor '{}' for {} is undefined", name, path));
    }
    at::Tensor data = tensor.to(at::kCPU).contiguous();
    const std::string_view dtype = detail::safetensors_dtype_name(data.scalar_type());
    const std::size_t bytes = static_cast<std::size_t>(data.numel()) * data.element_size();
    header[name] = {{"dtype", dtype}, {"shape", data.sizes().vec()}, {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
    contiguous.push_back(std::move(data));
  }

  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');
  unsigned char length[8];
  for (int i = 0; i < 8; ++i) length[i] = static_cast<unsigned char>((text.size() >> (8 * i)) & 0xFF);

  AtomicWriter writer(path);
  writer.write(length, sizeof length);
  writer.write(text);
  for (const auto& data : contiguous) {
    writer.write(data.data_ptr(), static_cast<std::size_t>(data.numel()) * data.element_size());
  }
  writer.commit();
}

}  // namespace sri::io
