#include "data/codecs/png.h"

#include <png.h>

#include <csetjmp>
#include <cstring>
#include <limits>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "data/codecs/file_io.h"

// libpng reports errors by longjmp-ing out of its calls. Every libpng call
// below happens inside a function whose setjmp point was set before any of
// them; the C++ objects those functions touch are declared before setjmp and
// only modified through pointers/references (so they live in memory and are
// valid after the jump), and their destructors run on the ordinary return
// that follows the jump.

namespace sam2::data {
namespace {

// Refuse absurd headers before allocating (a corrupt IHDR can claim 2^31
// pixels per side).
constexpr png_uint_32 kMaxDimension = 1 << 16;
constexpr size_t kMaxDecodedBytes = size_t{1} << 32;

struct ErrorState {
  char message[256] = "unknown libpng error";
};

void OnPngError(png_structp png, png_const_charp message) {
  auto* state = static_cast<ErrorState*>(png_get_error_ptr(png));
  std::snprintf(state->message, sizeof(state->message), "%s",
                message != nullptr ? message : "unknown libpng error");
  png_longjmp(png, 1);
}

void OnPngWarning(png_structp, png_const_charp) {}  // benign; ignored

struct MemoryReader {
  const uint8_t* data = nullptr;
  size_t size = 0;
  size_t pos = 0;
};

void ReadFromMemory(png_structp png, png_bytep out, png_size_t length) {
  auto* reader = static_cast<MemoryReader*>(png_get_io_ptr(png));
  if (length > reader->size - reader->pos) {
    png_error(png, "unexpected end of file (truncated PNG)");
  }
  std::memcpy(out, reader->data + reader->pos, length);
  reader->pos += length;
}

void WriteToString(png_structp png, png_bytep data, png_size_t length) {
  static_cast<std::string*>(png_get_io_ptr(png))
      ->append(reinterpret_cast<const char*>(data), length);
}

void FlushNothing(png_structp) {}

PngColorType ToColorType(int png_color_type) {
  switch (png_color_type) {
    case PNG_COLOR_TYPE_GRAY_ALPHA:
      return PngColorType::kGrayAlpha;
    case PNG_COLOR_TYPE_PALETTE:
      return PngColorType::kPalette;
    case PNG_COLOR_TYPE_RGB:
      return PngColorType::kRgb;
    case PNG_COLOR_TYPE_RGB_ALPHA:
      return PngColorType::kRgba;
    default:
      return PngColorType::kGray;
  }
}

int ChannelsOf(PngColorType type) {
  switch (type) {
    case PngColorType::kGrayAlpha:
      return 2;
    case PngColorType::kRgb:
      return 3;
    case PngColorType::kRgba:
      return 4;
    default:
      return 1;
  }
}

enum class Want { kHeader, k8Bit, k16Bit };

// The decoded result. For Want::k16Bit, 16-bit PNGs fill `samples16` and
// lower depths fill `samples8` (widened by the caller).
struct Decoded {
  PngInfo info;
  PixelBuffer samples8;  // not zeroed: png_read_image writes every row
  std::vector<uint16_t> samples16;
};

class ReadStructs {
 public:
  ReadStructs(ErrorState* errors) {
    png_ = png_create_read_struct(PNG_LIBPNG_VER_STRING, errors, OnPngError,
                                  OnPngWarning);
    if (png_ != nullptr) info_ = png_create_info_struct(png_);
  }
  ~ReadStructs() {
    if (png_ != nullptr) png_destroy_read_struct(&png_, &info_, nullptr);
  }
  ReadStructs(const ReadStructs&) = delete;
  ReadStructs& operator=(const ReadStructs&) = delete;
  png_structp png() const { return png_; }
  png_infop info() const { return info_; }

 private:
  png_structp png_ = nullptr;
  png_infop info_ = nullptr;
};

// Returns an empty string on success, else libpng's (or our) message.
std::string DecodeUnsafe(const uint8_t* bytes, size_t size, Want want,
                         Decoded* out) {
  ErrorState errors;
  MemoryReader reader{bytes, size, 0};
  std::vector<png_bytep> rows;
  ReadStructs structs(&errors);
  png_structp png = structs.png();
  png_infop info = structs.info();
  if (png == nullptr || info == nullptr)
    return "cannot allocate libpng structs";
  if (setjmp(png_jmpbuf(png))) return errors.message;

  png_set_read_fn(png, &reader, ReadFromMemory);
  png_set_user_limits(png, kMaxDimension, kMaxDimension);
  png_read_info(png, info);

  const int bit_depth = png_get_bit_depth(png, info);
  const int color_type = png_get_color_type(png, info);
  PngInfo& header = out->info;
  header.width = static_cast<int>(png_get_image_width(png, info));
  header.height = static_cast<int>(png_get_image_height(png, info));
  header.bit_depth = bit_depth;
  header.color_type = ToColorType(color_type);
  header.channels = ChannelsOf(header.color_type);
  header.palette.clear();
  if (color_type == PNG_COLOR_TYPE_PALETTE) {
    png_colorp entries = nullptr;
    int num_entries = 0;
    if (png_get_PLTE(png, info, &entries, &num_entries) != 0) {
      header.palette.reserve(num_entries);
      for (int i = 0; i < num_entries; ++i) {
        header.palette.push_back(
            {entries[i].red, entries[i].green, entries[i].blue});
      }
    }
  }
  if (want == Want::kHeader) return "";

  const bool keep_16 = want == Want::k16Bit && bit_depth == 16;
  if (bit_depth < 8) {
    if (color_type == PNG_COLOR_TYPE_GRAY && want == Want::k8Bit) {
      png_set_expand_gray_1_2_4_to_8(png);  // scales to 0..255
    } else {
      png_set_packing(png);  // one byte per sample, value unchanged
    }
  }
  if (bit_depth == 16) {
    if (keep_16) {
      // PNG stores big-endian samples; we hand out native uint16.
      const uint16_t probe = 1;
      if (*reinterpret_cast<const uint8_t*>(&probe) == 1) png_set_swap(png);
    } else {
      png_set_scale_16(png);
    }
  }
  png_set_interlace_handling(png);
  png_read_update_info(png, info);

  const size_t row_bytes = png_get_rowbytes(png, info);
  const size_t expected_row_bytes =
      static_cast<size_t>(header.width) * header.channels * (keep_16 ? 2 : 1);
  if (row_bytes != expected_row_bytes) {
    return "unexpected row size after transformations";
  }
  if (row_bytes * header.height > kMaxDecodedBytes) return "image too large";

  uint8_t* base;
  if (keep_16) {
    out->samples16.resize(row_bytes / 2 * header.height);
    base = reinterpret_cast<uint8_t*>(out->samples16.data());
  } else {
    out->samples8.resize(row_bytes * header.height);
    base = out->samples8.data();
  }
  rows.resize(header.height);
  for (int y = 0; y < header.height; ++y) rows[y] = base + row_bytes * y;
  png_read_image(png, rows.data());
  return "";
}

absl::Status DecodeToStruct(const uint8_t* bytes, size_t size,
                            absl::string_view source, Want want, Decoded* out) {
  if (size < 8 || png_sig_cmp(bytes, 0, 8) != 0) {
    return absl::DataLossError(
        absl::StrCat(source, ": not a PNG file (bad signature)"));
  }
  const std::string error = DecodeUnsafe(bytes, size, want, out);
  if (!error.empty()) {
    return absl::DataLossError(
        absl::StrCat(source, ": corrupt or truncated PNG: ", error));
  }
  return absl::OkStatus();
}

const uint8_t* AsBytes(const std::string& s) {
  return reinterpret_cast<const uint8_t*>(s.data());
}

absl::Status PrefixPath(const std::string& path, const absl::Status& status) {
  return absl::Status(status.code(),
                      absl::StrCat(path, ": ", status.message()));
}

// What EncodeUnsafe writes.
struct EncodeRequest {
  int height = 0;
  int width = 0;
  int bit_depth = 8;
  int color_type = PNG_COLOR_TYPE_GRAY;
  const uint8_t* pixels = nullptr;  // rows of row_bytes
  size_t row_bytes = 0;
  const PngPalette* palette = nullptr;
};

std::string EncodeUnsafe(const EncodeRequest& request, std::string* out) {
  ErrorState errors;
  std::vector<png_color> palette;
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &errors,
                                            OnPngError, OnPngWarning);
  if (png == nullptr) return "cannot allocate libpng write struct";
  png_infop info = png_create_info_struct(png);
  struct Cleanup {
    png_structp* png;
    png_infop* info;
    ~Cleanup() { png_destroy_write_struct(png, info); }
  } cleanup{&png, &info};
  if (info == nullptr) return "cannot allocate libpng info struct";
  if (setjmp(png_jmpbuf(png))) return errors.message;

  png_set_write_fn(png, out, WriteToString, FlushNothing);
  png_set_IHDR(png, info, request.width, request.height, request.bit_depth,
               request.color_type, PNG_INTERLACE_NONE,
               PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  if (request.palette != nullptr) {
    palette.resize(request.palette->size());
    for (size_t i = 0; i < palette.size(); ++i) {
      palette[i] = {(*request.palette)[i][0], (*request.palette)[i][1],
                    (*request.palette)[i][2]};
    }
    png_set_PLTE(png, info, palette.data(), static_cast<int>(palette.size()));
  }
  png_write_info(png, info);
  if (request.bit_depth == 16) {
    const uint16_t probe = 1;
    if (*reinterpret_cast<const uint8_t*>(&probe) == 1) png_set_swap(png);
  }
  for (int y = 0; y < request.height; ++y) {
    png_write_row(png, request.pixels + request.row_bytes * y);
  }
  png_write_end(png, nullptr);
  return "";
}

absl::StatusOr<std::string> Encode(const EncodeRequest& request) {
  if (request.height <= 0 || request.width <= 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "EncodePng: empty image ", request.height, "x", request.width));
  }
  std::string out;
  const std::string error = EncodeUnsafe(request, &out);
  if (!error.empty()) {
    return absl::InternalError(absl::StrCat("EncodePng: ", error));
  }
  return out;
}

int ColorTypeForChannels(int channels) {
  switch (channels) {
    case 1:
      return PNG_COLOR_TYPE_GRAY;
    case 2:
      return PNG_COLOR_TYPE_GRAY_ALPHA;
    case 3:
      return PNG_COLOR_TYPE_RGB;
    case 4:
      return PNG_COLOR_TYPE_RGB_ALPHA;
    default:
      return -1;
  }
}

}  // namespace

absl::StatusOr<PngInfo> ReadPngInfo(const uint8_t* bytes, size_t size,
                                    absl::string_view source) {
  Decoded decoded;
  absl::Status status =
      DecodeToStruct(bytes, size, source, Want::kHeader, &decoded);
  if (!status.ok()) return status;
  return decoded.info;
}

absl::StatusOr<PngInfo> ReadPngFileInfo(const std::string& path) {
  absl::StatusOr<std::string> bytes = ReadFileToString(path);
  if (!bytes.ok()) return bytes.status();
  return ReadPngInfo(AsBytes(*bytes), bytes->size(), path);
}

absl::StatusOr<Image> DecodePng(const uint8_t* bytes, size_t size,
                                absl::string_view source, PngInfo* info) {
  Decoded decoded;
  absl::Status status =
      DecodeToStruct(bytes, size, source, Want::k8Bit, &decoded);
  if (!status.ok()) return status;
  if (info != nullptr) *info = decoded.info;
  Image image;
  image.height = decoded.info.height;
  image.width = decoded.info.width;
  image.channels = decoded.info.channels;
  image.data = std::move(decoded.samples8);
  return image;
}

absl::StatusOr<Image> ReadPngFile(const std::string& path, PngInfo* info) {
  absl::StatusOr<std::string> bytes = ReadFileToString(path);
  if (!bytes.ok()) return bytes.status();
  return DecodePng(AsBytes(*bytes), bytes->size(), path, info);
}

absl::StatusOr<Image16> DecodePng16(const uint8_t* bytes, size_t size,
                                    absl::string_view source, PngInfo* info) {
  Decoded decoded;
  absl::Status status =
      DecodeToStruct(bytes, size, source, Want::k16Bit, &decoded);
  if (!status.ok()) return status;
  if (info != nullptr) *info = decoded.info;
  Image16 image;
  image.height = decoded.info.height;
  image.width = decoded.info.width;
  image.channels = decoded.info.channels;
  if (decoded.info.bit_depth == 16) {
    image.data = std::move(decoded.samples16);
  } else {
    image.data.assign(decoded.samples8.begin(), decoded.samples8.end());
  }
  return image;
}

absl::StatusOr<Image16> ReadPng16File(const std::string& path, PngInfo* info) {
  absl::StatusOr<std::string> bytes = ReadFileToString(path);
  if (!bytes.ok()) return bytes.status();
  return DecodePng16(AsBytes(*bytes), bytes->size(), path, info);
}

absl::StatusOr<std::string> EncodePng(const Image& image) {
  const int color_type = ColorTypeForChannels(image.channels);
  if (color_type < 0 || image.data.size() != image.num_samples()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "EncodePng: bad image ", image.height, "x", image.width, "x",
        image.channels, " with ", image.data.size(), " bytes"));
  }
  EncodeRequest request;
  request.height = image.height;
  request.width = image.width;
  request.color_type = color_type;
  request.pixels = image.data.data();
  request.row_bytes = static_cast<size_t>(image.width) * image.channels;
  return Encode(request);
}

absl::StatusOr<std::string> EncodePng16(const Image16& image) {
  const int color_type = ColorTypeForChannels(image.channels);
  if (color_type < 0 || image.data.size() != static_cast<size_t>(image.height) *
                                                 image.width * image.channels) {
    return absl::InvalidArgumentError(absl::StrCat(
        "EncodePng16: bad image ", image.height, "x", image.width, "x",
        image.channels, " with ", image.data.size(), " samples"));
  }
  EncodeRequest request;
  request.height = image.height;
  request.width = image.width;
  request.bit_depth = 16;
  request.color_type = color_type;
  request.pixels = reinterpret_cast<const uint8_t*>(image.data.data());
  request.row_bytes = static_cast<size_t>(image.width) * image.channels * 2;
  return Encode(request);
}

absl::StatusOr<std::string> EncodePalettePng(const Image& indices,
                                             const PngPalette& palette) {
  if (indices.channels != 1 || indices.data.size() != indices.num_samples()) {
    return absl::InvalidArgumentError(
        "EncodePalettePng: indices must be a 1-channel image");
  }
  if (palette.empty() || palette.size() > 256) {
    return absl::InvalidArgumentError(absl::StrCat(
        "EncodePalettePng: palette has ", palette.size(), " entries (1..256)"));
  }
  for (uint8_t index : indices.data) {
    if (index >= palette.size()) {
      return absl::InvalidArgumentError(absl::StrCat("EncodePalettePng: index ",
                                                     index, " >= palette size ",
                                                     palette.size()));
    }
  }
  EncodeRequest request;
  request.height = indices.height;
  request.width = indices.width;
  request.color_type = PNG_COLOR_TYPE_PALETTE;
  request.pixels = indices.data.data();
  request.row_bytes = indices.width;
  request.palette = &palette;
  return Encode(request);
}

PngPalette DavisPalette() {
  // The PASCAL VOC colour map: bits of the index spread over the high bits
  // of R, G and B.
  PngPalette palette(256);
  for (int i = 0; i < 256; ++i) {
    int r = 0, g = 0, b = 0, c = i;
    for (int j = 0; j < 8; ++j) {
      r |= ((c >> 0) & 1) << (7 - j);
      g |= ((c >> 1) & 1) << (7 - j);
      b |= ((c >> 2) & 1) << (7 - j);
      c >>= 3;
    }
    palette[i] = {static_cast<uint8_t>(r), static_cast<uint8_t>(g),
                  static_cast<uint8_t>(b)};
  }
  return palette;
}

absl::Status WritePngFile(const std::string& path, const Image& image) {
  absl::StatusOr<std::string> encoded = EncodePng(image);
  if (!encoded.ok()) return PrefixPath(path, encoded.status());
  return WriteStringToFile(path, *encoded);
}

absl::Status WritePng16File(const std::string& path, const Image16& image) {
  absl::StatusOr<std::string> encoded = EncodePng16(image);
  if (!encoded.ok()) return PrefixPath(path, encoded.status());
  return WriteStringToFile(path, *encoded);
}

absl::Status WritePalettePngFile(const std::string& path, const Image& indices,
                                 const PngPalette& palette) {
  absl::StatusOr<std::string> encoded = EncodePalettePng(indices, palette);
  if (!encoded.ok()) return PrefixPath(path, encoded.status());
  return WriteStringToFile(path, *encoded);
}

}  // namespace sam2::data
