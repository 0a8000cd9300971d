#pragma once

// Test helpers: a weight source over a Hugging Face folder with one model.safetensors, the golden
// files written by make_golden.py, and a hook that records final-norm rows per step.

#include <ATen/ATen.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "sri/hook/hook.hpp"
#include "sri/io/safetensors.hpp"
#include "sri/model/backbone.hpp"

namespace sri_test {

inline std::filesystem::path golden_dir() { return std::filesystem::path(SRI_TEST_DATA_DIR) / "diffusion" / "golden"; }

inline nlohmann::json read_json(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot open " + path.string());
  return nlohmann::json::parse(in);
}

// config.json plus model.safetensors of a folder, with the WeightSource interface.
class FolderWeights {
 public:
  explicit FolderWeights(const std::filesystem::path& folder)
      : config_(read_json(folder / "config.json")), file_(folder / "model.safetensors") {}
  const nlohmann::json& config() const { return config_; }
  at::Tensor load(std::string_view name, at::ScalarType dtype) const { return file_.tensor(name).to(dtype); }

 private:
  nlohmann::json config_;
  sri::io::SafetensorsFile file_;
};

// Records the final-norm output of every forward pass: steps[s] is [batch, seq, hidden].
struct FinalNormRecorder {
  static constexpr sri::hook::StepKind step_kind = sri::hook::StepKind::any;
  std::vector<at::Tensor> steps;
  sri::hook::RunInfo run;
  std::vector<int64_t> finished;

  void begin(const sri::hook::RunInfo& info) {
    run = info;
    steps.clear();
    finished.assign(static_cast<std::size_t>(info.batch_size), -1);
  }
  sri::model::PositionSelection wants(const sri::model::HookPoint& point, int64_t) {
    return point == sri::model::HookPoint::final_norm_out() ? sri::model::PositionSelection::all()
                                                            : sri::model::PositionSelection::none();
  }
  void receive(const sri::model::HookPoint&, int64_t, const at::Tensor& activations) {
    steps.push_back(activations.to(at::kFloat).clone());
  }
  void finish_row(int64_t row, int64_t step) { finished[static_cast<std::size_t>(row)] = step; }
};

inline std::vector<std::vector<int64_t>> to_rows(const nlohmann::json& rows) {
  return rows.get<std::vector<std::vector<int64_t>>>();
}

// Prompt rows without their left padding, from the golden padded ids and attention mask.
inline std::vector<std::vector<int64_t>> unpadded_prompts(const nlohmann::json& record) {
  auto ids = to_rows(record["prompt_tokens"]);
  auto mask = to_rows(record["attention_mask"]);
  std::vector<std::vector<int64_t>> out;
  for (std::size_t b = 0; b < ids.size(); ++b) {
    std::vector<int64_t> row;
    for (std::size_t j = 0; j < ids[b].size(); ++j) {
      if (mask[b][j] != 0) row.push_back(ids[b][j]);
    }
    out.push_back(row);
  }
  return out;
}

inline at::Tensor to_tensor(const std::vector<std::vector<int64_t>>& rows) {
  at::Tensor t = at::empty({static_cast<int64_t>(rows.size()), static_cast<int64_t>(rows.front().size())},
                           at::TensorOptions().dtype(at::kLong));
  for (std::size_t b = 0; b < rows.size(); ++b) {
    for (std::size_t j = 0; j < rows[b].size(); ++j) t[static_cast<int64_t>(b)][static_cast<int64_t>(j)] = rows[b][j];
  }
  return t;
}

struct Errors {
  double max_abs = 0.0;
  double max_rel = 0.0;  // relative to the largest magnitude of the expected tensor
};

inline Errors compare(const at::Tensor& actual, const at::Tensor& expected) {
  at::Tensor diff = (actual.to(at::kDouble) - expected.to(at::kDouble)).abs();
  const double scale = expected.to(at::kDouble).abs().max().item<double>();
  Errors e;
  e.max_abs = diff.max().item<double>();
  e.max_rel = scale > 0 ? e.max_abs / scale : e.max_abs;
  return e;
}

}  // namespace sri_test
