// Plain pixel buffers shared by the codecs and the raw datasets. No LibTorch
// here on purpose: data/codecs builds in seconds and the conversion to
// at::Tensor lives in :tensor_convert (a separate target).
#ifndef SAM2_DATA_CODECS_IMAGE_H_
#define SAM2_DATA_CODECS_IMAGE_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>
#include <type_traits>
#include <utility>
#include <vector>

namespace sam2::data {

struct ImageSize {
  int height = 0;
  int width = 0;
  bool operator==(const ImageSize& o) const {
    return height == o.height && width == o.width;
  }
  bool operator!=(const ImageSize& o) const { return !(*this == o); }
};

// std::allocator whose value-less construct() default-initialises: a
// vector's resize(n) then leaves bytes as they are instead of zeroing them,
// for pixel buffers a kernel overwrites entirely (a 1024px RGB frame is 3 MB
// of memset otherwise). Explicit values (vector(n, 0), assign) still write.
template <typename T>
struct DefaultInitAllocator : std::allocator<T> {
  template <typename U>
  struct rebind {
    using other = DefaultInitAllocator<U>;
  };
  DefaultInitAllocator() = default;
  template <typename U>
  DefaultInitAllocator(const DefaultInitAllocator<U>&) noexcept {}
  template <typename U>
  void construct(U* p) noexcept(std::is_nothrow_default_constructible_v<U>) {
    ::new (static_cast<void*>(p)) U;
  }
  template <typename U, typename... Args>
  void construct(U* p, Args&&... args) {
    ::new (static_cast<void*>(p)) U(std::forward<Args>(args)...);
  }
};
using PixelBuffer = std::vector<uint8_t, DefaultInitAllocator<uint8_t>>;

// An 8-bit image, interleaved channels, rows top to bottom: sample (y, x, c)
// is data[(y * width + x) * channels + c] ("HWC", the layout of an
// at::Tensor uint8 [H, W, C]). channels: 1 gray (or palette indices),
// 2 gray+alpha, 3 RGB, 4 RGBA.
struct Image {
  int height = 0;
  int width = 0;
  int channels = 0;
  PixelBuffer data;

  Image() = default;
  // All samples 0.
  Image(int h, int w, int c)
      : height(h),
        width(w),
        channels(c),
        data(static_cast<size_t>(h) * w * c, 0) {}
  // Samples left unset: for outputs that are written entirely.
  static Image Uninitialized(int h, int w, int c) {
    Image image;
    image.height = h;
    image.width = w;
    image.channels = c;
    image.data.resize(static_cast<size_t>(h) * w * c);
    return image;
  }
  ImageSize size() const { return {height, width}; }
  size_t num_samples() const {
    return static_cast<size_t>(height) * width * channels;
  }
  uint8_t& at(int y, int x, int c = 0) {
    return data[(static_cast<size_t>(y) * width + x) * channels + c];
  }
  uint8_t at(int y, int x, int c = 0) const {
    return data[(static_cast<size_t>(y) * width + x) * channels + c];
  }
};

// A 16-bit image with the same layout as Image (samples in native byte order).
struct Image16 {
  int height = 0;
  int width = 0;
  int channels = 0;
  std::vector<uint16_t> data;

  Image16() = default;
  Image16(int h, int w, int c)
      : height(h),
        width(w),
        channels(c),
        data(static_cast<size_t>(h) * w * c) {}
  ImageSize size() const { return {height, width}; }
  uint16_t& at(int y, int x, int c = 0) {
    return data[(static_cast<size_t>(y) * width + x) * channels + c];
  }
  uint16_t at(int y, int x, int c = 0) const {
    return data[(static_cast<size_t>(y) * width + x) * channels + c];
  }
};

// A binary mask, row-major, one byte per pixel holding 0 or 1 (an
// at::Tensor uint8 [H, W] once converted).
struct Mask {
  int height = 0;
  int width = 0;
  std::vector<uint8_t> data;

  Mask() = default;
  Mask(int h, int w)
      : height(h), width(w), data(static_cast<size_t>(h) * w, 0) {}
  ImageSize size() const { return {height, width}; }
  uint8_t& at(int y, int x) { return data[static_cast<size_t>(y) * width + x]; }
  uint8_t at(int y, int x) const {
    return data[static_cast<size_t>(y) * width + x];
  }
  // Number of set pixels.
  int64_t Area() const;
};

inline int64_t Mask::Area() const {
  int64_t area = 0;
  for (uint8_t v : data) area += (v != 0);
  return area;
}

}  // namespace sam2::data

#endif  // SAM2_DATA_CODECS_IMAGE_H_
