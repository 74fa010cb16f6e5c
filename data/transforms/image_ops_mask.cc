// Mask kernels: bounding boxes, torchvision's nearest affine of masks and
// its antialiased bilinear resize.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "data/transforms/cpu_features.h"
#include "data/transforms/image_ops.h"

#if SAM2_X86_SIMD
#include <immintrin.h>
#endif

namespace sam2::data::ops {
namespace {

struct TorchCoeffs {
  int ksize = 0;
  std::vector<int> xmin, count;
  std::vector<float> w;
};

TorchCoeffs PrecomputeTorchCoeffs(int in_size, int out_size) {
  TorchCoeffs c;
  const float scale = static_cast<float>(in_size) / out_size;
  const float support = scale >= 1.0f ? 1.0f * scale : 1.0f;
  c.ksize = static_cast<int>(std::ceil(support)) * 2 + 1;
  c.xmin.resize(out_size);
  c.count.resize(out_size);
  c.w.assign(static_cast<size_t>(out_size) * c.ksize, 0.0f);
  const float invscale = scale >= 1.0f ? 1.0f / scale : 1.0f;
  for (int i = 0; i < out_size; ++i) {
    const float center = static_cast<float>(scale * (i + 0.5));
    const int64_t xmin =
        std::max<int64_t>(static_cast<int64_t>(center - support + 0.5), 0);
    const int64_t xsize =
        std::min<int64_t>(static_cast<int64_t>(center + support + 0.5),
                          in_size) -
        xmin;
    float* w = &c.w[static_cast<size_t>(i) * c.ksize];
    float total = 0.0f;
    for (int64_t j = 0; j < xsize; ++j) {
      float x = static_cast<float>(
          (static_cast<float>(j + xmin) - center + 0.5) * invscale);
      if (x < 0) x = -x;
      const float v = x < 1.0f ? 1.0f - x : 0.0f;
      w[j] = v;
      total += v;
    }
    for (int64_t j = 0; j < xsize; ++j) {
      if (total != 0.0f) w[j] /= total;
    }
    c.xmin[i] = static_cast<int>(xmin);
    c.count[i] = static_cast<int>(xsize);
  }
  return c;
}

// Output indices [lo, hi) whose taps overlap source indices [s0, s1).
void AffectedRange(const TorchCoeffs& c, int s0, int s1, int* lo, int* hi) {
  const int n = static_cast<int>(c.xmin.size());
  *lo = n;
  *hi = 0;
  for (int i = 0; i < n; ++i) {
    if (c.xmin[i] < s1 && c.xmin[i] + c.count[i] > s0) {
      *lo = std::min(*lo, i);
      *hi = i + 1;
    }
  }
}

// Whether any of the n bytes at p is non-zero: an OR reduction over 8-byte
// words (vectorised), no early exit inside a 4 KB block.
SAM2_INLINE_BODY bool AnyNonZeroBody(const uint8_t* p, size_t n) {
  size_t i = 0;
  while (i < n) {
    const size_t end = std::min(n, i + 4096);
    uint64_t acc = 0;
    for (; i + 8 <= end; i += 8) {
      uint64_t v;
      std::memcpy(&v, p + i, 8);
      acc |= v;
    }
    for (; i < end; ++i) acc |= p[i];
    if (acc != 0) return true;
  }
  return false;
}

bool AnyNonZeroBaseline(const uint8_t* p, size_t n) {
  return AnyNonZeroBody(p, n);
}
#if SAM2_X86_SIMD
SAM2_TARGET_AVX2 bool AnyNonZeroAvx2(const uint8_t* p, size_t n) {
  return AnyNonZeroBody(p, n);
}
#endif

// Index of the first / one past the last non-zero byte of p[0, n), which
// holds one (little-endian words: the lowest set byte comes first).
int FirstNonZero(const uint8_t* p, int n) {
  int i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t v;
    std::memcpy(&v, p + i, 8);
    if (v != 0) return i + __builtin_ctzll(v) / 8;
  }
  while (p[i] == 0) ++i;
  return i;
}
int EndOfNonZero(const uint8_t* p, int n) {
  int i = n;
  for (; i >= 8; i -= 8) {
    uint64_t v;
    std::memcpy(&v, p + i - 8, 8);
    if (v != 0) return i - __builtin_clzll(v) / 8;
  }
  while (p[i - 1] == 0) --i;
  return i;
}

// Nearest source pixel of a 0..w-1 / 0..h-1 coordinate (already rounded)
// as a flat index, mirrored when asked; -1 outside the source.
inline int32_t FlatIndexOrMinus1(double xr, double yr, int w, int h,
                                 bool mirror) {
  if (!(xr >= 0 && xr < w && yr >= 0 && yr < h)) return -1;
  const int xi = static_cast<int>(xr), yi = static_cast<int>(yr);
  return yi * w + (mirror ? w - 1 - xi : xi);
}

// For every output pixel of [ox0, ox1) x [oy0, oy1), row-major into `out`
// (which has 4 spare entries): the flat index of the source pixel nearest to
// m * (x + 0.5, y + 0.5) - 0.5, rounded half to even (torch.round), or -1.
void NearestSourceIndicesScalar(const AffineMatrix& m, int w, int h,
                                bool mirror, int ox0, int ox1, int oy0, int oy1,
                                int32_t* out) {
  for (int y = oy0; y < oy1; ++y) {
    const double yin = y + 0.5;
    for (int x = ox0; x < ox1; ++x) {
      const double xin = x + 0.5;
      const double xs = m[0] * xin + m[1] * yin + m[2] - 0.5;
      const double ys = m[3] * xin + m[4] * yin + m[5] - 0.5;
      *out++ = FlatIndexOrMinus1(std::nearbyint(xs), std::nearbyint(ys), w, h,
                                 mirror);
    }
  }
}

#if SAM2_X86_SIMD
// The same, four pixels at a time: the same double operations in the same
// order, and the hardware's round-to-nearest-even (what nearbyint does).
SAM2_TARGET_AVX2 void NearestSourceIndicesAvx2(const AffineMatrix& m, int w,
                                               int h, bool mirror, int ox0,
                                               int ox1, int oy0, int oy1,
                                               int32_t* out) {
  const __m256d m0 = _mm256_set1_pd(m[0]), m2 = _mm256_set1_pd(m[2]);
  const __m256d m3 = _mm256_set1_pd(m[3]), m5 = _mm256_set1_pd(m[5]);
  const __m256d half = _mm256_set1_pd(0.5), zero = _mm256_setzero_pd();
  const __m256d wd = _mm256_set1_pd(w), hd = _mm256_set1_pd(h);
  const __m128i wv = _mm_set1_epi32(w), w_m1 = _mm_set1_epi32(w - 1);
  const __m128i minus1 = _mm_set1_epi32(-1);
  const int cols = ox1 - ox0;
  for (int y = oy0; y < oy1; ++y) {
    const double yin = y + 0.5;
    const __m256d m1y = _mm256_set1_pd(m[1] * yin);
    const __m256d m4y = _mm256_set1_pd(m[4] * yin);
    // Groups of four; the last one may run past the row (into the next
    // row's slots or the spare entries), rewritten or unused.
    for (int i = 0; i < cols; i += 4) {
      const int x = ox0 + i;
      const __m256d xin = _mm256_setr_pd(x + 0.5, x + 1.5, x + 2.5, x + 3.5);
      const __m256d xs = _mm256_sub_pd(
          _mm256_add_pd(_mm256_add_pd(_mm256_mul_pd(m0, xin), m1y), m2), half);
      const __m256d ys = _mm256_sub_pd(
          _mm256_add_pd(_mm256_add_pd(_mm256_mul_pd(m3, xin), m4y), m5), half);
      const __m256d xr =
          _mm256_round_pd(xs, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
      const __m256d yr =
          _mm256_round_pd(ys, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
      const __m256d valid =
          _mm256_and_pd(_mm256_and_pd(_mm256_cmp_pd(xr, zero, _CMP_GE_OQ),
                                      _mm256_cmp_pd(xr, wd, _CMP_LT_OQ)),
                        _mm256_and_pd(_mm256_cmp_pd(yr, zero, _CMP_GE_OQ),
                                      _mm256_cmp_pd(yr, hd, _CMP_LT_OQ)));
      // The 64-bit lane masks as 32-bit ones (their low halves).
      const __m128i keep = _mm256_castsi256_si128(_mm256_permutevar8x32_epi32(
          _mm256_castpd_si256(valid),
          _mm256_setr_epi32(0, 2, 4, 6, 0, 0, 0, 0)));
      __m128i xi = _mm256_cvttpd_epi32(xr);
      const __m128i yi = _mm256_cvttpd_epi32(yr);
      if (mirror) xi = _mm_sub_epi32(w_m1, xi);
      const __m128i idx = _mm_add_epi32(_mm_mullo_epi32(yi, wv), xi);
      // -1 where not valid: idx | ~keep.
      const __m128i result = _mm_or_si128(idx, _mm_xor_si128(keep, minus1));
      _mm_storeu_si128(reinterpret_cast<__m128i*>(out + (y - oy0) * cols + i),
                       result);
    }
  }
}
#endif

// ---- dispatch --

using NearestSourceIndicesFn = void (*)(const AffineMatrix& m, int w, int h,
                                        bool mirror, int ox0, int ox1, int oy0,
                                        int oy1, int32_t* out);

// The mask kernels of one CPU level.
struct MaskKernels {
  bool (*any_nonzero)(const uint8_t* p, size_t n);
  NearestSourceIndicesFn nearest_source_indices;
};

const MaskKernels& MaskKernelsForCpu() {
  static const MaskKernels kernels = [] {
#if SAM2_X86_SIMD
    if (CpuSimdLevel() >= SimdLevel::kAvx2) {
      return MaskKernels{AnyNonZeroAvx2, NearestSourceIndicesAvx2};
    }
#endif
    return MaskKernels{AnyNonZeroBaseline, NearestSourceIndicesScalar};
  }();
  return kernels;
}

bool AnyNonZero(const uint8_t* p, size_t n) {
  return MaskKernelsForCpu().any_nonzero(p, n);
}

}  // namespace

Box NonZeroBox(const Mask& mask) {
  Box box{mask.height, 0, mask.width, 0};
  for (int y = 0; y < mask.height; ++y) {
    const uint8_t* row = mask.data.data() + static_cast<size_t>(y) * mask.width;
    if (!AnyNonZero(row, mask.width)) continue;
    box.y0 = std::min(box.y0, y);
    box.y1 = y + 1;
    box.x0 = std::min(box.x0, FirstNonZero(row, mask.width));
    box.x1 = std::max(box.x1, EndOfNonZero(row, mask.width));
  }
  if (box.y1 == 0) return Box{};
  return box;
}

bool AnySet(const Mask& mask) {
  return AnyNonZero(mask.data.data(), mask.data.size());
}

std::vector<Mask> AffineMasks(const std::vector<const Mask*>& srcs,
                              const AffineMatrix& m, bool mirror_source) {
  std::vector<Mask> outs;
  if (srcs.empty()) return outs;
  const int w = srcs[0]->width, h = srcs[0]->height;
  Box box{h, 0, w, 0};
  for (const Mask* src : srcs) {
    outs.emplace_back(src->height, src->width);
    Box b = NonZeroBox(*src);
    if (b.empty()) continue;
    if (mirror_source) {  // the box of the mirrored mask
      const int x0 = b.x0;
      b.x0 = src->width - b.x1;
      b.x1 = src->width - x0;
    }
    box.y0 = std::min(box.y0, b.y0);
    box.y1 = std::max(box.y1, b.y1);
    box.x0 = std::min(box.x0, b.x0);
    box.x1 = std::max(box.x1, b.x1);
  }
  if (box.empty()) return outs;
  // Output pixels whose nearest source pixel can be set: their source
  // points lie in the box grown by one pixel. Map its corners forward
  // (inverse of m) and take the bounding box, plus a margin.
  int ox0 = 0, ox1 = w, oy0 = 0, oy1 = h;
  const double det = m[0] * m[4] - m[1] * m[3];
  if (std::abs(det) > 1e-12) {
    const double i0 = m[4] / det, i1 = -m[1] / det, i3 = -m[3] / det,
                 i4 = m[0] / det;
    double min_x = 1e300, max_x = -1e300, min_y = 1e300, max_y = -1e300;
    const double sx[2] = {box.x0 - 1.0, box.x1 + 1.0};
    const double sy[2] = {box.y0 - 1.0, box.y1 + 1.0};
    for (double x : sx) {
      for (double y : sy) {
        const double px = i0 * (x - m[2]) + i1 * (y - m[5]);
        const double py = i3 * (x - m[2]) + i4 * (y - m[5]);
        min_x = std::min(min_x, px);
        max_x = std::max(max_x, px);
        min_y = std::min(min_y, py);
        max_y = std::max(max_y, py);
      }
    }
    auto clamp_to = [](double v, int hi) {
      return static_cast<int>(std::max(0.0, std::min<double>(hi, v)));
    };
    ox0 = clamp_to(std::floor(min_x) - 2, w);
    ox1 = clamp_to(std::ceil(max_x) + 2, w);
    oy0 = clamp_to(std::floor(min_y) - 2, h);
    oy1 = clamp_to(std::ceil(max_y) + 2, h);
  }
  if (ox0 >= ox1 || oy0 >= oy1) return outs;
  // The source pixel of every output pixel of the region, once for all the
  // masks (they share the frame's geometry); -1 outside the source.
  const int cols = ox1 - ox0;
  std::vector<int32_t> source(static_cast<size_t>(oy1 - oy0) * cols + 4);
  MaskKernelsForCpu().nearest_source_indices(m, w, h, mirror_source, ox0, ox1,
                                             oy0, oy1, source.data());
  for (size_t k = 0; k < srcs.size(); ++k) {
    const uint8_t* __restrict in = srcs[k]->data.data();
    const int32_t* __restrict s = source.data();
    for (int y = oy0; y < oy1; ++y) {
      uint8_t* __restrict row =
          outs[k].data.data() + static_cast<size_t>(y) * w + ox0;
      for (int x = 0; x < cols; ++x, ++s) row[x] = *s < 0 ? 0 : in[*s];
    }
  }
  return outs;
}

Mask AffineMask(const Mask& src, const AffineMatrix& m, bool mirror_source) {
  return std::move(AffineMasks({&src}, m, mirror_source)[0]);
}

Mask ResizeMask(const Mask& src, int out_height, int out_width) {
  Mask out(out_height, out_width);
  if (src.size() == out.size()) {
    out.data = src.data;
    return out;
  }
  const Box box = NonZeroBox(src);
  if (box.empty()) return out;
  const TorchCoeffs hor = PrecomputeTorchCoeffs(src.width, out_width);
  const TorchCoeffs ver = PrecomputeTorchCoeffs(src.height, out_height);
  int cx0, cx1, ry0, ry1;
  AffectedRange(hor, box.x0, box.x1, &cx0, &cx1);
  AffectedRange(ver, box.y0, box.y1, &ry0, &ry1);
  if (cx0 >= cx1 || ry0 >= ry1) return out;
  // Horizontal pass over the box's rows (the others are zero), then the
  // vertical pass. Zero terms are skipped: adding +0 leaves a float sum as
  // it is, so the result equals the full computation.
  const int cols = cx1 - cx0;
  const int rows = box.y1 - box.y0;
  std::vector<float> tmp(static_cast<size_t>(rows) * cols);
  for (int y = 0; y < rows; ++y) {
    const uint8_t* in =
        src.data.data() + static_cast<size_t>(box.y0 + y) * src.width;
    float* t = &tmp[static_cast<size_t>(y) * cols];
    for (int xx = cx0; xx < cx1; ++xx) {
      const float* w = &hor.w[static_cast<size_t>(xx) * hor.ksize];
      float s = 0.0f;
      for (int j = 0; j < hor.count[xx]; ++j) {
        s += static_cast<float>(in[hor.xmin[xx] + j]) * w[j];
      }
      t[xx - cx0] = s;
    }
  }
  std::vector<float> acc(cols);
  for (int yy = ry0; yy < ry1; ++yy) {
    std::fill(acc.begin(), acc.end(), 0.0f);
    const float* w = &ver.w[static_cast<size_t>(yy) * ver.ksize];
    for (int j = 0; j < ver.count[yy]; ++j) {
      const int y = ver.xmin[yy] + j;
      if (y < box.y0 || y >= box.y1) continue;
      const float* t = &tmp[static_cast<size_t>(y - box.y0) * cols];
      for (int i = 0; i < cols; ++i) acc[i] += t[i] * w[j];
    }
    uint8_t* row = out.data.data() + static_cast<size_t>(yy) * out_width + cx0;
    // torch.round (half to even) of a value in [0, 1], cast to uint8.
    for (int i = 0; i < cols; ++i) row[i] = acc[i] > 0.5f;
  }
  return out;
}

}  // namespace sam2::data::ops
