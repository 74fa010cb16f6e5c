// Pixel kernels of the transforms, on 8-bit HWC images and 0/1 masks.
//
// The reference applies its transforms to PIL images (the frames) and uint8
// tensors (the masks) through torchvision, so each kernel here reproduces one
// of those code paths, named in its comment, including the rounding:
//  - frames: Pillow's Image.transform (affine, bilinear/bicubic, fillcolor),
//    Image.resize (BILINEAR, with its antialiasing support and 22-bit fixed
//    point), ImageEnhance (blend with float alpha, truncating), convert("L")
//    (ITU-R 601-2 in 16-bit fixed point) and the HSV round trip of
//    torchvision's adjust_hue;
//  - masks: torchvision's tensor affine (grid_sample, nearest, fill 0) and
//    tensor resize (bilinear, antialias=True as in torchvision >= 0.17, in
//    float, then rounded half to even).
// OpenCV's warpAffine / resize are NOT used: warpAffine quantises source
// coordinates to 1/32 pixel, rounds where Pillow truncates and blends the
// fill colour into the border pixels, and cv::resize has no antialiasing for
// a 0.8x downscale (INTER_AREA is a box filter); they are faster but would
// change every frame slightly.
#ifndef SAM2_DATA_TRANSFORMS_IMAGE_OPS_H_
#define SAM2_DATA_TRANSFORMS_IMAGE_OPS_H_

#include <array>
#include <cstdint>
#include <vector>

#include "data/codecs/image.h"

namespace sam2::data::ops {

using AffineMatrix = std::array<double, 6>;
using Rgb = std::array<uint8_t, 3>;

// Mirror left-right, in place (any channel count).
void HFlip(Image& image);
void HFlip(Mask& mask);

// torchvision's _get_inverse_affine_matrix: the matrix that maps an output
// point to its source point (x_src = m0 x + m1 y + m2, y_src = m3 x + m4 y +
// m5), for a rotation by `angle_deg` (counter-clockwise on screen), scale,
// shear (degrees, x then y) and translation (tx, ty pixels) about `center`
// (cx, cy), all in pixel-corner coordinates (pixel i covers [i, i + 1)).
AffineMatrix InverseAffineMatrix(double cx, double cy, double angle_deg,
                                 double tx, double ty, double scale,
                                 double shear_x_deg, double shear_y_deg);

enum class Interpolation { kNearest, kBilinear, kBicubic };

// Pillow's Image.transform(size, AFFINE, m, resample, fillcolor=fill) with
// the output the size of the input: output pixel (x, y) samples the source at
// m * (x + 0.5, y + 0.5); a source point outside [0, W) x [0, H) gives
// `fill` (channels beyond 3 get 0); bilinear/bicubic clamp neighbours at the
// edges and truncate to 8 bits. Bilinear RGB interpolates in float32 inside
// the image (Pillow: double): one level off for a few samples per million.
// mirror_source: transform the left-right mirror image of `src` (bit-exactly
// what HFlip then AffineImage gives, without the flip pass).
Image AffineImage(const Image& src, const AffineMatrix& m,
                  Interpolation interpolation, const Rgb& fill,
                  bool mirror_source = false);

// torchvision's tensor F.affine(mask, ..., NEAREST, fill=0): nearest source
// pixel (round half to even) of m * (x + 0.5, y + 0.5) - 0.5, 0 outside.
// Only the region the mask's set pixels can reach is evaluated.
Mask AffineMask(const Mask& src, const AffineMatrix& m,
                bool mirror_source = false);
// AffineMask of several masks of one frame (same size), sharing the
// coordinate computation.
std::vector<Mask> AffineMasks(const std::vector<const Mask*>& srcs,
                              const AffineMatrix& m,
                              bool mirror_source = false);

// Pillow's Image.resize((out_w, out_h), BILINEAR) (the training transforms)
// or BICUBIC (Pillow's default: the reference predictor's frame loading).
enum class PilFilter { kBilinear, kBicubic };
Image ResizeImage(const Image& src, int out_height, int out_width,
                  PilFilter filter = PilFilter::kBilinear);

// torchvision's tensor F.resize(mask[None, None], (out_h, out_w)) with
// bilinear interpolation and antialias=True, rounded back to 0/1.
Mask ResizeMask(const Mask& src, int out_height, int out_width);

// The pixel rows/columns that hold set pixels; empty() when none.
struct Box {
  int y0 = 0, y1 = 0, x0 = 0, x1 = 0;  // [y0, y1) x [x0, x1)
  bool empty() const { return y1 <= y0 || x1 <= x0; }
};
Box NonZeroBox(const Mask& mask);
bool AnySet(const Mask& mask);

// ---- colour (3-channel RGB images) ----

// Pillow's ImagingBlend for one sample: in1 + alpha * (in2 - in1) in float,
// truncated (clipped to 0..255 when alpha is outside [0, 1]).
inline uint8_t BlendSample(int in1, int in2, float alpha) {
  if (alpha == 0.0f) return static_cast<uint8_t>(in1);
  if (alpha == 1.0f) return static_cast<uint8_t>(in2);
  const float v =
      static_cast<float>(in1) + alpha * static_cast<float>(in2 - in1);
  if (alpha >= 0.0f && alpha <= 1.0f) return static_cast<uint8_t>(v);
  if (v <= 0.0f) return 0;
  if (v >= 255.0f) return 255;
  return static_cast<uint8_t>(v);
}

// Pillow's convert("L"): (19595 R + 38470 G + 7471 B + 0x8000) >> 16.
inline uint8_t Luma(uint8_t r, uint8_t g, uint8_t b) {
  return static_cast<uint8_t>((r * 19595 + g * 38470 + b * 7471 + 0x8000) >>
                              16);
}

// A 256-entry map applied to every sample.
using Lut = std::array<uint8_t, 256>;
Lut IdentityLut();
// ImageEnhance.Brightness(img).enhance(f): blend with black.
Lut BrightnessLut(float factor);
// ImageEnhance.Contrast: blend with the constant `mean` (the rounded mean of
// the image's luma, see LumaMean).
Lut ContrastLut(int mean, float factor);
// `second` after `first`.
Lut ComposeLuts(const Lut& first, const Lut& second);
bool IsIdentity(const Lut& lut);

// out[i] = lut[in[i]] for i < n; in == out is allowed (AVX2 where the CPU
// has it, no byte gather needed).
void MapBytes(const uint8_t* in, size_t n, const Lut& lut, uint8_t* out);
// Applies `lut` to every sample, in place.
void ApplyLut(Image& image, const Lut& lut);
// Applies `lut` in place and returns int(mean luma of the result + 0.5), the
// degenerate value of ImageEnhance.Contrast, in the same pass.
int ApplyLutAndLumaMean(Image& image, const Lut& lut);
// int(mean luma + 0.5), read only.
int LumaMean(const Image& image);
// LumaMean of the image as `lut` maps it, read only (the image stays as it
// is; the caller keeps the table pending).
int LumaMeanAfterLut(const Image& image, const Lut& lut);
// ImageEnhance.Color(img).enhance(f) (torchvision adjust_saturation) after
// applying `lut` to the input, in one pass.
void AdjustSaturation(Image& image, const Lut& lut, float factor);
// torchvision F_pil.adjust_hue: HSV (Pillow's conversion), hue byte shifted
// by uint8(hue_factor * 255) with wrap-around, back to RGB.
void AdjustHue(Image& image, float hue_factor);
// T.Grayscale(num_output_channels=3): luma replicated to R, G, B.
void ToGrayscale(Image& image);

}  // namespace sam2::data::ops

#endif  // SAM2_DATA_TRANSFORMS_IMAGE_OPS_H_
