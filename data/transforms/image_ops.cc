#include "data/transforms/image_ops.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>  // AVX2 kernels, selected at run time
#endif
#if defined(__SSE2__)
#include <emmintrin.h>
#include <smmintrin.h>
#define SAM2_HAVE_SSE2 1
#endif
// Runtime-dispatched AVX2 clones of integer loops (x86-64 with GCC/Clang).
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define SAM2_AVX2_CLONE __attribute__((target_clones("avx2", "default")))
#else
#define SAM2_AVX2_CLONE
#endif

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

namespace sam2::data::ops {
namespace {

// Pillow's FLOOR / COORD macros (ImagingUtils.h, Geometry.c).
inline int PilFloor(double v) {
  return v < 0.0 ? static_cast<int>(std::floor(v)) : static_cast<int>(v);
}
inline int Clamp(int v, int lo, int hi) {
  return v < lo ? lo : v > hi ? hi : v;
}
// Python's round() / torch.round (half to even) to int, without libm
// (nearbyint is a library call on baseline x86-64).
inline int RoundHalfEven(double v) {
  const double t = v + 0.5;
  int i = static_cast<int>(t);
  if (t < i) --i;  // floor for negative values
  if (i - v == 0.5 && (i & 1)) --i;
  return i;
}
inline uint8_t Clip8(int v) {
  return static_cast<uint8_t>(v < 0 ? 0 : v > 255 ? 255 : v);
}

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

// Stores the low three bytes of `packed` (an RGB pixel) at out. Where the
// byte after the pixel is still to be written (`room`: not the row's last
// pixel) one 4-byte store does it: a 3-byte memcpy compiles to a spill and
// two narrow stores, a store-forwarding stall per pixel in the hot loops.
inline void StoreRgb(uint8_t* out, int32_t packed, bool room) {
  if (room) {
    std::memcpy(out, &packed, 4);
  } else {
    std::memcpy(out, &packed, 3);
  }
}

#if SAM2_HAVE_SSE2
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
#if SAM2_HAVE_SSE2
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

#if defined(__x86_64__) && defined(__GNUC__)
#define SAM2_HAVE_AVX2_AFFINE 1

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
__attribute__((target("avx2"))) inline __m256 InteriorRows(const uint8_t* p,
                                                           int stride,
                                                           __m128i shuffle,
                                                           float dx) {
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
__attribute__((target("avx2"))) inline void InteriorQuad(
    const uint8_t* base, int stride, __m128i shuffle, const int32_t* offset,
    const float* dx, const float* dy, uint8_t* out, bool room) {
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
__attribute__((target("avx2"))) void AffineBilinearRgbAvx2(
    const Image& src, const AffineMatrix& a, const Rgb& fill, Image& dst) {
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

template <int C, bool M>
void AffineDispatch(const Image& src, const AffineMatrix& m,
                    Interpolation interpolation, const Rgb& fill, Image& dst) {
  switch (interpolation) {
    case Interpolation::kNearest:
      AffineLoop<C, SampleNearest<C, M>>(src, m, fill, dst);
      break;
    case Interpolation::kBilinear:
#if SAM2_HAVE_AVX2_AFFINE
      if (C == 3 && src.size() == dst.size() && src.width >= 2) {
        static const bool avx2 = __builtin_cpu_supports("avx2");
        if (avx2) {
          AffineBilinearRgbAvx2<M>(src, m, fill, dst);
          break;
        }
      }
#endif
      AffineBilinearLoop<C, M>(src, m, fill, dst);
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

// ---------------------------------------------------------------- resize --

// Pillow's precompute_coeffs for the BILINEAR filter over the whole source.
struct PilCoeffs {
  int ksize = 0;
  std::vector<int> xmin, count;
  std::vector<double> k;  // out_size * ksize
};

double TriangleFilter(double x) {
  if (x < 0.0) x = -x;
  return x < 1.0 ? 1.0 - x : 0.0;
}

PilCoeffs PrecomputePilCoeffs(int in_size, int out_size) {
  PilCoeffs c;
  const double scale = static_cast<double>(static_cast<float>(in_size)) /
                       out_size;  // box (0, in_size) is float in Pillow
  const double filterscale = scale < 1.0 ? 1.0 : scale;
  const double support = 1.0 * filterscale;
  c.ksize = static_cast<int>(std::ceil(support)) * 2 + 1;
  c.xmin.resize(out_size);
  c.count.resize(out_size);
  c.k.assign(static_cast<size_t>(out_size) * c.ksize, 0.0);
  for (int xx = 0; xx < out_size; ++xx) {
    const double center = (xx + 0.5) * scale;
    const double ss = 1.0 / filterscale;
    int xmin = static_cast<int>(center - support + 0.5);
    if (xmin < 0) xmin = 0;
    int xmax = static_cast<int>(center + support + 0.5);
    if (xmax > in_size) xmax = in_size;
    xmax -= xmin;
    double* k = &c.k[static_cast<size_t>(xx) * c.ksize];
    double ww = 0.0;
    for (int x = 0; x < xmax; ++x) {
      const double w = TriangleFilter((x + xmin - center + 0.5) * ss);
      k[x] = w;
      ww += w;
    }
    for (int x = 0; x < xmax; ++x) {
      if (ww != 0.0) k[x] /= ww;
    }
    c.xmin[xx] = xmin;
    c.count[xx] = xmax;
  }
  return c;
}

constexpr int kPrecisionBits = 32 - 8 - 2;

std::vector<int32_t> FixedPointCoeffs(const std::vector<double>& k) {
  std::vector<int32_t> out(k.size());
  for (size_t i = 0; i < k.size(); ++i) {
    out[i] = k[i] < 0
                 ? static_cast<int32_t>(-0.5 + k[i] * (1 << kPrecisionBits))
                 : static_cast<int32_t>(0.5 + k[i] * (1 << kPrecisionBits));
  }
  return out;
}

inline uint8_t ClipFixed(int32_t v) { return Clip8(v >> kPrecisionBits); }

// The horizontal coefficients with the same number of taps for every
// output pixel (the widest window): windows at the right border are shifted
// left and padded with zero weights. Adding 0 * pixel changes no sum.
struct FixedTaps {
  int taps = 0;
  std::vector<int> start;
  std::vector<int32_t> k;  // out_size * taps
};

FixedTaps MakeFixedTaps(const PilCoeffs& c, const std::vector<int32_t>& kk,
                        int in_size) {
  FixedTaps f;
  const int out_size = static_cast<int>(c.xmin.size());
  for (int n : c.count) f.taps = std::max(f.taps, n);
  f.taps = std::min(f.taps, in_size);
  f.start.resize(out_size);
  f.k.assign(static_cast<size_t>(out_size) * f.taps, 0);
  for (int xx = 0; xx < out_size; ++xx) {
    const int start = std::max(0, std::min(c.xmin[xx], in_size - f.taps));
    f.start[xx] = start;
    for (int j = 0; j < c.count[xx]; ++j) {
      f.k[static_cast<size_t>(xx) * f.taps + (c.xmin[xx] - start) + j] =
          kk[static_cast<size_t>(xx) * c.ksize + j];
    }
  }
  return f;
}

// ImagingResampleHorizontal_8bpc over source rows [row0, row0 + rows);
// TAPS > 0: that many taps (MakeFixedTaps), else f.taps.
template <int C, int TAPS>
void ResampleHorizontal(const Image& src, int row0, int rows,
                        const FixedTaps& f, int out_w, Image& dst) {
  const int taps = TAPS > 0 ? TAPS : f.taps;
  const size_t in_stride = static_cast<size_t>(src.width) * C;
  const size_t out_stride = static_cast<size_t>(out_w) * C;
  const int* __restrict start = f.start.data();
  for (int yy = 0; yy < rows; ++yy) {
    const uint8_t* __restrict in = src.data.data() + (row0 + yy) * in_stride;
    uint8_t* __restrict out = dst.data.data() + yy * out_stride;
    const int32_t* __restrict k = f.k.data();
    for (int xx = 0; xx < out_w; ++xx, k += taps, out += C) {
      const uint8_t* __restrict p = in + start[xx] * C;
      int32_t ss[C];
      for (int ch = 0; ch < C; ++ch) ss[ch] = 1 << (kPrecisionBits - 1);
      for (int x = 0; x < taps; ++x, p += C) {
        const int32_t w = k[x];
        for (int ch = 0; ch < C; ++ch) ss[ch] += p[ch] * w;
      }
      for (int ch = 0; ch < C; ++ch) out[ch] = ClipFixed(ss[ch]);
    }
  }
}

// One RGB pixel of the horizontal pass in plain integer code (the same sums
// as the SIMD variants): their tails, where wide loads would leave the row.
inline void ResamplePixelRgb(const uint8_t* p, const int32_t* k, int taps,
                             uint8_t* out) {
  int32_t ss[3] = {1 << (kPrecisionBits - 1), 1 << (kPrecisionBits - 1),
                   1 << (kPrecisionBits - 1)};
  for (int x = 0; x < taps; ++x, p += 3) {
    for (int ch = 0; ch < 3; ++ch) ss[ch] += p[ch] * k[x];
  }
  for (int ch = 0; ch < 3; ++ch) out[ch] = ClipFixed(ss[ch]);
}

#if defined(__x86_64__) && defined(__GNUC__)
#define SAM2_HAVE_SSE41_PATH 1
// RGB horizontal pass with SSE4.1 (32-bit multiplies): the three channels of
// an output pixel in one register, the same integer sums as the scalar
// code. Rows whose last tap touches the last byte of the buffer are left to
// the scalar code (the 4-byte loads read one byte past the pixel).
__attribute__((target("sse4.1"))) void ResampleHorizontalRgbSse41(
    const Image& src, int row0, int rows, const FixedTaps& f, int out_w,
    Image& dst) {
  const int taps = f.taps;
  const size_t in_stride = static_cast<size_t>(src.width) * 3;
  const size_t out_stride = static_cast<size_t>(out_w) * 3;
  const int* __restrict start = f.start.data();
  int safe_w = out_w;  // output pixels whose loads stay inside a last row
  while (safe_w > 0 && start[safe_w - 1] + taps >= src.width) --safe_w;
  for (int yy = 0; yy < rows; ++yy) {
    const uint8_t* __restrict in = src.data.data() + (row0 + yy) * in_stride;
    uint8_t* __restrict out = dst.data.data() + yy * out_stride;
    const bool last_row = row0 + yy == src.height - 1;
    const int fast_w = last_row ? safe_w : out_w;
    const int32_t* __restrict k = f.k.data();
    int xx = 0;
    for (; xx < fast_w; ++xx, k += taps, out += 3) {
      const uint8_t* p = in + start[xx] * 3;
      __m128i acc = _mm_set1_epi32(1 << (kPrecisionBits - 1));
      for (int x = 0; x < taps; ++x, p += 3) {
        int32_t v;
        std::memcpy(&v, p, 4);
        const __m128i px = _mm_cvtepu8_epi32(_mm_cvtsi32_si128(v));
        acc = _mm_add_epi32(acc, _mm_mullo_epi32(px, _mm_set1_epi32(k[x])));
      }
      acc = _mm_srai_epi32(acc, kPrecisionBits);
      acc = _mm_packs_epi32(acc, acc);
      acc = _mm_packus_epi16(acc, acc);
      StoreRgb(out, _mm_cvtsi128_si32(acc), xx + 1 < out_w);
    }
    for (; xx < out_w; ++xx, k += taps, out += 3) {
      ResamplePixelRgb(in + start[xx] * 3, k, taps, out);
    }
  }
}
// The SSE4.1 pass with AVX2 for up to 5 taps (downscaling by up to ~2.5x,
// any upscaling), two output pixels per register (lanes 0-3 the first
// pixel's RGB0, 4-7 the second's): each pixel's 16 source bytes are loaded
// once and every tap's RGB picked out with a byte shuffle; coefficients are
// laid out per pair of pixels. The same integer sums: identical results.
constexpr int kMaxAvx2Taps = 5;  // 15 bytes of the 16 loaded

__attribute__((target("avx2"))) void ResampleHorizontalRgbAvx2(
    const Image& src, int row0, int rows, const FixedTaps& f, int out_w,
    Image& dst) {
  const int taps = f.taps;
  const int pairs = out_w / 2;
  std::vector<int32_t> pair_k(static_cast<size_t>(pairs) * taps * 8);
  for (int p = 0; p < pairs; ++p) {
    for (int x = 0; x < taps; ++x) {
      for (int lane = 0; lane < 8; ++lane) {
        pair_k[(static_cast<size_t>(p) * taps + x) * 8 + lane] =
            f.k[static_cast<size_t>(2 * p + lane / 4) * taps + x];
      }
    }
  }
  __m256i pick[kMaxAvx2Taps];
  for (int x = 0; x < taps; ++x) {
    const char b = static_cast<char>(3 * x);
    pick[x] = _mm256_setr_epi8(b, -1, -1, -1, b + 1, -1, -1, -1, b + 2, -1, -1,
                               -1, -1, -1, -1, -1, b, -1, -1, -1, b + 1, -1, -1,
                               -1, b + 2, -1, -1, -1, -1, -1, -1, -1);
  }
  const size_t in_stride = static_cast<size_t>(src.width) * 3;
  const size_t out_stride = static_cast<size_t>(out_w) * 3;
  const int* __restrict start = f.start.data();
  // Output pixels whose 16-byte loads stay inside the buffer in its last
  // row (other rows may read into the next one).
  int safe_w = out_w;
  while (safe_w > 0 && 3 * start[safe_w - 1] + 16 > 3 * src.width) --safe_w;
  const __m128i compact =
      _mm_setr_epi8(0, 1, 2, 4, 5, 6, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1);
  for (int yy = 0; yy < rows; ++yy) {
    const uint8_t* __restrict in = src.data.data() + (row0 + yy) * in_stride;
    uint8_t* __restrict out = dst.data.data() + yy * out_stride;
    const bool last_row = row0 + yy == src.height - 1;
    const int fast_w = last_row ? safe_w : out_w;
    int xx = 0;
    for (; xx + 1 < fast_w; xx += 2, out += 6) {
      const __m256i px = _mm256_inserti128_si256(
          _mm256_castsi128_si256(_mm_loadu_si128(
              reinterpret_cast<const __m128i*>(in + start[xx] * 3))),
          _mm_loadu_si128(
              reinterpret_cast<const __m128i*>(in + start[xx + 1] * 3)),
          1);
      const __m256i* k = reinterpret_cast<const __m256i*>(
          &pair_k[static_cast<size_t>(xx / 2) * taps * 8]);
      __m256i acc = _mm256_set1_epi32(1 << (kPrecisionBits - 1));
      for (int x = 0; x < taps; ++x) {
        acc = _mm256_add_epi32(
            acc, _mm256_mullo_epi32(_mm256_shuffle_epi8(px, pick[x]),
                                    _mm256_loadu_si256(k + x)));
      }
      acc = _mm256_srai_epi32(acc, kPrecisionBits);
      __m128i v = _mm_packs_epi32(_mm256_castsi256_si128(acc),
                                  _mm256_extracti128_si256(acc, 1));
      v = _mm_shuffle_epi8(_mm_packus_epi16(v, v), compact);
      if (xx + 2 < out_w) {  // 8 bytes: the next pixel is written later
        _mm_storel_epi64(reinterpret_cast<__m128i*>(out), v);
      } else {
        const int32_t first = _mm_cvtsi128_si32(v);
        const int16_t second = static_cast<int16_t>(_mm_extract_epi16(v, 2));
        std::memcpy(out, &first, 4);
        std::memcpy(out + 4, &second, 2);
      }
    }
    const int32_t* __restrict k = f.k.data() + static_cast<size_t>(xx) * taps;
    for (; xx < out_w; ++xx, k += taps, out += 3) {
      ResamplePixelRgb(in + start[xx] * 3, k, taps, out);
    }
  }
}
#endif

template <int C>
void ResampleHorizontalDispatch(const Image& src, int row0, int rows,
                                const FixedTaps& f, int out_w, Image& dst) {
#if SAM2_HAVE_SSE41_PATH
  static const bool avx2 = __builtin_cpu_supports("avx2");
  if (C == 3 && avx2 && f.taps <= kMaxAvx2Taps) {
    return ResampleHorizontalRgbAvx2(src, row0, rows, f, out_w, dst);
  }
  static const bool sse41 = __builtin_cpu_supports("sse4.1");
  if (C == 3 && sse41) {
    return ResampleHorizontalRgbSse41(src, row0, rows, f, out_w, dst);
  }
#endif
  switch (f.taps) {
    case 2:
      return ResampleHorizontal<C, 2>(src, row0, rows, f, out_w, dst);
    case 3:
      return ResampleHorizontal<C, 3>(src, row0, rows, f, out_w, dst);
    case 4:
      return ResampleHorizontal<C, 4>(src, row0, rows, f, out_w, dst);
    case 5:
      return ResampleHorizontal<C, 5>(src, row0, rows, f, out_w, dst);
    default:
      return ResampleHorizontal<C, 0>(src, row0, rows, f, out_w, dst);
  }
}

// One output row of the vertical pass from two / three source rows: the sums
// in registers, no accumulator buffer (the common counts of bilinear
// upscaling and mild downscaling). Integer only; AVX2 clones.
SAM2_AVX2_CLONE void VerticalRow2(const uint8_t* __restrict a,
                                  const uint8_t* __restrict b, int32_t ka,
                                  int32_t kb, size_t n,
                                  uint8_t* __restrict out) {
  for (size_t i = 0; i < n; ++i) {
    const int32_t v =
        ((1 << (kPrecisionBits - 1)) + a[i] * ka + b[i] * kb) >> kPrecisionBits;
    out[i] = static_cast<uint8_t>(v < 0 ? 0 : v > 255 ? 255 : v);
  }
}
SAM2_AVX2_CLONE void VerticalRow3(const uint8_t* __restrict a,
                                  const uint8_t* __restrict b,
                                  const uint8_t* __restrict c, int32_t ka,
                                  int32_t kb, int32_t kc, size_t n,
                                  uint8_t* __restrict out) {
  for (size_t i = 0; i < n; ++i) {
    const int32_t v =
        ((1 << (kPrecisionBits - 1)) + a[i] * ka + b[i] * kb + c[i] * kc) >>
        kPrecisionBits;
    out[i] = static_cast<uint8_t>(v < 0 ? 0 : v > 255 ? 255 : v);
  }
}

// ImagingResampleVertical_8bpc; `c.xmin` relative to src's first row.
// Integer only: an AVX2 clone (32-bit multiplies in one instruction) is
// chosen at run time where the CPU has it, with identical results. The sum
// is the same whatever the order of its (exact, int32) terms.
SAM2_AVX2_CLONE void ResampleVertical(const Image& src, const PilCoeffs& c,
                                      const std::vector<int32_t>& kk,
                                      int row_offset, int out_h, Image& dst) {
  const size_t n = static_cast<size_t>(src.width) * src.channels;
  std::vector<int32_t> acc_buffer(n);
  int32_t* __restrict acc = acc_buffer.data();
  for (int yy = 0; yy < out_h; ++yy) {
    const int32_t* k = &kk[static_cast<size_t>(yy) * c.ksize];
    const uint8_t* first = src.data.data() + (c.xmin[yy] - row_offset) * n;
    uint8_t* __restrict out = dst.data.data() + yy * n;
    if (c.count[yy] == 2) {
      VerticalRow2(first, first + n, k[0], k[1], n, out);
      continue;
    }
    if (c.count[yy] == 3) {
      VerticalRow3(first, first + n, first + 2 * n, k[0], k[1], k[2], n, out);
      continue;
    }
    for (size_t i = 0; i < n; ++i) acc[i] = 1 << (kPrecisionBits - 1);
    for (int y = 0; y < c.count[yy]; ++y) {
      const uint8_t* __restrict in = first + y * n;
      const int32_t w = k[y];
      for (size_t i = 0; i < n; ++i) acc[i] += in[i] * w;
    }
    for (size_t i = 0; i < n; ++i) {
      const int32_t v = acc[i] >> kPrecisionBits;
      out[i] = static_cast<uint8_t>(v < 0 ? 0 : v > 255 ? 255 : v);
    }
  }
}

template <int C>
Image ResizeImageImpl(const Image& src, int out_h, int out_w) {
  const bool need_h = out_w != src.width;
  const bool need_v = out_h != src.height;
  if (!need_h && !need_v) return src;
  const PilCoeffs vert = PrecomputePilCoeffs(src.height, out_h);
  const int ybox_first = vert.xmin[0];
  const int ybox_last = vert.xmin[out_h - 1] + vert.count[out_h - 1];
  Image horizontal;
  const Image* v_src = &src;
  int row_offset = 0;
  if (need_h) {
    const PilCoeffs hor = PrecomputePilCoeffs(src.width, out_w);
    const FixedTaps taps =
        MakeFixedTaps(hor, FixedPointCoeffs(hor.k), src.width);
    // Only the rows the vertical pass reads (all of them without one).
    const int first = need_v ? ybox_first : 0;
    const int rows = need_v ? ybox_last - ybox_first : src.height;
    horizontal = Image::Uninitialized(rows, out_w, C);  // all written
    ResampleHorizontalDispatch<C>(src, first, rows, taps, out_w, horizontal);
    if (!need_v) return horizontal;
    v_src = &horizontal;
    row_offset = first;
  }
  Image out = Image::Uninitialized(out_h, v_src->width, C);  // all written
  ResampleVertical(*v_src, vert, FixedPointCoeffs(vert.k), row_offset, out_h,
                   out);
  return out;
}

// torch's _compute_weights_aa (bilinear, antialias) in float, as
// upsample_bilinear2d_aa computes them for a [in] -> [out] dimension.
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

}  // namespace

namespace {
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

namespace {

// Whether any of the n bytes at p is non-zero: an OR reduction over 8-byte
// words (vectorised), no early exit inside a 4 KB block.
SAM2_AVX2_CLONE bool AnyNonZero(const uint8_t* p, size_t n) {
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

}  // namespace

namespace {

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

#if SAM2_HAVE_AVX2_AFFINE
// The same, four pixels at a time: the same double operations in the same
// order, and the hardware's round-to-nearest-even (what nearbyint does).
__attribute__((target("avx2"))) void NearestSourceIndicesAvx2(
    const AffineMatrix& m, int w, int h, bool mirror, int ox0, int ox1, int oy0,
    int oy1, int32_t* out) {
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

void NearestSourceIndices(const AffineMatrix& m, int w, int h, bool mirror,
                          int ox0, int ox1, int oy0, int oy1, int32_t* out) {
#if SAM2_HAVE_AVX2_AFFINE
  static const bool avx2 = __builtin_cpu_supports("avx2");
  if (avx2) {
    return NearestSourceIndicesAvx2(m, w, h, mirror, ox0, ox1, oy0, oy1, out);
  }
#endif
  NearestSourceIndicesScalar(m, w, h, mirror, ox0, ox1, oy0, oy1, out);
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
  NearestSourceIndices(m, w, h, mirror_source, ox0, ox1, oy0, oy1,
                       source.data());
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

Image ResizeImage(const Image& src, int out_height, int out_width) {
  switch (src.channels) {
    case 1:
      return ResizeImageImpl<1>(src, out_height, out_width);
    case 2:
      return ResizeImageImpl<2>(src, out_height, out_width);
    case 4:
      return ResizeImageImpl<4>(src, out_height, out_width);
    default:
      return ResizeImageImpl<3>(src, out_height, out_width);
  }
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

// ---------------------------------------------------------------- colour --

Lut IdentityLut() {
  Lut lut;
  for (int v = 0; v < 256; ++v) lut[v] = static_cast<uint8_t>(v);
  return lut;
}

Lut BrightnessLut(float factor) {
  Lut lut;
  for (int v = 0; v < 256; ++v) lut[v] = BlendSample(0, v, factor);
  return lut;
}

Lut ContrastLut(int mean, float factor) {
  Lut lut;
  for (int v = 0; v < 256; ++v) lut[v] = BlendSample(mean, v, factor);
  return lut;
}

Lut ComposeLuts(const Lut& first, const Lut& second) {
  Lut lut;
  for (int v = 0; v < 256; ++v) lut[v] = second[first[v]];
  return lut;
}

bool IsIdentity(const Lut& lut) { return lut == IdentityLut(); }

namespace {

void MapBytesScalar(const uint8_t* in, size_t n, const Lut& lut, uint8_t* out) {
  const uint8_t* __restrict t = lut.data();
  for (size_t i = 0; i < n; ++i) out[i] = t[in[i]];
}

#if SAM2_HAVE_AVX2_AFFINE
// 32 bytes at a time without a byte gather: the table as 16 slices of 16
// entries, each looked up with a byte shuffle over the whole register. For
// slice k the index is x - 16k (wrapping) plus 0x70 with unsigned
// saturation: below 0x80 (shuffle bit 7 clear, low nibble x - 16k) exactly
// when x - 16k < 16, i.e. when x is in the slice; every other byte comes out
// 0, so OR-ing the 16 results gives lut[x].
__attribute__((target("avx2"))) void MapBytesAvx2(const uint8_t* in, size_t n,
                                                  const Lut& lut,
                                                  uint8_t* out) {
  __m256i slices[16];
  for (int k = 0; k < 16; ++k) {
    slices[k] = _mm256_broadcastsi128_si256(
        _mm_loadu_si128(reinterpret_cast<const __m128i*>(lut.data() + 16 * k)));
  }
  const __m256i sixteen = _mm256_set1_epi8(16);
  const __m256i bias = _mm256_set1_epi8(0x70);
  size_t i = 0;
  for (; i + 32 <= n; i += 32) {
    // Loaded before the store: in == out is fine.
    __m256i x = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(in + i));
    __m256i r = _mm256_shuffle_epi8(slices[0], _mm256_adds_epu8(x, bias));
    for (int k = 1; k < 16; ++k) {
      x = _mm256_sub_epi8(x, sixteen);
      r = _mm256_or_si256(
          r, _mm256_shuffle_epi8(slices[k], _mm256_adds_epu8(x, bias)));
    }
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + i), r);
  }
  MapBytesScalar(in + i, n - i, lut, out + i);
}
#endif

}  // namespace

void MapBytes(const uint8_t* in, size_t n, const Lut& lut, uint8_t* out) {
#if SAM2_HAVE_AVX2_AFFINE
  static const bool avx2 = __builtin_cpu_supports("avx2");
  if (avx2) return MapBytesAvx2(in, n, lut, out);
#endif
  MapBytesScalar(in, n, lut, out);
}

void ApplyLut(Image& image, const Lut& lut) {
  MapBytes(image.data.data(), image.data.size(), lut, image.data.data());
}

int ApplyLutAndLumaMean(Image& image, const Lut& lut) {
  const size_t n = static_cast<size_t>(image.height) * image.width;
  uint8_t* p = image.data.data();
  uint64_t sum = 0;
  for (size_t i = 0; i < n; ++i, p += 3) {
    p[0] = lut[p[0]];
    p[1] = lut[p[1]];
    p[2] = lut[p[2]];
    sum += Luma(p[0], p[1], p[2]);
  }
  // ImageStat's mean (a float) rounded as ImageEnhance.Contrast does.
  const double mean = n == 0 ? 0.0 : static_cast<double>(sum) / n;
  return static_cast<int>(mean + 0.5);
}

namespace {

// Pixels per chunk of the table-then-arithmetic kernels: 12 KB of RGB, in L1.
constexpr size_t kChunkPixels = 4096;

// Sum of the Luma of n RGB pixels, scalar (vectorised by the compiler in
// the AVX2 clone; the tails of the hand-written kernel below).
SAM2_AVX2_CLONE uint64_t LumaSumScalar(const uint8_t* __restrict p, size_t n) {
  uint64_t sum = 0;
  for (size_t i = 0; i < n; ++i, p += 3) sum += Luma(p[0], p[1], p[2]);
  return sum;
}

// ImageStat's mean (a float) rounded as ImageEnhance.Contrast does.
int RoundedMean(uint64_t sum, size_t n) {
  const double mean = n == 0 ? 0.0 : static_cast<double>(sum) / n;
  return static_cast<int>(mean + 0.5);
}

// n samples through `lut`.
void LookUp(const uint8_t* in, size_t n, const Lut& lut, uint8_t* out) {
  MapBytes(in, n, lut, out);
}

// Saturation blend of n RGB pixels from `in` to `out` (in == out allowed):
// luma and the float blend per sample, branch-free (clamping first and
// truncating gives exactly BlendSample's result for any alpha).
SAM2_AVX2_CLONE void SaturationScalar(const uint8_t* in, size_t n, float factor,
                                      uint8_t* out) {
  for (size_t i = 0; i < n; ++i) {
    const int r = in[3 * i], g = in[3 * i + 1], b = in[3 * i + 2];
    const int l = (r * 19595 + g * 38470 + b * 7471 + 0x8000) >> 16;
    const float lf = static_cast<float>(l);
    const float vr = lf + factor * static_cast<float>(r - l);
    const float vg = lf + factor * static_cast<float>(g - l);
    const float vb = lf + factor * static_cast<float>(b - l);
    out[3 * i] = static_cast<uint8_t>(
        static_cast<int>(std::min(std::max(vr, 0.0f), 255.0f)));
    out[3 * i + 1] = static_cast<uint8_t>(
        static_cast<int>(std::min(std::max(vg, 0.0f), 255.0f)));
    out[3 * i + 2] = static_cast<uint8_t>(
        static_cast<int>(std::min(std::max(vb, 0.0f), 255.0f)));
  }
}

#if SAM2_HAVE_AVX2_AFFINE
// Hand-written AVX2 forms of the two kernels above, eight pixels (24 bytes)
// per step: the compiler's own vectorisation of the interleaved RGB spends
// most of its time shuffling. Same integer luma, same float operations in
// the same order (mul then add, no FMA), so the results are identical.

// Pixels 0..3 from p and 4..7 from p + 12 (one per 128-bit lane; reads 28
// bytes) as 32-bit R, G and B lanes.
__attribute__((target("avx2"))) inline void LoadRgb8(const uint8_t* p,
                                                     __m256i& r, __m256i& g,
                                                     __m256i& b) {
  const __m256i v = _mm256_inserti128_si256(
      _mm256_castsi128_si256(
          _mm_loadu_si128(reinterpret_cast<const __m128i*>(p))),
      _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 12)), 1);
  r = _mm256_shuffle_epi8(
      v, _mm256_setr_epi8(0, -1, -1, -1, 3, -1, -1, -1, 6, -1, -1, -1, 9, -1,
                          -1, -1, 0, -1, -1, -1, 3, -1, -1, -1, 6, -1, -1, -1,
                          9, -1, -1, -1));
  g = _mm256_shuffle_epi8(
      v, _mm256_setr_epi8(1, -1, -1, -1, 4, -1, -1, -1, 7, -1, -1, -1, 10, -1,
                          -1, -1, 1, -1, -1, -1, 4, -1, -1, -1, 7, -1, -1, -1,
                          10, -1, -1, -1));
  b = _mm256_shuffle_epi8(
      v, _mm256_setr_epi8(2, -1, -1, -1, 5, -1, -1, -1, 8, -1, -1, -1, 11, -1,
                          -1, -1, 2, -1, -1, -1, 5, -1, -1, -1, 8, -1, -1, -1,
                          11, -1, -1, -1));
}

// Luma of the eight pixels, as Luma().
__attribute__((target("avx2"))) inline __m256i Luma8(__m256i r, __m256i g,
                                                     __m256i b) {
  __m256i s = _mm256_add_epi32(_mm256_mullo_epi32(r, _mm256_set1_epi32(19595)),
                               _mm256_mullo_epi32(g, _mm256_set1_epi32(38470)));
  s = _mm256_add_epi32(s, _mm256_mullo_epi32(b, _mm256_set1_epi32(7471)));
  return _mm256_srli_epi32(_mm256_add_epi32(s, _mm256_set1_epi32(0x8000)), 16);
}

// One channel of the saturation blend: clamp(l + factor * (v - l)) truncated.
__attribute__((target("avx2"))) inline __m256i Blend8(__m256i v, __m256i l,
                                                      __m256 lf,
                                                      __m256 factor) {
  const __m256 d = _mm256_cvtepi32_ps(_mm256_sub_epi32(v, l));
  __m256 x = _mm256_add_ps(lf, _mm256_mul_ps(factor, d));
  x = _mm256_min_ps(_mm256_max_ps(x, _mm256_setzero_ps()),
                    _mm256_set1_ps(255.0f));
  return _mm256_cvttps_epi32(x);
}

__attribute__((target("avx2"))) uint64_t LumaSumAvx2(const uint8_t* p,
                                                     size_t n) {
  uint64_t sum = 0;
  size_t i = 0;
  // 8-pixel steps while the 28-byte reads stay inside the n pixels; the
  // 32-bit lanes are emptied before they could overflow.
  while (i + 10 <= n) {
    __m256i acc = _mm256_setzero_si256();
    const size_t stop = std::min(n, i + (size_t{8} << 16));
    for (; i + 10 <= stop; i += 8) {
      __m256i r, g, b;
      LoadRgb8(p + 3 * i, r, g, b);
      acc = _mm256_add_epi32(acc, Luma8(r, g, b));
    }
    alignas(32) uint32_t lanes[8];
    _mm256_store_si256(reinterpret_cast<__m256i*>(lanes), acc);
    for (uint32_t lane : lanes) sum += lane;
  }
  return sum + LumaSumScalar(p + 3 * i, n - i);
}

__attribute__((target("avx2"))) void SaturationAvx2(const uint8_t* in, size_t n,
                                                    float factor,
                                                    uint8_t* out) {
  const __m256 f = _mm256_set1_ps(factor);
  // The 3 bytes of each 32-bit lane to the first 12 bytes of each 128-bit
  // lane, then the two 12-byte runs together (dwords 0-2 and 4-6).
  const __m256i compact =
      _mm256_setr_epi8(0, 1, 2, 4, 5, 6, 8, 9, 10, 12, 13, 14, -1, -1, -1, -1,
                       0, 1, 2, 4, 5, 6, 8, 9, 10, 12, 13, 14, -1, -1, -1, -1);
  const __m256i join = _mm256_setr_epi32(0, 1, 2, 4, 5, 6, 7, 7);
  size_t i = 0;
  for (; i + 10 <= n; i += 8) {
    __m256i r, g, b;
    LoadRgb8(in + 3 * i, r, g, b);
    const __m256i l = Luma8(r, g, b);
    const __m256 lf = _mm256_cvtepi32_ps(l);
    const __m256i pixels = _mm256_or_si256(
        _mm256_or_si256(Blend8(r, l, lf, f),
                        _mm256_slli_epi32(Blend8(g, l, lf, f), 8)),
        _mm256_slli_epi32(Blend8(b, l, lf, f), 16));
    const __m256i bytes =
        _mm256_permutevar8x32_epi32(_mm256_shuffle_epi8(pixels, compact), join);
    // Exactly 24 bytes: in == out stays valid for the next step's reads.
    uint8_t* o = out + 3 * i;
    _mm_storeu_si128(reinterpret_cast<__m128i*>(o),
                     _mm256_castsi256_si128(bytes));
    _mm_storel_epi64(reinterpret_cast<__m128i*>(o + 16),
                     _mm256_extracti128_si256(bytes, 1));
  }
  SaturationScalar(in + 3 * i, n - i, factor, out + 3 * i);
}
#endif

uint64_t LumaSum(const uint8_t* p, size_t n) {
#if SAM2_HAVE_AVX2_AFFINE
  static const bool avx2 = __builtin_cpu_supports("avx2");
  if (avx2) return LumaSumAvx2(p, n);
#endif
  return LumaSumScalar(p, n);
}

void SaturationArithmetic(const uint8_t* in, size_t n, float factor,
                          uint8_t* out) {
#if SAM2_HAVE_AVX2_AFFINE
  static const bool avx2 = __builtin_cpu_supports("avx2");
  if (avx2) return SaturationAvx2(in, n, factor, out);
#endif
  SaturationScalar(in, n, factor, out);
}

}  // namespace

int LumaMean(const Image& image) {
  const size_t n = static_cast<size_t>(image.height) * image.width;
  return RoundedMean(LumaSum(image.data.data(), n), n);
}

int LumaMeanAfterLut(const Image& image, const Lut& lut) {
  const size_t n = static_cast<size_t>(image.height) * image.width;
  uint8_t chunk[kChunkPixels * 3];
  uint64_t sum = 0;
  for (size_t i = 0; i < n; i += kChunkPixels) {
    const size_t m = std::min(kChunkPixels, n - i);
    LookUp(image.data.data() + 3 * i, 3 * m, lut, chunk);
    sum += LumaSum(chunk, m);
  }
  return RoundedMean(sum, n);
}

void AdjustSaturation(Image& image, const Lut& lut, float factor) {
  if (factor == 1.0f) {  // blend returns the image itself
    ApplyLut(image, lut);
    return;
  }
  // The table (if any) into an L1-sized buffer, then the vectorised blend
  // back into the image (in place without a table): one pass over the
  // image's memory.
  const bool identity = IsIdentity(lut);
  const size_t n = static_cast<size_t>(image.height) * image.width;
  uint8_t chunk[kChunkPixels * 3];
  for (size_t i = 0; i < n; i += kChunkPixels) {
    const size_t m = std::min(kChunkPixels, n - i);
    uint8_t* p = image.data.data() + 3 * i;
    if (identity) {
      SaturationArithmetic(p, m, factor, p);
    } else {
      LookUp(p, 3 * m, lut, chunk);
      SaturationArithmetic(chunk, m, factor, p);
    }
  }
}

SAM2_AVX2_CLONE void ToGrayscale(Image& image) {
  const size_t n = static_cast<size_t>(image.height) * image.width;
  uint8_t* p = image.data.data();
  for (size_t i = 0; i < n; ++i, p += 3) {
    const uint8_t l = Luma(p[0], p[1], p[2]);
    p[0] = p[1] = p[2] = l;
  }
}

namespace {

// Pillow's rgb2hsv_row.
void RgbToHsv(const uint8_t* in, uint8_t* out) {
  const uint8_t r = in[0], g = in[1], b = in[2];
  const uint8_t maxc = std::max(r, std::max(g, b));
  const uint8_t minc = std::min(r, std::min(g, b));
  uint8_t uh = 0, us = 0;
  if (minc != maxc) {
    const float cr = static_cast<float>(maxc - minc);
    const float s = cr / static_cast<float>(maxc);
    const float rc = static_cast<float>(maxc - r) / cr;
    const float gc = static_cast<float>(maxc - g) / cr;
    const float bc = static_cast<float>(maxc - b) / cr;
    float h;
    if (r == maxc) {
      h = bc - gc;
    } else if (g == maxc) {
      h = static_cast<float>(2.0 + rc - bc);
    } else {
      h = static_cast<float>(4.0 + gc - rc);
    }
    h = static_cast<float>(std::fmod(h / 6.0 + 1.0, 1.0));
    uh = Clip8(static_cast<int>(h * 255.0));
    us = Clip8(static_cast<int>(s * 255.0));
  }
  out[0] = uh;
  out[1] = us;
  out[2] = maxc;
}

// Pillow's hsv2rgb.
void HsvToRgb(const uint8_t* in, uint8_t* out) {
  const uint8_t h = in[0], s = in[1], v = in[2];
  if (s == 0) {
    out[0] = out[1] = out[2] = v;
    return;
  }
  const int i =
      static_cast<int>(std::floor(static_cast<float>(h) * 6.0 / 255.0));
  const float f = static_cast<float>(static_cast<float>(h) * 6.0 / 255.0 -
                                     static_cast<float>(i));
  const float fs = static_cast<float>(static_cast<float>(s) / 255.0);
  const uint8_t up =
      Clip8(static_cast<int>(std::round(static_cast<float>(v) * (1.0 - fs))));
  const uint8_t uq = Clip8(
      static_cast<int>(std::round(static_cast<float>(v) * (1.0 - fs * f))));
  const uint8_t ut = Clip8(static_cast<int>(
      std::round(static_cast<float>(v) * (1.0 - fs * (1.0 - f)))));
  switch (i % 6) {
    case 0:
      out[0] = v, out[1] = ut, out[2] = up;
      break;
    case 1:
      out[0] = uq, out[1] = v, out[2] = up;
      break;
    case 2:
      out[0] = up, out[1] = v, out[2] = ut;
      break;
    case 3:
      out[0] = up, out[1] = uq, out[2] = v;
      break;
    case 4:
      out[0] = ut, out[1] = up, out[2] = v;
      break;
    default:
      out[0] = v, out[1] = up, out[2] = uq;
      break;
  }
}

}  // namespace

void AdjustHue(Image& image, float hue_factor) {
  // np.array(hue_factor * 255).astype(np.uint8): truncation toward zero,
  // then modulo 256 (negative shifts wrap).
  const int shift =
      ((static_cast<int>(static_cast<double>(hue_factor) * 255) % 256) + 256) %
      256;
  const size_t n = static_cast<size_t>(image.height) * image.width;
  uint8_t* p = image.data.data();
  for (size_t i = 0; i < n; ++i, p += 3) {
    uint8_t hsv[3];
    RgbToHsv(p, hsv);
    hsv[0] = static_cast<uint8_t>(hsv[0] + shift);
    HsvToRgb(hsv, p);
  }
}

}  // namespace sam2::data::ops
