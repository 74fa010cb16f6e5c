// Small arithmetic helpers shared by the image kernel families (internal to
// //data/transforms:image_ops).
#ifndef SAM2_DATA_TRANSFORMS_PIXEL_MATH_H_
#define SAM2_DATA_TRANSFORMS_PIXEL_MATH_H_

#include <cmath>
#include <cstdint>
#include <cstring>

namespace sam2::data::ops::internal {

// Pillow's FLOOR / COORD macros (ImagingUtils.h, Geometry.c).
inline int PilFloor(double v) {
  return v < 0.0 ? static_cast<int>(std::floor(v)) : static_cast<int>(v);
}
inline int Clamp(int v, int lo, int hi) {
  return v < lo ? lo : v > hi ? hi : v;
}
inline uint8_t Clip8(int v) {
  return static_cast<uint8_t>(v < 0 ? 0 : v > 255 ? 255 : v);
}

// Stores the low three bytes of `packed` (an RGB pixel) at out. Where the
// byte after the pixel is still to be written (`room`: not the row's last
// pixel) one 4-byte store does it: a 3-byte memcpy compiles to a spill and
// two narrow stores, a store-forwarding stall per pixel in the hot loops.
inline void StoreRgb(uint8_t* out, int32_t packed, bool room) {
  if (room) {
    std::memcpy(out, &packed, 4);
  } else {
    std::memcpy(out, &packed, 3);
  }
}

}  // namespace sam2::data::ops::internal

#endif  // SAM2_DATA_TRANSFORMS_PIXEL_MATH_H_
