// PNG decode/encode through libpng.
//
// Decoding keeps what is stored rather than converting colour models:
//  - palette PNGs give the palette INDICES (channels == 1), not RGB, because
//    DAVIS/MOSE-style annotations store object ids that way;
//  - gray / gray+alpha / RGB / RGBA give 1 / 2 / 3 / 4 channels;
//  - 1/2/4-bit gray is expanded to 8 bits (libpng scales it to 0..255);
//    1/2/4-bit palette indices are unpacked to one byte each, unscaled;
//  - a tRNS chunk is ignored (no alpha channel is synthesised).
// Corrupt or truncated data gives an error status naming `source`; libpng's
// longjmp error path is contained inside png.cc.
#ifndef SAM2_DATA_CODECS_PNG_H_
#define SAM2_DATA_CODECS_PNG_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "data/codecs/image.h"

namespace sam2::data {

enum class PngColorType { kGray, kGrayAlpha, kPalette, kRgb, kRgba };

// RGB palette entries, in PLTE order.
using PngPalette = std::vector<std::array<uint8_t, 3>>;

// What the PNG header says.
struct PngInfo {
  int height = 0;
  int width = 0;
  int bit_depth = 8;  // as stored: 1, 2, 4, 8 or 16
  PngColorType color_type = PngColorType::kGray;
  int channels = 1;  // channels of the decoded image (palette: 1 = indices)
  // Palette PNGs: the PLTE entries (as many as stored, like PIL's
  // getpalette()), so that outputs can be written with the input's colours.
  // Empty for other colour types.
  PngPalette palette;
};

absl::StatusOr<PngInfo> ReadPngInfo(const uint8_t* bytes, size_t size,
                                    absl::string_view source);
absl::StatusOr<PngInfo> ReadPngFileInfo(const std::string& path);

// 8-bit decode. 16-bit samples are scaled to 8 bits (v * 255 / 65535, rounded).
// If `info` is not null it receives the header description.
absl::StatusOr<Image> DecodePng(const uint8_t* bytes, size_t size,
                                absl::string_view source,
                                PngInfo* info = nullptr);
absl::StatusOr<Image> ReadPngFile(const std::string& path,
                                  PngInfo* info = nullptr);

// 16-bit decode that keeps sample VALUES: 16-bit samples as stored, 8-bit and
// lower-depth samples widened without rescaling (label maps stay label maps).
absl::StatusOr<Image16> DecodePng16(const uint8_t* bytes, size_t size,
                                    absl::string_view source,
                                    PngInfo* info = nullptr);
absl::StatusOr<Image16> ReadPng16File(const std::string& path,
                                      PngInfo* info = nullptr);

// Encodes 8-bit gray / gray+alpha / RGB / RGBA (by image.channels).
absl::StatusOr<std::string> EncodePng(const Image& image);
// Encodes 16-bit gray / gray+alpha / RGB / RGBA.
absl::StatusOr<std::string> EncodePng16(const Image16& image);
// Encodes a palette PNG: `indices` has 1 channel, every index must be
// < palette.size() (<= 256 entries).
absl::StatusOr<std::string> EncodePalettePng(const Image& indices,
                                             const PngPalette& palette);
// The DAVIS palette (index 0 black, then the PASCAL VOC colour map).
PngPalette DavisPalette();

absl::Status WritePngFile(const std::string& path, const Image& image);
absl::Status WritePng16File(const std::string& path, const Image16& image);
absl::Status WritePalettePngFile(const std::string& path, const Image& indices,
                                 const PngPalette& palette);

}  // namespace sam2::data

#endif  // SAM2_DATA_CODECS_PNG_H_
