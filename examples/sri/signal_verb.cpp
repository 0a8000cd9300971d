// sri signal: scores saved activations against saved centers. This is the tool's only source that
// includes libtorch (through the io readers of .pt and safetensors files).

#include "cli_support.hpp"
#include "progress_bar.hpp"
#include "verbs.hpp"

#include <sri/core/centers.hpp>
#include <sri/core/metric.hpp>
#include <sri/core/signal.hpp>
#include <sri/error.hpp>
#include <sri/io/activations.hpp>
#include <sri/io/signals.hpp>
#include <sri/io/centers_file.hpp>
#include <sri/version.hpp>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace sri::cli {
namespace {

struct SignalOptions {
  ModelSignalRequest model;  // the --model form; its other fields are copied from below
  std::string centers;
  std::string activations;
  std::string json_output;
  std::string csv_output;
  std::string csv_layout = "long";
  std::string metric = "cosine";
  double sig_t = 0.1;
  double eps = 1e-8;
};


io::CentersFile read_centers_file(const std::string& path) {
  require_input_file(path, "--centers");
  require_extension(path, {".pt", ".pth", ".safetensors"}, "--centers");
  return io::load_centers(path);
}

// Scores every record with `metric` and reports progress after each one.
template <class Metric>
std::vector<io::SignalRecord> score_all(const CenterPair& centers, const std::vector<io::NamedActivations>& records,
                                        const SignalOptions& options, Metric metric, const ProgressCallback& progress,
                                        const std::string& centers_path) {
  if constexpr (requires { metric.eps; }) metric.eps = options.eps;  // the reference uses one eps for both
  const SignalKernel<Metric> kernel(centers, SignalParams{options.sig_t, options.eps}, metric);

  std::vector<io::SignalRecord> signals;
  signals.reserve(records.size());
  for (std::size_t i = 0; i < records.size(); ++i) {
    const io::NamedActivations& record = records[i];
    if (record.data.rows() > kernel.steps() || record.data.cols() != kernel.hidden()) {
      raise("sri.cli.shape_mismatch",
            fmt::format("activations '{}' in {} are [{} steps, {} hidden] but the centers in {} are [{} steps, {} "
                        "hidden]; score activations from the model and step count the centers were built with",
                        record.name, options.activations, record.data.rows(), record.data.cols(), centers_path,
                        kernel.steps(), kernel.hidden()));
    }
    const RowVectorXf sigma = kernel.score(record.data);  // [steps]
    io::SignalRecord signal;
    signal.name = record.name;
    signal.signal.assign(sigma.data(), sigma.data() + sigma.size());
    signals.push_back(std::move(signal));
    if (progress) progress(Progress{"scoring", i + 1, records.size(), "prompts"});
  }
  return signals;
}

// Prints one row per prompt: steps, first, minimum, mean and last sigma.
void print_table(const io::SignalSet& set) {
  std::size_t name_width = 4;
  for (const io::SignalRecord& record : set.signals) name_width = std::max(name_width, std::min<std::size_t>(record.name.size(), 40));
  fmt::print("{:<{}}  {:>5}  {:>7}  {:>7}  {:>7}  {:>7}\n", "name", name_width, "steps", "first", "min", "mean", "last");
  for (const io::SignalRecord& record : set.signals) {
    const auto& values = record.signal;
    double sum = 0.0;
    for (const double value : values) sum += value;
    const std::string name = record.name.size() > 40 ? record.name.substr(0, 39) + "~" : record.name;
    fmt::print("{:<{}}  {:>5}  {:>7.4f}  {:>7.4f}  {:>7.4f}  {:>7.4f}\n", name, name_width, values.size(),
               values.front(), *std::min_element(values.begin(), values.end()),
               sum / static_cast<double>(values.size()), values.back());
  }
}

void run_signal(const SignalOptions& options, const GlobalOptions& globals) {
  if (!options.json_output.empty()) {
    require_extension(options.json_output, {".json"}, "--json");
    require_output_folder(options.json_output, "--json");
  }
  if (!options.csv_output.empty()) {
    require_extension(options.csv_output, {".csv"}, "--csv");
    require_output_folder(options.csv_output, "--csv");
  }

  const io::CentersFile centers = read_centers_file(options.centers);
  require_input_file(options.activations, "--activations");
  const std::vector<io::NamedActivations> records = io::read_activations(options.activations);

  ProgressBar bar(stderr, ProgressBar::mode_for(stderr, globals.quiet));
  io::SignalSet set;
  Metrics::visit(options.metric, [&](auto metric) {
    set.signals = score_all(centers.centers, records, options, metric, bar.callback(), options.centers);
  });
  bar.finish();

  set.metadata = {{"tool", "sri signal"},
                  {"sri_version", sri::version_string},
                  {"centers", options.centers},
                  {"activations", options.activations},
                  {"metric", options.metric},
                  {"sig_t", options.sig_t},
                  {"eps", options.eps},
                  {"centers_source", io::to_string(centers.source)}};
  if (centers.metadata) {
    set.metadata["centers_model"] = centers.metadata->model_name;
    set.metadata["centers_hook_point"] = centers.metadata->hook_point;
    set.metadata["centers_pooling"] = centers.metadata->pooling;
  }
  if (options.json_output.empty() && options.csv_output.empty()) {
    print_table(set);
    return;
  }
  if (!options.json_output.empty()) io::write_signals_json(options.json_output, set);
  if (!options.csv_output.empty()) {
    io::write_signals_csv(options.csv_output, set,
                          options.csv_layout == "wide" ? io::SignalsCsvLayout::wide : io::SignalsCsvLayout::long_form);
  }
}

}  // namespace

Verb add_signal_verb(CLI::App& app, const GlobalOptions& globals) {
  auto options = std::make_shared<SignalOptions>();
  CLI::App* command = app.add_subcommand("signal", "Score saved activations against saved centers (the SRI signal)");
  command->add_option("--centers", options->centers,
                      "Centers file: the library's .safetensors centers (sri::io::write_centers) or the "
                      "reference's torch.save((harmless, harmful)) .pt file; two [steps, hidden] tensors")
      ->required();
  CLI::Option* activations =
      command->add_option("--activations", options->activations,
                          "Activations file: safetensors with one [steps, hidden] tensor per prompt, or a torch.save .pt "
                          "file with a list, dict or stacked [prompts, steps, hidden] tensor");
  CLI::Option* model = command->add_option(
      "--model", options->model.model,
      "Generate the prompts with this model (.gguf or Hugging Face folder) instead of reading activations; the "
      "centers must be library centers, whose profile, hook point and pooling rule are reused");
  command->add_option("--prompt", options->model.prompts, "Prompt to generate and score with --model (repeatable); default: three built-in test prompts");
  command->add_option("--prompts", options->model.prompts_file, "File of prompts to generate and score with --model");
  command->add_option("--threads", options->model.threads, "CPU threads for --model; 0 keeps libtorch's default")
      ->capture_default_str();
  activations->excludes(model);
  model->excludes(activations);
  command->add_option("--json", options->json_output,
                      "Write the signals as JSON: {\"signals\": [{\"name\", \"signal\": [sigma per step]}]} in file "
                      "order, plus \"metadata\"");
  command->add_option("--csv", options->csv_output, "Write the signals as CSV (see --csv-layout)");
  command->add_option("--csv-layout", options->csv_layout,
                      "CSV layout: long (name,step,signal rows, steps from 0) or wide (one row per prompt)")
      ->capture_default_str()
      ->check(CLI::IsMember({"long", "wide"}));
  command->add_option("--sig-t", options->sig_t,
                      "Signal temperature tau: the log-distance ratio is divided by it before the sigmoid")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  command->add_option("--eps", options->eps,
                      "Constant added to each distance before the log, and to vector norms in the cosine and angular "
                      "metrics")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  command->add_option("--metric", options->metric, "Distance between a step activation and a center")
      ->capture_default_str()
      ->check(CLI::IsMember(Metrics::ids()));
  command->footer(
      "Without --json or --csv, prints a table: steps, first, minimum, mean and last sigma per prompt.\n"
      "Example: sri signal --centers centers.pt --activations acts.safetensors --json signals.json");
  return Verb{command, [options, &globals, activations, model] {
                if (model->count() > 0) {
                  ModelSignalRequest request = options->model;
                  request.centers = options->centers;
                  request.json_output = options->json_output;
                  request.csv_output = options->csv_output;
                  request.metric = options->metric;
                  request.sig_t = options->sig_t;
                  request.eps = options->eps;
                  run_model_signal(request, globals);
                  return;
                }
                if (activations->count() == 0) {
                  raise("sri.cli.missing_input", "sri signal needs --activations FILE, or --model PATH with --prompt "
                                                 "TEXT or --prompts FILE");
                }
                run_signal(*options, globals);
              }};
}

}  // namespace sri::cli
