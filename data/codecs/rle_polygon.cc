#include "data/codecs/rle_polygon.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>

#include "absl/strings/str_cat.h"

namespace sam2::data {
namespace {

constexpr double kScale = 5;  // pycocotools' upsampling of the vertices

struct Point {
  int x, y;
};

// Vertices on the upsampled grid (rounded half up, as C's (int)(v + .5)).
std::vector<Point> ScaledVertices(const std::vector<double>& xy) {
  std::vector<Point> v;
  for (size_t j = 0; j + 1 < xy.size(); j += 2) {
    v.push_back({static_cast<int>(kScale * xy[j] + .5),
                 static_cast<int>(kScale * xy[j + 1] + .5)});
  }
  v.push_back(v.front());  // closed
  return v;
}

// Every grid point along the edges, each edge walked along its longer axis
// from its lower end (so both directions give the same points).
std::vector<Point> EdgePoints(const std::vector<Point>& v) {
  std::vector<Point> points;
  for (size_t j = 0; j + 1 < v.size(); ++j) {
    int xs = v[j].x, xe = v[j + 1].x, ys = v[j].y, ye = v[j + 1].y;
    const int dx = std::abs(xe - xs), dy = std::abs(ys - ye);
    const bool flip = (dx >= dy && xs > xe) || (dx < dy && ys > ye);
    if (flip) {
      std::swap(xs, xe);
      std::swap(ys, ye);
    }
    if (dx >= dy) {
      const double s = dx == 0 ? 0 : static_cast<double>(ye - ys) / dx;
      for (int d = 0; d <= dx; ++d) {
        const int t = flip ? dx - d : d;
        points.push_back({t + xs, static_cast<int>(ys + s * t + .5)});
      }
    } else {
      const double s = static_cast<double>(xe - xs) / dy;
      for (int d = 0; d <= dy; ++d) {
        const int t = flip ? dy - d : d;
        points.push_back({static_cast<int>(xs + s * t + .5), t + ys});
      }
    }
  }
  return points;
}

}  // namespace

absl::StatusOr<Rle> RleFromPolygon(const std::vector<double>& xy, int height,
                                   int width, absl::string_view source) {
  if (xy.size() < 6 || xy.size() % 2 != 0 || height <= 0 || width <= 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        source,
        ": a polygon needs an even number (>= 6) of coordinates and "
        "a positive image size; got ",
        xy.size(), " coordinates for ", height, "x", width));
  }
  const std::vector<Point> points = EdgePoints(ScaledVertices(xy));
  // Where the boundary crosses a pixel-centre column, back on the image grid:
  // the column-major positions where a run of 1s starts or ends.
  std::vector<uint32_t> flips;
  for (size_t j = 1; j < points.size(); ++j) {
    const Point& a = points[j - 1];
    const Point& b = points[j];
    if (b.x == a.x) continue;
    double xd = static_cast<double>(b.x < a.x ? b.x : b.x - 1);
    xd = (xd + .5) / kScale - .5;
    if (std::floor(xd) != xd || xd < 0 || xd > width - 1) continue;
    double yd = static_cast<double>(b.y < a.y ? b.y : a.y);
    yd = (yd + .5) / kScale - .5;
    yd = std::ceil(std::clamp(yd, 0.0, static_cast<double>(height)));
    flips.push_back(static_cast<uint32_t>(static_cast<int>(xd) * height +
                                          static_cast<int>(yd)));
  }
  flips.push_back(static_cast<uint32_t>(height) * static_cast<uint32_t>(width));
  std::sort(flips.begin(), flips.end());
  // Differences between consecutive positions; a zero run merges its
  // neighbours (two crossings at one position cancel).
  std::vector<uint32_t> gaps;
  uint32_t previous = 0;
  for (uint32_t f : flips) {
    gaps.push_back(f - previous);
    previous = f;
  }
  Rle rle;
  rle.height = height;
  rle.width = width;
  size_t j = 0;
  rle.counts.push_back(gaps[j++]);
  while (j < gaps.size()) {
    if (gaps[j] > 0) {
      rle.counts.push_back(gaps[j++]);
    } else {
      ++j;
      if (j < gaps.size()) rle.counts.back() += gaps[j++];
    }
  }
  return rle;
}

absl::StatusOr<Rle> RleUnion(const std::vector<Rle>& rles,
                             absl::string_view source) {
  if (rles.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(source, ": no masks to merge"));
  }
  if (rles.size() == 1) return rles[0];
  const int h = rles[0].height, w = rles[0].width;
  Mask merged(h, w);
  for (const Rle& r : rles) {
    if (r.height != h || r.width != w) {
      return absl::InvalidArgumentError(
          absl::StrCat(source, ": masks of different sizes cannot be merged (",
                       h, "x", w, " and ", r.height, "x", r.width, ")"));
    }
    absl::StatusOr<Mask> m = DecodeRle(r, source);
    if (!m.ok()) return m.status();
    for (size_t i = 0; i < merged.data.size(); ++i) {
      merged.data[i] |= m->data[i];
    }
  }
  return EncodeMask(merged);
}

}  // namespace sam2::data
