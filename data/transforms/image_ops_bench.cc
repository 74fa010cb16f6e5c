// Per-kernel timings of the MOSE chain's pixel work on a 720p RGB frame
// (thread CPU milliseconds per call, best of --repeats), for A/B checks of
// kernel changes on a shared machine where whole-loader runs are noisy:
//   bazel run -c opt //data/transforms:image_ops_bench [-- --repeats=N]
#include <gflags/gflags.h>
#include <time.h>

#include <algorithm>
#include <cstdio>
#include <functional>
#include <limits>
#include <random>

#include "data/transforms/image_ops.h"

DEFINE_int32(repeats, 15, "Calls per kernel; the fastest is reported");
DEFINE_int32(height, 720, "Frame height");
DEFINE_int32(width, 1280, "Frame width");

namespace sam2::data::ops {
namespace {

double ThreadCpuMs() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec * 1e-6;
}

void Time(const char* name, const std::function<void()>& kernel) {
  double best = std::numeric_limits<double>::max();
  for (int i = 0; i < FLAGS_repeats; ++i) {
    const double start = ThreadCpuMs();
    kernel();
    best = std::min(best, ThreadCpuMs() - start);
  }
  std::printf("  %-28s %8.2f ms\n", name, best);
}

// Smooth content with noise (JPEG-like statistics are not needed: the
// kernels' cost does not depend on the values).
Image TestImage(int h, int w) {
  Image image(h, w, 3);
  std::mt19937 rng(5);
  std::uniform_int_distribution<int> noise(0, 40);
  for (int y = 0; y < h; ++y) {
    for (int x = 0; x < w; ++x) {
      for (int c = 0; c < 3; ++c) {
        image.at(y, x, c) =
            static_cast<uint8_t>((x * (c + 1) + y * 2) % 200 + noise(rng));
      }
    }
  }
  return image;
}

int Run() {
  const int h = FLAGS_height, w = FLAGS_width;
  const Image frame = TestImage(h, w);
  Mask mask(h, w);
  for (int y = h / 4; y < 3 * h / 4; ++y) {
    for (int x = w / 3; x < 2 * w / 3; ++x) mask.at(y, x) = 1;
  }
  // A MOSE-like draw: 20 degrees, shear 12 degrees.
  const AffineMatrix m =
      InverseAffineMatrix(w * 0.5, h * 0.5, 20.0, 0, 0, 1.0, 12.0, 0.0);
  std::printf("%dx%d frame, CPU ms per call (best of %d):\n", h, w,
              FLAGS_repeats);
  Time("AffineImage bilinear", [&] {
    AffineImage(frame, m, Interpolation::kBilinear, {124, 116, 104});
  });
  Time("AffineImage bilinear mirror", [&] {
    AffineImage(frame, m, Interpolation::kBilinear, {124, 116, 104}, true);
  });
  Time("AffineMasks x3", [&] { AffineMasks({&mask, &mask, &mask}, m); });
  Time("ResizeImage to 1024x1024", [&] { ResizeImage(frame, 1024, 1024); });
  Time("ResizeImage rows only", [&] { ResizeImage(frame, 1024, w); });
  Time("ResizeMask to 1024x1024", [&] { ResizeMask(mask, 1024, 1024); });
  const Image big = ResizeImage(frame, 1024, 1024);
  const Lut lut = ComposeLuts(BrightnessLut(1.07f), ContrastLut(100, 0.97f));
  Time("LumaMeanAfterLut 1024", [&] { LumaMeanAfterLut(big, lut); });
  Image work = big;
  Time("AdjustSaturation 1024 (table)",
       [&] { AdjustSaturation(work, lut, 1.02f); });
  Time("AdjustSaturation 1024 (none)",
       [&] { AdjustSaturation(work, IdentityLut(), 0.98f); });
  return 0;
}

}  // namespace
}  // namespace sam2::data::ops

int main(int argc, char** argv) {
  gflags::ParseCommandLineFlags(&argc, &argv, true);
  return sam2::data::ops::Run();
}
