#pragma once

// Shared helpers of the model tests: golden-file access, a capturing hook and error statistics.

#include <ATen/ATen.h>
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "sri/hook/hook.hpp"
#include "sri/io/safetensors.hpp"
#include "sri/model/llama.hpp"

namespace sri_test {

inline std::filesystem::path golden_dir() { return std::filesystem::path(SRI_TEST_DATA_DIR) / "model" / "golden"; }

inline nlohmann::json read_json(const std::filesystem::path& path) {
  std::ifstream in(path);
  REQUIRE_MESSAGE(in.good(), "cannot open " << path);
  return nlohmann::json::parse(in);
}

// A tiny Hugging Face folder opened with the safetensors reader: the file stays mapped while the
// model's weights may view it.
struct TinyModel {
  std::shared_ptr<sri::io::SafetensorsFile> file;
  nlohmann::json golden;
  sri::model::Llama model;
};

inline sri::model::WeightSource weights_of_file(std::shared_ptr<sri::io::SafetensorsFile> file) {
  return {[file](const std::string& name) { return file->contains(name); },
          [file](const std::string& name, at::ScalarType dtype) { return file->tensor(name).to(dtype); }};
}

inline TinyModel load_tiny(const std::string& name, std::vector<int64_t> end_ids = {}) {
  const auto folder = golden_dir() / name;
  auto file = std::make_shared<sri::io::SafetensorsFile>(folder / "model.safetensors");
  nlohmann::json config = read_json(folder / "config.json");
  nlohmann::json golden = read_json(golden_dir() / (name + ".json"));
  if (end_ids.empty()) end_ids = golden["end_token_ids"].get<std::vector<int64_t>>();
  sri::model::ModelConfig parsed = sri::model::ModelConfig::from_hf_json(config, config["model_type"].get<std::string>());
  sri::model::Llama model(parsed, weights_of_file(file), end_ids);
  return {file, std::move(golden), std::move(model)};
}

// Records a copy of every delivered activation of one hook point, per step.
struct Capture {
  static constexpr sri::hook::StepKind step_kind = sri::hook::StepKind::any;

  sri::model::HookPoint point = sri::model::HookPoint::final_norm_out();
  sri::model::PositionSelection selection = sri::model::PositionSelection::all();
  std::map<int64_t, at::Tensor> by_step;  // step -> [batch, selected, hidden]
  std::vector<std::string> delivered;     // hook point names in delivery order
  std::vector<std::pair<int64_t, int64_t>> finished;  // (row, steps)

  void begin(const sri::hook::RunInfo&) {}
  sri::model::PositionSelection wants(const sri::model::HookPoint& p, int64_t) const {
    return p == point ? selection : sri::model::PositionSelection::none();
  }
  void receive(const sri::model::HookPoint& p, int64_t step, const at::Tensor& activations) {
    delivered.push_back(p.name());
    by_step[step] = activations.to(at::kFloat).clone();
  }
  void finish_row(int64_t row, int64_t steps) { finished.emplace_back(row, steps); }
};
static_assert(sri::hook::Hook<Capture>, "the test capture hook must satisfy the Hook concept");

// Largest absolute and relative difference between a tensor and golden values.
struct ErrorStats {
  double max_abs = 0.0;
  double max_rel = 0.0;  // |a - b| / max(|b|, 1e-3)
};

inline ErrorStats compare(const at::Tensor& actual, const std::vector<double>& expected) {
  at::Tensor flat = actual.to(at::kDouble).contiguous().view({-1});
  REQUIRE(flat.numel() == static_cast<int64_t>(expected.size()));
  const double* a = flat.data_ptr<double>();
  ErrorStats stats;
  for (std::size_t i = 0; i < expected.size(); ++i) {
    const double diff = std::abs(a[i] - expected[i]);
    stats.max_abs = std::max(stats.max_abs, diff);
    stats.max_rel = std::max(stats.max_rel, diff / std::max(std::abs(expected[i]), 1e-3));
  }
  return stats;
}

inline at::Tensor ids_tensor(const std::vector<int64_t>& ids) {
  return at::tensor(ids, at::TensorOptions().dtype(at::kLong)).view({1, -1});  // [1, seq]
}

}  // namespace sri_test
