#include "data/transforms/transforms.h"

#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <set>
#include <utility>

namespace sam2::data {
namespace {

constexpr int kH = 48, kW = 64;

Image TexturedImage(int h, int w, uint64_t seed) {
  Image image(h, w, 3);
  Rng rng(seed);
  for (int y = 0; y < h; ++y) {
    for (int x = 0; x < w; ++x) {
      image.at(y, x, 0) = static_cast<uint8_t>(x * 4 + (rng() & 15));
      image.at(y, x, 1) = static_cast<uint8_t>(y * 5 + (rng() & 15));
      image.at(y, x, 2) = static_cast<uint8_t>((x + y) * 2 + (rng() & 31));
    }
  }
  return image;
}

Mask BoxMask(int h, int w, int y0, int y1, int x0, int x1) {
  Mask m(h, w);
  for (int y = y0; y < y1; ++y) {
    for (int x = x0; x < x1; ++x) m.at(y, x) = 1;
  }
  return m;
}

// `frames` identical frames (when `same`) or different ones, two objects.
VideoDatapoint MakeVideo(int frames, bool same = true, int h = kH, int w = kW) {
  VideoDatapoint v;
  v.video_id = 7;
  v.size = {h, w};
  for (int t = 0; t < frames; ++t) {
    Frame f;
    f.image = TexturedImage(h, w, same ? 1 : 1 + t);
    f.objects.push_back({1, t, BoxMask(h, w, h / 4, h / 2, w / 4, w / 2)});
    f.objects.push_back({2, t, BoxMask(h, w, h / 2, h - 4, w / 2, w - 6)});
    v.frames.push_back(std::move(f));
  }
  return v;
}

bool IsBinary(const Mask& m) {
  for (uint8_t v : m.data) {
    if (v > 1) return false;
  }
  return true;
}

// The frame with its pending table and flip applied.
Frame Settled(Frame f) {
  f.FlushPendingTable();
  f.FlushPendingFlip();
  return f;
}

bool SameFrame(const Frame& lazy_a, const Frame& lazy_b) {
  const Frame a = Settled(lazy_a), b = Settled(lazy_b);
  if (a.image.data != b.image.data) return false;
  for (size_t i = 0; i < a.objects.size(); ++i) {
    if (a.objects[i].segment.data != b.objects[i].segment.data) return false;
  }
  return true;
}

Frame Flipped(Frame f) {
  ops::HFlip(f.image);
  for (Object& o : f.objects) ops::HFlip(o.segment);
  return f;
}

TEST(RandomHorizontalFlipTest, FlipsImageAndMasksTogether) {
  const VideoDatapoint original = MakeVideo(3, /*same=*/false);
  VideoDatapoint v = original;
  SampleContext ctx(1);
  ASSERT_TRUE(RandomHorizontalFlip(true, 1.0).Apply(v, ctx).ok());
  for (Frame& f : v.frames) {
    EXPECT_TRUE(f.pending_hflip);  // lazy
    f = Settled(f);
  }
  for (int t = 0; t < 3; ++t) {
    EXPECT_TRUE(SameFrame(v.frames[t], Flipped(original.frames[t])));
    // The flipped mask lies mirrored: object 1 was in the left half.
    EXPECT_EQ(v.frames[t].objects[0].segment.at(kH / 3, kW - 1 - kW / 4), 1);
  }
  VideoDatapoint none = original;
  ASSERT_TRUE(RandomHorizontalFlip(true, 0.0).Apply(none, ctx).ok());
  EXPECT_TRUE(SameFrame(none.frames[0], original.frames[0]));
}

TEST(RandomHorizontalFlipTest, PerFrameDrawsDiffer) {
  int flipped = 0, total = 0;
  for (uint64_t seed = 0; seed < 20; ++seed) {
    const VideoDatapoint original = MakeVideo(4, false);
    VideoDatapoint v = original;
    SampleContext ctx(seed);
    ASSERT_TRUE(RandomHorizontalFlip(false, 0.5).Apply(v, ctx).ok());
    for (int t = 0; t < 4; ++t) {
      const bool is_flipped =
          SameFrame(v.frames[t], Flipped(original.frames[t]));
      EXPECT_TRUE(is_flipped || SameFrame(v.frames[t], original.frames[t]));
      flipped += is_flipped;
      ++total;
    }
  }
  EXPECT_GT(flipped, total / 4);
  EXPECT_LT(flipped, 3 * total / 4);
}

TEST(RandomHorizontalFlipTest, LazyFlipFoldedIntoAffineIsExact) {
  for (ImageInterpolation interp :
       {ImageInterpolation::kBilinear, ImageInterpolation::kBicubic}) {
    RandomAffineOptions o;
    o.degrees = {25};
    o.shear = {20};
    o.scale = Range{0.8, 1.2};
    o.translate = std::array<double, 2>{0.1, 0.1};
    o.image_interpolation = interp;
    auto affine = RandomAffine::Create(o);
    ASSERT_TRUE(affine.ok());
    for (uint64_t seed = 0; seed < 6; ++seed) {
      // Lazy: flag set by the flip, folded by the affine.
      VideoDatapoint lazy = MakeVideo(2, false);
      SampleContext c1(seed);
      ASSERT_TRUE(RandomHorizontalFlip(true, 1.0).Apply(lazy, c1).ok());
      EXPECT_TRUE(lazy.frames[0].pending_hflip);
      ASSERT_TRUE((*affine)->Apply(lazy, c1).ok());
      // Eager: pixels flipped first.
      VideoDatapoint eager = MakeVideo(2, false);
      SampleContext c2(seed);
      Bernoulli(c2.rng, 1.0);  // the flip's draw
      for (Frame& f : eager.frames) f = Flipped(f);
      ASSERT_TRUE((*affine)->Apply(eager, c2).ok());
      for (int t = 0; t < 2; ++t) {
        EXPECT_FALSE(lazy.frames[t].pending_hflip) << seed;
        const Frame a = Settled(lazy.frames[t]);
        ASSERT_EQ(a.image.data, eager.frames[t].image.data) << seed;
        for (size_t i = 0; i < a.objects.size(); ++i) {
          ASSERT_EQ(a.objects[i].segment.data,
                    eager.frames[t].objects[i].segment.data);
        }
      }
    }
  }
}

TEST(RandomHorizontalFlipTest, PendingFlipIsCollatedMirrored) {
  VideoDatapoint v = MakeVideo(2, false);
  SampleContext ctx(0);
  ASSERT_TRUE(RandomHorizontalFlip(true, 1.0).Apply(v, ctx).ok());
  ASSERT_TRUE(ToTensor().Apply(v, ctx).ok());
  VideoDatapoint settled = v;
  for (Frame& f : settled.frames) f.FlushPendingFlip();
  auto a = Collate({v}, "k");
  auto b = Collate({settled}, "k");
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_TRUE(a->img_batch.equal(b->img_batch));
  EXPECT_TRUE(a->masks.equal(b->masks));
  EXPECT_TRUE(v.frames[1].ToTensor().equal(settled.frames[1].ToTensor()));
}

TEST(RandomAffineTest, KeepsMasksBinaryAndConsistent) {
  RandomAffineOptions o;
  o.degrees = {25};
  o.shear = {20};
  o.image_interpolation = ImageInterpolation::kBilinear;
  auto affine = RandomAffine::Create(o);
  ASSERT_TRUE(affine.ok());
  for (uint64_t seed = 0; seed < 10; ++seed) {
    const VideoDatapoint original = MakeVideo(3);
    VideoDatapoint v = original;
    SampleContext ctx(seed);
    ASSERT_TRUE((*affine)->Apply(v, ctx).ok());
    EXPECT_FALSE(SameFrame(v.frames[0], original.frames[0]));
    for (const Frame& f : v.frames) {
      EXPECT_EQ(f.image.height, kH);
      EXPECT_EQ(f.image.width, kW);
      for (const Object& obj : f.objects) {
        EXPECT_TRUE(IsBinary(obj.segment));
        EXPECT_GT(obj.segment.Area(), 0);
      }
    }
    // Same parameters for identical frames.
    EXPECT_TRUE(SameFrame(v.frames[0], v.frames[2]));
  }
}

TEST(RandomAffineTest, FillsUncoveredAreaWithImageMean) {
  RandomAffineOptions o;
  o.degrees = {30, 30};  // exactly 30 degrees
  auto affine = RandomAffine::Create(o);
  ASSERT_TRUE(affine.ok());
  VideoDatapoint v = MakeVideo(1);
  SampleContext ctx(3);
  ASSERT_TRUE((*affine)->Apply(v, ctx).ok());
  // A rotated frame leaves its corners uncovered.
  const Image& img = v.frames[0].image;
  EXPECT_EQ(img.at(0, 0, 0), 123);
  EXPECT_EQ(img.at(0, 0, 1), 116);
  EXPECT_EQ(img.at(0, 0, 2), 103);
}

// The option chooses the frame kernel: bilinear is Pillow's BILINEAR
// (ops::AffineImage's), not bicubic, and the two differ.
TEST(RandomAffineTest, ImageInterpolationSelectsTheKernel) {
  const VideoDatapoint original = MakeVideo(1);
  const ops::AffineMatrix m = ops::InverseAffineMatrix(kW * 0.5, kH * 0.5, 30.0,
                                                       0.0, 0.0, 1.0, 0.0, 0.0);
  std::map<ImageInterpolation, Image> results;
  for (const auto& [option, kernel] :
       {std::pair{ImageInterpolation::kBilinear, ops::Interpolation::kBilinear},
        std::pair{ImageInterpolation::kBicubic,
                  ops::Interpolation::kBicubic}}) {
    RandomAffineOptions o;
    o.degrees = {30, 30};  // exactly 30 degrees, nothing else drawn
    o.image_interpolation = option;
    auto affine = RandomAffine::Create(o);
    ASSERT_TRUE(affine.ok());
    VideoDatapoint v = original;
    SampleContext ctx(0);
    ASSERT_TRUE((*affine)->Apply(v, ctx).ok());
    const Image expected =
        ops::AffineImage(original.frames[0].image, m, kernel, {123, 116, 103});
    EXPECT_EQ(v.frames[0].image.data, expected.data);
    results[option] = v.frames[0].image;
  }
  EXPECT_NE(results[ImageInterpolation::kBilinear].data,
            results[ImageInterpolation::kBicubic].data);
}

TEST(RandomAffineTest, RejectsUnknownImageInterpolation) {
  RandomAffineOptions o;
  o.image_interpolation = static_cast<ImageInterpolation>(7);
  auto affine = RandomAffine::Create(o);
  ASSERT_FALSE(affine.ok());
  EXPECT_EQ(affine.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(RandomAffineTest, VanishingFirstFrameObjectSkipsTransform) {
  RandomAffineOptions o;
  o.degrees = {0};
  o.translate = std::array<double, 2>{1.0, 1.0};
  o.num_tentatives = 3;
  auto affine = RandomAffine::Create(o);
  ASSERT_TRUE(affine.ok());
  // A one-pixel object at a corner: most translations push it out.
  VideoDatapoint original = MakeVideo(2);
  for (Frame& f : original.frames) {
    f.objects.resize(1);
    f.objects[0].segment = BoxMask(kH, kW, 0, 1, 0, 1);
  }
  DataStats stats;
  int skipped_and_unchanged = 0;
  for (uint64_t seed = 0; seed < 10; ++seed) {
    VideoDatapoint v = original;
    std::vector<std::string> warnings;
    SampleContext ctx(
        seed, [&](const std::string& w) { warnings.push_back(w); }, &stats);
    ASSERT_TRUE((*affine)->Apply(v, ctx).ok());
    if (!warnings.empty()) {
      EXPECT_TRUE(SameFrame(v.frames[0], original.frames[0]));
      EXPECT_NE(warnings[0].find("Skip RandomAffine"), std::string::npos);
      ++skipped_and_unchanged;
    } else {
      EXPECT_GT(v.frames[0].objects[0].segment.Area(), 0);
    }
  }
  EXPECT_GT(skipped_and_unchanged, 0);
  EXPECT_EQ(stats.affine_skipped.load(), skipped_and_unchanged);
}

TEST(RandomAffineTest, RejectsBadOptions) {
  RandomAffineOptions o;
  o.degrees = {};
  EXPECT_FALSE(RandomAffine::Create(o).ok());
  o.degrees = {10};
  o.shear = {1, 2, 3};
  EXPECT_FALSE(RandomAffine::Create(o).ok());
}

TEST(RandomResizeTest, SquareSize) {
  auto resize = RandomResize::Create({32}, true, std::nullopt, true);
  ASSERT_TRUE(resize.ok());
  VideoDatapoint v = MakeVideo(2);
  SampleContext ctx(0);
  ASSERT_TRUE((*resize)->Apply(v, ctx).ok());
  for (const Frame& f : v.frames) {
    EXPECT_EQ(f.image.height, 32);
    EXPECT_EQ(f.image.width, 32);
    for (const Object& o : f.objects) {
      EXPECT_EQ(o.segment.height, 32);
      EXPECT_EQ(o.segment.width, 32);
      EXPECT_TRUE(IsBinary(o.segment));
      EXPECT_GT(o.segment.Area(), 0);
    }
  }
  // The original size is kept for the metadata.
  EXPECT_EQ(v.size.height, kH);
}

TEST(RandomResizeTest, ShorterSideAndMaxSize) {
  EXPECT_EQ(RandomResize::SizeWithAspectRatio(64, 48, 24, std::nullopt),
            std::make_pair(24, 32));
  EXPECT_EQ(RandomResize::SizeWithAspectRatio(48, 64, 24, std::nullopt),
            std::make_pair(32, 24));
  // Already at size: unchanged.
  EXPECT_EQ(RandomResize::SizeWithAspectRatio(64, 48, 48, std::nullopt),
            std::make_pair(48, 64));
  // max_size caps the longer side: 100 * 1280 / 720 > 150.
  EXPECT_EQ(RandomResize::SizeWithAspectRatio(1280, 720, 100, 150),
            std::make_pair(84, 150));
  auto resize = RandomResize::Create({24}, true, std::nullopt, false);
  ASSERT_TRUE(resize.ok());
  VideoDatapoint v = MakeVideo(1);
  SampleContext ctx(0);
  ASSERT_TRUE((*resize)->Apply(v, ctx).ok());
  EXPECT_EQ(v.frames[0].image.height, 24);
  EXPECT_EQ(v.frames[0].image.width, 32);
}

TEST(RandomResizeTest, DrawsFromSizes) {
  auto resize = RandomResize::Create({16, 20, 24}, false, std::nullopt, true);
  ASSERT_TRUE(resize.ok());
  std::set<int> seen;
  for (uint64_t seed = 0; seed < 10; ++seed) {
    VideoDatapoint v = MakeVideo(4);
    SampleContext ctx(seed);
    ASSERT_TRUE((*resize)->Apply(v, ctx).ok());
    for (const Frame& f : v.frames) seen.insert(f.image.height);
  }
  EXPECT_EQ(seen, (std::set<int>{16, 20, 24}));
  EXPECT_FALSE(RandomResize::Create({}, true).ok());
}

TEST(ColorJitterTest, ConsistentVersusPerFrame) {
  auto consistent = ColorJitter::FromScalars(true, 0.3, 0.3, 0.3, 0.1);
  auto per_frame = ColorJitter::FromScalars(false, 0.3, 0.3, 0.3, 0.1);
  ASSERT_TRUE(consistent.ok() && per_frame.ok());
  VideoDatapoint a = MakeVideo(3);
  VideoDatapoint b = MakeVideo(3);
  SampleContext ctx(5);
  ASSERT_TRUE((*consistent)->Apply(a, ctx).ok());
  ASSERT_TRUE((*per_frame)->Apply(b, ctx).ok());
  EXPECT_TRUE(SameFrame(a.frames[0], a.frames[1]));
  EXPECT_TRUE(SameFrame(a.frames[0], a.frames[2]));
  EXPECT_FALSE(SameFrame(a.frames[0], MakeVideo(1).frames[0]));
  EXPECT_FALSE(SameFrame(b.frames[0], b.frames[1]));
  EXPECT_FALSE(SameFrame(b.frames[1], b.frames[2]));
}

TEST(ColorJitterTest, ZeroStrengthIsIdentity) {
  auto jitter = ColorJitter::FromScalars(false, 0, 0, 0, std::nullopt);
  ASSERT_TRUE(jitter.ok());
  VideoDatapoint v = MakeVideo(2);
  SampleContext ctx(1);
  ASSERT_TRUE((*jitter)->Apply(v, ctx).ok());
  EXPECT_TRUE(SameFrame(v.frames[0], MakeVideo(1).frames[0]));
}

TEST(ColorJitterTest, FusedOrderEqualsStepByStep) {
  // Every order of the four steps, fused, against the kernels one at a time.
  const Image original = TexturedImage(kH, kW, 3);
  std::array<int, 4> order = {0, 1, 2, 3};
  do {
    ColorJitter::Params p;
    p.order = order;
    p.brightness = 1.08f;
    p.contrast = 0.93f;
    p.saturation = 1.05f;
    p.hue = 0.02f;
    Image fused = original;
    ColorJitter::ApplyToImage(fused, p);
    Image steps = original;
    for (int fn : order) {
      if (fn == 0) ops::ApplyLut(steps, ops::BrightnessLut(p.brightness));
      if (fn == 1) {
        const int mean = ops::ApplyLutAndLumaMean(steps, ops::IdentityLut());
        ops::ApplyLut(steps, ops::ContrastLut(mean, p.contrast));
      }
      if (fn == 2)
        ops::AdjustSaturation(steps, ops::IdentityLut(), p.saturation);
      if (fn == 3) ops::AdjustHue(steps, *p.hue);
    }
    ASSERT_EQ(fused.data, steps.data);
  } while (std::next_permutation(order.begin(), order.end()));
}

TEST(ColorJitterTest, PendingTableFoldsIntoToTensor) {
  // Brightness last: its table stays pending on the frame and ends in the
  // float table; the values are those of applying it to the pixels.
  ColorJitter::Params p;
  p.order = {2, 1, 3, 0};
  p.brightness = 1.1f;
  p.contrast = 0.9f;
  p.saturation = 1.05f;
  VideoDatapoint lazy = MakeVideo(1);
  ColorJitter::ApplyToFrame(lazy.frames[0], p);
  EXPECT_TRUE(lazy.frames[0].pending_table.has_value());
  VideoDatapoint eager = MakeVideo(1);
  ColorJitter::ApplyToImage(eager.frames[0].image, p);
  SampleContext ctx(0);
  ASSERT_TRUE(ToTensor().Apply(lazy, ctx).ok());
  ASSERT_TRUE(ToTensor().Apply(eager, ctx).ok());
  EXPECT_FALSE(lazy.frames[0].pending_table.has_value());
  EXPECT_TRUE(lazy.frames[0].ToTensor().equal(eager.frames[0].ToTensor()));
  // A geometric transform applies the pending table first.
  VideoDatapoint a = MakeVideo(1), b = MakeVideo(1);
  ColorJitter::ApplyToFrame(a.frames[0], p);
  ColorJitter::ApplyToImage(b.frames[0].image, p);
  auto resize = RandomResize::Create({20}, true, std::nullopt, true);
  ASSERT_TRUE((*resize)->Apply(a, ctx).ok());
  ASSERT_TRUE((*resize)->Apply(b, ctx).ok());
  EXPECT_FALSE(a.frames[0].pending_table.has_value());
  EXPECT_EQ(a.frames[0].image.data, b.frames[0].image.data);
}

TEST(RandomGrayscaleTest, AllChannelsEqual) {
  RandomGrayscale gray(true, 1.0);
  VideoDatapoint v = MakeVideo(2);
  SampleContext ctx(0);
  ASSERT_TRUE(gray.Apply(v, ctx).ok());
  for (const Frame& f : v.frames) {
    for (size_t i = 0; i < f.image.data.size(); i += 3) {
      ASSERT_EQ(f.image.data[i], f.image.data[i + 1]);
      ASSERT_EQ(f.image.data[i], f.image.data[i + 2]);
    }
  }
}

TEST(ToTensorNormalizeTest, ValuesAreReferenceFloat32) {
  VideoDatapoint v = MakeVideo(1);
  SampleContext ctx(0);
  ASSERT_TRUE(ToTensor().Apply(v, ctx).ok());
  ASSERT_TRUE(Normalize(kImageNetMean, kImageNetStd).Apply(v, ctx).ok());
  at::Tensor t = v.frames[0].ToTensor();
  ASSERT_EQ(t.sizes(), (at::IntArrayRef{3, kH, kW}));
  // The untransformed frame (kept alive: a reference into a temporary
  // VideoDatapoint would dangle).
  const VideoDatapoint original = MakeVideo(1);
  const Image& img = original.frames[0].image;
  for (int c = 0; c < 3; ++c) {
    const uint8_t u = img.at(5, 7, c);
    const float expected =
        (static_cast<float>(u) / 255.0f - kImageNetMean[c]) / kImageNetStd[c];
    EXPECT_EQ(t[c][5][7].item<float>(), expected);
  }
}

TEST(ToTensorNormalizeTest, OrderErrors) {
  VideoDatapoint v = MakeVideo(1);
  SampleContext ctx(0);
  EXPECT_EQ(Normalize(kImageNetMean, kImageNetStd).Apply(v, ctx).code(),
            absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(ToTensor().Apply(v, ctx).ok());
  RandomAffineOptions o;
  o.degrees = {10};
  EXPECT_EQ((*RandomAffine::Create(o))->Apply(v, ctx).code(),
            absl::StatusCode::kFailedPrecondition);
  // Mirroring commutes with the float table: still allowed.
  EXPECT_TRUE(RandomHorizontalFlip(true, 1.0).Apply(v, ctx).ok());
}

TEST(RandomMosaicVideoTest, TilesImageAndMovesMasksToTargetTile) {
  auto mosaic = RandomMosaicVideo::Create(1.0, 2, 2, false);
  ASSERT_TRUE(mosaic.ok());
  VideoDatapoint v = MakeVideo(2);
  SampleContext ctx(4);
  ASSERT_TRUE((*mosaic)->Apply(v, ctx).ok());
  const Image small =
      ops::ResizeImage(MakeVideo(1).frames[0].image, kH / 2, kW / 2);
  for (const Frame& f : v.frames) {
    EXPECT_EQ(f.image.height, kH);
    EXPECT_EQ(f.image.width, kW);
    // Every tile is the downsized frame.
    for (int ty = 0; ty < 2; ++ty) {
      for (int tx = 0; tx < 2; ++tx) {
        EXPECT_EQ(f.image.at(ty * kH / 2 + 3, tx * kW / 2 + 5, 1),
                  small.at(3, 5, 1));
      }
    }
    // Both masks fall in one and the same quadrant.
    std::set<int> quadrants;
    for (const Object& o : f.objects) {
      EXPECT_TRUE(IsBinary(o.segment));
      const ops::Box box = ops::NonZeroBox(o.segment);
      ASSERT_FALSE(box.empty());
      const int qy = box.y0 / (kH / 2), qx = box.x0 / (kW / 2);
      EXPECT_EQ((box.y1 - 1) / (kH / 2), qy);
      EXPECT_EQ((box.x1 - 1) / (kW / 2), qx);
      quadrants.insert(qy * 2 + qx);
    }
    EXPECT_EQ(quadrants.size(), 1u);
  }
  // prob 0: unchanged.
  auto never = RandomMosaicVideo::Create(0.0);
  VideoDatapoint w = MakeVideo(1);
  ASSERT_TRUE((*never)->Apply(w, ctx).ok());
  EXPECT_TRUE(SameFrame(w.frames[0], MakeVideo(1).frames[0]));
}

TEST(ComposeTest, MoseChainIsDeterministicPerSeed) {
  auto chain = MoseTrainTransforms(32);
  auto run = [&](uint64_t seed) {
    VideoDatapoint v = MakeVideo(3, false);
    SampleContext ctx(seed);
    EXPECT_TRUE(chain->Apply(v, ctx).ok());
    return v;
  };
  const VideoDatapoint a = run(11), b = run(11), c = run(12);
  for (int t = 0; t < 3; ++t) {
    EXPECT_TRUE(SameFrame(a.frames[t], b.frames[t]));
    EXPECT_TRUE(a.frames[t].is_float());
    EXPECT_EQ(a.frames[t].image.height, 32);
    EXPECT_EQ(a.frames[t].image.width, 32);
    for (const Object& o : a.frames[t].objects)
      EXPECT_TRUE(IsBinary(o.segment));
  }
  EXPECT_FALSE(SameFrame(a.frames[0], c.frames[0]));
  EXPECT_NE(chain->Name().find("RandomAffine"), std::string::npos);
}

}  // namespace
}  // namespace sam2::data
