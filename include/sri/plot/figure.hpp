#pragma once

// Figures of SRI step signals in the reference layout: x axis "Generation Step" (1..T), y axis
// "Refusal Score" from 0 to 1, a shaded compliance band for sigma >= 0.5 above a shaded refusal
// band, a dotted threshold line at 0.5, one solid line with markers per signal, an optional dashed
// text-level signal per prompt in the same colour, and a legend to the right of the data.
//
// Pure functions from data to bytes or to a file: nothing here reads global state or prints.
// NOTE: text uses Cairo's toy font API with one family (DejaVu Sans), which has no fallback, so
// characters outside DejaVu (CJK, for example) are drawn as empty boxes in the PNG.

#include <sri/error.hpp>
#include <sri/io/atomic_file.hpp>
#include <sri/plot/canvas.hpp>

#include <fmt/format.h>
#include <fmt/std.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstddef>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace sri::plot {

// One prompt's curve.
struct Series {
  std::string label;
  std::vector<float> signal;       // [T] SRI signal, each value in [0, 1]
  std::vector<float> text_signal;  // [T] text-level signal (0 or 1 per step), or empty for none
};

struct FigureOptions {
  std::string title;                       // empty draws no title
  double width = 960.0;                    // figure width in units of 1/96 inch (CSS pixels)
  double height = 540.0;                   // figure height in the same units; grows when the legend needs it
  double scale = 1.0;                      // PNG pixels per unit: 2 gives a 1920 x 1080 image at 192 dpi
  std::vector<double> refusal_thresholds;  // extra dotted lines strictly between 0 and 0.5, e.g. {0.3, 0.1}
  std::string x_label = "Generation Step";
  std::string y_label = "Refusal Score";
};

enum class FigureFormat { png, svg };

// Largest PNG width or height in pixels: Cairo image surfaces stop at 32767.
inline constexpr long max_png_side = 32767;

// Band and guide colours, public so that callers and tests can find them in a rendered image.
inline constexpr Color compliance_band_color = rgb(0xDDEFD9);  // soft green: sigma >= 0.5
inline constexpr Color refusal_band_color = rgb(0xF8DCD7);     // soft red: sigma < 0.5
inline constexpr Color threshold_color = rgb(0x404040);
inline constexpr Color extra_threshold_color = rgb(0xA33A2E);

// Line colours in the order signals receive them: the Okabe-Ito colour-blind-safe palette without
// its yellow (too faint on white), followed by brown. Markers cycle through six shapes
// independently, so the first 24 signals all differ in colour or marker.
inline constexpr Color series_palette[] = {rgb(0x0072B2), rgb(0xD55E00), rgb(0x009E73), rgb(0xCC79A7),
                                           rgb(0xE69F00), rgb(0x56B4E9), rgb(0x000000), rgb(0x8C564B)};
inline constexpr MarkerShape marker_cycle[] = {MarkerShape::circle,   MarkerShape::square,
                                               MarkerShape::triangle_up, MarkerShape::diamond,
                                               MarkerShape::triangle_down, MarkerShape::hexagon};

namespace detail {

// Replaces invalid UTF-8 and control characters with U+FFFD so that neither Cairo nor an XML
// parser rejects a label taken from arbitrary input.
inline std::string clean_label(std::string_view text) {
  std::string cleaned;
  std::size_t i = 0;
  while (i < text.size()) {
    const auto lead = static_cast<unsigned char>(text[i]);
    std::size_t length = 0;
    if (lead < 0x80) length = 1;
    else if (lead >= 0xC2 && lead <= 0xDF) length = 2;
    else if (lead >= 0xE0 && lead <= 0xEF) length = 3;
    else if (lead >= 0xF0 && lead <= 0xF4) length = 4;
    bool valid = length > 0 && i + length <= text.size();
    for (std::size_t k = 1; valid && k < length; ++k) {
      valid = (static_cast<unsigned char>(text[i + k]) & 0xC0u) == 0x80u;
    }
    if (valid && length == 3) {
      const auto second = static_cast<unsigned char>(text[i + 1]);
      valid = !(lead == 0xE0 && second < 0xA0) && !(lead == 0xED && second >= 0xA0);  // overlong, surrogate
    }
    if (valid && length == 4) {
      const auto second = static_cast<unsigned char>(text[i + 1]);
      valid = !(lead == 0xF0 && second < 0x90) && !(lead == 0xF4 && second >= 0x90);  // overlong, > U+10FFFF
    }
    if (!valid) {
      cleaned += "\uFFFD";
      ++i;
      continue;
    }
    if (length == 1 && (lead < 0x20 || lead == 0x7F)) {
      cleaned += lead == '\n' || lead == '\t' || lead == '\r' ? " " : "\uFFFD";
    } else {
      cleaned.append(text.substr(i, length));
    }
    i += length;
  }
  return cleaned;
}

inline void check_values(std::span<const float> values, std::string_view what, std::size_t index,
                         std::string_view label) {
  for (std::size_t t = 0; t < values.size(); ++t) {
    const float value = values[t];
    if (!std::isfinite(value)) {
      raise("sri.plot.non_finite",
            fmt::format("{} {} (\"{}\") has the non-finite value {} at step {}; every value must be a finite number "
                        "in [0, 1]",
                        what, index, label, value, t + 1));
    }
    if (value < 0.0F || value > 1.0F) {
      raise("sri.plot.out_of_range",
            fmt::format("{} {} (\"{}\") has the value {} at step {}, outside the plotted range [0, 1]", what, index,
                        label, value, t + 1));
    }
  }
}

inline void check_input(std::span<const Series> series, const FigureOptions& options) {
  if (series.empty()) raise("sri.plot.no_signals", "no signals to plot; pass at least one signal");
  for (std::size_t i = 0; i < series.size(); ++i) {
    const Series& one = series[i];
    if (one.signal.empty()) {
      raise("sri.plot.empty_signal", fmt::format("signal {} (\"{}\") has no steps; every signal needs at least one value",
                                                 i, one.label));
    }
    check_values(one.signal, "signal", i, one.label);
    if (!one.text_signal.empty()) {
      if (one.text_signal.size() != one.signal.size()) {
        raise("sri.plot.length_mismatch",
              fmt::format("the text-level signal of signal {} (\"{}\") has {} steps but the signal has {}; give both "
                          "the same number of steps",
                          i, one.label, one.text_signal.size(), one.signal.size()));
      }
      check_values(one.text_signal, "text-level signal", i, one.label);
    }
  }
  const auto bad_option = [](std::string_view message) { raise("sri.plot.invalid_option", message); };
  if (!(options.width >= 240.0 && options.width <= 8192.0)) {
    bad_option(fmt::format("figure width {} is outside [240, 8192] units", options.width));
  }
  if (!(options.height >= 160.0 && options.height <= 8192.0)) {
    bad_option(fmt::format("figure height {} is outside [160, 8192] units", options.height));
  }
  if (!(options.scale >= 0.25 && options.scale <= 8.0)) {
    bad_option(fmt::format("figure scale {} is outside [0.25, 8]", options.scale));
  }
  for (const double threshold : options.refusal_thresholds) {
    if (!(threshold > 0.0 && threshold < 0.5)) {
      bad_option(fmt::format("refusal threshold {} must lie strictly between 0 and 0.5 (0.5 is always drawn)",
                             threshold));
    }
  }
}

// Returns tick values 1..T for the x axis: every step up to 16 steps, else multiples of 2, 5, 10,
// 20, 50... chosen to give at most 12 ticks, with step 1 added when the spacing leaves room for it.
inline std::vector<int> step_ticks(int steps) {
  if (steps <= 16) {
    std::vector<int> ticks;
    for (int t = 1; t <= steps; ++t) ticks.push_back(t);
    return ticks;
  }
  int spacing = 1;
  for (int magnitude = 1;; magnitude *= 10) {
    if (steps / (2 * magnitude) <= 12) { spacing = 2 * magnitude; break; }
    if (steps / (5 * magnitude) <= 12) { spacing = 5 * magnitude; break; }
    if (steps / (10 * magnitude) <= 12) { spacing = 10 * magnitude; break; }
  }
  std::vector<int> ticks;
  if (spacing >= 4) ticks.push_back(1);
  for (int t = spacing; t <= steps; t += spacing) ticks.push_back(t);
  return ticks;
}

inline std::string format_tick(double value) { return fmt::format("{:.1f}", value); }

// One legend row: a line sample and/or a marker or a filled swatch, then the label.
struct LegendEntry {
  std::string label;
  std::optional<StrokeStyle> line;
  std::optional<MarkerShape> marker;
  std::optional<Color> swatch;
  Color marker_color;
  bool gap_before = false;  // half a row of space, separating the signals from the guides
};

inline std::vector<LegendEntry> legend_entries(std::span<const Series> series, const FigureOptions& options,
                                               const TextMeasure& measure, const FontStyle& font, double label_width) {
  std::vector<LegendEntry> entries;
  bool any_text_signal = false;
  for (std::size_t i = 0; i < series.size(); ++i) {
    const Color color = series_palette[i % std::size(series_palette)];
    LegendEntry entry;
    entry.label = measure.fit(clean_label(series[i].label), font, label_width);
    entry.line = StrokeStyle{color, 2.0, {}, false};
    entry.marker = marker_cycle[i % std::size(marker_cycle)];
    entry.marker_color = color;
    entries.push_back(std::move(entry));
    any_text_signal = any_text_signal || !series[i].text_signal.empty();
  }
  const auto guide = [&](std::string label) {
    LegendEntry entry;
    entry.label = measure.fit(label, font, label_width);
    return entry;
  };
  if (any_text_signal) {
    LegendEntry entry = guide("Text-level signal");
    entry.line = StrokeStyle{rgb(0x555555), 1.6, {6.0, 3.5}, false};
    entries.push_back(std::move(entry));
  }
  LegendEntry compliance = guide("Compliance (\u03c3 \u2265 0.5)");
  compliance.swatch = compliance_band_color;
  entries.push_back(std::move(compliance));
  LegendEntry refusal = guide("Refusal (\u03c3 < 0.5)");
  refusal.swatch = refusal_band_color;
  entries.push_back(std::move(refusal));
  LegendEntry threshold = guide("Threshold 0.5");
  threshold.line = StrokeStyle{threshold_color, 1.6, {0.01, 3.5}, true};
  entries.push_back(std::move(threshold));
  for (const double value : options.refusal_thresholds) {
    LegendEntry extra = guide(fmt::format("Refusal threshold {}", value));
    extra.line = StrokeStyle{extra_threshold_color, 1.3, {0.01, 3.0}, true};
    entries.push_back(std::move(extra));
  }
  if (entries.size() > series.size()) entries[series.size()].gap_before = true;
  return entries;
}

// Positions of everything on the figure, computed once for both back ends.
struct Layout {
  double width = 0.0;
  double height = 0.0;
  Rect plot;                // the data area
  Rect legend;              // the legend box, right of the data area
  int legend_rows = 0;      // rows per legend column
  double legend_column_width = 0.0;
  double title_baseline = 0.0;
};

inline constexpr FontStyle title_font{17.0, true};
inline constexpr FontStyle axis_font{14.0, false};
inline constexpr FontStyle tick_font{12.0, false};
inline constexpr FontStyle legend_font{12.0, false};
inline constexpr double legend_row_height = 20.0;
inline constexpr double legend_padding = 9.0;
inline constexpr double legend_sample_width = 32.0;
inline constexpr double legend_column_gap = 14.0;
inline constexpr double tick_length = 5.0;

inline Layout compute_layout(const FigureOptions& options, const std::vector<LegendEntry>& entries,
                             const TextMeasure& measure) {
  Layout layout;
  layout.width = options.width;
  layout.height = options.height;

  const double outer = 14.0;
  const double top = options.title.empty() ? outer + 6.0 : outer + title_font.size * 1.25 + 12.0;
  layout.title_baseline = outer + title_font.size;
  const double tick_label_width = measure.width("0.0", tick_font);
  const double left = outer + axis_font.size * 1.2 + 10.0 + tick_label_width + tick_length + 6.0;
  const double bottom = outer + axis_font.size * 1.2 + 8.0 + tick_font.size * 1.2 + tick_length + 4.0;

  double label_width = 0.0;
  for (const LegendEntry& entry : entries) label_width = std::max(label_width, measure.width(entry.label, legend_font));
  layout.legend_column_width = legend_sample_width + 8.0 + label_width;

  // Rows count the half-row gap before the guides as one row, so columns never overflow.
  const auto rows_needed = static_cast<int>(entries.size()) + 1;
  const double available = options.height - top - bottom - 2.0 * legend_padding;
  const int rows_that_fit = std::max(1, static_cast<int>(available / legend_row_height));
  const double max_legend_width = 0.45 * options.width;
  const int max_columns = std::max(
      1, static_cast<int>((max_legend_width - 2.0 * legend_padding + legend_column_gap) /
                          (layout.legend_column_width + legend_column_gap)));
  int columns = (rows_needed + rows_that_fit - 1) / rows_that_fit;
  int rows = rows_that_fit;
  if (columns > max_columns) {
    // The legend does not fit beside the data at this height: grow the figure instead of
    // covering the data or shrinking the data area further.
    columns = max_columns;
    rows = (rows_needed + columns - 1) / columns;
    layout.height = top + bottom + 2.0 * legend_padding + rows * legend_row_height;
  }
  rows = std::min(rows, rows_needed);
  layout.legend_rows = rows;

  const double legend_width = 2.0 * legend_padding + columns * layout.legend_column_width +
                              (columns - 1) * legend_column_gap;
  const double legend_height = 2.0 * legend_padding + rows * legend_row_height - legend_row_height / 2.0;
  layout.legend = Rect{options.width - outer - legend_width, top, legend_width, legend_height};
  layout.plot = Rect{left, top, layout.legend.x - 18.0 - left, layout.height - top - bottom};
  return layout;
}

// Maps data coordinates (step, score) to figure units.
struct Axes {
  Rect area;
  double x_min = 0.0;
  double x_max = 1.0;
  double y_min = -0.04;
  double y_max = 1.04;

  [[nodiscard]] double x(double step) const { return area.x + (step - x_min) / (x_max - x_min) * area.width; }
  [[nodiscard]] double y(double score) const {
    return area.y + area.height - (score - y_min) / (y_max - y_min) * area.height;
  }
};

inline void draw_legend(Canvas& canvas, const Layout& layout, const std::vector<LegendEntry>& entries) {
  canvas.fill_rect(layout.legend, rgb(0xFFFFFF));
  canvas.stroke_rect(layout.legend, StrokeStyle{rgb(0xBBBBBB), 1.0, {}, false});
  const StrokeStyle marker_edge{rgb(0xFFFFFF), 0.8, {}, false};
  double row = 0.0;
  int column = 0;
  for (const LegendEntry& entry : entries) {
    if (entry.gap_before) row += 0.5;
    if (row + 1.0 > layout.legend_rows + 1e-9) {
      row = 0.0;
      ++column;
    }
    const double x = layout.legend.x + legend_padding + column * (layout.legend_column_width + legend_column_gap);
    const double centre_y = layout.legend.y + legend_padding + (row + 0.5) * legend_row_height;
    if (entry.swatch) {
      canvas.fill_rect(Rect{x + 2.0, centre_y - 6.0, legend_sample_width - 4.0, 12.0}, *entry.swatch);
      canvas.stroke_rect(Rect{x + 2.0, centre_y - 6.0, legend_sample_width - 4.0, 12.0},
                         StrokeStyle{rgb(0x999999), 0.6, {}, false});
    }
    if (entry.line) canvas.polyline({{x, centre_y}, {x + legend_sample_width, centre_y}}, *entry.line);
    if (entry.marker) {
      canvas.marker(*entry.marker, {x + legend_sample_width / 2.0, centre_y}, 4.0, entry.marker_color, marker_edge);
    }
    canvas.text({x + legend_sample_width + 8.0, centre_y + legend_font.size * 0.36}, entry.label,
                TextStyle{legend_font, rgb(0x222222), TextAnchor::start, false});
    row += 1.0;
  }
}

inline void draw_axes(Canvas& canvas, const Axes& axes, int steps, const FigureOptions& options,
                      const TextMeasure& measure) {
  const Rect& area = axes.area;
  const StrokeStyle grid{rgb(0x000000, 0.09), 0.8, {}, false};
  const StrokeStyle tick{rgb(0x333333), 1.0, {}, false};
  const TextStyle tick_text{tick_font, rgb(0x333333), TextAnchor::middle, false};

  // Horizontal grid and y ticks every 0.2.
  for (int k = 0; k <= 5; ++k) {
    const double score = 0.2 * k;
    const double y = axes.y(score);
    canvas.polyline({{area.x, y}, {area.x + area.width, y}}, grid);
    canvas.polyline({{area.x - tick_length, y}, {area.x, y}}, tick);
    canvas.text({area.x - tick_length - 4.0, y + tick_font.size * 0.36}, format_tick(score),
                TextStyle{tick_font, rgb(0x333333), TextAnchor::end, false});
  }

  // Vertical grid and x ticks at the chosen steps.
  const double bottom = area.y + area.height;
  for (const int step : step_ticks(steps)) {
    const double x = axes.x(step);
    canvas.polyline({{x, area.y}, {x, bottom}}, grid);
    canvas.polyline({{x, bottom}, {x, bottom + tick_length}}, tick);
    canvas.text({x, bottom + tick_length + 3.0 + tick_font.size}, fmt::format("{}", step), tick_text);
  }

  // Axis labels: the x label centred under the data area, the y label rotated along it.
  const TextStyle axis_text{axis_font, rgb(0x111111), TextAnchor::middle, false};
  const std::string x_label = measure.fit(clean_label(options.x_label), axis_font, area.width);
  canvas.text({area.x + area.width / 2.0, bottom + tick_length + 3.0 + tick_font.size * 1.2 + 8.0 + axis_font.size},
              x_label, axis_text);
  const std::string y_label = measure.fit(clean_label(options.y_label), axis_font, area.height);
  const double y_label_x = 14.0 + axis_font.size;
  canvas.text({y_label_x, area.y + area.height / 2.0}, y_label,
              TextStyle{axis_font, rgb(0x111111), TextAnchor::middle, true});
}

inline void draw_series(Canvas& canvas, const Axes& axes, std::span<const Series> series) {
  const StrokeStyle marker_edge{rgb(0xFFFFFF), 0.8, {}, false};

  // Text-level signals first, so the SRI signals stay on top where they overlap.
  for (std::size_t i = 0; i < series.size(); ++i) {
    if (series[i].text_signal.empty()) continue;
    Color color = series_palette[i % std::size(series_palette)];
    color.alpha = 0.85;
    std::vector<Point> points;
    for (std::size_t t = 0; t < series[i].text_signal.size(); ++t) {
      points.push_back({axes.x(static_cast<double>(t + 1)), axes.y(series[i].text_signal[t])});
    }
    canvas.polyline(points, StrokeStyle{color, 1.6, {6.0, 3.5}, false});
  }

  for (std::size_t i = 0; i < series.size(); ++i) {
    const Color color = series_palette[i % std::size(series_palette)];
    const MarkerShape shape = marker_cycle[i % std::size(marker_cycle)];
    const std::vector<float>& signal = series[i].signal;
    std::vector<Point> points;
    for (std::size_t t = 0; t < signal.size(); ++t) {
      points.push_back({axes.x(static_cast<double>(t + 1)), axes.y(signal[t])});
    }
    canvas.polyline(points, StrokeStyle{color, 2.0, {}, false});

    // At most about 40 markers per line, always including the first and last step.
    const std::size_t stride = std::max<std::size_t>(1, (signal.size() + 39) / 40);
    for (std::size_t t = 0; t < points.size(); t += stride) canvas.marker(shape, points[t], 3.6, color, marker_edge);
    if ((points.size() - 1) % stride != 0) canvas.marker(shape, points.back(), 3.6, color, marker_edge);
  }
}

inline void draw_figure(Canvas& canvas, std::span<const Series> series, const FigureOptions& options,
                        const Layout& layout, const std::vector<LegendEntry>& entries, const TextMeasure& measure) {
  std::size_t steps = 0;
  for (const Series& one : series) steps = std::max(steps, one.signal.size());
  const int max_step = static_cast<int>(steps);
  const double margin = std::max(0.5, 0.02 * (max_step - 1));
  const Axes axes{layout.plot, 1.0 - margin, max_step + margin};
  const Rect& area = layout.plot;

  canvas.fill_rect(Rect{0.0, 0.0, layout.width, layout.height}, rgb(0xFFFFFF));

  // Bands: compliance from the threshold to the top edge, refusal from the bottom edge to it.
  const double threshold_y = axes.y(0.5);
  canvas.fill_rect(Rect{area.x, area.y, area.width, threshold_y - area.y}, compliance_band_color);
  canvas.fill_rect(Rect{area.x, threshold_y, area.width, area.y + area.height - threshold_y}, refusal_band_color);

  draw_axes(canvas, axes, max_step, options, measure);

  canvas.polyline({{area.x, threshold_y}, {area.x + area.width, threshold_y}},
                  StrokeStyle{threshold_color, 1.6, {0.01, 3.5}, true});
  for (const double value : options.refusal_thresholds) {
    const double y = axes.y(value);
    canvas.polyline({{area.x, y}, {area.x + area.width, y}}, StrokeStyle{extra_threshold_color, 1.3, {0.01, 3.0}, true});
  }

  canvas.push_clip(area);
  draw_series(canvas, axes, series);
  canvas.pop_clip();
  canvas.stroke_rect(area, StrokeStyle{rgb(0x333333), 1.0, {}, false});

  if (!options.title.empty()) {
    const std::string title = measure.fit(clean_label(options.title), title_font, layout.width - 28.0);
    canvas.text({layout.width / 2.0, layout.title_baseline}, title,
                TextStyle{title_font, rgb(0x111111), TextAnchor::middle, false});
  }
  draw_legend(canvas, layout, entries);
}

}  // namespace detail

// Renders the figure and returns the bytes of a PNG or SVG file. Throws sri::Error with
// sri.plot.no_signals, sri.plot.empty_signal, sri.plot.non_finite, sri.plot.out_of_range,
// sri.plot.length_mismatch or sri.plot.invalid_option for invalid input.
inline std::string render_figure(std::span<const Series> series, const FigureOptions& options, FigureFormat format) {
  detail::check_input(series, options);
  const TextMeasure measure;
  const double label_width = std::max(80.0, 0.26 * options.width);
  const auto entries = detail::legend_entries(series, options, measure, detail::legend_font, label_width);
  const detail::Layout layout = detail::compute_layout(options, entries, measure);

  if (format == FigureFormat::svg) {
    SvgCanvas canvas(layout.width, layout.height);
    detail::draw_figure(canvas, series, options, layout, entries, measure);
    return canvas.svg();
  }
  const auto pixel_width = std::lround(layout.width * options.scale);
  const auto pixel_height = std::lround(layout.height * options.scale);
  if (pixel_width > max_png_side || pixel_height > max_png_side) {
    raise("sri.plot.invalid_option",
          fmt::format("the PNG would be {} x {} pixels, above Cairo's limit of {} per side; lower the scale or the "
                      "figure size",
                      pixel_width, pixel_height, max_png_side));
  }
  PngCanvas canvas(static_cast<int>(pixel_width), static_cast<int>(pixel_height), options.scale);
  detail::draw_figure(canvas, series, options, layout, entries, measure);
  return canvas.png();
}

// Returns the format that a file name's extension selects (".png" or ".svg", any letter case).
// Throws sri.plot.unsupported_extension for anything else.
inline FigureFormat figure_format_for(const std::filesystem::path& path) {
  std::string extension = path.extension().string();
  std::transform(extension.begin(), extension.end(), extension.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (extension == ".png") return FigureFormat::png;
  if (extension == ".svg") return FigureFormat::svg;
  raise("sri.plot.unsupported_extension",
        fmt::format("cannot choose a figure format for {}: the extension \"{}\" is not .png or .svg; name the output "
                    "file with one of those",
                    path, extension));
}

// Renders the figure and writes it atomically to `path`, in the format its extension selects.
// The input is checked before anything is written, so a failure leaves no file behind.
inline void write_figure(const std::filesystem::path& path, std::span<const Series> series,
                         const FigureOptions& options = {}) {
  const FigureFormat format = figure_format_for(path);
  const std::string bytes = render_figure(series, options, format);
  io::write_file_atomically(path, bytes);
}

}  // namespace sri::plot
