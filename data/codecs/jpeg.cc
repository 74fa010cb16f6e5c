#include "data/codecs/jpeg.h"

#include <turbojpeg.h>

#include <memory>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "data/codecs/file_io.h"

namespace sam2::data {
namespace {

struct TjDeleter {
  void operator()(void* handle) const {
    if (handle != nullptr) tjDestroy(handle);
  }
};
using TjHandle = std::unique_ptr<void, TjDeleter>;

absl::Status TjError(void* handle, absl::string_view source,
                     absl::string_view what) {
  return absl::DataLossError(
      absl::StrCat(source, ": ", what, ": ", tjGetErrorStr2(handle)));
}

struct JpegHeader {
  ImageSize size;
  int subsampling = 0;
  int colorspace = 0;
};

absl::StatusOr<JpegHeader> DecompressHeader(void* handle, const uint8_t* bytes,
                                            size_t size,
                                            absl::string_view source) {
  if (size == 0) {
    return absl::DataLossError(absl::StrCat(source, ": empty JPEG data"));
  }
  JpegHeader header;
  if (tjDecompressHeader3(handle, bytes, static_cast<unsigned long>(size),
                          &header.size.width, &header.size.height,
                          &header.subsampling, &header.colorspace) != 0) {
    return TjError(handle, source, "not a valid JPEG header");
  }
  if (header.size.width <= 0 || header.size.height <= 0) {
    return absl::DataLossError(absl::StrCat(source, ": JPEG has no pixels"));
  }
  return header;
}

// Scaled dimension as libjpeg computes it (TJSCALED: ceil(dim * num / denom)).
int Scaled(int dim, JpegScale scale) {
  return (dim * scale.num + scale.denom - 1) / scale.denom;
}

bool IsSupportedScale(JpegScale scale) {
  int count = 0;
  const tjscalingfactor* factors = tjGetScalingFactors(&count);
  if (factors == nullptr) return false;
  for (int i = 0; i < count; ++i) {
    // Factors are stored reduced (1/2, not 4/8).
    if (factors[i].num == scale.num && factors[i].denom == scale.denom) {
      return true;
    }
  }
  return false;
}

absl::StatusOr<Image> Decode(const uint8_t* bytes, size_t size,
                             const ImageSize* min_size,
                             absl::string_view source) {
  TjHandle handle(tjInitDecompress());
  if (handle == nullptr) {
    return absl::InternalError(
        absl::StrCat(source, ": tjInitDecompress failed"));
  }
  absl::StatusOr<JpegHeader> header =
      DecompressHeader(handle.get(), bytes, size, source);
  if (!header.ok()) return header.status();

  JpegScale scale;
  if (min_size != nullptr) scale = ChooseJpegScale(header->size, *min_size);
  // Not zeroed: a successful decode writes every pixel.
  Image image = Image::Uninitialized(Scaled(header->size.height, scale),
                                     Scaled(header->size.width, scale), 3);
  // Warnings (e.g. premature end of data) are errors: a truncated file would
  // otherwise decode to a grey bottom half silently.
  const int flags = TJFLAG_STOPONWARNING;
  if (tjDecompress2(handle.get(), bytes, static_cast<unsigned long>(size),
                    image.data.data(), image.width, /*pitch=*/0, image.height,
                    TJPF_RGB, flags) != 0) {
    return TjError(handle.get(), source, "corrupt or truncated JPEG");
  }
  return image;
}

const uint8_t* AsBytes(const std::string& s) {
  return reinterpret_cast<const uint8_t*>(s.data());
}

}  // namespace

JpegScale ChooseJpegScale(ImageSize source_size, ImageSize min_size) {
  JpegScale best;  // 1/1
  for (int denom : {2, 4, 8}) {
    const JpegScale candidate{1, denom};
    const bool wide_enough =
        min_size.width <= 0 ||
        Scaled(source_size.width, candidate) >= min_size.width;
    const bool tall_enough =
        min_size.height <= 0 ||
        Scaled(source_size.height, candidate) >= min_size.height;
    if (!wide_enough || !tall_enough) break;  // smaller scales fail too
    if (!IsSupportedScale(candidate)) break;
    best = candidate;
  }
  return best;
}

absl::StatusOr<ImageSize> ReadJpegSize(const uint8_t* bytes, size_t size,
                                       absl::string_view source) {
  TjHandle handle(tjInitDecompress());
  if (handle == nullptr) {
    return absl::InternalError(
        absl::StrCat(source, ": tjInitDecompress failed"));
  }
  absl::StatusOr<JpegHeader> header =
      DecompressHeader(handle.get(), bytes, size, source);
  if (!header.ok()) return header.status();
  return header->size;
}

absl::StatusOr<ImageSize> ReadJpegFileSize(const std::string& path) {
  // The header sits in the first few KiB, but SOF can follow large EXIF/ICC
  // segments, so read the whole file rather than guess a prefix length.
  absl::StatusOr<std::string> bytes = ReadFileToString(path);
  if (!bytes.ok()) return bytes.status();
  return ReadJpegSize(AsBytes(*bytes), bytes->size(), path);
}

absl::StatusOr<Image> DecodeJpeg(const uint8_t* bytes, size_t size,
                                 absl::string_view source) {
  return Decode(bytes, size, nullptr, source);
}

absl::StatusOr<Image> ReadJpegFile(const std::string& path) {
  absl::StatusOr<std::string> bytes = ReadFileToString(path);
  if (!bytes.ok()) return bytes.status();
  return DecodeJpeg(AsBytes(*bytes), bytes->size(), path);
}

absl::StatusOr<Image> DecodeJpegAtLeast(const uint8_t* bytes, size_t size,
                                        ImageSize min_size,
                                        absl::string_view source) {
  return Decode(bytes, size, &min_size, source);
}

absl::StatusOr<Image> ReadJpegFileAtLeast(const std::string& path,
                                          ImageSize min_size) {
  absl::StatusOr<std::string> bytes = ReadFileToString(path);
  if (!bytes.ok()) return bytes.status();
  return DecodeJpegAtLeast(AsBytes(*bytes), bytes->size(), min_size, path);
}

absl::StatusOr<std::string> EncodeJpeg(const Image& image, int quality) {
  if (image.channels != 1 && image.channels != 3) {
    return absl::InvalidArgumentError(
        absl::StrCat("EncodeJpeg: need 1 or 3 channels, got ", image.channels));
  }
  if (image.height <= 0 || image.width <= 0 ||
      image.data.size() != image.num_samples()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "EncodeJpeg: bad image ", image.height, "x", image.width, "x",
        image.channels, " with ", image.data.size(), " bytes"));
  }
  if (quality < 1 || quality > 100) {
    return absl::InvalidArgumentError(
        absl::StrCat("EncodeJpeg: quality ", quality, " not in [1, 100]"));
  }
  TjHandle handle(tjInitCompress());
  if (handle == nullptr) return absl::InternalError("tjInitCompress failed");
  unsigned char* out = nullptr;
  unsigned long out_size = 0;
  const bool gray = image.channels == 1;
  const int rc = tjCompress2(
      handle.get(), image.data.data(), image.width,
      /*pitch=*/0, image.height, gray ? TJPF_GRAY : TJPF_RGB, &out, &out_size,
      gray ? TJSAMP_GRAY : TJSAMP_420, quality, TJFLAG_ACCURATEDCT);
  if (rc != 0) {
    const std::string error = tjGetErrorStr2(handle.get());
    tjFree(out);
    return absl::InternalError(absl::StrCat("EncodeJpeg: ", error));
  }
  std::string encoded(reinterpret_cast<const char*>(out), out_size);
  tjFree(out);
  return encoded;
}

absl::Status WriteJpegFile(const std::string& path, const Image& image,
                           int quality) {
  absl::StatusOr<std::string> encoded = EncodeJpeg(image, quality);
  if (!encoded.ok()) {
    return absl::Status(encoded.status().code(),
                        absl::StrCat(path, ": ", encoded.status().message()));
  }
  return WriteStringToFile(path, *encoded);
}

}  // namespace sam2::data
