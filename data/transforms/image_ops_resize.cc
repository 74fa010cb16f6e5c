// Pillow's Image.resize(BILINEAR or BICUBIC) of frames: fixed-point
// coefficients, a horizontal pass (scalar, SSE4.1 or AVX2) and a vertical pass
// (scalar source compiled for baseline and AVX2).
#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "data/transforms/cpu_features.h"
#include "data/transforms/image_ops.h"
#include "data/transforms/pixel_math.h"

#if SAM2_X86_SIMD
#include <immintrin.h>
#endif

namespace sam2::data::ops {
namespace {

using internal::Clip8;
using internal::StoreRgb;

// Pillow's precompute_coeffs over the whole source.
struct PilCoeffs {
  int ksize = 0;
  std::vector<int> xmin, count;
  std::vector<double> k;  // out_size * ksize
};

double TriangleFilter(double x) {
  if (x < 0.0) x = -x;
  return x < 1.0 ? 1.0 - x : 0.0;
}

// Pillow's bicubic_filter (a = -0.5).
double BicubicFilter(double x) {
  constexpr double a = -0.5;
  if (x < 0.0) x = -x;
  if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
  if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
  return 0.0;
}

PilCoeffs PrecomputePilCoeffs(int in_size, int out_size, PilFilter filter) {
  PilCoeffs c;
  const double scale = static_cast<double>(static_cast<float>(in_size)) /
                       out_size;  // box (0, in_size) is float in Pillow
  const double filterscale = scale < 1.0 ? 1.0 : scale;
  const bool bicubic = filter == PilFilter::kBicubic;
  const double support = (bicubic ? 2.0 : 1.0) * filterscale;
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
      const double t = (x + xmin - center + 0.5) * ss;
      const double w = bicubic ? BicubicFilter(t) : TriangleFilter(t);
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

#if SAM2_X86_SIMD
// RGB horizontal pass with SSE4.1 (32-bit multiplies): the three channels of
// an output pixel in one register, the same integer sums as the scalar
// code. Rows whose last tap touches the last byte of the buffer are left to
// the scalar code (the 4-byte loads read one byte past the pixel).
SAM2_TARGET_SSE41 void ResampleHorizontalRgbSse41(const Image& src, int row0,
                                                  int rows, const FixedTaps& f,
                                                  int out_w, Image& dst) {
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

SAM2_TARGET_AVX2 void ResampleHorizontalRgbAvx2(const Image& src, int row0,
                                                int rows, const FixedTaps& f,
                                                int out_w, Image& dst) {
  if (f.taps > kMaxAvx2Taps) {
    return ResampleHorizontalRgbSse41(src, row0, rows, f, out_w, dst);
  }
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

// The scalar horizontal pass, specialised for the common tap counts.
template <int C>
void ResampleHorizontalScalar(const Image& src, int row0, int rows,
                              const FixedTaps& f, int out_w, Image& dst) {
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
// upscaling and mild downscaling). Integer only.
SAM2_INLINE_BODY void VerticalRow2(const uint8_t* __restrict a,
                                   const uint8_t* __restrict b, int32_t ka,
                                   int32_t kb, size_t n,
                                   uint8_t* __restrict out) {
  for (size_t i = 0; i < n; ++i) {
    const int32_t v =
        ((1 << (kPrecisionBits - 1)) + a[i] * ka + b[i] * kb) >> kPrecisionBits;
    out[i] = static_cast<uint8_t>(v < 0 ? 0 : v > 255 ? 255 : v);
  }
}
SAM2_INLINE_BODY void VerticalRow3(const uint8_t* __restrict a,
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
// Integer only: compiled for AVX2 too (32-bit multiplies in one
// instruction), with identical results. The sum is the same whatever the
// order of its (exact, int32) terms.
SAM2_INLINE_BODY void ResampleVerticalBody(const Image& src, const PilCoeffs& c,
                                           const std::vector<int32_t>& kk,
                                           int row_offset, int out_h,
                                           Image& dst) {
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

void ResampleVerticalBaseline(const Image& src, const PilCoeffs& c,
                              const std::vector<int32_t>& kk, int row_offset,
                              int out_h, Image& dst) {
  ResampleVerticalBody(src, c, kk, row_offset, out_h, dst);
}

#if SAM2_X86_SIMD
SAM2_TARGET_AVX2 void ResampleVerticalAvx2(const Image& src, const PilCoeffs& c,
                                           const std::vector<int32_t>& kk,
                                           int row_offset, int out_h,
                                           Image& dst) {
  ResampleVerticalBody(src, c, kk, row_offset, out_h, dst);
}
#endif

// ---- dispatch --

using HorizontalFn = void (*)(const Image& src, int row0, int rows,
                              const FixedTaps& f, int out_w, Image& dst);
using VerticalFn = void (*)(const Image& src, const PilCoeffs& c,
                            const std::vector<int32_t>& kk, int row_offset,
                            int out_h, Image& dst);

// The passes of one CPU level (other channel counts than 3 always take the
// scalar horizontal pass).
struct ResizeKernels {
  HorizontalFn horizontal_rgb;
  VerticalFn vertical;
};

const ResizeKernels& ResizeKernelsForCpu() {
  static const ResizeKernels kernels = [] {
#if SAM2_X86_SIMD
    switch (CpuSimdLevel()) {
      case SimdLevel::kAvx2:
        return ResizeKernels{ResampleHorizontalRgbAvx2, ResampleVerticalAvx2};
      case SimdLevel::kSse41:
        return ResizeKernels{ResampleHorizontalRgbSse41,
                             ResampleVerticalBaseline};
      case SimdLevel::kBaseline:
        break;
    }
#endif
    return ResizeKernels{ResampleHorizontalScalar<3>, ResampleVerticalBaseline};
  }();
  return kernels;
}

template <int C>
Image ResizeImageImpl(const Image& src, int out_h, int out_w,
                      PilFilter filter) {
  const bool need_h = out_w != src.width;
  const bool need_v = out_h != src.height;
  if (!need_h && !need_v) return src;
  const PilCoeffs vert = PrecomputePilCoeffs(src.height, out_h, filter);
  const int ybox_first = vert.xmin[0];
  const int ybox_last = vert.xmin[out_h - 1] + vert.count[out_h - 1];
  Image horizontal;
  const Image* v_src = &src;
  int row_offset = 0;
  if (need_h) {
    const PilCoeffs hor = PrecomputePilCoeffs(src.width, out_w, filter);
    const FixedTaps taps =
        MakeFixedTaps(hor, FixedPointCoeffs(hor.k), src.width);
    // Only the rows the vertical pass reads (all of them without one).
    const int first = need_v ? ybox_first : 0;
    const int rows = need_v ? ybox_last - ybox_first : src.height;
    horizontal = Image::Uninitialized(rows, out_w, C);  // all written
    if (C == 3) {
      ResizeKernelsForCpu().horizontal_rgb(src, first, rows, taps, out_w,
                                           horizontal);
    } else {
      ResampleHorizontalScalar<C>(src, first, rows, taps, out_w, horizontal);
    }
    if (!need_v) return horizontal;
    v_src = &horizontal;
    row_offset = first;
  }
  Image out = Image::Uninitialized(out_h, v_src->width, C);  // all written
  ResizeKernelsForCpu().vertical(*v_src, vert, FixedPointCoeffs(vert.k),
                                 row_offset, out_h, out);
  return out;
}

// torch's _compute_weights_aa (bilinear, antialias) in float, as

}  // namespace

Image ResizeImage(const Image& src, int out_height, int out_width,
                  PilFilter filter) {
  switch (src.channels) {
    case 1:
      return ResizeImageImpl<1>(src, out_height, out_width, filter);
    case 2:
      return ResizeImageImpl<2>(src, out_height, out_width, filter);
    case 4:
      return ResizeImageImpl<4>(src, out_height, out_width, filter);
    default:
      return ResizeImageImpl<3>(src, out_height, out_width, filter);
  }
}

}  // namespace sam2::data::ops
