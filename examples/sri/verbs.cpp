// The one list of the tool's verbs.

#include "verbs.hpp"

namespace sri::cli {

std::vector<Verb> add_verbs(CLI::App& app, const GlobalOptions& globals) {
  std::vector<Verb> verbs;
  verbs.push_back(add_run_verb(app, globals));
  verbs.push_back(add_centers_verb(app, globals));
  verbs.push_back(add_signal_verb(app, globals));
  verbs.push_back(add_judge_verb(app, globals));
  verbs.push_back(add_plot_verb(app, globals));
  return verbs;
}

}  // namespace sri::cli
