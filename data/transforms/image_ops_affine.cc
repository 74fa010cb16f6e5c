// Image geometry kernels: flip, the inverse affine matrix, and Pillow's
// affine transform of frames (nearest, bilinear with SSE2 / AVX2, bicubic).
#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "data/transforms/cpu_features.h"
#include "data/transforms/image_ops.h"
#include "data/transforms/pixel_math.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif
#if SAM2_X86_SIMD
#include <immintrin.h>
#endif

namespace sam2::data::ops {
namespace {

using internal::Clamp;
using internal::PilFloor;
using internal::StoreRgb;

using AffineFn = void (*)(const Image& src, const AffineMatrix& a,
                          const Rgb& fill, Image& dst);

// ---------------------------------------------------------------- affine --

// Column x of the source, or of its mirror image (M: the source as if it
// had been flipped left-right first; the arithmetic is that of sampling the
// flipped image, so the result is bit-identical to flipping, then sampling).
template <bool M>
inline int Col(int x, int w) {
  return M ? w - 1 - x : x;
}

// Pillow's bilinear_filter32RGB / bilinear_filter8 for one output pixel;
// false when the source point is outside the image.
template <int C, bool M>
inline bool SampleBilinear(const Image& src, double xin, double yin,
                           uint8_t* out) {
  const int w = src.width, h = src.height;
  if (xin < 0.0 || xin >= w || yin < 0.0 || yin >= h) return false;
  xin -= 0.5;
  yin -= 0.5;
  const int x = PilFloor(xin);
  const int y = PilFloor(yin);
  const double dx = xin - x;
  const double dy = yin - y;
  const size_t stride = static_cast<size_t>(w) * C;
  const uint8_t* row0 = src.data.data() + Clamp(y, 0, h - 1) * stride;
  const bool has_row1 = y + 1 >= 0 && y + 1 < h;
  const uint8_t* row1 = has_row1 ? src.data.data() + (y + 1) * stride : row0;
  const int x0 = Col<M>(Clamp(x, 0, w - 1), w) * C;
  const int x1 = Col<M>(Clamp(x + 1, 0, w - 1), w) * C;
  for (int c = 0; c < C; ++c) {
    double v1 = row0[x0 + c] + (row0[x1 + c] - row0[x0 + c]) * dx;
    double v2 = v1;
    if (has_row1) v2 = row1[x0 + c] + (row1[x1 + c] - row1[x0 + c]) * dx;
    v1 = v1 + (v2 - v1) * dy;
    out[c] = static_cast<uint8_t>(v1);
  }
  return true;
}

inline double Cubic(double v1, double v2, double v3, double v4, double d) {
  const double p1 = v2;
  const double p2 = -v1 + v3;
  const double p3 = 2 * (v1 - v2) + v3 - v4;
  const double p4 = -v1 + v2 - v3 + v4;
  return p1 + d * (p2 + d * (p3 + d * p4));
}

// Pillow's bicubic_filter32RGB / bicubic_filter8.
template <int C, bool M>
inline bool SampleBicubic(const Image& src, double xin, double yin,
                          uint8_t* out) {
  const int w = src.width, h = src.height;
  if (xin < 0.0 || xin >= w || yin < 0.0 || yin >= h) return false;
  xin -= 0.5;
  yin -= 0.5;
  int x = PilFloor(xin);
  int y = PilFloor(yin);
  const double dx = xin - x;
  const double dy = yin - y;
  --x;
  --y;
  const size_t stride = static_cast<size_t>(w) * C;
  int xs[4];
  for (int i = 0; i < 4; ++i) xs[i] = Col<M>(Clamp(x + i, 0, w - 1), w) * C;
  const uint8_t* rows[4];
  bool valid[4];
  rows[0] = src.data.data() + Clamp(y, 0, h - 1) * stride;
  valid[0] = true;
  for (int i = 1; i < 4; ++i) {
    valid[i] = y + i >= 0 && y + i < h;
    rows[i] = valid[i] ? src.data.data() + (y + i) * stride : nullptr;
  }
  for (int c = 0; c < C; ++c) {
    double v[4];
    for (int i = 0; i < 4; ++i) {
      if (i > 0 && !valid[i]) {
        v[i] = v[i - 1];
        continue;
      }
      const uint8_t* r = rows[i];
      v[i] = Cubic(r[xs[0] + c], r[xs[1] + c], r[xs[2] + c], r[xs[3] + c], dx);
    }
    const double r = Cubic(v[0], v[1], v[2], v[3], dy);
    out[c] = r <= 0.0 ? 0 : r >= 255.0 ? 255 : static_cast<uint8_t>(r);
  }
  return true;
}

// Pillow's nearest_filter for the generic transform path.
template <int C, bool M>
inline bool SampleNearest(const Image& src, double xin, double yin,
                          uint8_t* out) {
  const int x = xin < 0.0 ? -1 : static_cast<int>(xin);
  const int y = yin < 0.0 ? -1 : static_cast<int>(yin);
  if (x < 0 || x >= src.width || y < 0 || y >= src.height) return false;
  std::memcpy(
      out,
      &src.data[(static_cast<size_t>(y) * src.width + Col<M>(x, src.width)) *
                C],
      C);
  return true;
}

template <int C, bool (*Sample)(const Image&, double, double, uint8_t*)>
void AffineLoop(const Image& src, const AffineMatrix& a, const Rgb& fill,
                Image& dst) {
  uint8_t fill_px[C];
  for (int c = 0; c < C; ++c) fill_px[c] = c < 3 ? fill[c] : 0;
  uint8_t* out = dst.data.data();
  for (int y = 0; y < dst.height; ++y) {
    const double yin = y + 0.5;
    for (int x = 0; x < dst.width; ++x, out += C) {
      const double xin = x + 0.5;
      // The same expression as Pillow's affine_transform.
      const double xs = a[0] * xin + a[1] * yin + a[2];
      const double ys = a[3] * xin + a[4] * yin + a[5];
      if (!Sample(src, xs, ys, out)) std::memcpy(out, fill_px, C);
    }
  }
}

#if defined(__SSE2__)
// Four bytes at p (R, G, B and the next byte) as floats.
inline __m128 LoadPixel4(const uint8_t* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  const __m128i zero = _mm_setzero_si128();
  __m128i x = _mm_cvtsi32_si128(v);
  x = _mm_unpacklo_epi8(x, zero);
  x = _mm_unpacklo_epi16(x, zero);
  return _mm_cvtepi32_ps(x);
}
#endif

// Bilinear affine. Source points, bounds and neighbours are Pillow's, in
// double and in the same order; inside the image (all four neighbours
// present) the three channels are interpolated at once in float32 instead
// of Pillow's double: a result differs by one level only when the exact
// value lies within ~1e-5 of an integer (a few samples per million; the
// tests bound it). Pixels at the border go through SampleBilinear (double).
template <int C, bool M>
void AffineBilinearLoop(const Image& src, const AffineMatrix& a,
                        const Rgb& fill, Image& dst) {
  uint8_t fill_px[C];
  for (int c = 0; c < C; ++c) fill_px[c] = c < 3 ? fill[c] : 0;
  const int w = src.width, h = src.height;
  const double wd = w, hd = h;
  const size_t stride = static_cast<size_t>(w) * C;
  const uint8_t* __restrict base = src.data.data();
  uint8_t* __restrict out = dst.data.data();
  for (int y = 0; y < dst.height; ++y) {
    const double yin = y + 0.5;
    // Source point of pixel 0 as Pillow computes it (a0 * xin + a1 * yin +
    // a2, left to right), then stepped by (a0, a3) per pixel: the sum drifts
    // from Pillow's per-pixel expression by ~1e-13 pixel at most.
    double xs = a[0] * 0.5 + a[1] * yin + a[2];
    double ys = a[3] * 0.5 + a[4] * yin + a[5];
    for (int x = 0; x < dst.width; ++x, out += C, xs += a[0], ys += a[3]) {
      if (!(xs >= 0.0 && xs < wd && ys >= 0.0 && ys < hd)) {
        for (int c = 0; c < C; ++c) out[c] = fill_px[c];
        continue;
      }
      const double xf = xs - 0.5;
      const double yf = ys - 0.5;
      // floor() for values >= -0.5.
      const int x0 = xf < 0.0 ? -1 : static_cast<int>(xf);
      const int y0 = yf < 0.0 ? -1 : static_cast<int>(yf);
      // The 4-byte loads read one byte past the rightmost neighbour (in
      // memory): not for the very last pixel of the buffer.
#if defined(__SSE2__)
      if (C == 3 && x0 >= 0 && x0 + 1 < w && y0 >= 0 && y0 + 1 < h &&
          (y0 + 2 < h || (M ? x0 > 0 : x0 + 2 < w))) {
        const __m128 dx = _mm_set1_ps(static_cast<float>(xf - x0));
        const __m128 dy = _mm_set1_ps(static_cast<float>(yf - y0));
        const uint8_t* p0 = base + y0 * stride + Col<M>(x0, w) * C;
        const uint8_t* p1 = p0 + stride;
        const int next = M ? -C : C;
        const __m128 v00 = LoadPixel4(p0), v01 = LoadPixel4(p0 + next);
        const __m128 v10 = LoadPixel4(p1), v11 = LoadPixel4(p1 + next);
        const __m128 v1 = _mm_add_ps(v00, _mm_mul_ps(_mm_sub_ps(v01, v00), dx));
        const __m128 v2 = _mm_add_ps(v10, _mm_mul_ps(_mm_sub_ps(v11, v10), dx));
        const __m128 v = _mm_add_ps(v1, _mm_mul_ps(_mm_sub_ps(v2, v1), dy));
        __m128i iv = _mm_cvttps_epi32(v);
        iv = _mm_packs_epi32(iv, iv);
        iv = _mm_packus_epi16(iv, iv);
        StoreRgb(out, _mm_cvtsi128_si32(iv), x + 1 < dst.width);
        continue;
      }
#endif
      SampleBilinear<C, M>(src, xs, ys, out);
    }
  }
}

#if SAM2_X86_SIMD

// What the bilinear affine does for one output pixel (AffineRowPlan::kind).
// (Values: inside the image counts 1, interior 1 more.)
enum PixelKind : uint8_t { kFillPixel = 0, kEdgePixel = 1, kInteriorPixel = 2 };

// kKindsOf[bits]: byte i (little-endian) is bit i of a 4-bit mask.
constexpr uint32_t KindsOf(int bits) {
  return (bits & 1) | (bits & 2) << 7 | (bits & 4) << 14 | (bits & 8) << 21;
}
constexpr uint32_t kKindsOf[16] = {
    KindsOf(0),  KindsOf(1),  KindsOf(2),  KindsOf(3), KindsOf(4),  KindsOf(5),
    KindsOf(6),  KindsOf(7),  KindsOf(8),  KindsOf(9), KindsOf(10), KindsOf(11),
    KindsOf(12), KindsOf(13), KindsOf(14), KindsOf(15)};

// One output row of the bilinear RGB affine, planned four pixels at a time:
// source points, their kind, and for interior pixels the byte offset of the
// 2x2 neighbourhood and the float weights.
struct AffineRowPlan {
  explicit AffineRowPlan(int width)
      : xs(width + 4),
        ys(width + 4),
        offset(width + 4),
        dx(width + 4),
        dy(width + 4),
        kind(width + 4) {}
  std::vector<double> xs, ys;
  std::vector<int32_t> offset;
  std::vector<float> dx, dy;
  std::vector<uint8_t> kind;
};

// The horizontal lerps of an interior pixel: its 2x2 neighbourhood at p
// (two 8-byte loads, rows p and p + stride) as [top-left | bottom-left] and
// [top-right | bottom-right] floats, lerped by dx: [top row | bottom row].
SAM2_TARGET_AVX2 inline __m256 InteriorRows(const uint8_t* p, int stride,
                                            __m128i shuffle, float dx) {
  int64_t top, bottom;
  std::memcpy(&top, p, 8);
  std::memcpy(&bottom, p + stride, 8);
  const __m128i s = _mm_shuffle_epi8(_mm_set_epi64x(bottom, top), shuffle);
  const __m256 left = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(s));
  const __m256 right =
      _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_srli_si128(s, 8)));
  return _mm256_add_ps(
      left, _mm256_mul_ps(_mm256_sub_ps(right, left), _mm256_set1_ps(dx)));
}

// Four interior pixels: InteriorRows for each, then the vertical lerps two
// pixels per register (the same float operations as the one-pixel path),
// and 12 bytes out (16 written when `room`: the next pixels come later).
SAM2_TARGET_AVX2 inline void InteriorQuad(const uint8_t* base, int stride,
                                          __m128i shuffle,
                                          const int32_t* offset,
                                          const float* dx, const float* dy,
                                          uint8_t* out, bool room) {
  const __m256 r0 = InteriorRows(base + offset[0], stride, shuffle, dx[0]);
  const __m256 r1 = InteriorRows(base + offset[1], stride, shuffle, dx[1]);
  const __m256 r2 = InteriorRows(base + offset[2], stride, shuffle, dx[2]);
  const __m256 r3 = InteriorRows(base + offset[3], stride, shuffle, dx[3]);
  const __m128 d = _mm_loadu_ps(dy);
  const __m256 dy01 =
      _mm256_set_m128(_mm_shuffle_ps(d, d, 0x55), _mm_shuffle_ps(d, d, 0x00));
  const __m256 dy23 =
      _mm256_set_m128(_mm_shuffle_ps(d, d, 0xFF), _mm_shuffle_ps(d, d, 0xAA));
  // [top p | top q] and [bottom p | bottom q].
  const __m256 top01 = _mm256_permute2f128_ps(r0, r1, 0x20);
  const __m256 bottom01 = _mm256_permute2f128_ps(r0, r1, 0x31);
  const __m256 top23 = _mm256_permute2f128_ps(r2, r3, 0x20);
  const __m256 bottom23 = _mm256_permute2f128_ps(r2, r3, 0x31);
  const __m256 v01 =
      _mm256_add_ps(top01, _mm256_mul_ps(_mm256_sub_ps(bottom01, top01), dy01));
  const __m256 v23 =
      _mm256_add_ps(top23, _mm256_mul_ps(_mm256_sub_ps(bottom23, top23), dy23));
  // Lanes: [p0 p2 | p1 p3] as 16-bit, then bytes; dwords 0, 4, 1, 5 are
  // the pixels in order, RGBx.
  const __m256i words =
      _mm256_packs_epi32(_mm256_cvttps_epi32(v01), _mm256_cvttps_epi32(v23));
  const __m256i bytes = _mm256_packus_epi16(words, words);
  __m128i q = _mm256_castsi256_si128(_mm256_permutevar8x32_epi32(
      bytes, _mm256_setr_epi32(0, 4, 1, 5, 0, 0, 0, 0)));
  q = _mm_shuffle_epi8(
      q, _mm_setr_epi8(0, 1, 2, 4, 5, 6, 8, 9, 10, 12, 13, 14, -1, -1, -1, -1));
  if (room) {
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out), q);
  } else {
    _mm_storel_epi64(reinterpret_cast<__m128i*>(out), q);
    const int32_t last = _mm_extract_epi32(q, 2);
    std::memcpy(out + 8, &last, 4);
  }
}

// AffineBilinearLoop<3, M> with AVX2 (chosen at run time). Bit-identical to
// it except for the source points: they are Pillow's own per-pixel
// expression (a0 * xin + a1 * yin + a2, in double, in that order) instead
// of the stepped sum, i.e. they follow Pillow even more closely. Interior
// pixels: the 2x2 neighbourhood (two 8-byte loads) becomes one 8-float
// register [top-left | bottom-left] and one [top-right | bottom-right], and
// the three float32 lerps are those of the SSE path in the same order.
// Edge pixels (a neighbour clamped) take SampleBilinear (double), as there.
template <bool M>
SAM2_TARGET_AVX2 void AffineBilinearRgbAvx2(const Image& src,
                                            const AffineMatrix& a,
                                            const Rgb& fill, Image& dst) {
  // The 2x2 loads need two source columns and an output the source's size.
  if (src.width < 2 || src.size() != dst.size()) {
    return AffineBilinearLoop<3, M>(src, a, fill, dst);
  }
  const int w = src.width, h = src.height;
  const int out_w = dst.width;
  const int stride = w * 3;
  const uint8_t* __restrict base = src.data.data();
  uint8_t* __restrict out = dst.data.data();
  AffineRowPlan plan(out_w);
  const __m256d a0 = _mm256_set1_pd(a[0]), a2 = _mm256_set1_pd(a[2]);
  const __m256d a3 = _mm256_set1_pd(a[3]), a5 = _mm256_set1_pd(a[5]);
  const __m256d zero = _mm256_setzero_pd(), half = _mm256_set1_pd(0.5);
  const __m256d wd = _mm256_set1_pd(w), hd = _mm256_set1_pd(h);
  const __m128i minus1 = _mm_set1_epi32(-1), w_m1 = _mm_set1_epi32(w - 1),
                w_m2 = _mm_set1_epi32(w - 2), h_m1 = _mm_set1_epi32(h - 1),
                h_m2 = _mm_set1_epi32(h - 2), zero_i = _mm_setzero_si128(),
                stride_v = _mm_set1_epi32(stride), three = _mm_set1_epi32(3);
  // Bytes of the two loads (row y0: pixels p, p+1; row y0+1: same) to
  // [TL 0 BL 0 | TR 0 BR 0]; mirrored, the pair is (x0+1, x0) in memory.
  const __m128i shuffle =
      M ? _mm_setr_epi8(3, 4, 5, -1, 11, 12, 13, -1, 0, 1, 2, -1, 8, 9, 10, -1)
        : _mm_setr_epi8(0, 1, 2, -1, 8, 9, 10, -1, 3, 4, 5, -1, 11, 12, 13, -1);
  for (int y = 0; y < dst.height; ++y) {
    const double yin = y + 0.5;
    const double a1y = a[1] * yin, a4y = a[4] * yin;
    const __m256d a1yv = _mm256_set1_pd(a1y), a4yv = _mm256_set1_pd(a4y);
    for (int x = 0; x < out_w; x += 4) {
      const __m256d xin = _mm256_setr_pd(x + 0.5, x + 1.5, x + 2.5, x + 3.5);
      const __m256d xs =
          _mm256_add_pd(_mm256_add_pd(_mm256_mul_pd(a0, xin), a1yv), a2);
      const __m256d ys =
          _mm256_add_pd(_mm256_add_pd(_mm256_mul_pd(a3, xin), a4yv), a5);
      const __m256d inside =
          _mm256_and_pd(_mm256_and_pd(_mm256_cmp_pd(xs, zero, _CMP_GE_OQ),
                                      _mm256_cmp_pd(xs, wd, _CMP_LT_OQ)),
                        _mm256_and_pd(_mm256_cmp_pd(ys, zero, _CMP_GE_OQ),
                                      _mm256_cmp_pd(ys, hd, _CMP_LT_OQ)));
      const __m256d xf = _mm256_sub_pd(xs, half);
      const __m256d yf = _mm256_sub_pd(ys, half);
      const __m256d fx = _mm256_floor_pd(xf);
      const __m256d fy = _mm256_floor_pd(yf);
      // Pillow's FLOOR; garbage (but no trap) for points far outside,
      // which are fill pixels.
      const __m128i ix = _mm256_cvttpd_epi32(fx);
      const __m128i iy = _mm256_cvttpd_epi32(fy);
      __m128i interior = _mm_and_si128(
          _mm_and_si128(_mm_cmpgt_epi32(ix, minus1), _mm_cmpgt_epi32(w_m1, ix)),
          _mm_and_si128(_mm_cmpgt_epi32(iy, minus1),
                        _mm_cmpgt_epi32(h_m1, iy)));
      // The loads read two bytes past the pair: not past the buffer's end.
      interior =
          _mm_and_si128(interior, _mm_or_si128(_mm_cmpgt_epi32(h_m2, iy),
                                               M ? _mm_cmpgt_epi32(ix, zero_i)
                                                 : _mm_cmpgt_epi32(w_m2, ix)));
      const __m128i pair = M ? _mm_sub_epi32(w_m2, ix) : ix;
      const __m128i offset = _mm_add_epi32(_mm_mullo_epi32(iy, stride_v),
                                           _mm_mullo_epi32(pair, three));
      _mm256_storeu_pd(&plan.xs[x], xs);
      _mm256_storeu_pd(&plan.ys[x], ys);
      _mm_storeu_si128(reinterpret_cast<__m128i*>(&plan.offset[x]), offset);
      _mm_storeu_ps(&plan.dx[x], _mm256_cvtpd_ps(_mm256_sub_pd(xf, fx)));
      _mm_storeu_ps(&plan.dy[x], _mm256_cvtpd_ps(_mm256_sub_pd(yf, fy)));
      const int in_bits = _mm256_movemask_pd(inside);
      const int fast_bits = _mm_movemask_ps(_mm_castsi128_ps(interior));
      // Interior implies inside (its neighbours are in the image).
      const uint32_t kinds = kKindsOf[in_bits] + kKindsOf[fast_bits & in_bits];
      std::memcpy(&plan.kind[x], &kinds, 4);
    }
    for (int x = 0; x < out_w;) {
      // Runs of four interior pixels (most of the image) share the vertical
      // lerp, the conversion and the store.
      uint32_t kinds;
      std::memcpy(&kinds, &plan.kind[x], 4);  // kind has 4 spare entries
      if (kinds == 0x02020202u && x + 4 <= out_w) {
        InteriorQuad(base, stride, shuffle, &plan.offset[x], &plan.dx[x],
                     &plan.dy[x], out, x + 6 <= out_w);
        x += 4;
        out += 12;
        continue;
      }
      const uint8_t kind = plan.kind[x];
      if (kind == kInteriorPixel) {
        const __m256 rows =
            InteriorRows(base + plan.offset[x], stride, shuffle, plan.dx[x]);
        const __m128 v1 = _mm256_castps256_ps128(rows);
        const __m128 v2 = _mm256_extractf128_ps(rows, 1);
        const __m128 v = _mm_add_ps(
            v1, _mm_mul_ps(_mm_sub_ps(v2, v1), _mm_set1_ps(plan.dy[x])));
        __m128i iv = _mm_cvttps_epi32(v);
        iv = _mm_packs_epi32(iv, iv);
        iv = _mm_packus_epi16(iv, iv);
        StoreRgb(out, _mm_cvtsi128_si32(iv), x + 1 < out_w);
      } else if (kind == kEdgePixel) {
        SampleBilinear<3, M>(src, plan.xs[x], plan.ys[x], out);
      } else {
        out[0] = fill[0];
        out[1] = fill[1];
        out[2] = fill[2];
      }
      ++x;
      out += 3;
    }
  }
}
#endif

// ---- dispatch --

// The bilinear RGB affine of one CPU level, both orientations.
struct AffineKernels {
  AffineFn bilinear_rgb;
  AffineFn bilinear_rgb_mirrored;
};

const AffineKernels& AffineKernelsForCpu() {
  static const AffineKernels kernels = [] {
#if SAM2_X86_SIMD
    if (CpuSimdLevel() >= SimdLevel::kAvx2) {
      return AffineKernels{AffineBilinearRgbAvx2<false>,
                           AffineBilinearRgbAvx2<true>};
    }
#endif
    return AffineKernels{AffineBilinearLoop<3, false>,
                         AffineBilinearLoop<3, true>};
  }();
  return kernels;
}

template <int C, bool M>
void AffineDispatch(const Image& src, const AffineMatrix& m,
                    Interpolation interpolation, const Rgb& fill, Image& dst) {
  switch (interpolation) {
    case Interpolation::kNearest:
      AffineLoop<C, SampleNearest<C, M>>(src, m, fill, dst);
      break;
    case Interpolation::kBilinear:
      if (C == 3) {
        const AffineKernels& k = AffineKernelsForCpu();
        (M ? k.bilinear_rgb_mirrored : k.bilinear_rgb)(src, m, fill, dst);
      } else {
        AffineBilinearLoop<C, M>(src, m, fill, dst);
      }
      break;
    case Interpolation::kBicubic:
      AffineLoop<C, SampleBicubic<C, M>>(src, m, fill, dst);
      break;
  }
}

template <int C>
void AffineDispatch(const Image& src, const AffineMatrix& m,
                    Interpolation interpolation, const Rgb& fill, bool mirror,
                    Image& dst) {
  if (mirror) {
    AffineDispatch<C, true>(src, m, interpolation, fill, dst);
  } else {
    AffineDispatch<C, false>(src, m, interpolation, fill, dst);
  }
}

template <int C>
void HFlipRows(Image& image) {
  struct Pixel {
    uint8_t v[C];
  };
  for (int y = 0; y < image.height; ++y) {
    Pixel* row = reinterpret_cast<Pixel*>(
        image.data.data() + static_cast<size_t>(y) * image.width * C);
    std::reverse(row, row + image.width);
  }
}
}  // namespace

void HFlip(Image& image) {
  switch (image.channels) {
    case 1:
      return HFlipRows<1>(image);
    case 2:
      return HFlipRows<2>(image);
    case 3:
      return HFlipRows<3>(image);
    default:
      return HFlipRows<4>(image);
  }
}

void HFlip(Mask& mask) {
  for (int y = 0; y < mask.height; ++y) {
    uint8_t* row = mask.data.data() + static_cast<size_t>(y) * mask.width;
    std::reverse(row, row + mask.width);
  }
}

AffineMatrix InverseAffineMatrix(double cx, double cy, double angle_deg,
                                 double tx, double ty, double scale,
                                 double shear_x_deg, double shear_y_deg) {
  const double rot = angle_deg * M_PI / 180.0;
  const double sx = shear_x_deg * M_PI / 180.0;
  const double sy = shear_y_deg * M_PI / 180.0;
  // Rotation then shear, without scale: [[a, b], [c, d]], determinant 1.
  const double a = std::cos(rot - sy) / std::cos(sy);
  const double b =
      -std::cos(rot - sy) * std::tan(sx) / std::cos(sy) - std::sin(rot);
  const double c = std::sin(rot - sy) / std::cos(sy);
  const double d =
      -std::sin(rot - sy) * std::tan(sx) / std::cos(sy) + std::cos(rot);
  AffineMatrix m = {d, -b, 0.0, -c, a, 0.0};
  for (double& v : m) v /= scale;
  // Inverse of the translation and of the centring, then re-centre.
  m[2] += m[0] * (-cx - tx) + m[1] * (-cy - ty);
  m[5] += m[3] * (-cx - tx) + m[4] * (-cy - ty);
  m[2] += cx;
  m[5] += cy;
  return m;
}

Image AffineImage(const Image& src, const AffineMatrix& m,
                  Interpolation interpolation, const Rgb& fill,
                  bool mirror_source) {
  // Every pixel is written (a sample or the fill).
  Image dst = Image::Uninitialized(src.height, src.width, src.channels);
  switch (src.channels) {
    case 1:
      AffineDispatch<1>(src, m, interpolation, fill, mirror_source, dst);
      break;
    case 3:
      AffineDispatch<3>(src, m, interpolation, fill, mirror_source, dst);
      break;
    case 4:
      AffineDispatch<4>(src, m, interpolation, fill, mirror_source, dst);
      break;
    default:
      AffineDispatch<2>(src, m, interpolation, fill, mirror_source, dst);
      break;
  }
  return dst;
}

}  // namespace sam2::data::ops
