// Colour kernels: 8-bit lookup tables, luma (convert("L")) and its mean,
// ImageEnhance's saturation blend, grayscale and torchvision's hue shift.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "data/transforms/cpu_features.h"
#include "data/transforms/image_ops.h"
#include "data/transforms/pixel_math.h"

#if SAM2_X86_SIMD
#include <immintrin.h>
#endif

namespace sam2::data::ops {
namespace {

using internal::Clip8;

void MapBytesScalar(const uint8_t* in, size_t n, const Lut& lut, uint8_t* out) {
  const uint8_t* __restrict t = lut.data();
  for (size_t i = 0; i < n; ++i) out[i] = t[in[i]];
}

#if SAM2_X86_SIMD
// 32 bytes at a time without a byte gather: the table as 16 slices of 16
// entries, each looked up with a byte shuffle over the whole register. For
// slice k the index is x - 16k (wrapping) plus 0x70 with unsigned
// saturation: below 0x80 (shuffle bit 7 clear, low nibble x - 16k) exactly
// when x - 16k < 16, i.e. when x is in the slice; every other byte comes out
// 0, so OR-ing the 16 results gives lut[x].
SAM2_TARGET_AVX2 void MapBytesAvx2(const uint8_t* in, size_t n, const Lut& lut,
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

// Pixels per chunk of the table-then-arithmetic kernels: 12 KB of RGB, in L1.
constexpr size_t kChunkPixels = 4096;

// Sum of the Luma of n RGB pixels, scalar (vectorised by the compiler when
// inlined into AVX2 code: the tails of the hand-written kernel below).
SAM2_INLINE_BODY uint64_t LumaSumScalar(const uint8_t* __restrict p, size_t n) {
  uint64_t sum = 0;
  for (size_t i = 0; i < n; ++i, p += 3) sum += Luma(p[0], p[1], p[2]);
  return sum;
}

// ImageStat's mean (a float) rounded as ImageEnhance.Contrast does.
int RoundedMean(uint64_t sum, size_t n) {
  const double mean = n == 0 ? 0.0 : static_cast<double>(sum) / n;
  return static_cast<int>(mean + 0.5);
}

// Saturation blend of n RGB pixels from `in` to `out` (in == out allowed):
// luma and the float blend per sample, branch-free (clamping first and
// truncating gives exactly BlendSample's result for any alpha).
SAM2_INLINE_BODY void SaturationScalar(const uint8_t* in, size_t n,
                                       float factor, uint8_t* out) {
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

#if SAM2_X86_SIMD
// Hand-written AVX2 forms of the two kernels above, eight pixels (24 bytes)
// per step: the compiler's own vectorisation of the interleaved RGB spends
// most of its time shuffling. Same integer luma, same float operations in
// the same order (mul then add, no FMA), so the results are identical.

// Pixels 0..3 from p and 4..7 from p + 12 (one per 128-bit lane; reads 28
// bytes) as 32-bit R, G and B lanes.
SAM2_TARGET_AVX2 inline void LoadRgb8(const uint8_t* p, __m256i& r, __m256i& g,
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
SAM2_TARGET_AVX2 inline __m256i Luma8(__m256i r, __m256i g, __m256i b) {
  __m256i s = _mm256_add_epi32(_mm256_mullo_epi32(r, _mm256_set1_epi32(19595)),
                               _mm256_mullo_epi32(g, _mm256_set1_epi32(38470)));
  s = _mm256_add_epi32(s, _mm256_mullo_epi32(b, _mm256_set1_epi32(7471)));
  return _mm256_srli_epi32(_mm256_add_epi32(s, _mm256_set1_epi32(0x8000)), 16);
}

// One channel of the saturation blend: clamp(l + factor * (v - l)) truncated.
SAM2_TARGET_AVX2 inline __m256i Blend8(__m256i v, __m256i l, __m256 lf,
                                       __m256 factor) {
  const __m256 d = _mm256_cvtepi32_ps(_mm256_sub_epi32(v, l));
  __m256 x = _mm256_add_ps(lf, _mm256_mul_ps(factor, d));
  x = _mm256_min_ps(_mm256_max_ps(x, _mm256_setzero_ps()),
                    _mm256_set1_ps(255.0f));
  return _mm256_cvttps_epi32(x);
}

SAM2_TARGET_AVX2 uint64_t LumaSumAvx2(const uint8_t* p, size_t n) {
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

SAM2_TARGET_AVX2 void SaturationAvx2(const uint8_t* in, size_t n, float factor,
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

uint64_t LumaSumBaseline(const uint8_t* p, size_t n) {
  return LumaSumScalar(p, n);
}
void SaturationBaseline(const uint8_t* in, size_t n, float factor,
                        uint8_t* out) {
  SaturationScalar(in, n, factor, out);
}

// T.Grayscale(3) of n RGB pixels in place.
SAM2_INLINE_BODY void GrayscaleBody(uint8_t* p, size_t n) {
  for (size_t i = 0; i < n; ++i, p += 3) {
    const uint8_t l = Luma(p[0], p[1], p[2]);
    p[0] = p[1] = p[2] = l;
  }
}
void GrayscaleBaseline(uint8_t* p, size_t n) { GrayscaleBody(p, n); }
#if SAM2_X86_SIMD
SAM2_TARGET_AVX2 void GrayscaleAvx2(uint8_t* p, size_t n) {
  GrayscaleBody(p, n);
}
#endif

// ---- dispatch --

// The colour kernels of one CPU level.
struct ColourKernels {
  void (*map_bytes)(const uint8_t* in, size_t n, const Lut& lut, uint8_t* out);
  uint64_t (*luma_sum)(const uint8_t* p, size_t n);
  void (*saturation)(const uint8_t* in, size_t n, float factor, uint8_t* out);
  void (*grayscale)(uint8_t* p, size_t n);
};

const ColourKernels& ColourKernelsForCpu() {
  static const ColourKernels kernels = [] {
#if SAM2_X86_SIMD
    if (CpuSimdLevel() >= SimdLevel::kAvx2) {
      return ColourKernels{MapBytesAvx2, LumaSumAvx2, SaturationAvx2,
                           GrayscaleAvx2};
    }
#endif
    return ColourKernels{MapBytesScalar, LumaSumBaseline, SaturationBaseline,
                         GrayscaleBaseline};
  }();
  return kernels;
}

}  // namespace

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

void MapBytes(const uint8_t* in, size_t n, const Lut& lut, uint8_t* out) {
  ColourKernelsForCpu().map_bytes(in, n, lut, out);
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

int LumaMean(const Image& image) {
  const size_t n = static_cast<size_t>(image.height) * image.width;
  return RoundedMean(ColourKernelsForCpu().luma_sum(image.data.data(), n), n);
}

int LumaMeanAfterLut(const Image& image, const Lut& lut) {
  const size_t n = static_cast<size_t>(image.height) * image.width;
  uint8_t chunk[kChunkPixels * 3];
  uint64_t sum = 0;
  for (size_t i = 0; i < n; i += kChunkPixels) {
    const size_t m = std::min(kChunkPixels, n - i);
    MapBytes(image.data.data() + 3 * i, 3 * m, lut, chunk);
    sum += ColourKernelsForCpu().luma_sum(chunk, m);
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
      ColourKernelsForCpu().saturation(p, m, factor, p);
    } else {
      MapBytes(p, 3 * m, lut, chunk);
      ColourKernelsForCpu().saturation(chunk, m, factor, p);
    }
  }
}

void ToGrayscale(Image& image) {
  ColourKernelsForCpu().grayscale(
      image.data.data(), static_cast<size_t>(image.height) * image.width);
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
