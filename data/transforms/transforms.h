// Video transforms (port of training/dataset/transforms.py). Each transform
// changes a VideoDatapoint in place, drawing its random parameters from the
// sample's generator (SampleContext::rng), so a sample's augmentation depends
// only on its seed.
//
// `consistent_transform` has the reference's meaning: one draw for the whole
// video, else one draw per frame. The kernels reproduce the reference's PIL /
// torchvision code paths (see image_ops.h); the random draws are ours.
//
// Transforms that resample or recolour pixels need 8-bit frames, i.e. must
// come before ToTensor (as in every reference config); they fail with
// FailedPrecondition otherwise. (The reference would run them on tensors.)
#ifndef SAM2_DATA_TRANSFORMS_TRANSFORMS_H_
#define SAM2_DATA_TRANSFORMS_TRANSFORMS_H_

#include <array>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "data/batch/batch.h"
#include "data/random/sample_context.h"
#include "data/transforms/image_ops.h"

namespace sam2::data {

class Transform {
 public:
  virtual ~Transform() = default;
  virtual absl::Status Apply(VideoDatapoint& datapoint,
                             SampleContext& ctx) const = 0;
  virtual std::string Name() const = 0;
};

// A closed interval [lo, hi] of a random parameter.
struct Range {
  double lo = 0.0;
  double hi = 0.0;
};

class RandomHorizontalFlip : public Transform {
 public:
  explicit RandomHorizontalFlip(bool consistent_transform, double p = 0.5)
      : consistent_(consistent_transform), p_(p) {}
  absl::Status Apply(VideoDatapoint& datapoint,
                     SampleContext& ctx) const override;
  std::string Name() const override { return "RandomHorizontalFlip"; }

 private:
  bool consistent_;
  double p_;
};

// How RandomAffine resamples frames: the reference's image_interpolation
// accepts exactly "bicubic" and "bilinear" (Pillow's BICUBIC / BILINEAR);
// masks are always nearest.
enum class ImageInterpolation { kBicubic, kBilinear };

struct RandomAffineOptions {
  // Rotation range in degrees: {d} means [-d, d], {lo, hi} a range.
  std::vector<double> degrees = {0.0};
  bool consistent_transform = true;
  // Scale range; nullopt: 1.
  std::optional<Range> scale;
  // Maximum translation as fractions of width and height; nullopt: none.
  std::optional<std::array<double, 2>> translate;
  // Shear in degrees: {} none (also {0}), {s} means x in [-s, s], {lo, hi}
  // x only, {xlo, xhi, ylo, yhi} both.
  std::vector<double> shear;
  // Fill colour of the uncovered image area.
  ops::Rgb image_mean = {123, 116, 103};
  bool log_warning = true;
  // Attempts before giving up when an object vanishes from the first frame.
  int num_tentatives = 1;
  ImageInterpolation image_interpolation = ImageInterpolation::kBicubic;
};

// The reference's RandomAffine: masks nearest with fill 0, images with
// `image_interpolation` and fill `image_mean`. If a transformed first-frame
// mask is empty the draw is rejected (the video is left as it was) and
// retried, up to num_tentatives; then the video stays untransformed, a
// warning is logged and DataStats::affine_skipped counts it.
class RandomAffine : public Transform {
 public:
  static absl::StatusOr<std::unique_ptr<RandomAffine>> Create(
      const RandomAffineOptions& options);
  absl::Status Apply(VideoDatapoint& datapoint,
                     SampleContext& ctx) const override;
  std::string Name() const override { return "RandomAffine"; }

  struct Params {
    double angle = 0.0;
    int translate_x = 0, translate_y = 0;
    double scale = 1.0;
    double shear_x = 0.0, shear_y = 0.0;
  };
  // T.RandomAffine.get_params for an image of `width` x `height`.
  Params DrawParams(Rng& rng, int width, int height) const;
  // The inverse matrix for a frame of `width` x `height` (rotation about the
  // frame's centre).
  static ops::AffineMatrix Matrix(const Params& params, int width, int height);

 private:
  explicit RandomAffine(const RandomAffineOptions& options);
  // One attempt; false (and the datapoint untouched) when an object of the
  // first frame vanishes.
  bool TryTransform(VideoDatapoint& datapoint, Rng& rng) const;

  RandomAffineOptions options_;
  Range degrees_;
  std::optional<Range> shear_x_, shear_y_;
};

// RandomResizeAPI: resize to a size drawn from `sizes`; with `square` to
// size x size, else the shorter side to size (the longer one capped at
// max_size, aspect ratio kept). Images bilinear (Pillow), masks bilinear
// antialiased then rounded (torchvision tensor path).
class RandomResize : public Transform {
 public:
  static absl::StatusOr<std::unique_ptr<RandomResize>> Create(
      std::vector<int> sizes, bool consistent_transform,
      std::optional<int> max_size = std::nullopt, bool square = false);
  absl::Status Apply(VideoDatapoint& datapoint,
                     SampleContext& ctx) const override;
  std::string Name() const override { return "RandomResizeAPI"; }

  // get_size_with_aspect_ratio: (height, width) for a frame of
  // width x height whose shorter side becomes `size`.
  static std::pair<int, int> SizeWithAspectRatio(int width, int height,
                                                 double size,
                                                 std::optional<int> max_size);

 private:
  RandomResize(std::vector<int> sizes, bool consistent,
               std::optional<int> max_size, bool square)
      : sizes_(std::move(sizes)),
        consistent_(consistent),
        max_size_(max_size),
        square_(square) {}
  void ResizeFrame(Frame& frame, int size) const;

  std::vector<int> sizes_;
  bool consistent_;
  std::optional<int> max_size_;
  bool square_;
};

// ColorJitter with torchvision's parameter draw (random order of the four
// adjustments, factors uniform in their ranges) and Pillow's adjust_*
// arithmetic. Consecutive brightness/contrast steps are fused into one
// lookup table per frame; the result is the same as applying them one by one.
class ColorJitter : public Transform {
 public:
  // A scalar s gives [max(0, 1 - s), 1 + s] (hue: [-h, h]); nullopt hue
  // (the reference's null) skips the hue step. Note: the reference runs a
  // hue of 0 through the lossy HSV round trip; give nullopt to skip it.
  static absl::StatusOr<std::unique_ptr<ColorJitter>> FromScalars(
      bool consistent_transform, double brightness, double contrast,
      double saturation, std::optional<double> hue);
  static absl::StatusOr<std::unique_ptr<ColorJitter>> FromRanges(
      bool consistent_transform, Range brightness, Range contrast,
      Range saturation, std::optional<Range> hue);
  absl::Status Apply(VideoDatapoint& datapoint,
                     SampleContext& ctx) const override;
  std::string Name() const override { return "ColorJitter"; }

  struct Params {
    std::array<int, 4> order = {0, 1, 2, 3};  // 0 b, 1 c, 2 s, 3 h
    float brightness = 1.0f, contrast = 1.0f, saturation = 1.0f;
    std::optional<float> hue;
  };
  Params DrawParams(Rng& rng) const;
  // Applies the four adjustments in params.order to one image.
  static void ApplyToImage(Image& image, const Params& params);
  // The same on a frame, leaving a trailing brightness/contrast table in
  // frame.pending_table (and starting from the one there) instead of
  // applying it: the next pass over the pixels does.
  static void ApplyToFrame(Frame& frame, const Params& params);

 private:
  ColorJitter(bool consistent, Range b, Range c, Range s,
              std::optional<Range> h)
      : consistent_(consistent),
        brightness_(b),
        contrast_(c),
        saturation_(s),
        hue_(h) {}

  bool consistent_;
  Range brightness_, contrast_, saturation_;
  std::optional<Range> hue_;
};

class RandomGrayscale : public Transform {
 public:
  explicit RandomGrayscale(bool consistent_transform, double p = 0.5)
      : consistent_(consistent_transform), p_(p) {}
  absl::Status Apply(VideoDatapoint& datapoint,
                     SampleContext& ctx) const override;
  std::string Name() const override { return "RandomGrayscale"; }

 private:
  bool consistent_;
  double p_;
};

// ToTensorAPI: values become v / 255 (float32); see data/batch/batch.h.
class ToTensor : public Transform {
 public:
  absl::Status Apply(VideoDatapoint& datapoint,
                     SampleContext& ctx) const override;
  std::string Name() const override { return "ToTensorAPI"; }
};

// NormalizeAPI: (x - mean) / std per channel, in float32.
class Normalize : public Transform {
 public:
  Normalize(std::array<float, 3> mean, std::array<float, 3> std)
      : mean_(mean), std_(std) {}
  absl::Status Apply(VideoDatapoint& datapoint,
                     SampleContext& ctx) const override;
  std::string Name() const override { return "NormalizeAPI"; }

 private:
  std::array<float, 3> mean_, std_;
};

// RandomMosaicVideoAPI: with probability `prob`, every frame becomes a
// grid_h x grid_w mosaic of itself (downsized, antialiased), each tile
// optionally mirrored, and the masks are moved into one random tile.
class RandomMosaicVideo : public Transform {
 public:
  static absl::StatusOr<std::unique_ptr<RandomMosaicVideo>> Create(
      double prob = 0.15, int grid_h = 2, int grid_w = 2,
      bool use_random_hflip = false);
  absl::Status Apply(VideoDatapoint& datapoint,
                     SampleContext& ctx) const override;
  std::string Name() const override { return "RandomMosaicVideoAPI"; }

 private:
  RandomMosaicVideo(double prob, int grid_h, int grid_w, bool hflip)
      : prob_(prob), grid_h_(grid_h), grid_w_(grid_w), hflip_(hflip) {}

  double prob_;
  int grid_h_, grid_w_;
  bool hflip_;
};

// ComposeAPI: the transforms in order; stops at the first error.
class Compose : public Transform {
 public:
  explicit Compose(std::vector<std::unique_ptr<Transform>> transforms)
      : transforms_(std::move(transforms)) {}
  absl::Status Apply(VideoDatapoint& datapoint,
                     SampleContext& ctx) const override;
  std::string Name() const override;
  const std::vector<std::unique_ptr<Transform>>& transforms() const {
    return transforms_;
  }

 private:
  std::vector<std::unique_ptr<Transform>> transforms_;
};

// ImageNet statistics, the reference configs' NormalizeAPI arguments.
inline constexpr std::array<float, 3> kImageNetMean = {0.485f, 0.456f, 0.406f};
inline constexpr std::array<float, 3> kImageNetStd = {0.229f, 0.224f, 0.225f};

// The training chain of sam2.1_hiera_b+_MOSE_finetune.yaml at `resolution`:
// flip, affine (degrees 25, shear 20, bilinear), square resize, consistent
// jitter (0.1, 0.03, 0.03), grayscale 0.05, per-frame jitter (0.1, 0.05,
// 0.05), ToTensor, Normalize.
std::unique_ptr<Compose> MoseTrainTransforms(int resolution);

}  // namespace sam2::data

#endif  // SAM2_DATA_TRANSFORMS_TRANSFORMS_H_
