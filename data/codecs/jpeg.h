// JPEG decode/encode through libjpeg-turbo's TurboJPEG API.
//
// Every function takes a `source` string used only in error messages (a file
// path, or a description such as "<memory>"); the *File variants pass the
// path. Corrupt or truncated data gives an error status, never a crash.
// libjpeg warnings (e.g. "premature end of data segment") count as errors, as
// PIL refuses truncated images by default.
#ifndef SAM2_DATA_CODECS_JPEG_H_
#define SAM2_DATA_CODECS_JPEG_H_

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "data/codecs/image.h"

namespace sam2::data {

// Width and height from the JPEG header, without decoding pixels.
absl::StatusOr<ImageSize> ReadJpegSize(const uint8_t* bytes, size_t size,
                                       absl::string_view source);
absl::StatusOr<ImageSize> ReadJpegFileSize(const std::string& path);

// Full-size decode to RGB (channels == 3, whatever the JPEG's colour space).
absl::StatusOr<Image> DecodeJpeg(const uint8_t* bytes, size_t size,
                                 absl::string_view source);
absl::StatusOr<Image> ReadJpegFile(const std::string& path);

// The DCT scale (numerator/denominator, one of 1/1, 1/2, 1/4, 1/8) that
// DecodeJpegAtLeast uses for a `source_size` image the caller will resize to
// at least `min_size`: the smallest of 1/2, 1/4, 1/8 whose output
// (ceil(dim * scale), as libjpeg computes it) is still >= min_size in both
// dimensions; 1/1 when none is (i.e. the target is more than half the
// source). A min_size dimension <= 0 places no constraint on that dimension.
struct JpegScale {
  int num = 1;
  int denom = 1;
};
JpegScale ChooseJpegScale(ImageSize source_size, ImageSize min_size);

// Decode to RGB at a reduced size chosen by ChooseJpegScale: cheaper than a
// full decode followed by a big downscale. The result is >= min_size in both
// dimensions unless the image itself is smaller.
absl::StatusOr<Image> DecodeJpegAtLeast(const uint8_t* bytes, size_t size,
                                        ImageSize min_size,
                                        absl::string_view source);
absl::StatusOr<Image> ReadJpegFileAtLeast(const std::string& path,
                                          ImageSize min_size);

// Encodes an 8-bit image with 1 (grayscale) or 3 (RGB) channels.
// quality in [1, 100]; 4:2:0 chroma subsampling for RGB (as PIL's default).
absl::StatusOr<std::string> EncodeJpeg(const Image& image, int quality = 90);
absl::Status WriteJpegFile(const std::string& path, const Image& image,
                           int quality = 90);

}  // namespace sam2::data

#endif  // SAM2_DATA_CODECS_JPEG_H_
