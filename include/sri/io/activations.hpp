#pragma once

// Activations files for offline scoring: one [T, D] tensor per prompt, either as safetensors (one
// named tensor per prompt) or as a torch.save file (a list or tuple of tensors, a dict name -> tensor,
// or one stacked [N, T, D] tensor). Values come back as float32 row-major Eigen matrices, the core's
// storage type.

#include <sri/core/types.hpp>
#include <sri/error.hpp>
#include <sri/io/safetensors.hpp>
#include <sri/io/torch_pt.hpp>

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <fmt/std.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

namespace sri::io {

// One prompt's per-step activations.
struct NamedActivations {
  std::string name;       // tensor name in the file, or the list index as a string
  RowMatrixXf data;       // [steps, hidden]
};

namespace detail {

inline bool starts_with_zip_magic(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  char magic[2] = {0, 0};
  in.read(magic, 2);
  return in.gcount() == 2 && magic[0] == 'P' && magic[1] == 'K';
}

// Copies a [steps, hidden] floating-point tensor into a float32 row-major matrix.
inline RowMatrixXf to_row_matrix(const at::Tensor& tensor) {
  const at::Tensor values = tensor.to(at::kCPU, at::kFloat).contiguous();  // [steps, hidden]
  RowMatrixXf matrix(values.size(0), values.size(1));
  if (values.numel() > 0) {
    std::memcpy(matrix.data(), values.data_ptr<float>(), static_cast<std::size_t>(values.numel()) * sizeof(float));
  }
  return matrix;
}

}  // namespace detail

// Reads an activations file, in file order. The format is detected from the content: a zip archive
// is a torch.save file, anything else is read as safetensors. Every tensor must be floating point
// and [steps, hidden]. Shapes may differ between records: comparing them with the centers is the
// scorer's job. A file holding a single [N, steps, hidden] tensor gives N records named "0" ... "N-1".
// Throws sri.io.activations_invalid naming the first offending tensor.
// NOTE: the Python safetensors writer orders tensors by dtype alignment and then by name, so names
// "0", "1", ..., "10" come back as "0", "1", "10", "2", ...; zero-padded names keep numeric order.
inline std::vector<NamedActivations> read_activations(const std::filesystem::path& path) {
  std::vector<std::pair<std::string, at::Tensor>> tensors;
  std::error_code error;
  if (!std::filesystem::exists(path, error)) {
    raise("sri.io.file_not_found", fmt::format("activations file not found: {}; check the path", path));
  }
  if (std::filesystem::is_regular_file(path, error) && detail::starts_with_zip_magic(path)) {
    tensors = read_torch_tensors(path);
  } else {
    const SafetensorsFile file(path);
    for (const SafetensorsTensorInfo& info : file.tensors()) tensors.emplace_back(info.name, file.tensor(info.name));
  }

  if (tensors.empty()) {
    raise("sri.io.activations_invalid",
          fmt::format("{} contains no tensors; expected one [steps, hidden] tensor per prompt", path));
  }
  if (tensors.size() == 1 && tensors.front().second.dim() == 3) {
    const at::Tensor stacked = tensors.front().second;  // [prompts, steps, hidden]
    tensors.clear();
    for (int64_t i = 0; i < stacked.size(0); ++i) tensors.emplace_back(std::to_string(i), stacked[i]);
  }

  std::vector<NamedActivations> records;
  records.reserve(tensors.size());
  for (const auto& [name, tensor] : tensors) {
    if (tensor.dim() != 2 || !tensor.is_floating_point()) {
      raise("sri.io.activations_invalid",
            fmt::format("tensor '{}' in {} is a {} tensor of shape [{}]; expected a floating-point [steps, hidden] "
                        "tensor per prompt",
                        name, path, c10::toString(tensor.scalar_type()), fmt::join(tensor.sizes().vec(), ", ")));
    }
    records.push_back({name, detail::to_row_matrix(tensor)});
  }
  return records;
}

// Writes activations as safetensors (float32, one tensor per record, in the given order), atomically.
inline void write_activations(const std::filesystem::path& path, const std::vector<NamedActivations>& records,
                              const std::map<std::string, std::string>& metadata = {}) {
  std::vector<std::pair<std::string, at::Tensor>> tensors;
  tensors.reserve(records.size());
  for (const NamedActivations& record : records) {
    // from_blob does not copy; write_safetensors only reads the data before this function returns.
    at::Tensor view = at::from_blob(const_cast<float*>(record.data.data()), {record.data.rows(), record.data.cols()},
                                    at::TensorOptions().dtype(at::kFloat));  // [steps, hidden]
    tensors.emplace_back(record.name, view);
  }
  write_safetensors(path, tensors, metadata);
}

}  // namespace sri::io
