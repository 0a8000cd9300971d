#pragma once

// PyTorch `.pt` files (the zip format that torch.save writes by default since PyTorch 1.6), read and
// written through libtorch's pickle support (torch::jit::pickle_load / pickle_save, present in
// libtorch 1.13 and 2.x). Two shapes of content matter to sri:
//  - the reference's centers file: torch.save((harmless, harmful)), two [T, D] tensors;
//  - activations saved by a Python user: a list or tuple of [T, D] tensors, or a dict name -> tensor.

#include <sri/error.hpp>
#include <sri/io/atomic_file.hpp>

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <fmt/std.h>
#include <torch/csrc/jit/serialization/pickle.h>

#include <cstddef>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sri::io {

// The two [T, D] centers of the reference's centers file.
struct TorchCenters {
  at::Tensor harmless;  // [steps, hidden]
  at::Tensor harmful;   // [steps, hidden]
};

namespace detail {

inline std::vector<char> read_whole_file(const std::filesystem::path& path) {
  std::error_code error;
  if (!std::filesystem::exists(path, error)) {
    raise("sri.io.file_not_found", fmt::format("file not found: {}; check the path", path));
  }
  if (!std::filesystem::is_regular_file(path, error)) {
    raise("sri.io.read_failed", fmt::format("{} is not a regular file; pass a file, not a folder or device", path));
  }
  std::ifstream in(path, std::ios::binary);
  std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) raise("sri.io.read_failed", fmt::format("failed to read {}", path));
  return bytes;
}

[[noreturn]] inline void raise_invalid_torch_file(const std::filesystem::path& path, std::string_view problem) {
  raise("sri.io.torch_pt_invalid", fmt::format("cannot read {} as a torch.save file: {}", path, problem));
}

// Describes an unpickled value for error messages, e.g. "a list of 3 values".
inline std::string describe_ivalue(const c10::IValue& value) {
  if (value.isTensor()) {
    const at::Tensor& tensor = value.toTensor();
    return fmt::format("a {} tensor of shape [{}]", c10::toString(tensor.scalar_type()),
                       fmt::join(tensor.sizes().vec(), ", "));
  }
  if (value.isTuple()) return fmt::format("a tuple of {} values", value.toTupleRef().elements().size());
  if (value.isList()) return fmt::format("a list of {} values", value.toListRef().size());
  if (value.isGenericDict()) return fmt::format("a dict of {} entries", value.toGenericDict().size());
  return fmt::format("a value of type {}", value.tagKind());
}

}  // namespace detail

// Unpickles a torch.save file. Throws sri.io.file_not_found, sri.io.read_failed or
// sri.io.torch_pt_invalid (not a zip archive, or content libtorch cannot rebuild).
// NOTE: tensors saved from a GPU load only in a libtorch built with that GPU's support. Saving them
// with `.cpu()` first makes them loadable everywhere.
inline c10::IValue read_torch_pickle(const std::filesystem::path& path) {
  std::vector<char> bytes = detail::read_whole_file(path);
  if (bytes.size() < 4 || bytes[0] != 'P' || bytes[1] != 'K') {
    detail::raise_invalid_torch_file(
        path, "it is not a zip archive; save it with torch.save in its default zip format (PyTorch 1.6 or later, "
              "without _use_new_zipfile_serialization=False)");
  }
  try {
    return torch::jit::pickle_load(bytes);
  } catch (const c10::Error& error) {
    detail::raise_invalid_torch_file(path, fmt::format("libtorch could not unpickle it ({})", error.what_without_backtrace()));
  } catch (const std::exception& error) {
    detail::raise_invalid_torch_file(path, fmt::format("libtorch could not unpickle it ({})", error.what()));
  }
}

// Reads the reference's centers file, torch.save((harmless, harmful)), keeping the stored dtype.
// Both tensors must be floating point, 2-D and of equal shape. Throws sri.io.torch_pt_invalid
// describing what the file contains instead.
inline TorchCenters read_torch_centers(const std::filesystem::path& path) {
  const c10::IValue value = read_torch_pickle(path);
  const auto expected = "expected a tuple (or list) of two [steps, hidden] floating-point tensors "
                        "(harmless, harmful), as torch.save((harmless, harmful)) writes";
  std::vector<c10::IValue> items;
  if (value.isTuple()) {
    const auto& elements = value.toTupleRef().elements();
    items.assign(elements.begin(), elements.end());
  } else if (value.isList()) {
    const auto elements = value.toListRef();
    items.assign(elements.begin(), elements.end());
  }
  if (items.size() != 2) {
    detail::raise_invalid_torch_file(path, fmt::format("it contains {}; {}", detail::describe_ivalue(value), expected));
  }
  for (std::size_t i = 0; i < 2; ++i) {
    const char* role = i == 0 ? "harmless" : "harmful";
    if (!items[i].isTensor()) {
      detail::raise_invalid_torch_file(
          path, fmt::format("the {} center (item {}) is {}; {}", role, i, detail::describe_ivalue(items[i]), expected));
    }
    const at::Tensor& tensor = items[i].toTensor();
    if (tensor.dim() != 2 || !tensor.is_floating_point()) {
      detail::raise_invalid_torch_file(
          path, fmt::format("the {} center (item {}) is {}; {}", role, i, detail::describe_ivalue(items[i]), expected));
    }
  }
  TorchCenters centers{items[0].toTensor().contiguous(), items[1].toTensor().contiguous()};
  if (centers.harmless.sizes() != centers.harmful.sizes()) {
    detail::raise_invalid_torch_file(
        path, fmt::format("the harmless center has shape [{}] but the harmful center has shape [{}]; both must be "
                          "[steps, hidden]",
                          fmt::join(centers.harmless.sizes().vec(), ", "), fmt::join(centers.harmful.sizes().vec(), ", ")));
  }
  return centers;
}

// Reads a torch.save file holding tensors: a list or tuple (names "0", "1", ... in file order), a
// dict of string keys (names are the keys, in the dict's insertion order) or one tensor (name "0").
inline std::vector<std::pair<std::string, at::Tensor>> read_torch_tensors(const std::filesystem::path& path) {
  const c10::IValue value = read_torch_pickle(path);
  std::vector<std::pair<std::string, at::Tensor>> tensors;
  const auto add = [&](std::string name, const c10::IValue& item) {
    if (!item.isTensor()) {
      detail::raise_invalid_torch_file(
          path, fmt::format("entry '{}' is {}; expected only tensors (a list, tuple or dict of tensors)", name,
                            detail::describe_ivalue(item)));
    }
    tensors.emplace_back(std::move(name), item.toTensor());
  };

  if (value.isTensor()) {
    add("0", value);
  } else if (value.isTuple() || value.isList()) {
    std::vector<c10::IValue> items;
    if (value.isTuple()) {
      const auto& elements = value.toTupleRef().elements();
      items.assign(elements.begin(), elements.end());
    } else {
      const auto elements = value.toListRef();
      items.assign(elements.begin(), elements.end());
    }
    for (std::size_t i = 0; i < items.size(); ++i) add(std::to_string(i), items[i]);
  } else if (value.isGenericDict()) {
    for (const auto& entry : value.toGenericDict()) {
      if (!entry.key().isString()) {
        detail::raise_invalid_torch_file(path, "a dict key is not a string; use string names as keys");
      }
      add(entry.key().toStringRef(), entry.value());
    }
  } else {
    detail::raise_invalid_torch_file(
        path, fmt::format("it contains {}; expected a tensor or a list, tuple or dict of tensors",
                          detail::describe_ivalue(value)));
  }
  return tensors;
}

// Writes torch.save((harmless, harmful)) atomically, loadable by torch.load in Python. The tensors
// keep their dtype, which must be float16, bfloat16 or float32 like the reference's files.
inline void write_torch_centers(const std::filesystem::path& path, const at::Tensor& harmless,
                                const at::Tensor& harmful) {
  for (const at::Tensor* tensor : {&harmless, &harmful}) {
    const bool allowed = tensor->defined() && (tensor->scalar_type() == at::kHalf ||
                                               tensor->scalar_type() == at::kBFloat16 ||
                                               tensor->scalar_type() == at::kFloat);
    if (!allowed || tensor->dim() != 2) {
      raise("sri.io.invalid_argument",
            fmt::format("cannot write centers to {}: each center must be a 2-D [steps, hidden] float16, bfloat16 or "
                        "float32 tensor, got {}",
                        path, tensor->defined() ? detail::describe_ivalue(*tensor) : std::string("an undefined tensor")));
    }
  }
  if (harmless.sizes() != harmful.sizes()) {
    raise("sri.io.invalid_argument",
          fmt::format("cannot write centers to {}: harmless shape [{}] differs from harmful shape [{}]", path,
                      fmt::join(harmless.sizes().vec(), ", "), fmt::join(harmful.sizes().vec(), ", ")));
  }
  const c10::IValue tuple = c10::ivalue::Tuple::create({harmless.cpu().contiguous(), harmful.cpu().contiguous()});
  const std::vector<char> bytes = torch::jit::pickle_save(tuple);
  write_file_atomically(path, std::string_view(bytes.data(), bytes.size()));
}

// Writes tensors as torch.save((t0, t1, ...)) would, atomically. The container is a tuple because
// libtorch tags a pickled list with its element type through torch.jit._pickle functions, which
// torch.load rejects under weights_only=True (the default since PyTorch 2.6); tuples load everywhere.
inline void write_torch_tensors(const std::filesystem::path& path, const std::vector<at::Tensor>& tensors) {
  std::vector<c10::IValue> items;
  items.reserve(tensors.size());
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    if (!tensors[i].defined()) {
      raise("sri.io.invalid_argument", fmt::format("cannot write {}: tensor {} is undefined", path, i));
    }
    items.emplace_back(tensors[i].cpu().contiguous());
  }
  const std::vector<char> bytes = torch::jit::pickle_save(c10::ivalue::Tuple::create(std::move(items)));
  write_file_atomically(path, std::string_view(bytes.data(), bytes.size()));
}

}  // namespace sri::io
