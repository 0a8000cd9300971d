#pragma once

// The verbs of the sri tool. Each verb lives in its own source file, adds its subcommand and
// options to the application, and returns the function that runs it after parsing. verbs.cpp
// lists them all; add a new verb there.

#include <CLI/CLI.hpp>

#include <functional>
#include <string>
#include <vector>

namespace sri::cli {

// Options that apply to every verb.
struct GlobalOptions {
  bool quiet = false;  // no progress output
};

// A registered subcommand and the function that runs it. `run` reports failures by throwing
// sri::Error (exit code 1); it returns normally on success (exit code 0).
struct Verb {
  CLI::App* command = nullptr;
  std::function<void()> run;
};

Verb add_run_verb(CLI::App& app, const GlobalOptions& globals);
Verb add_centers_verb(CLI::App& app, const GlobalOptions& globals);
Verb add_signal_verb(CLI::App& app, const GlobalOptions& globals);
Verb add_judge_verb(CLI::App& app, const GlobalOptions& globals);
Verb add_plot_verb(CLI::App& app, const GlobalOptions& globals);

// The model form of `sri signal`: generate prompts with a model and score them against centers
// that carry metadata (model_verbs.cpp).
struct ModelSignalRequest {
  std::string model;    // empty: the default model
  std::string centers;  // library centers file
  std::vector<std::string> prompts;
  std::string prompts_file;
  std::string json_output;
  std::string csv_output;
  std::string metric = "cosine";
  double sig_t = 0.1;
  double eps = 1e-8;
  int threads = 0;
};
void run_model_signal(const ModelSignalRequest& request, const GlobalOptions& globals);

// Adds every verb to `app`, in the order `sri --help` lists them.
std::vector<Verb> add_verbs(CLI::App& app, const GlobalOptions& globals);

}  // namespace sri::cli
