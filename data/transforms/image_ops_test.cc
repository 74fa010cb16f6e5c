#include "data/transforms/image_ops.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>
#include <random>

namespace sam2::data::ops {
namespace {

Image RandomImage(int h, int w, int c, uint64_t seed) {
  std::mt19937_64 rng(seed);
  Image image(h, w, c);
  for (uint8_t& v : image.data) v = static_cast<uint8_t>(rng() & 255);
  return image;
}

// A smooth image (bilinear-friendly) with some structure.
Image GradientImage(int h, int w) {
  Image image(h, w, 3);
  for (int y = 0; y < h; ++y) {
    for (int x = 0; x < w; ++x) {
      image.at(y, x, 0) = static_cast<uint8_t>(x * 255 / std::max(1, w - 1));
      image.at(y, x, 1) = static_cast<uint8_t>(y * 255 / std::max(1, h - 1));
      image.at(y, x, 2) = static_cast<uint8_t>((x * 7 + y * 13) & 255);
    }
  }
  return image;
}

Mask EllipseMask(int h, int w, double cy, double cx, double ry, double rx) {
  Mask mask(h, w);
  for (int y = 0; y < h; ++y) {
    for (int x = 0; x < w; ++x) {
      const double dy = (y + 0.5 - cy) / ry, dx = (x + 0.5 - cx) / rx;
      mask.at(y, x) = dx * dx + dy * dy <= 1.0;
    }
  }
  return mask;
}

at::Tensor MaskTensor(const Mask& mask) {
  at::Tensor t = at::empty({mask.height, mask.width}, at::kFloat);
  for (int i = 0; i < mask.height * mask.width; ++i) {
    t.data_ptr<float>()[i] = mask.data[i];
  }
  return t;
}

TEST(HFlipTest, MirrorsImageAndMask) {
  Image image = RandomImage(5, 7, 3, 1);
  const Image original = image;
  HFlip(image);
  Mask mask = EllipseMask(5, 7, 2, 1.5, 2, 1.5);
  const Mask mask0 = mask;
  HFlip(mask);
  for (int y = 0; y < 5; ++y) {
    for (int x = 0; x < 7; ++x) {
      for (int c = 0; c < 3; ++c) {
        EXPECT_EQ(image.at(y, x, c), original.at(y, 6 - x, c));
      }
      EXPECT_EQ(mask.at(y, x), mask0.at(y, 6 - x));
    }
  }
}

TEST(InverseAffineMatrixTest, IdentityAndRotation) {
  const AffineMatrix id = InverseAffineMatrix(10, 20, 0, 0, 0, 1, 0, 0);
  const AffineMatrix expected = {1, 0, 0, 0, 1, 0};
  for (int i = 0; i < 6; ++i) EXPECT_NEAR(id[i], expected[i], 1e-12);
  // Pure translation by (3, -2): the source of (x, y) is (x - 3, y + 2).
  const AffineMatrix t = InverseAffineMatrix(10, 20, 0, 3, -2, 1, 0, 0);
  EXPECT_NEAR(t[2], -3, 1e-12);
  EXPECT_NEAR(t[5], 2, 1e-12);
  // 90 degrees about the origin: torchvision's formula gives the inverse
  // [[0, 1], [-1, 0]], i.e. the source of output (x, y) is (y, -x).
  const AffineMatrix r = InverseAffineMatrix(0, 0, 90, 0, 0, 1, 0, 0);
  EXPECT_NEAR(r[0], 0, 1e-12);
  EXPECT_NEAR(r[1], 1, 1e-12);
  EXPECT_NEAR(r[3], -1, 1e-12);
  EXPECT_NEAR(r[4], 0, 1e-12);
  // Scale 2 halves the source coordinates.
  const AffineMatrix s = InverseAffineMatrix(0, 0, 0, 0, 0, 2, 0, 0);
  EXPECT_NEAR(s[0], 0.5, 1e-12);
  EXPECT_NEAR(s[4], 0.5, 1e-12);
}

TEST(AffineImageTest, IdentityIsExactCopy) {
  const Image image = RandomImage(9, 13, 3, 2);
  const AffineMatrix id = {1, 0, 0, 0, 1, 0};
  for (Interpolation interp :
       {Interpolation::kNearest, Interpolation::kBilinear,
        Interpolation::kBicubic}) {
    EXPECT_EQ(AffineImage(image, id, interp, {1, 2, 3}).data, image.data);
  }
}

TEST(AffineImageTest, IntegerTranslationShiftsAndFills) {
  const Image image = RandomImage(6, 8, 3, 3);
  // Source of output x is x - 2: content moves right by 2.
  const AffineMatrix m = {1, 0, -2, 0, 1, 0};
  const Image out =
      AffineImage(image, m, Interpolation::kBilinear, {123, 116, 103});
  for (int y = 0; y < 6; ++y) {
    for (int x = 0; x < 8; ++x) {
      for (int c = 0; c < 3; ++c) {
        const int expected = x < 2 ? std::array<int, 3>{123, 116, 103}[c]
                                   : image.at(y, x - 2, c);
        EXPECT_EQ(out.at(y, x, c), expected) << y << "," << x << "," << c;
      }
    }
  }
}

TEST(AffineImageTest, BilinearHalfPixelTruncates) {
  // Source x shifted by half a pixel: mean of neighbours, truncated as
  // Pillow does ((1 + 2) / 2 = 1.5 -> 1, (2 + 9) / 2 = 5.5 -> 5); the last
  // output pixel's source point (3.0) is outside [0, 3): fill.
  Image image(1, 3, 1);
  image.data = {1, 2, 9};
  const AffineMatrix m = {1, 0, 0.5, 0, 1, 0};
  const Image out = AffineImage(image, m, Interpolation::kBilinear, {0, 0, 0});
  EXPECT_EQ(out.data, (PixelBuffer{1, 5, 0}));
}

// torchvision's F_t.affine(mask, matrix, "nearest", fill=0) with torch ops:
// _gen_affine_grid + grid_sample, in float32.
Mask TorchAffineNearest(const Mask& mask, double angle, double tx, double ty,
                        double scale, double shear_x) {
  const int h = mask.height, w = mask.width;
  const AffineMatrix m =
      InverseAffineMatrix(0, 0, angle, tx, ty, scale, shear_x, 0);
  at::Tensor theta = at::empty({1, 2, 3}, at::kFloat);
  for (int i = 0; i < 6; ++i)
    theta.data_ptr<float>()[i] = static_cast<float>(m[i]);
  at::Tensor base = at::empty({1, h, w, 3}, at::kFloat);
  base.select(3, 0).copy_(
      at::linspace(-w * 0.5 + 0.5, w * 0.5 + 0.5 - 1, w, at::kFloat));
  base.select(3, 1).copy_(
      at::linspace(-h * 0.5 + 0.5, h * 0.5 + 0.5 - 1, h, at::kFloat)
          .unsqueeze(-1));
  base.select(3, 2).fill_(1);
  at::Tensor rescaled =
      theta.transpose(1, 2) / at::tensor({0.5f * w, 0.5f * h}, at::kFloat);
  at::Tensor grid = base.view({1, h * w, 3}).bmm(rescaled).view({1, h, w, 2});
  at::Tensor in = MaskTensor(mask).view({1, 1, h, w});
  at::Tensor out = at::grid_sampler(in, grid, /*nearest=*/1, /*zeros=*/0,
                                    /*align_corners=*/false);
  Mask result(h, w);
  for (int i = 0; i < h * w; ++i) {
    result.data[i] = out.data_ptr<float>()[i] > 0.5f;
  }
  return result;
}

TEST(AffineMaskTest, MatchesTorchGridSample) {
  const Mask mask = EllipseMask(48, 64, 20, 30, 9, 14);
  std::mt19937_64 rng(7);
  std::uniform_real_distribution<double> angle(-25, 25), shear(-20, 20);
  for (int trial = 0; trial < 20; ++trial) {
    const double a = angle(rng), sh = shear(rng);
    const double tx = trial % 3 - 1, ty = trial % 5 - 2;
    const double scale = 0.9 + 0.01 * trial;
    const AffineMatrix m =
        InverseAffineMatrix(64 * 0.5, 48 * 0.5, a, tx, ty, scale, sh, 0);
    const Mask ours = AffineMask(mask, m);
    const Mask ref = TorchAffineNearest(mask, a, tx, ty, scale, sh);
    int diff = 0;
    for (size_t i = 0; i < ours.data.size(); ++i)
      diff += ours.data[i] != ref.data[i];
    // float32 (torch) vs double (ours) may only differ on exact .5 ties.
    EXPECT_LE(diff, 1) << "trial " << trial;
    // Binary output.
    for (uint8_t v : ours.data) EXPECT_LE(v, 1);
  }
}

TEST(AffineMaskTest, RegionShortcutEqualsFullEvaluation) {
  // A mask touching the border and a strong shear: the restricted region
  // must not miss pixels. Compare with an evaluation over every pixel.
  Mask mask = EllipseMask(40, 50, 5, 45, 8, 10);
  const AffineMatrix m = InverseAffineMatrix(25, 20, 17, 3, -4, 0.7, 19, -6);
  const Mask fast = AffineMask(mask, m);
  Mask full(40, 50);
  for (int y = 0; y < 40; ++y) {
    for (int x = 0; x < 50; ++x) {
      const double xs = m[0] * (x + 0.5) + m[1] * (y + 0.5) + m[2] - 0.5;
      const double ys = m[3] * (x + 0.5) + m[4] * (y + 0.5) + m[5] - 0.5;
      const double xr = std::nearbyint(xs), yr = std::nearbyint(ys);
      if (xr < 0 || xr >= 50 || yr < 0 || yr >= 40) continue;
      full.at(y, x) = mask.at(static_cast<int>(yr), static_cast<int>(xr));
    }
  }
  EXPECT_EQ(fast.data, full.data);
  EXPECT_GT(fast.Area(), 0);
}

TEST(ResizeMaskTest, MatchesTorchAntialiasedBilinear) {
  const Mask mask = EllipseMask(48, 64, 20, 30, 11, 17);
  for (auto [oh, ow] : std::vector<std::pair<int, int>>{
           {96, 128}, {24, 32}, {100, 37}, {31, 90}, {48, 64}}) {
    const Mask ours = ResizeMask(mask, oh, ow);
    at::Tensor ref = at::_upsample_bilinear2d_aa(
        MaskTensor(mask).view({1, 1, 48, 64}), {oh, ow}, false, c10::nullopt,
        c10::nullopt);
    ref = ref.round().to(at::kByte).view({oh, ow}).contiguous();
    ASSERT_EQ(ours.height, oh);
    ASSERT_EQ(ours.width, ow);
    int diff = 0;
    for (int i = 0; i < oh * ow; ++i) {
      diff += ours.data[i] != ref.data_ptr<uint8_t>()[i];
    }
    EXPECT_EQ(diff, 0) << oh << "x" << ow;
  }
}

TEST(ResizeMaskTest, EmptyStaysEmpty) {
  EXPECT_EQ(ResizeMask(Mask(10, 10), 33, 7).Area(), 0);
}

TEST(ResizeImageTest, CloseToFloatAntialiasedBilinear) {
  const Image image = GradientImage(48, 64);
  for (auto [oh, ow] : std::vector<std::pair<int, int>>{
           {96, 128}, {24, 32}, {70, 40}, {48, 100}}) {
    const Image ours = ResizeImage(image, oh, ow);
    ASSERT_EQ(ours.height, oh);
    ASSERT_EQ(ours.width, ow);
    at::Tensor in = at::empty({48, 64, 3}, at::kFloat);
    for (size_t i = 0; i < image.data.size(); ++i) {
      in.data_ptr<float>()[i] = image.data[i];
    }
    at::Tensor ref = at::_upsample_bilinear2d_aa(
        in.permute({2, 0, 1}).unsqueeze(0), {oh, ow}, false, c10::nullopt,
        c10::nullopt);
    ref = ref.squeeze(0).permute({1, 2, 0}).contiguous();
    float max_err = 0;
    for (size_t i = 0; i < ours.data.size(); ++i) {
      max_err =
          std::max(max_err, std::abs(ours.data[i] - ref.data_ptr<float>()[i]));
    }
    // Pillow's 22-bit fixed point rounds the same filter's output: within
    // half a level, plus the intermediate 8-bit rounding of the two passes.
    EXPECT_LE(max_err, 1.001f) << oh << "x" << ow;
  }
}

// Pillow's ImagingResample (BILINEAR, 8 bits) transcribed literally: the
// optimised kernel must give identical bytes.
Image PillowResizeReference(const Image& src, int out_h, int out_w) {
  auto coeffs = [](int in, int out, std::vector<int>* xmin,
                   std::vector<int>* count, std::vector<std::vector<int>>* k) {
    const double scale = static_cast<double>(in) / out;
    const double fs = std::max(scale, 1.0), support = fs;
    for (int xx = 0; xx < out; ++xx) {
      const double center = (xx + 0.5) * scale;
      int lo = std::max(0, static_cast<int>(center - support + 0.5));
      int hi = std::min(in, static_cast<int>(center + support + 0.5));
      std::vector<double> w;
      double sum = 0;
      for (int x = lo; x < hi; ++x) {
        double t = std::abs((x - center + 0.5) / fs);
        w.push_back(t < 1 ? 1 - t : 0);
        sum += w.back();
      }
      std::vector<int> fixed;
      for (double v : w) {
        v = sum != 0 ? v / sum : v;
        fixed.push_back(static_cast<int>(v < 0 ? -0.5 + v * (1 << 22)
                                               : 0.5 + v * (1 << 22)));
      }
      xmin->push_back(lo);
      count->push_back(hi - lo);
      k->push_back(fixed);
    }
  };
  auto clip = [](int v) {
    return static_cast<uint8_t>(std::clamp(v >> 22, 0, 255));
  };
  const int c = src.channels;
  Image tmp = src;
  if (out_w != src.width) {
    std::vector<int> xmin, count;
    std::vector<std::vector<int>> k;
    coeffs(src.width, out_w, &xmin, &count, &k);
    tmp = Image(src.height, out_w, c);
    for (int y = 0; y < src.height; ++y) {
      for (int x = 0; x < out_w; ++x) {
        for (int ch = 0; ch < c; ++ch) {
          int ss = 1 << 21;
          for (int i = 0; i < count[x]; ++i) {
            ss += src.at(y, xmin[x] + i, ch) * k[x][i];
          }
          tmp.at(y, x, ch) = clip(ss);
        }
      }
    }
  }
  if (out_h == src.height) return tmp;
  std::vector<int> ymin, count;
  std::vector<std::vector<int>> k;
  coeffs(src.height, out_h, &ymin, &count, &k);
  Image out(out_h, tmp.width, c);
  for (int y = 0; y < out_h; ++y) {
    for (int x = 0; x < tmp.width; ++x) {
      for (int ch = 0; ch < c; ++ch) {
        int ss = 1 << 21;
        for (int i = 0; i < count[y]; ++i) {
          ss += tmp.at(ymin[y] + i, x, ch) * k[y][i];
        }
        out.at(y, x, ch) = clip(ss);
      }
    }
  }
  return out;
}

TEST(ResizeImageTest, IdenticalToPillowTranscription) {
  for (int channels : {1, 3}) {
    const Image image = RandomImage(37, 53, channels, 21);
    for (auto [oh, ow] : std::vector<std::pair<int, int>>{
             {64, 64}, {20, 41}, {37, 100}, {90, 53}, {11, 7}}) {
      const Image ours = ResizeImage(image, oh, ow);
      const Image ref = PillowResizeReference(image, oh, ow);
      ASSERT_EQ(ours.data, ref.data) << channels << " " << oh << "x" << ow;
    }
  }
}

// Pillow's bilinear affine (generic transform, double), literally.
Image PillowAffineReference(const Image& src, const AffineMatrix& a,
                            const Rgb& fill) {
  Image out(src.height, src.width, 3);
  const int w = src.width, h = src.height;
  for (int y = 0; y < h; ++y) {
    for (int x = 0; x < w; ++x) {
      double xin = a[0] * (x + 0.5) + a[1] * (y + 0.5) + a[2];
      double yin = a[3] * (x + 0.5) + a[4] * (y + 0.5) + a[5];
      if (xin < 0 || xin >= w || yin < 0 || yin >= h) {
        for (int c = 0; c < 3; ++c) out.at(y, x, c) = fill[c];
        continue;
      }
      xin -= 0.5;
      yin -= 0.5;
      const int xi = static_cast<int>(std::floor(xin));
      const int yi = static_cast<int>(std::floor(yin));
      const double dx = xin - xi, dy = yin - yi;
      const int x0 = std::clamp(xi, 0, w - 1),
                x1 = std::clamp(xi + 1, 0, w - 1);
      const int y0 = std::clamp(yi, 0, h - 1);
      for (int c = 0; c < 3; ++c) {
        double v1 =
            src.at(y0, x0, c) + (src.at(y0, x1, c) - src.at(y0, x0, c)) * dx;
        double v2 = v1;
        if (yi + 1 >= 0 && yi + 1 < h) {
          v2 = src.at(yi + 1, x0, c) +
               (src.at(yi + 1, x1, c) - src.at(yi + 1, x0, c)) * dx;
        }
        out.at(y, x, c) = static_cast<uint8_t>(v1 + (v2 - v1) * dy);
      }
    }
  }
  return out;
}

TEST(AffineImageTest, BilinearMatchesPillowUpToRareFloatRounding) {
  const Image image = RandomImage(96, 128, 3, 5);
  std::mt19937_64 rng(3);
  std::uniform_real_distribution<double> angle(-25, 25), shear(-20, 20);
  size_t differing = 0, total = 0;
  for (int trial = 0; trial < 10; ++trial) {
    const AffineMatrix m =
        InverseAffineMatrix(64, 48, angle(rng), trial - 5, 3 - trial,
                            0.8 + 0.05 * trial, shear(rng), 0);
    const Image ours =
        AffineImage(image, m, Interpolation::kBilinear, {123, 116, 103});
    const Image ref = PillowAffineReference(image, m, {123, 116, 103});
    for (size_t i = 0; i < ours.data.size(); ++i) {
      ASSERT_LE(std::abs(ours.data[i] - ref.data[i]), 1) << trial << " " << i;
      differing += ours.data[i] != ref.data[i];
    }
    total += ours.data.size();
  }
  // float32 interpolation inside the image: one level, rarely.
  EXPECT_LE(differing, total / 20000) << differing << " of " << total;
}

// A shift by (0.5, 0.25) pixel: every interior output pixel is the exact
// bilinear mix (weights 1/2 and 1/4 are exact in float) of its 2x2 source
// neighbourhood, truncated; for widths that are and are not multiples of
// the kernel's 4-pixel runs, plain and mirrored.
TEST(AffineImageTest, HalfPixelShiftIsTheExactBilinearMix) {
  for (int w : {23, 64}) {
    const int h = 9;
    const Image image = RandomImage(h, w, 3, 17);
    Image flipped = image;
    HFlip(flipped);
    const AffineMatrix m = {1, 0, 0.5, 0, 1, 0.25};
    for (bool mirror : {false, true}) {
      const Image& src = mirror ? flipped : image;
      const Image out =
          AffineImage(src, m, Interpolation::kBilinear, {1, 2, 3}, mirror);
      int mismatches = 0;
      for (int y = 0; y + 1 < h; ++y) {
        for (int x = 0; x + 1 < w; ++x) {
          for (int c = 0; c < 3; ++c) {
            // Source point (x + 0.5, y + 0.25) of pixel centres: x..x+1,
            // y..y+1 with weights 1/2, 1/4.
            const double top =
                (image.at(y, x, c) + image.at(y, x + 1, c)) / 2.0;
            const double bottom =
                (image.at(y + 1, x, c) + image.at(y + 1, x + 1, c)) / 2.0;
            const int expected = static_cast<int>(top + (bottom - top) / 4);
            mismatches += out.at(y, x, c) != expected;
          }
        }
      }
      EXPECT_EQ(mismatches, 0) << "w " << w << " mirror " << mirror;
      const Image ref = PillowAffineReference(image, m, {1, 2, 3});
      for (size_t i = 0; i < ref.data.size(); ++i) {
        ASSERT_LE(std::abs(out.data[i] - ref.data[i]), 1) << i;
      }
    }
  }
}

// The mirrored-source sampling is bit-identical to flipping first, for
// interior, border and fill pixels, also with a width that is not a
// multiple of the kernels' 4-pixel groups; masks likewise.
TEST(AffineImageTest, MirroredSourceEqualsFlipThenAffine) {
  const Image image = RandomImage(37, 101, 3, 11);
  Image flipped = image;
  HFlip(flipped);
  const Mask mask = EllipseMask(37, 101, 15, 70, 9, 20);
  Mask flipped_mask = mask;
  HFlip(flipped_mask);
  for (double angle : {0.0, 13.0, -24.0}) {
    const AffineMatrix m =
        InverseAffineMatrix(50.5, 18.5, angle, 3, -2, 0.9, 11, 0);
    for (Interpolation interpolation :
         {Interpolation::kBilinear, Interpolation::kBicubic}) {
      EXPECT_EQ(AffineImage(image, m, interpolation, {1, 2, 3}, true).data,
                AffineImage(flipped, m, interpolation, {1, 2, 3}, false).data)
          << angle;
    }
    EXPECT_EQ(AffineMask(mask, m, true).data,
              AffineMask(flipped_mask, m, false).data)
        << angle;
  }
}

TEST(AffineMaskTest, SeveralMasksAtOnceEqualOneByOne) {
  const Mask a = EllipseMask(48, 64, 10, 10, 6, 8);
  const Mask b = EllipseMask(48, 64, 35, 50, 9, 10);
  const Mask empty(48, 64);
  const AffineMatrix m = InverseAffineMatrix(32, 24, 12, 2, -1, 1.1, 7, 0);
  const std::vector<Mask> both = AffineMasks({&a, &b, &empty}, m);
  ASSERT_EQ(both.size(), 3u);
  EXPECT_EQ(both[0].data, AffineMask(a, m).data);
  EXPECT_EQ(both[1].data, AffineMask(b, m).data);
  EXPECT_EQ(both[2].Area(), 0);
}

TEST(ResizeImageTest, ConstantImageStaysConstant) {
  Image image(30, 40, 3);
  for (size_t i = 0; i < image.data.size(); i += 3) {
    image.data[i] = 10, image.data[i + 1] = 200, image.data[i + 2] = 255;
  }
  const Image out = ResizeImage(image, 17, 73);
  for (size_t i = 0; i < out.data.size(); i += 3) {
    ASSERT_EQ(out.data[i], 10);
    ASSERT_EQ(out.data[i + 1], 200);
    ASSERT_EQ(out.data[i + 2], 255);
  }
}

TEST(ResizeImageTest, TwoToOneDownscaleAveragesPairs) {
  // Bilinear with support 2 at scale 2: weights 1/4, 3/4, 3/4, 1/4 over
  // 4 pixels (1/8, 3/8, 3/8, 1/8 normalised), clipped at the border.
  Image image(1, 8, 1);
  image.data = {0, 0, 100, 100, 0, 0, 200, 200};
  const Image out = ResizeImage(image, 1, 4);
  // Pixel 0: taps 0..2 weights (3/4, 3/4, 1/4) / (7/4) -> 100/7 = 14.3.
  EXPECT_EQ(out.data[0], 14);
  // Pixel 1: taps 1..4 (1/8, 3/8, 3/8, 1/8): 0 + 37.5 + 37.5 + 0 = 75.
  EXPECT_EQ(out.data[1], 75);
}

TEST(ColourTest, BlendSampleTruncatesAndClips) {
  EXPECT_EQ(BlendSample(0, 100, 0.999f), 99);  // 99.9 -> 99
  EXPECT_EQ(BlendSample(0, 200, 1.5f), 255);   // clipped
  EXPECT_EQ(BlendSample(100, 50, 1.5f), 25);   // 100 + 1.5 * -50
  EXPECT_EQ(BlendSample(100, 50, 3.0f), 0);    // clipped at 0
  EXPECT_EQ(BlendSample(7, 9, 1.0f), 9);
  EXPECT_EQ(BlendSample(7, 9, 0.0f), 7);
}

TEST(ColourTest, LumaIsPillowFixedPoint) {
  EXPECT_EQ(Luma(255, 255, 255), 255);
  EXPECT_EQ(Luma(255, 0, 0), 76);   // 0.299 * 255 = 76.2
  EXPECT_EQ(Luma(0, 255, 0), 150);  // 149.7 rounds up
  EXPECT_EQ(Luma(0, 0, 255), 29);   // 29.07
}

TEST(ColourTest, ContrastUsesRoundedMeanLuma) {
  Image image(1, 2, 3);
  image.data = {0, 0, 0, 255, 255, 255};  // luma mean 127.5 -> 128
  const int mean = ApplyLutAndLumaMean(image, IdentityLut());
  EXPECT_EQ(mean, 128);
  const Lut lut = ContrastLut(mean, 0.5f);
  EXPECT_EQ(lut[0], 64);     // 128 - 64
  EXPECT_EQ(lut[255], 191);  // 128 + 63.5 -> 191
}

TEST(ColourTest, SaturationZeroIsGrayscale) {
  Image a = RandomImage(4, 5, 3, 9);
  Image b = a;
  AdjustSaturation(a, IdentityLut(), 0.0f);
  ToGrayscale(b);
  EXPECT_EQ(a.data, b.data);
}

TEST(ColourTest, SaturationEqualsPillowBlendPerSample) {
  // More pixels than one 4096-pixel chunk of the kernel, the last partial.
  const Image original = RandomImage(67, 71, 3, 12);
  Lut shift;  // a non-identity pending table
  for (int v = 0; v < 256; ++v) shift[v] = static_cast<uint8_t>(255 - v);
  for (float f : {0.0f, 0.5f, 0.97f, 1.03f, 1.8f, 3.0f}) {
    for (bool with_table : {false, true}) {
      Image image = original;
      AdjustSaturation(image, with_table ? shift : IdentityLut(), f);
      for (size_t i = 0; i < image.data.size(); i += 3) {
        uint8_t px[3];
        for (int c = 0; c < 3; ++c) {
          px[c] =
              with_table ? shift[original.data[i + c]] : original.data[i + c];
        }
        const int l = Luma(px[0], px[1], px[2]);
        for (int c = 0; c < 3; ++c) {
          ASSERT_EQ(image.data[i + c], BlendSample(l, px[c], f))
              << f << " " << with_table << " " << i;
        }
      }
    }
  }
}

TEST(ColourTest, LumaMeanAndGrayscale) {
  const Image image = RandomImage(19, 31, 3, 13);
  uint64_t sum = 0;
  for (size_t i = 0; i < image.data.size(); i += 3) {
    sum += Luma(image.data[i], image.data[i + 1], image.data[i + 2]);
  }
  const double n = 19 * 31;
  EXPECT_EQ(LumaMean(image), static_cast<int>(sum / n + 0.5));
  Image gray = image;
  ToGrayscale(gray);
  for (size_t i = 0; i < image.data.size(); i += 3) {
    ASSERT_EQ(gray.data[i],
              Luma(image.data[i], image.data[i + 1], image.data[i + 2]));
  }
}

// Every byte value through random tables, for lengths around the 32-byte
// blocks of the vector kernel, out of place and in place.
TEST(ColourTest, MapBytesEqualsTableLookUp) {
  std::mt19937_64 rng(21);
  std::uniform_int_distribution<int> byte(0, 255);
  for (int trial = 0; trial < 4; ++trial) {
    Lut lut;
    for (auto& v : lut) v = static_cast<uint8_t>(byte(rng));
    for (size_t n : {size_t{0}, size_t{1}, size_t{31}, size_t{32}, size_t{33},
                     size_t{256}, size_t{1000}}) {
      std::vector<uint8_t> in(n);
      for (size_t i = 0; i < n; ++i) {
        // All 256 values first, then random ones.
        in[i] = static_cast<uint8_t>(i < 256 ? i : byte(rng));
      }
      std::vector<uint8_t> expected(n);
      for (size_t i = 0; i < n; ++i) expected[i] = lut[in[i]];
      std::vector<uint8_t> out(n, 7);
      MapBytes(in.data(), n, lut, out.data());
      EXPECT_EQ(out, expected) << trial << " " << n;
      MapBytes(in.data(), n, lut, in.data());
      EXPECT_EQ(in, expected) << trial << " " << n;
    }
  }
  Image image = RandomImage(5, 9, 3, 3);
  const Image original = image;
  ApplyLut(image, IdentityLut());
  EXPECT_EQ(image.data, original.data);
}

// Every RGB colour once (a 4096 x 4096 image): saturation without a table
// (the in-place path) equals Pillow's blend per sample, and the luma mean
// equals the scalar formula's.
TEST(ColourTest, SaturationAndLumaMeanOverEveryColour) {
  Image image(4096, 4096, 3);
  uint64_t luma_sum = 0;
  for (uint32_t i = 0; i < (1u << 24); ++i) {
    image.data[3 * i] = static_cast<uint8_t>(i >> 16);
    image.data[3 * i + 1] = static_cast<uint8_t>(i >> 8);
    image.data[3 * i + 2] = static_cast<uint8_t>(i);
    luma_sum += Luma(i >> 16, (i >> 8) & 255, i & 255);
  }
  EXPECT_EQ(LumaMean(image),
            static_cast<int>(static_cast<double>(luma_sum) / (1u << 24) + 0.5));
  const float factor = 1.0371f;
  Image saturated = image;
  AdjustSaturation(saturated, IdentityLut(), factor);
  size_t mismatches = 0;
  for (uint32_t i = 0; i < (1u << 24); ++i) {
    const uint8_t* p = &image.data[3 * i];
    const uint8_t l = Luma(p[0], p[1], p[2]);
    for (int c = 0; c < 3; ++c) {
      mismatches += saturated.data[3 * i + c] != BlendSample(l, p[c], factor);
    }
  }
  EXPECT_EQ(mismatches, 0u);
}

TEST(ColourTest, LumaMeanAfterLutEqualsMeanOfMappedImage) {
  const Image image = RandomImage(67, 71, 3, 14);  // two chunks
  const Lut table = ComposeLuts(BrightnessLut(1.3f), ContrastLut(90, 0.7f));
  Image mapped = image;
  ApplyLut(mapped, table);
  EXPECT_EQ(LumaMeanAfterLut(image, table), LumaMean(mapped));
  EXPECT_NE(LumaMean(image), LumaMean(mapped));
}

TEST(ColourTest, FusedLutEqualsSequential) {
  Image a = RandomImage(6, 7, 3, 10);
  Image b = a;
  const Lut bright = BrightnessLut(1.07f);
  ApplyLut(a, bright);
  const int mean_a = ApplyLutAndLumaMean(a, IdentityLut());
  ApplyLut(a, ContrastLut(mean_a, 0.96f));
  EXPECT_EQ(LumaMeanAfterLut(b, bright), mean_a);
  EXPECT_EQ(b.data, RandomImage(6, 7, 3, 10).data);  // read only
  const int mean_b = ApplyLutAndLumaMean(b, bright);
  EXPECT_EQ(mean_a, mean_b);
  ApplyLut(b, ContrastLut(mean_b, 0.96f));
  EXPECT_EQ(a.data, b.data);
}

TEST(ColourTest, HueShiftOfRed) {
  Image image(1, 1, 3);
  image.data = {255, 0, 0};
  // Shift int(0.3 * 255) = 76: sector 1, f = 0.788, q = 255 * 0.212 = 54.
  AdjustHue(image, 0.3f);
  EXPECT_EQ(image.data, (PixelBuffer{54, 255, 0}));
  Image gray(1, 1, 3);
  gray.data = {80, 80, 80};
  AdjustHue(gray, 0.2f);  // no saturation: unchanged
  EXPECT_EQ(gray.data, (PixelBuffer{80, 80, 80}));
}

TEST(ColourTest, HueZeroRoundTripIsNearlyIdentity) {
  Image image = RandomImage(16, 16, 3, 11);
  const Image original = image;
  AdjustHue(image, 0.0f);
  int max_err = 0;
  for (size_t i = 0; i < image.data.size(); ++i) {
    max_err = std::max(max_err, std::abs(image.data[i] - original.data[i]));
  }
  EXPECT_LE(max_err, 8);  // 8-bit HSV is lossy, as in Pillow
}

}  // namespace
}  // namespace sam2::data::ops
