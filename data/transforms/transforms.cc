#include "data/transforms/transforms.h"

#include <algorithm>
#include <cmath>
#include <map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace sam2::data {
namespace {

absl::Status RequireBytes(const VideoDatapoint& datapoint,
                          const std::string& transform) {
  for (const Frame& frame : datapoint.frames) {
    if (frame.is_float()) {
      return absl::FailedPreconditionError(absl::StrCat(
          transform, " needs 8-bit frames: put it before ToTensorAPI"));
    }
    if (frame.image.channels != 3) {
      return absl::InvalidArgumentError(
          absl::StrCat(transform, " needs RGB frames, got ",
                       frame.image.channels, " channel(s)"));
    }
  }
  return absl::OkStatus();
}

void FlushPendingTables(VideoDatapoint& datapoint) {
  for (Frame& frame : datapoint.frames) frame.FlushPendingTable();
}

// Runs the jitter steps; `pending` (valid when has_pending) is the table
// not yet applied to `image`, on entry and on return.
void JitterSteps(Image& image, const ColorJitter::Params& params,
                 ops::Lut& pending, bool& has_pending) {
  // Brightness and contrast map every sample through a table (contrast once
  // the current mean luma is known), so runs of them are composed into one
  // table and applied in the pass that needs the image next.
  for (int fn : params.order) {
    switch (fn) {
      case 0:
        if (params.brightness != 1.0f) {
          const ops::Lut b = ops::BrightnessLut(params.brightness);
          pending = has_pending ? ops::ComposeLuts(pending, b) : b;
          has_pending = true;
        }
        break;
      case 1:
        if (params.contrast != 1.0f) {
          // The mean is read through the pending table (no write back); the
          // contrast table joins it.
          const int mean = has_pending ? ops::LumaMeanAfterLut(image, pending)
                                       : ops::LumaMean(image);
          const ops::Lut c = ops::ContrastLut(mean, params.contrast);
          pending = has_pending ? ops::ComposeLuts(pending, c) : c;
          has_pending = true;
        }
        break;
      case 2:
        if (params.saturation != 1.0f) {
          ops::AdjustSaturation(image,
                                has_pending ? pending : ops::IdentityLut(),
                                params.saturation);
          has_pending = false;
        }
        break;
      case 3:
        if (params.hue) {
          if (has_pending) ops::ApplyLut(image, pending);
          has_pending = false;
          ops::AdjustHue(image, *params.hue);
        }
        break;
    }
  }
}

// Flips lazily: the next geometric transform folds or applies it.
void FlipFrame(Frame& frame) { frame.pending_hflip = !frame.pending_hflip; }

void FlushPendingFlips(VideoDatapoint& datapoint) {
  for (Frame& frame : datapoint.frames) frame.FlushPendingFlip();
}

// Python's round() for the sizes: half to even.
int RoundHalfEven(double v) { return static_cast<int>(std::nearbyint(v)); }

// The image kernel of a RandomAffine option (validated in Create).
ops::Interpolation ImageKernel(ImageInterpolation interpolation) {
  return interpolation == ImageInterpolation::kBilinear
             ? ops::Interpolation::kBilinear
             : ops::Interpolation::kBicubic;
}

}  // namespace

// ------------------------------------------------------------------ flip --

absl::Status RandomHorizontalFlip::Apply(VideoDatapoint& datapoint,
                                         SampleContext& ctx) const {
  // Mirroring commutes with the per-sample tables (pending byte table,
  // float table), so it is also valid after ToTensor.
  if (consistent_) {
    if (Bernoulli(ctx.rng, p_)) {
      for (Frame& frame : datapoint.frames) FlipFrame(frame);
    }
    return absl::OkStatus();
  }
  for (Frame& frame : datapoint.frames) {
    if (Bernoulli(ctx.rng, p_)) FlipFrame(frame);
  }
  return absl::OkStatus();
}

// ---------------------------------------------------------------- affine --

RandomAffine::RandomAffine(const RandomAffineOptions& options)
    : options_(options) {
  const std::vector<double>& d = options.degrees;
  degrees_ = d.size() == 1 ? Range{-d[0], d[0]} : Range{d[0], d[1]};
  const std::vector<double>& s = options.shear;
  if (s.size() == 1 && s[0] != 0.0) shear_x_ = Range{-s[0], s[0]};
  if (s.size() == 2 || s.size() == 4) shear_x_ = Range{s[0], s[1]};
  if (s.size() == 4) shear_y_ = Range{s[2], s[3]};
}

absl::StatusOr<std::unique_ptr<RandomAffine>> RandomAffine::Create(
    const RandomAffineOptions& options) {
  if (options.degrees.size() != 1 && options.degrees.size() != 2) {
    return absl::InvalidArgumentError(
        "RandomAffine: degrees needs 1 value or a [min, max] pair");
  }
  const size_t shear = options.shear.size();
  if (shear != 0 && shear != 1 && shear != 2 && shear != 4) {
    return absl::InvalidArgumentError(
        "RandomAffine: shear needs 0, 1, 2 or 4 values");
  }
  if (options.scale && (options.scale->lo <= 0 || options.scale->hi <= 0)) {
    return absl::InvalidArgumentError("RandomAffine: scale must be positive");
  }
  if (options.translate &&
      ((*options.translate)[0] < 0 || (*options.translate)[0] > 1 ||
       (*options.translate)[1] < 0 || (*options.translate)[1] > 1)) {
    return absl::InvalidArgumentError(
        "RandomAffine: translate fractions must be in [0, 1]");
  }
  if (options.num_tentatives < 1) {
    return absl::InvalidArgumentError(
        "RandomAffine: num_tentatives must be >= 1");
  }
  if (options.image_interpolation != ImageInterpolation::kBicubic &&
      options.image_interpolation != ImageInterpolation::kBilinear) {
    return absl::InvalidArgumentError(
        "RandomAffine: image_interpolation must be bilinear or bicubic");
  }
  return std::unique_ptr<RandomAffine>(new RandomAffine(options));
}

RandomAffine::Params RandomAffine::DrawParams(Rng& rng, int width,
                                              int height) const {
  Params p;
  p.angle = UniformReal(rng, degrees_.lo, degrees_.hi);
  if (options_.translate) {
    const double max_dx = (*options_.translate)[0] * width;
    const double max_dy = (*options_.translate)[1] * height;
    p.translate_x = RoundHalfEven(UniformReal(rng, -max_dx, max_dx));
    p.translate_y = RoundHalfEven(UniformReal(rng, -max_dy, max_dy));
  }
  if (options_.scale) {
    p.scale = UniformReal(rng, options_.scale->lo, options_.scale->hi);
  }
  if (shear_x_) p.shear_x = UniformReal(rng, shear_x_->lo, shear_x_->hi);
  if (shear_y_) p.shear_y = UniformReal(rng, shear_y_->lo, shear_y_->hi);
  return p;
}

ops::AffineMatrix RandomAffine::Matrix(const Params& p, int width, int height) {
  return ops::InverseAffineMatrix(width * 0.5, height * 0.5, p.angle,
                                  p.translate_x, p.translate_y, p.scale,
                                  p.shear_x, p.shear_y);
}

bool RandomAffine::TryTransform(VideoDatapoint& datapoint, Rng& rng) const {
  const int width = datapoint.frames[0].image.width;
  const int height = datapoint.frames[0].image.height;
  Params params;
  if (options_.consistent_transform) {
    params = DrawParams(rng, width, height);
  }
  for (size_t t = 0; t < datapoint.frames.size(); ++t) {
    Frame& frame = datapoint.frames[t];
    if (!options_.consistent_transform) {
      params = DrawParams(rng, width, height);
    }
    const ops::AffineMatrix m =
        Matrix(params, frame.image.width, frame.image.height);
    std::vector<const Mask*> segments;
    for (const Object& obj : frame.objects) segments.push_back(&obj.segment);
    // A pending flip is folded into the sampling (bit-exact).
    std::vector<Mask> masks =
        ops::AffineMasks(segments, m, frame.pending_hflip);
    if (t == 0) {
      for (const Mask& mask : masks) {
        // An object pushed out of the first frame: reject this draw.
        // Nothing has been modified yet (frame 0 comes first).
        if (!ops::AnySet(mask)) return false;
      }
    }
    for (size_t i = 0; i < masks.size(); ++i) {
      frame.objects[i].segment = std::move(masks[i]);
    }
    frame.image = ops::AffineImage(frame.image, m,
                                   ImageKernel(options_.image_interpolation),
                                   options_.image_mean, frame.pending_hflip);
    frame.pending_hflip = false;
  }
  return true;
}

absl::Status RandomAffine::Apply(VideoDatapoint& datapoint,
                                 SampleContext& ctx) const {
  if (datapoint.frames.empty()) return absl::OkStatus();
  if (absl::Status s = RequireBytes(datapoint, Name()); !s.ok()) return s;
  FlushPendingTables(datapoint);
  for (int attempt = 0; attempt < options_.num_tentatives; ++attempt) {
    if (TryTransform(datapoint, ctx.rng)) return absl::OkStatus();
  }
  if (options_.log_warning) {
    ctx.Warn(absl::StrCat(
        "Skip RandomAffine for zero-area mask in first frame after ",
        options_.num_tentatives, " tentatives (video ", datapoint.video_id,
        ")"));
  }
  if (ctx.stats) ++ctx.stats->affine_skipped;
  return absl::OkStatus();
}

// ---------------------------------------------------------------- resize --

absl::StatusOr<std::unique_ptr<RandomResize>> RandomResize::Create(
    std::vector<int> sizes, bool consistent_transform,
    std::optional<int> max_size, bool square) {
  if (sizes.empty()) {
    return absl::InvalidArgumentError("RandomResizeAPI: no sizes");
  }
  for (int s : sizes) {
    if (s <= 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("RandomResizeAPI: size ", s, " must be positive"));
    }
  }
  if (max_size && *max_size <= 0) {
    return absl::InvalidArgumentError(
        "RandomResizeAPI: max_size must be positive");
  }
  return std::unique_ptr<RandomResize>(new RandomResize(
      std::move(sizes), consistent_transform, max_size, square));
}

std::pair<int, int> RandomResize::SizeWithAspectRatio(
    int width, int height, double size, std::optional<int> max_size) {
  const double w = width, h = height;
  if (max_size) {
    const double min_original = std::min(w, h);
    const double max_original = std::max(w, h);
    if (max_original / min_original * size > *max_size) {
      size = *max_size * min_original / max_original;
    }
  }
  if ((w <= h && w == size) || (h <= w && h == size)) {
    return {height, width};
  }
  if (w < h) {
    return {RoundHalfEven(size * h / w), RoundHalfEven(size)};
  }
  return {RoundHalfEven(size), RoundHalfEven(size * w / h)};
}

void RandomResize::ResizeFrame(Frame& frame, int size) const {
  int out_h = size, out_w = size;
  if (!square_) {
    std::tie(out_h, out_w) = SizeWithAspectRatio(
        frame.image.width, frame.image.height, size, max_size_);
    out_h = std::max(out_h, 1);
    out_w = std::max(out_w, 1);
  }
  frame.image = ops::ResizeImage(frame.image, out_h, out_w);
  for (Object& obj : frame.objects) {
    obj.segment = ops::ResizeMask(obj.segment, out_h, out_w);
  }
}

absl::Status RandomResize::Apply(VideoDatapoint& datapoint,
                                 SampleContext& ctx) const {
  if (absl::Status s = RequireBytes(datapoint, Name()); !s.ok()) return s;
  FlushPendingTables(datapoint);
  FlushPendingFlips(datapoint);
  auto draw = [&] {
    return sizes_[UniformInt(ctx.rng, 0,
                             static_cast<int64_t>(sizes_.size()) - 1)];
  };
  if (consistent_) {
    const int size = draw();
    for (Frame& frame : datapoint.frames) ResizeFrame(frame, size);
    return absl::OkStatus();
  }
  for (Frame& frame : datapoint.frames) ResizeFrame(frame, draw());
  return absl::OkStatus();
}

// ---------------------------------------------------------------- jitter --

absl::StatusOr<std::unique_ptr<ColorJitter>> ColorJitter::FromScalars(
    bool consistent_transform, double brightness, double contrast,
    double saturation, std::optional<double> hue) {
  for (double v : {brightness, contrast, saturation}) {
    if (v < 0) {
      return absl::InvalidArgumentError(
          "ColorJitter: brightness, contrast and saturation must be >= 0");
    }
  }
  auto around_one = [](double v) { return Range{std::max(0.0, 1 - v), 1 + v}; };
  std::optional<Range> hue_range;
  if (hue) hue_range = Range{-*hue, *hue};
  return FromRanges(consistent_transform, around_one(brightness),
                    around_one(contrast), around_one(saturation), hue_range);
}

absl::StatusOr<std::unique_ptr<ColorJitter>> ColorJitter::FromRanges(
    bool consistent_transform, Range brightness, Range contrast,
    Range saturation, std::optional<Range> hue) {
  for (const Range& r : {brightness, contrast, saturation}) {
    if (r.lo < 0 || r.hi < r.lo) {
      return absl::InvalidArgumentError(absl::StrCat(
          "ColorJitter: bad factor range [", r.lo, ", ", r.hi, "]"));
    }
  }
  if (hue && (hue->lo < -0.5 || hue->hi > 0.5 || hue->hi < hue->lo)) {
    return absl::InvalidArgumentError(
        "ColorJitter: hue range must lie in [-0.5, 0.5]");
  }
  return std::unique_ptr<ColorJitter>(new ColorJitter(
      consistent_transform, brightness, contrast, saturation, hue));
}

ColorJitter::Params ColorJitter::DrawParams(Rng& rng) const {
  Params p;
  const std::vector<int64_t> perm = RandomPermutation(rng, 4);
  for (int i = 0; i < 4; ++i) p.order[i] = static_cast<int>(perm[i]);
  // Pillow's blend takes the factor as a C float.
  p.brightness =
      static_cast<float>(UniformReal(rng, brightness_.lo, brightness_.hi));
  p.contrast = static_cast<float>(UniformReal(rng, contrast_.lo, contrast_.hi));
  p.saturation =
      static_cast<float>(UniformReal(rng, saturation_.lo, saturation_.hi));
  if (hue_) p.hue = static_cast<float>(UniformReal(rng, hue_->lo, hue_->hi));
  return p;
}

void ColorJitter::ApplyToImage(Image& image, const Params& params) {
  ops::Lut pending;
  bool has_pending = false;
  JitterSteps(image, params, pending, has_pending);
  if (has_pending) ops::ApplyLut(image, pending);
}

void ColorJitter::ApplyToFrame(Frame& frame, const Params& params) {
  ops::Lut pending = frame.pending_table.value_or(ops::Lut{});
  bool has_pending = frame.pending_table.has_value();
  JitterSteps(frame.image, params, pending, has_pending);
  if (has_pending) {
    frame.pending_table = pending;
  } else {
    frame.pending_table.reset();
  }
}

absl::Status ColorJitter::Apply(VideoDatapoint& datapoint,
                                SampleContext& ctx) const {
  if (absl::Status s = RequireBytes(datapoint, Name()); !s.ok()) return s;
  Params params;
  if (consistent_) params = DrawParams(ctx.rng);
  for (Frame& frame : datapoint.frames) {
    if (!consistent_) params = DrawParams(ctx.rng);
    ApplyToFrame(frame, params);
  }
  return absl::OkStatus();
}

// ------------------------------------------------------------- grayscale --

absl::Status RandomGrayscale::Apply(VideoDatapoint& datapoint,
                                    SampleContext& ctx) const {
  if (absl::Status s = RequireBytes(datapoint, Name()); !s.ok()) return s;
  auto gray = [](Frame& frame) {
    frame.FlushPendingTable();
    ops::ToGrayscale(frame.image);
  };
  if (consistent_) {
    if (Bernoulli(ctx.rng, p_)) {
      for (Frame& frame : datapoint.frames) gray(frame);
    }
    return absl::OkStatus();
  }
  for (Frame& frame : datapoint.frames) {
    if (Bernoulli(ctx.rng, p_)) gray(frame);
  }
  return absl::OkStatus();
}

// ------------------------------------------------------ tensor / normalize --

absl::Status ToTensor::Apply(VideoDatapoint& datapoint,
                             SampleContext& /*ctx*/) const {
  if (absl::Status s = RequireBytes(datapoint, Name()); !s.ok()) return s;
  for (Frame& frame : datapoint.frames) {
    ChannelTable table;
    for (int v = 0; v < 256; ++v) {
      // The pending byte table first, then F.to_tensor: float(v) / 255.
      const int u = frame.pending_table ? (*frame.pending_table)[v] : v;
      const float value = static_cast<float>(u) / 255.0f;
      table[0][v] = table[1][v] = table[2][v] = value;
    }
    frame.pending_table.reset();
    frame.float_table = table;
  }
  return absl::OkStatus();
}

absl::Status Normalize::Apply(VideoDatapoint& datapoint,
                              SampleContext& /*ctx*/) const {
  for (Frame& frame : datapoint.frames) {
    if (!frame.is_float()) {
      return absl::FailedPreconditionError(
          "NormalizeAPI needs tensors: put ToTensorAPI before it");
    }
    for (int c = 0; c < 3; ++c) {
      for (float& v : (*frame.float_table)[c]) v = (v - mean_[c]) / std_[c];
    }
  }
  return absl::OkStatus();
}

// ---------------------------------------------------------------- mosaic --

absl::StatusOr<std::unique_ptr<RandomMosaicVideo>> RandomMosaicVideo::Create(
    double prob, int grid_h, int grid_w, bool use_random_hflip) {
  if (grid_h < 1 || grid_w < 1) {
    return absl::InvalidArgumentError(
        "RandomMosaicVideoAPI: grid sizes must be >= 1");
  }
  return std::unique_ptr<RandomMosaicVideo>(
      new RandomMosaicVideo(prob, grid_h, grid_w, use_random_hflip));
}

absl::Status RandomMosaicVideo::Apply(VideoDatapoint& datapoint,
                                      SampleContext& ctx) const {
  if (Uniform01(ctx.rng) > prob_) return absl::OkStatus();
  if (absl::Status s = RequireBytes(datapoint, Name()); !s.ok()) return s;
  for (const Frame& frame : datapoint.frames) {
    if (frame.image.height < grid_h_ || frame.image.width < grid_w_) {
      return absl::InvalidArgumentError(absl::StrCat(
          Name(), ": a ", frame.image.height, "x", frame.image.width,
          " frame is smaller than the ", grid_h_, "x", grid_w_, " grid"));
    }
  }
  FlushPendingTables(datapoint);
  FlushPendingFlips(datapoint);
  const int target_y = static_cast<int>(UniformInt(ctx.rng, 0, grid_h_ - 1));
  const int target_x = static_cast<int>(UniformInt(ctx.rng, 0, grid_w_ - 1));
  std::vector<bool> flip(static_cast<size_t>(grid_h_) * grid_w_, false);
  if (hflip_) {
    for (size_t i = 0; i < flip.size(); ++i) flip[i] = Bernoulli(ctx.rng, 0.5);
  }
  for (Frame& frame : datapoint.frames) {
    const int h = frame.image.height, w = frame.image.width;
    Image mosaic(h, w, 3);  // black where no tile lands (none: tiles cover)
    std::map<std::pair<int, int>, Image> downsized;
    for (int gy = 0; gy < grid_h_; ++gy) {
      for (int gx = 0; gx < grid_w_; ++gx) {
        const int y0 = gy * h / grid_h_, y1 = (gy + 1) * h / grid_h_;
        const int x0 = gx * w / grid_w_, x1 = (gx + 1) * w / grid_w_;
        const std::pair<int, int> key{y1 - y0, x1 - x0};
        auto it = downsized.find(key);
        if (it == downsized.end()) {
          it = downsized
                   .emplace(key, ops::ResizeImage(frame.image, key.first,
                                                  key.second))
                   .first;
        }
        Image tile = it->second;
        if (flip[gy * grid_w_ + gx]) ops::HFlip(tile);
        for (int y = 0; y < tile.height; ++y) {
          std::copy_n(&tile.data[static_cast<size_t>(y) * tile.width * 3],
                      tile.width * 3,
                      &mosaic.data[(static_cast<size_t>(y0 + y) * w + x0) * 3]);
        }
      }
    }
    frame.image = std::move(mosaic);
    const int ty0 = target_y * h / grid_h_, ty1 = (target_y + 1) * h / grid_h_;
    const int tx0 = target_x * w / grid_w_, tx1 = (target_x + 1) * w / grid_w_;
    for (Object& obj : frame.objects) {
      Mask small = ops::ResizeMask(obj.segment, ty1 - ty0, tx1 - tx0);
      if (flip[target_y * grid_w_ + target_x]) ops::HFlip(small);
      Mask out(h, w);
      for (int y = 0; y < small.height; ++y) {
        std::copy_n(&small.data[static_cast<size_t>(y) * small.width],
                    small.width,
                    &out.data[static_cast<size_t>(ty0 + y) * w + tx0]);
      }
      obj.segment = std::move(out);
    }
  }
  return absl::OkStatus();
}

// --------------------------------------------------------------- compose --

absl::Status Compose::Apply(VideoDatapoint& datapoint,
                            SampleContext& ctx) const {
  for (const std::unique_ptr<Transform>& t : transforms_) {
    if (absl::Status s = t->Apply(datapoint, ctx); !s.ok()) return s;
  }
  return absl::OkStatus();
}

std::string Compose::Name() const {
  std::vector<std::string> names;
  for (const auto& t : transforms_) names.push_back(t->Name());
  return absl::StrCat("ComposeAPI(", absl::StrJoin(names, ", "), ")");
}

std::unique_ptr<Compose> MoseTrainTransforms(int resolution) {
  std::vector<std::unique_ptr<Transform>> t;
  t.push_back(std::make_unique<RandomHorizontalFlip>(true));
  RandomAffineOptions affine;
  affine.degrees = {25};
  affine.shear = {20};
  affine.image_interpolation = ImageInterpolation::kBilinear;
  affine.consistent_transform = true;
  t.push_back(*RandomAffine::Create(affine));
  t.push_back(*RandomResize::Create({resolution}, true, std::nullopt, true));
  t.push_back(*ColorJitter::FromScalars(true, 0.1, 0.03, 0.03, std::nullopt));
  t.push_back(std::make_unique<RandomGrayscale>(true, 0.05));
  t.push_back(*ColorJitter::FromScalars(false, 0.1, 0.05, 0.05, std::nullopt));
  t.push_back(std::make_unique<ToTensor>());
  t.push_back(std::make_unique<Normalize>(kImageNetMean, kImageNetStd));
  return std::make_unique<Compose>(std::move(t));
}

}  // namespace sam2::data
