#include "eval/boundary_f.h"

#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

namespace sam2::eval {
namespace {

constexpr int kFar = std::numeric_limits<int>::max();

// Half-widths of the disk's rows: the largest dx with dx^2 + dy^2 <= r^2,
// for dy = 0..r (skimage's disk is exactly this integer set).
std::vector<int> DiskHalfWidths(int radius) {
  std::vector<int> half(radius + 1);
  const int64_t r2 = static_cast<int64_t>(radius) * radius;
  for (int dy = 0; dy <= radius; ++dy) {
    int dx = radius;
    while (static_cast<int64_t>(dx) * dx + static_cast<int64_t>(dy) * dy > r2) {
      --dx;
    }
    half[dy] = dx;
  }
  return half;
}

// For every pixel, the horizontal distance to the nearest set pixel of its
// row (kFar when the row has none): two sweeps per row.
std::vector<int> RowDistances(const data::Mask& mask) {
  const int h = mask.height;
  const int w = mask.width;
  std::vector<int> dist(static_cast<size_t>(h) * w, kFar);
  for (int y = 0; y < h; ++y) {
    const uint8_t* row = mask.data.data() + static_cast<size_t>(y) * w;
    int* out = dist.data() + static_cast<size_t>(y) * w;
    int last = -1;
    for (int x = 0; x < w; ++x) {
      if (row[x]) last = x;
      if (last >= 0) out[x] = x - last;
    }
    last = -1;
    for (int x = w - 1; x >= 0; --x) {
      if (row[x]) last = x;
      if (last >= 0 && last - x < out[x]) out[x] = last - x;
    }
  }
  return dist;
}

double FMeasure(double precision, double recall) {
  if (precision + recall == 0) return 0.0;
  return 2 * precision * recall / (precision + recall);
}

}  // namespace

int BoundaryRadius(int height, int width) {
  const double h = height;
  const double w = width;
  return static_cast<int>(std::ceil(0.008 * std::sqrt(h * h + w * w)));
}

data::Mask Seg2Bmap(const data::Mask& seg) {
  const int h = seg.height;
  const int w = seg.width;
  data::Mask b(h, w);
  for (int y = 0; y < h; ++y) {
    for (int x = 0; x < w; ++x) {
      const uint8_t v = seg.at(y, x);
      const uint8_t e = x + 1 < w ? seg.at(y, x + 1) : 0;
      const uint8_t s = y + 1 < h ? seg.at(y + 1, x) : 0;
      const uint8_t se = (x + 1 < w && y + 1 < h) ? seg.at(y + 1, x + 1) : 0;
      uint8_t on;
      if (y == h - 1) {
        on = v ^ e;
      } else if (x == w - 1) {
        on = v ^ s;
      } else {
        on = (v ^ e) | (v ^ s) | (v ^ se);
      }
      b.at(y, x) = on;
    }
  }
  if (h > 0 && w > 0) b.at(h - 1, w - 1) = 0;
  return b;
}

int64_t CountWithinDilation(const data::Mask& points,
                            const data::Mask& boundary, int radius) {
  const std::vector<int> half = DiskHalfWidths(radius);
  const std::vector<int> dist = RowDistances(boundary);
  const int h = points.height;
  const int w = points.width;
  int64_t count = 0;
  for (int y = 0; y < h; ++y) {
    for (int x = 0; x < w; ++x) {
      if (!points.at(y, x)) continue;
      const int y0 = y - radius < 0 ? 0 : y - radius;
      const int y1 = y + radius >= h ? h - 1 : y + radius;
      for (int yy = y0; yy <= y1; ++yy) {
        if (dist[static_cast<size_t>(yy) * w + x] <= half[std::abs(yy - y)]) {
          ++count;
          break;
        }
      }
    }
  }
  return count;
}

double BoundaryF(const data::Mask& pred, const data::Mask& gt, int radius) {
  const data::Mask pred_boundary = Seg2Bmap(pred);
  const data::Mask gt_boundary = Seg2Bmap(gt);
  const int64_t n_fg = pred_boundary.Area();
  const int64_t n_gt = gt_boundary.Area();
  if (n_fg == 0 && n_gt > 0) return FMeasure(1, 0);
  if (n_fg > 0 && n_gt == 0) return FMeasure(0, 1);
  if (n_fg == 0 && n_gt == 0) return FMeasure(1, 1);
  const int64_t fg_match =
      CountWithinDilation(pred_boundary, gt_boundary, radius);
  const int64_t gt_match =
      CountWithinDilation(gt_boundary, pred_boundary, radius);
  return FMeasure(static_cast<double>(fg_match) / static_cast<double>(n_fg),
                  static_cast<double>(gt_match) / static_cast<double>(n_gt));
}

}  // namespace sam2::eval
