// Video files decoded frame by frame with FFmpeg's libraries, converted to
// pixels exactly as OpenCV's FFmpeg backend (cv2.VideoCapture, which the
// reference's SA-V frame extraction uses) converts them: every decoded frame,
// in the order the decoder outputs it, through swscale to BGR24 with
// SWS_BICUBIC over the decoder's coded (macroblock-aligned) size, cropped to
// the visible size. Frames are handed out as RGB (the channel swap is exact).
#ifndef SAM2_DATA_VIDEO_VIDEO_DECODER_H_
#define SAM2_DATA_VIDEO_VIDEO_DECODER_H_

#include <cstdint>
#include <functional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "data/codecs/image.h"

namespace sam2::data {

// Calls `on_frame(index, rgb)` for every frame of `path`, index from 0;
// stops at the first error `on_frame` returns. Returns the frame count.
// Errors name the file: unreadable, no video stream, no decoder, a corrupt
// stream (a truncated file ends with the frames decoded so far and an
// error).
absl::StatusOr<int64_t> DecodeVideo(
    const std::string& path,
    const std::function<absl::Status(int64_t index, const Image& rgb)>&
        on_frame);

}  // namespace sam2::data

#endif  // SAM2_DATA_VIDEO_VIDEO_DECODER_H_
