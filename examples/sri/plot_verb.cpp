// sri plot: draws a signals file (JSON or CSV) as a PNG or SVG figure.

#include "cli_support.hpp"
#include "verbs.hpp"

#include <sri/error.hpp>
#include <sri/io/signals.hpp>
#include <sri/plot/figure.hpp>

#include <fmt/format.h>

#include <memory>
#include <string>
#include <vector>

namespace sri::cli {
namespace {

struct PlotOptions {
  std::string signals;
  std::vector<std::string> outputs;
  std::string title;
  bool text_signal = false;
  double width = 960.0;
  double height = 540.0;
  double scale = 1.0;
  std::vector<double> thresholds;
};

io::SignalSet read_signals(const std::string& path) {
  require_input_file(path, "--signals");
  require_extension(path, {".json", ".csv"}, "--signals");
  return lower_extension(path) == ".csv" ? io::read_signals_csv(path) : io::read_signals_json(path);
}

// Converts the records to figure series: the label is the prompt when the file has one, else the
// record name; the text-level signal is included only under --text-signal.
std::vector<plot::Series> to_series(const io::SignalSet& set, bool with_text_signal, const std::string& source) {
  if (set.signals.empty()) {
    raise("sri.cli.no_signals", fmt::format("--signals: {} contains no signals; nothing to plot", source));
  }
  std::vector<plot::Series> series;
  bool any_text_signal = false;
  for (const io::SignalRecord& record : set.signals) {
    plot::Series one;
    one.label = record.prompt.value_or(record.name);
    one.signal.assign(record.signal.begin(), record.signal.end());
    if (with_text_signal && record.text_signal) {
      one.text_signal.assign(record.text_signal->begin(), record.text_signal->end());
      any_text_signal = true;
    }
    series.push_back(std::move(one));
  }
  if (with_text_signal && !any_text_signal) {
    raise("sri.cli.no_text_signal",
          fmt::format("--text-signal: no record in {} has a \"text_signal\" field; drop the flag or plot a file "
                      "written by a run that decodes text",
                      source));
  }
  return series;
}

void run_plot(const PlotOptions& options) {
  // Check every output before drawing, so that an invalid second --out leaves no first figure.
  for (const std::string& output : options.outputs) {
    (void)plot::figure_format_for(output);
    require_output_folder(output, "--out");
  }
  const io::SignalSet set = read_signals(options.signals);
  const std::vector<plot::Series> series = to_series(set, options.text_signal, options.signals);

  plot::FigureOptions figure;
  figure.title = options.title;
  figure.width = options.width;
  figure.height = options.height;
  figure.scale = options.scale;
  figure.refusal_thresholds = options.thresholds;

  // Render all figures before writing any, so a rendering error writes nothing.
  std::vector<std::string> rendered;
  for (const std::string& output : options.outputs) {
    rendered.push_back(plot::render_figure(series, figure, plot::figure_format_for(output)));
  }
  for (std::size_t i = 0; i < options.outputs.size(); ++i) io::write_file_atomically(options.outputs[i], rendered[i]);
}

}  // namespace

Verb add_plot_verb(CLI::App& app, const GlobalOptions& /*globals*/) {
  auto options = std::make_shared<PlotOptions>();
  CLI::App* command = app.add_subcommand("plot", "Draw SRI signals as a PNG or SVG figure");
  command->add_option("--signals", options->signals,
                      "Signals file to draw: JSON (as written by 'sri signal --json') or CSV (long or wide layout)")
      ->required();
  command->add_option("-o,--out", options->outputs,
                      "Figure file; the extension .png or .svg selects the format. Repeat to write both")
      ->required();
  command->add_option("--title", options->title, "Title above the figure (default: none)");
  command->add_flag("--text-signal", options->text_signal,
                    "Also draw each prompt's text-level signal (1 until a refusal phrase appears, then 0) as a dashed "
                    "line in the prompt's colour; the file must contain \"text_signal\" fields");
  command->add_option("--width", options->width, "Figure width in CSS pixels (1/96 inch)")
      ->capture_default_str()
      ->check(CLI::Range(240.0, 8192.0));
  command->add_option("--height", options->height,
                      "Figure height in CSS pixels; grows when the legend needs more rows")
      ->capture_default_str()
      ->check(CLI::Range(160.0, 8192.0));
  command->add_option("--scale", options->scale,
                      "PNG pixels per CSS pixel: 2 doubles the resolution (192 dpi); ignored for SVG")
      ->capture_default_str()
      ->check(CLI::Range(0.25, 8.0));
  command->add_option("--threshold", options->thresholds,
                      "Extra refusal threshold drawn as a dotted line, strictly between 0 and 0.5; repeat for "
                      "several (for example --threshold 0.3 --threshold 0.1). The 0.5 threshold is always drawn")
      ->check(CLI::Range(0.0, 0.5));
  command->footer("Example: sri plot --signals signals.json --out signals.png --out signals.svg --title \"SmolLM2\"");
  return Verb{command, [options] { run_plot(*options); }};
}

}  // namespace sri::cli
