// Video frames as the reference's load_video_frames (sam2/utils/misc.py)
// gives them to the video predictor: every JPEG of a folder, in the order of
// the integer file stems, converted to RGB, resized to image_size x
// image_size with Pillow's Image.resize (bicubic, the default for RGB), then
// /255 in float64, to float32, minus the ImageNet mean and divided by its
// standard deviation (in float32, as the reference's in-place ops).
#ifndef SAM2_INFERENCE_FRAME_LOADER_H_
#define SAM2_INFERENCE_FRAME_LOADER_H_

#include <ATen/core/Tensor.h>

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "data/codecs/image.h"

namespace sam2::inference {

// Pillow's Image.resize((out_width, out_height), Image.BICUBIC) of an 8-bit
// image (any channel count), reproduced operation by operation: the
// precomputed filter coefficients, their 22-bit fixed-point rounding, a
// horizontal pass to uint8 and then a vertical pass to uint8.
data::Image PilBicubicResize(const data::Image& src, int out_height,
                             int out_width);

// The model input of one RGB frame: float [3, image_size, image_size].
at::Tensor NormalizeFrame(const data::Image& resized_rgb);

struct VideoFrames {
  std::vector<std::string> frame_names;  // file stems, in frame order
  at::Tensor images;                     // float [T, 3, S, S]
  int video_height = 0;                  // of the first frame, as the reference
  int video_width = 0;
};

struct FrameFile {
  std::string name;  // the stem, e.g. "00000"
  std::string path;
};

// The JPEG frames (.jpg/.jpeg/.JPG/.JPEG) of `video_dir`, sorted by the
// integer value of their stems. Errors name the folder (missing, no frames)
// or the file (a stem that is not an integer).
absl::StatusOr<std::vector<FrameFile>> ListJpegFrames(
    const std::string& video_dir);

// Loads every frame of `video_dir`. Errors name the folder or the file
// (unreadable JPEG, a frame whose size differs from the first's).
absl::StatusOr<VideoFrames> LoadVideoFrames(const std::string& video_dir,
                                            int image_size);

}  // namespace sam2::inference

#endif  // SAM2_INFERENCE_FRAME_LOADER_H_
