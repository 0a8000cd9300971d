#pragma once

// Drawing surfaces for sri figures. One layout drives two back ends: Cairo renders the PNG, and a
// small SVG writer emits real <text> elements (Cairo's own SVG surface turns text into glyph
// outlines, which makes labels unsearchable). Coordinates are in figure units (1/96 inch at
// scale 1), with y growing downwards.

#include <sri/error.hpp>

#include <cairo.h>
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numbers>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sri::plot {

// An sRGB colour; components and alpha in [0, 1].
struct Color {
  double red = 0.0;
  double green = 0.0;
  double blue = 0.0;
  double alpha = 1.0;
};

// Builds a colour from a 0xRRGGBB value.
constexpr Color rgb(std::uint32_t hex, double alpha = 1.0) {
  return Color{static_cast<double>((hex >> 16) & 0xFFu) / 255.0, static_cast<double>((hex >> 8) & 0xFFu) / 255.0,
               static_cast<double>(hex & 0xFFu) / 255.0, alpha};
}

enum class MarkerShape { circle, square, triangle_up, diamond, triangle_down, hexagon };

enum class TextAnchor { start, middle, end };

struct Point {
  double x = 0.0;
  double y = 0.0;
};

struct Rect {
  double x = 0.0;
  double y = 0.0;
  double width = 0.0;
  double height = 0.0;
};

struct StrokeStyle {
  Color color;
  double width = 1.0;
  std::vector<double> dashes;  // on/off lengths in figure units; empty draws a solid line
  bool round_caps = false;     // round caps turn a dash pattern of near-zero "on" lengths into dots
};

struct FontStyle {
  double size = 12.0;  // em size in figure units
  bool bold = false;
};

struct TextStyle {
  FontStyle font;
  Color color;
  TextAnchor anchor = TextAnchor::start;
  bool vertical = false;  // rotated 90 degrees counter-clockwise, reading bottom to top
};

// The font family of every figure; fonts-dejavu-core installs it on Debian.
inline constexpr std::string_view font_family = "DejaVu Sans";

namespace detail {

inline void select_font(cairo_t* cairo, const FontStyle& font) {
  const std::string family(font_family);
  cairo_select_font_face(cairo, family.c_str(), CAIRO_FONT_SLANT_NORMAL,
                         font.bold ? CAIRO_FONT_WEIGHT_BOLD : CAIRO_FONT_WEIGHT_NORMAL);
  cairo_set_font_size(cairo, font.size);
}

// Returns the vertices of a filled marker of "radius" r centred on (x, y).
inline std::vector<Point> marker_polygon(MarkerShape shape, double x, double y, double r) {
  const auto regular = [&](int sides, double start_degrees, double radius) {
    std::vector<Point> points;
    for (int i = 0; i < sides; ++i) {
      const double angle = (start_degrees + 360.0 * i / sides) * std::numbers::pi / 180.0;
      points.push_back({x + radius * std::cos(angle), y - radius * std::sin(angle)});
    }
    return points;
  };
  switch (shape) {
    case MarkerShape::square:
      return regular(4, 45.0, r * 1.2);
    case MarkerShape::triangle_up:
      return regular(3, 90.0, r * 1.35);
    case MarkerShape::diamond:
      return regular(4, 90.0, r * 1.35);
    case MarkerShape::triangle_down:
      return regular(3, -90.0, r * 1.35);
    case MarkerShape::hexagon:
      return regular(6, 0.0, r * 1.15);
    case MarkerShape::circle:
      break;
  }
  return {};
}

}  // namespace detail

// Measures text with the same fonts the PNG back end draws with.
class TextMeasure {
 public:
  TextMeasure() : surface_(cairo_image_surface_create(CAIRO_FORMAT_ARGB32, 1, 1)), cairo_(cairo_create(surface_)) {}
  TextMeasure(const TextMeasure&) = delete;
  TextMeasure& operator=(const TextMeasure&) = delete;
  ~TextMeasure() {
    cairo_destroy(cairo_);
    cairo_surface_destroy(surface_);
  }

  // Returns the advance width of `text` in figure units.
  [[nodiscard]] double width(std::string_view text, const FontStyle& font) const {
    detail::select_font(cairo_, font);
    const std::string copy(text);
    cairo_text_extents_t extents;
    cairo_text_extents(cairo_, copy.c_str(), &extents);
    return extents.x_advance;
  }

  // Returns `text` unchanged when it fits in `max_width`, else its longest prefix (whole UTF-8
  // code points) followed by an ellipsis that fits.
  [[nodiscard]] std::string fit(std::string_view text, const FontStyle& font, double max_width) const {
    if (width(text, font) <= max_width) return std::string(text);
    constexpr std::string_view ellipsis = "\u2026";
    std::size_t length = text.size();
    while (length > 0) {
      --length;
      while (length > 0 && (static_cast<unsigned char>(text[length]) & 0xC0u) == 0x80u) --length;
      std::string candidate(text.substr(0, length));
      while (!candidate.empty() && candidate.back() == ' ') candidate.pop_back();
      candidate += ellipsis;
      if (width(candidate, font) <= max_width) return candidate;
    }
    return std::string(ellipsis);
  }

 private:
  cairo_surface_t* surface_;
  cairo_t* cairo_;
};

// The drawing operations a figure needs. Both back ends implement all of them.
class Canvas {
 public:
  virtual ~Canvas() = default;
  virtual void fill_rect(const Rect& rect, const Color& color) = 0;
  virtual void stroke_rect(const Rect& rect, const StrokeStyle& stroke) = 0;
  virtual void polyline(const std::vector<Point>& points, const StrokeStyle& stroke) = 0;
  virtual void marker(MarkerShape shape, Point centre, double radius, const Color& fill, const StrokeStyle& edge) = 0;
  // Draws `text` with its baseline at `anchor.y` (for vertical text, at `anchor.x`).
  virtual void text(Point anchor, std::string_view text, const TextStyle& style) = 0;
  // Restricts the drawing that follows to `rect` until pop_clip().
  virtual void push_clip(const Rect& rect) = 0;
  virtual void pop_clip() = 0;
};

// Renders into an ARGB image with Cairo; png() encodes it.
class PngCanvas final : public Canvas {
 public:
  PngCanvas(int pixel_width, int pixel_height, double scale)
      : surface_(cairo_image_surface_create(CAIRO_FORMAT_ARGB32, pixel_width, pixel_height)),
        cairo_(cairo_create(surface_)) {
    cairo_scale(cairo_, scale, scale);
    check("creating the image");
  }
  PngCanvas(const PngCanvas&) = delete;
  PngCanvas& operator=(const PngCanvas&) = delete;
  ~PngCanvas() override {
    cairo_destroy(cairo_);
    cairo_surface_destroy(surface_);
  }

  void fill_rect(const Rect& rect, const Color& color) override {
    set_color(color);
    cairo_rectangle(cairo_, rect.x, rect.y, rect.width, rect.height);
    cairo_fill(cairo_);
  }

  void stroke_rect(const Rect& rect, const StrokeStyle& stroke) override {
    cairo_rectangle(cairo_, rect.x, rect.y, rect.width, rect.height);
    apply_stroke(stroke);
  }

  void polyline(const std::vector<Point>& points, const StrokeStyle& stroke) override {
    if (points.size() < 2) return;
    cairo_move_to(cairo_, points.front().x, points.front().y);
    for (std::size_t i = 1; i < points.size(); ++i) cairo_line_to(cairo_, points[i].x, points[i].y);
    cairo_set_line_join(cairo_, CAIRO_LINE_JOIN_ROUND);
    apply_stroke(stroke);
  }

  void marker(MarkerShape shape, Point centre, double radius, const Color& fill, const StrokeStyle& edge) override {
    if (shape == MarkerShape::circle) {
      cairo_new_sub_path(cairo_);
      cairo_arc(cairo_, centre.x, centre.y, radius, 0.0, 2.0 * std::numbers::pi);
    } else {
      const auto points = detail::marker_polygon(shape, centre.x, centre.y, radius);
      cairo_move_to(cairo_, points.front().x, points.front().y);
      for (std::size_t i = 1; i < points.size(); ++i) cairo_line_to(cairo_, points[i].x, points[i].y);
      cairo_close_path(cairo_);
    }
    set_color(fill);
    cairo_fill_preserve(cairo_);
    cairo_set_line_join(cairo_, CAIRO_LINE_JOIN_MITER);
    apply_stroke(edge);
  }

  void text(Point anchor, std::string_view text, const TextStyle& style) override {
    detail::select_font(cairo_, style.font);
    const std::string copy(text);
    cairo_text_extents_t extents;
    cairo_text_extents(cairo_, copy.c_str(), &extents);
    double shift = 0.0;
    if (style.anchor == TextAnchor::middle) shift = extents.x_advance / 2.0;
    if (style.anchor == TextAnchor::end) shift = extents.x_advance;

    cairo_save(cairo_);
    cairo_translate(cairo_, anchor.x, anchor.y);
    if (style.vertical) cairo_rotate(cairo_, -std::numbers::pi / 2.0);
    cairo_move_to(cairo_, -shift, 0.0);
    set_color(style.color);
    cairo_show_text(cairo_, copy.c_str());
    cairo_restore(cairo_);
  }

  void push_clip(const Rect& rect) override {
    cairo_save(cairo_);
    cairo_rectangle(cairo_, rect.x, rect.y, rect.width, rect.height);
    cairo_clip(cairo_);
  }

  void pop_clip() override { cairo_restore(cairo_); }

  // Encodes the image as PNG bytes.
  [[nodiscard]] std::string png() {
    check("drawing the figure");
    cairo_surface_flush(surface_);
    std::string bytes;
    const auto append = [](void* closure, const unsigned char* data, unsigned int length) -> cairo_status_t {
      static_cast<std::string*>(closure)->append(reinterpret_cast<const char*>(data), length);
      return CAIRO_STATUS_SUCCESS;
    };
    const cairo_status_t status = cairo_surface_write_to_png_stream(surface_, append, &bytes);
    if (status != CAIRO_STATUS_SUCCESS) {
      raise("sri.plot.render_failed", fmt::format("Cairo failed to encode the PNG: {}", cairo_status_to_string(status)));
    }
    return bytes;
  }

 private:
  void set_color(const Color& color) { cairo_set_source_rgba(cairo_, color.red, color.green, color.blue, color.alpha); }

  void apply_stroke(const StrokeStyle& stroke) {
    set_color(stroke.color);
    cairo_set_line_width(cairo_, stroke.width);
    cairo_set_dash(cairo_, stroke.dashes.data(), static_cast<int>(stroke.dashes.size()), 0.0);
    cairo_set_line_cap(cairo_, stroke.round_caps ? CAIRO_LINE_CAP_ROUND : CAIRO_LINE_CAP_BUTT);
    cairo_stroke(cairo_);
  }

  void check(std::string_view operation) const {
    const cairo_status_t status = cairo_status(cairo_);
    if (status != CAIRO_STATUS_SUCCESS) {
      raise("sri.plot.render_failed", fmt::format("Cairo failed while {}: {}", operation, cairo_status_to_string(status)));
    }
  }

  cairo_surface_t* surface_;
  cairo_t* cairo_;
};

namespace detail {

// Escapes the five XML special characters.
inline std::string xml_escape(std::string_view text) {
  std::string escaped;
  escaped.reserve(text.size());
  for (const char c : text) {
    switch (c) {
      case '&': escaped += "&amp;"; break;
      case '<': escaped += "&lt;"; break;
      case '>': escaped += "&gt;"; break;
      case '"': escaped += "&quot;"; break;
      case '\'': escaped += "&apos;"; break;
      default: escaped += c;
    }
  }
  return escaped;
}

}  // namespace detail

// Writes SVG 1.1 markup with one <text> element per label.
class SvgCanvas final : public Canvas {
 public:
  SvgCanvas(double width, double height) {
    body_ = fmt::format(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"{0}\" height=\"{1}\" "
        "viewBox=\"0 0 {0} {1}\">\n",
        number(width), number(height));
  }

  void fill_rect(const Rect& rect, const Color& color) override {
    body_ += fmt::format("<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" {}/>\n", number(rect.x), number(rect.y),
                         number(rect.width), number(rect.height), paint("fill", color));
  }

  void stroke_rect(const Rect& rect, const StrokeStyle& stroke) override {
    body_ += fmt::format("<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"none\" {}/>\n", number(rect.x),
                         number(rect.y), number(rect.width), number(rect.height), stroke_attributes(stroke));
  }

  void polyline(const std::vector<Point>& points, const StrokeStyle& stroke) override {
    if (points.size() < 2) return;
    std::string coordinates;
    for (const Point& point : points) coordinates += fmt::format("{},{} ", number(point.x), number(point.y));
    coordinates.pop_back();
    body_ += fmt::format("<polyline points=\"{}\" fill=\"none\" stroke-linejoin=\"round\" {}/>\n", coordinates,
                         stroke_attributes(stroke));
  }

  void marker(MarkerShape shape, Point centre, double radius, const Color& fill, const StrokeStyle& edge) override {
    if (shape == MarkerShape::circle) {
      body_ += fmt::format("<circle cx=\"{}\" cy=\"{}\" r=\"{}\" {} {}/>\n", number(centre.x), number(centre.y),
                           number(radius), paint("fill", fill), stroke_attributes(edge));
      return;
    }
    std::string coordinates;
    for (const Point& point : detail::marker_polygon(shape, centre.x, centre.y, radius)) {
      coordinates += fmt::format("{},{} ", number(point.x), number(point.y));
    }
    coordinates.pop_back();
    body_ += fmt::format("<polygon points=\"{}\" {} {}/>\n", coordinates, paint("fill", fill), stroke_attributes(edge));
  }

  void text(Point anchor, std::string_view text, const TextStyle& style) override {
    const char* anchor_name = style.anchor == TextAnchor::middle ? "middle"
                              : style.anchor == TextAnchor::end  ? "end"
                                                                 : "start";
    std::string rotation;
    if (style.vertical) rotation = fmt::format(" transform=\"rotate(-90 {} {})\"", number(anchor.x), number(anchor.y));
    body_ += fmt::format(
        "<text x=\"{}\" y=\"{}\" font-family=\"{}, sans-serif\" font-size=\"{}\" font-weight=\"{}\" "
        "text-anchor=\"{}\" {}{}>{}</text>\n",
        number(anchor.x), number(anchor.y), font_family, number(style.font.size), style.font.bold ? "bold" : "normal",
        anchor_name, paint("fill", style.color), rotation, detail::xml_escape(text));
  }

  void push_clip(const Rect& rect) override {
    const int id = next_clip_id_++;
    body_ += fmt::format(
        "<clipPath id=\"clip{}\"><rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\"/></clipPath>\n"
        "<g clip-path=\"url(#clip{})\">\n",
        id, number(rect.x), number(rect.y), number(rect.width), number(rect.height), id);
  }

  void pop_clip() override { body_ += "</g>\n"; }

  // Returns the finished document.
  [[nodiscard]] std::string svg() const { return body_ + "</svg>\n"; }

 private:
  static std::string number(double value) { return fmt::format("{:.2f}", value); }

  static std::string hex(const Color& color) {
    const auto channel = [](double value) { return static_cast<int>(std::lround(std::clamp(value, 0.0, 1.0) * 255.0)); };
    return fmt::format("#{:02x}{:02x}{:02x}", channel(color.red), channel(color.green), channel(color.blue));
  }

  static std::string paint(std::string_view attribute, const Color& color) {
    std::string result = fmt::format("{}=\"{}\"", attribute, hex(color));
    if (color.alpha < 1.0) result += fmt::format(" {}-opacity=\"{:.3f}\"", attribute, color.alpha);
    return result;
  }

  static std::string stroke_attributes(const StrokeStyle& stroke) {
    std::string result = paint("stroke", stroke.color) + fmt::format(" stroke-width=\"{}\"", number(stroke.width));
    if (!stroke.dashes.empty()) {
      std::string pattern;
      for (const double length : stroke.dashes) pattern += number(length) + " ";
      pattern.pop_back();
      result += fmt::format(" stroke-dasharray=\"{}\"", pattern);
    }
    if (stroke.round_caps) result += " stroke-linecap=\"round\"";
    return result;
  }

  std::string body_;
  int next_clip_id_ = 0;
};

}  // namespace sri::plot
