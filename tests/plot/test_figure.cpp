// Figure tests: PNG size and band pixels, SVG markup, input checks, and that a failed call leaves
// no file behind.

#include <sri/plot/figure.hpp>

#include <cairo.h>
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include <sys/stat.h>
#include <unistd.h>

namespace fs = std::filesystem;
using sri::plot::FigureOptions;
using sri::plot::Series;

namespace {

fs::path output_dir() {
  const fs::path folder = SRI_PLOT_OUTPUT_DIR;
  fs::create_directories(folder);
  return folder;
}

// A scratch folder that the test removes afterwards.
struct ScratchFolder {
  fs::path path;
  explicit ScratchFolder(const std::string& name) : path(output_dir() / name) {
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~ScratchFolder() {
    std::error_code ignored;
    fs::permissions(path, fs::perms::owner_all, ignored);
    fs::remove_all(path, ignored);
  }
  [[nodiscard]] std::size_t entry_count() const {
    return static_cast<std::size_t>(std::distance(fs::directory_iterator(path), fs::directory_iterator()));
  }
};

struct Image {
  int width = 0;
  int height = 0;
  std::vector<std::uint32_t> pixels;  // [height, width] ARGB, opaque

  [[nodiscard]] sri::plot::Color at(double x, double y) const {
    const auto pixel = pixels[static_cast<std::size_t>(std::lround(y)) * width + static_cast<std::size_t>(std::lround(x))];
    return sri::plot::Color{((pixel >> 16) & 0xFFu) / 255.0, ((pixel >> 8) & 0xFFu) / 255.0, (pixel & 0xFFu) / 255.0};
  }
};

Image read_png(const fs::path& path) {
  cairo_surface_t* surface = cairo_image_surface_create_from_png(path.c_str());
  REQUIRE(cairo_surface_status(surface) == CAIRO_STATUS_SUCCESS);
  Image image;
  image.width = cairo_image_surface_get_width(surface);
  image.height = cairo_image_surface_get_height(surface);
  const int stride = cairo_image_surface_get_stride(surface);
  const unsigned char* data = cairo_image_surface_get_data(surface);
  for (int y = 0; y < image.height; ++y) {
    const auto* row = reinterpret_cast<const std::uint32_t*>(data + static_cast<std::ptrdiff_t>(y) * stride);
    image.pixels.insert(image.pixels.end(), row, row + image.width);
  }
  cairo_surface_destroy(surface);
  return image;
}

std::string read_text(const fs::path& path) {
  std::ifstream stream(path, std::ios::binary);
  std::ostringstream content;
  content << stream.rdbuf();
  return content.str();
}

// Largest channel difference in 0..255 units.
double color_distance(const sri::plot::Color& a, const sri::plot::Color& b) {
  return 255.0 * std::max({std::abs(a.red - b.red), std::abs(a.green - b.green), std::abs(a.blue - b.blue)});
}

std::vector<float> constant(std::size_t steps, float value) { return std::vector<float>(steps, value); }

std::vector<Series> three_signals() {
  std::vector<float> text(32, 1.0F);
  for (std::size_t t = 6; t < text.size(); ++t) text[t] = 0.0F;
  std::vector<float> falling(32);
  for (std::size_t t = 0; t < falling.size(); ++t) falling[t] = static_cast<float>(0.9 * std::exp(-0.3 * t) + 0.02);
  std::vector<float> dipping(32);
  for (std::size_t t = 0; t < dipping.size(); ++t) dipping[t] = static_cast<float>(0.7 + 0.25 * std::sin(0.4 * t));
  return {{"benign <poem> & \"quotes\"", constant(32, 0.93F), constant(32, 1.0F)},
          {"harmful", falling, text},
          {"jailbreak", dipping, {}}};
}

// Returns the data-area rectangle that the figure functions use for these inputs.
sri::plot::Rect plot_area(const std::vector<Series>& series, const FigureOptions& options) {
  const sri::plot::TextMeasure measure;
  const auto entries = sri::plot::detail::legend_entries(series, options, measure, sri::plot::detail::legend_font,
                                                         std::max(80.0, 0.26 * options.width));
  return sri::plot::detail::compute_layout(options, entries, measure).plot;
}

}  // namespace

TEST_CASE("png size follows width, height and scale") {
  const fs::path path = output_dir() / "size.png";
  FigureOptions options;
  options.width = 800;
  options.height = 500;
  options.scale = 2.0;
  sri::plot::write_figure(path, three_signals(), options);
  const Image image = read_png(path);
  CHECK(image.width == 1600);
  CHECK(image.height == 1000);
}

TEST_CASE("png bands have the band colours") {
  // One signal flat at 0.05 keeps the band interiors free of data lines.
  const std::vector<Series> series{{"low", constant(32, 0.05F), {}}};
  FigureOptions options;
  options.title = "Bands";
  const fs::path path = output_dir() / "bands.png";
  sri::plot::write_figure(path, series, options);
  const Image image = read_png(path);
  REQUIRE(image.width == 960);
  REQUIRE(image.height == 540);

  const sri::plot::Rect area = plot_area(series, options);
  const sri::plot::detail::Axes axes{area, 1.0 - 0.62, 32.0 + 0.62};
  // Step 7.5 lies between the grid lines at steps 5 and 10, and the scores 0.9 and 0.3 between grid rows.
  const double x = axes.x(7.5);
  CHECK(color_distance(image.at(x, axes.y(0.9)), sri::plot::compliance_band_color) < 1.0);
  CHECK(color_distance(image.at(x, axes.y(0.7)), sri::plot::compliance_band_color) < 1.0);
  CHECK(color_distance(image.at(x, axes.y(0.3)), sri::plot::refusal_band_color) < 1.0);
  CHECK(color_distance(image.at(x, axes.y(0.15)), sri::plot::refusal_band_color) < 1.0);
  // The line itself is 2 units wide, so its centre pixel carries the first palette colour
  // (tolerance 40 of 255 for anti-aliasing at a fractional position).
  CHECK(color_distance(image.at(x, axes.y(0.05)), sri::plot::series_palette[0]) < 40.0);
  // Outside the data area (left margin, half-way down) the background is white.
  CHECK(color_distance(image.at(3.0, image.height / 2.0), sri::plot::rgb(0xFFFFFF)) < 1.0);
}

TEST_CASE("png at one step and at 128 steps") {
  const fs::path one = output_dir() / "one_step.png";
  sri::plot::write_figure(one, std::vector<Series>{{"single step", {0.7F}, {1.0F}}});
  CHECK(read_png(one).width == 960);

  std::vector<Series> many;
  for (int i = 0; i < 30; ++i) {
    std::vector<float> signal(128);
    for (std::size_t t = 0; t < signal.size(); ++t) {
      signal[t] = static_cast<float>(0.5 + 0.45 * std::sin(0.1 * static_cast<double>(t) + i));
    }
    many.push_back({"prompt " + std::to_string(i), signal, {}});
  }
  const fs::path long_run = output_dir() / "thirty_signals_128_steps.png";
  FigureOptions options;
  options.title = "Thirty prompts over 128 steps";
  sri::plot::write_figure(long_run, many, options);
  const Image image = read_png(long_run);
  CHECK(image.width == 960);
  CHECK(image.height >= 540);
}

TEST_CASE("legend grows the figure instead of covering data") {
  std::vector<Series> many;
  for (int i = 0; i < 120; ++i) many.push_back({"prompt " + std::to_string(i), constant(8, 0.6F), {}});
  const fs::path path = output_dir() / "legend_growth.png";
  sri::plot::write_figure(path, many);
  const Image image = read_png(path);
  CHECK(image.width == 960);
  CHECK(image.height > 540);
}

TEST_CASE("svg carries text elements and escapes labels") {
  FigureOptions options;
  options.title = "Three prompts";
  options.refusal_thresholds = {0.3, 0.1};
  const fs::path path = output_dir() / "three_signals.svg";
  sri::plot::write_figure(path, three_signals(), options);
  sri::plot::write_figure(output_dir() / "three_signals.png", three_signals(), options);
  const std::string svg = read_text(path);
  CHECK(svg.rfind("<?xml", 0) == 0);
  CHECK(svg.find("<text") != std::string::npos);
  CHECK(svg.find(">benign &lt;poem&gt; &amp; &quot;quotes&quot;</text>") != std::string::npos);
  CHECK(svg.find(">Generation Step</text>") != std::string::npos);
  CHECK(svg.find(">Refusal Score</text>") != std::string::npos);
  CHECK(svg.find(">Threshold 0.5</text>") != std::string::npos);
  CHECK(svg.find("stroke-dasharray") != std::string::npos);
  CHECK(svg.size() > 1000);
}

TEST_CASE("long labels end in an ellipsis") {
  const std::string long_label(200, 'x');
  FigureOptions options;
  options.title = std::string(300, 'T');
  const auto svg = sri::plot::render_figure(std::vector<Series>{{long_label, constant(4, 0.5F), {}}}, options,
                                            sri::plot::FigureFormat::svg);
  CHECK(svg.find(long_label) == std::string::npos);
  CHECK(svg.find("x\u2026</text>") != std::string::npos);
  CHECK(svg.find("T\u2026</text>") != std::string::npos);
}

TEST_CASE("labels with invalid UTF-8 are cleaned") {
  const std::string label = std::string("bad \xff byte \x01 control");
  const auto svg = sri::plot::render_figure(std::vector<Series>{{label, constant(4, 0.5F), {}}}, {},
                                            sri::plot::FigureFormat::svg);
  CHECK(svg.find("bad \uFFFD byte \uFFFD control") != std::string::npos);
}

TEST_CASE("invalid input raises the documented ids") {
  const auto error_id = [](const std::vector<Series>& series, const FigureOptions& options = {}) -> std::string {
    try {
      (void)sri::plot::render_figure(series, options, sri::plot::FigureFormat::png);
    } catch (const sri::Error& error) {
      return error.id();
    }
    return "no error";
  };
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  CHECK(error_id({}) == "sri.plot.no_signals");
  CHECK(error_id({{"empty", {}, {}}}) == "sri.plot.empty_signal");
  CHECK(error_id({{"nan", {0.5F, nan}, {}}}) == "sri.plot.non_finite");
  CHECK(error_id({{"inf", {inf}, {}}}) == "sri.plot.non_finite");
  CHECK(error_id({{"text nan", {0.5F}, {nan}}}) == "sri.plot.non_finite");
  CHECK(error_id({{"high", {1.5F}, {}}}) == "sri.plot.out_of_range");
  CHECK(error_id({{"low", {-0.01F}, {}}}) == "sri.plot.out_of_range");
  CHECK(error_id({{"lengths", {0.5F, 0.5F}, {1.0F}}}) == "sri.plot.length_mismatch");

  FigureOptions bad_threshold;
  bad_threshold.refusal_thresholds = {0.5};
  CHECK(error_id({{"ok", {0.5F}, {}}}, bad_threshold) == "sri.plot.invalid_option");
  FigureOptions bad_scale;
  bad_scale.scale = 0.0;
  CHECK(error_id({{"ok", {0.5F}, {}}}, bad_scale) == "sri.plot.invalid_option");
  FigureOptions too_many_pixels;
  too_many_pixels.width = 8000.0;
  too_many_pixels.scale = 5.0;
  CHECK(error_id({{"ok", {0.5F}, {}}}, too_many_pixels) == "sri.plot.invalid_option");
  FigureOptions bad_width;
  bad_width.width = 10.0;
  CHECK(error_id({{"ok", {0.5F}, {}}}, bad_width) == "sri.plot.invalid_option");
}

TEST_CASE("nan message names signal and step") {
  try {
    (void)sri::plot::render_figure(std::vector<Series>{{"ok", {0.5F}, {}}, {"broken", {0.5F, 0.5F, NAN}, {}}}, {},
                                   sri::plot::FigureFormat::svg);
    FAIL("expected sri.plot.non_finite");
  } catch (const sri::Error& error) {
    const std::string message = error.what();
    CHECK(message.find("signal 1") != std::string::npos);
    CHECK(message.find("\"broken\"") != std::string::npos);
    CHECK(message.find("step 3") != std::string::npos);
  }
}

TEST_CASE("failed writes leave no file") {
  ScratchFolder folder("failed_writes");
  const std::vector<Series> good{{"ok", constant(4, 0.5F), {}}};

  SUBCASE("nan signal") {
    const fs::path path = folder.path / "nan.png";
    CHECK_THROWS_AS(sri::plot::write_figure(path, std::vector<Series>{{"nan", {NAN}, {}}}), sri::Error);
    CHECK_FALSE(fs::exists(path));
  }
  SUBCASE("wrong extension") {
    const fs::path path = folder.path / "figure.jpg";
    try {
      sri::plot::write_figure(path, good);
      FAIL("expected sri.plot.unsupported_extension");
    } catch (const sri::Error& error) {
      CHECK(error.id() == "sri.plot.unsupported_extension");
      CHECK(std::string(error.what()).find("\".jpg\"") != std::string::npos);
    }
  }
  SUBCASE("missing folder") {
    const fs::path path = folder.path / "missing" / "figure.png";
    try {
      sri::plot::write_figure(path, good);
      FAIL("expected sri.io.folder_not_found");
    } catch (const sri::Error& error) {
      CHECK(error.id() == "sri.io.folder_not_found");
    }
  }
  SUBCASE("folder not writable") {
    // root ignores permission bits, so as root the test writes into /sys, which rejects new files.
    fs::path target_folder = folder.path / "read_only";
    if (::geteuid() == 0) {
      target_folder = "/sys";
    } else {
      fs::create_directories(target_folder);
      fs::permissions(target_folder, fs::perms::owner_read | fs::perms::owner_exec);
    }
    try {
      sri::plot::write_figure(target_folder / "figure.svg", good);
      FAIL("expected sri.io.folder_not_writable");
    } catch (const sri::Error& error) {
      CHECK(error.id() == "sri.io.folder_not_writable");
    }
    CHECK_FALSE(fs::exists(target_folder / "figure.svg"));
  }
  CHECK(folder.entry_count() <= 1);  // only the read_only subfolder may remain
}

TEST_CASE("failed write keeps the previous file") {
  ScratchFolder folder("keep_previous");
  const fs::path path = folder.path / "figure.svg";
  sri::plot::write_figure(path, std::vector<Series>{{"first", constant(4, 0.5F), {}}});
  const std::string before = read_text(path);
  CHECK_THROWS_AS(sri::plot::write_figure(path, std::vector<Series>{{"second", {2.0F}, {}}}), sri::Error);
  CHECK(read_text(path) == before);
  CHECK(folder.entry_count() == 1);
}

TEST_CASE("step ticks stay few and start at one") {
  CHECK(sri::plot::detail::step_ticks(1) == std::vector<int>{1});
  CHECK(sri::plot::detail::step_ticks(16).size() == 16);
  CHECK(sri::plot::detail::step_ticks(32) == std::vector<int>{1, 5, 10, 15, 20, 25, 30});
  const auto ticks = sri::plot::detail::step_ticks(128);
  CHECK(ticks.size() <= 14);
  CHECK(ticks.front() == 1);
  CHECK(ticks.back() <= 128);
  CHECK(sri::plot::detail::step_ticks(20000).size() <= 14);
}
