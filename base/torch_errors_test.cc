#include "base/torch_errors.h"

#include <ATen/ATen.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <stdexcept>
#include <string>

namespace sam2::base {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

TEST(TorchErrorsTest, ShapeMismatchBecomesAStatusWithContext) {
  absl::StatusOr<at::Tensor> r = CallCatchingTorchErrors("step 3", [] {
    return at::matmul(at::ones({2, 3}), at::ones({4, 5}));
  });
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInternal);
  const std::string message(r.status().message());
  EXPECT_THAT(message, ::testing::StartsWith("step 3: "));
  EXPECT_THAT(message, HasSubstr("cannot be multiplied"));
  // The C++ backtrace LibTorch attaches to what() is not shown to users.
  EXPECT_THAT(message, Not(HasSubstr("frame #")));
}

TEST(TorchErrorsTest, IndexErrorIsInvalidArgument) {
  absl::Status s = CallCatchingTorchErrors(
      "select", [] { (void)at::ones({2}).select(0, 5); });
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()), HasSubstr("select: "));
}

TEST(TorchErrorsTest, BadAllocIsResourceExhausted) {
  absl::Status s = CallCatchingTorchErrors(
      "load", []() -> absl::Status { throw std::bad_alloc(); });
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(std::string(s.message()), HasSubstr("load: out of memory"));
}

TEST(TorchErrorsTest, ValuesAndStatusesPassThrough) {
  absl::StatusOr<int> v = CallCatchingTorchErrors("x", [] { return 4; });
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(*v, 4);
  absl::StatusOr<int> e = CallCatchingTorchErrors(
      "x", []() -> absl::StatusOr<int> { return absl::NotFoundError("gone"); });
  EXPECT_EQ(e.status().message(), "gone");  // a returned error keeps its text
  absl::Status other = CallCatchingTorchErrors(
      "parse", []() -> absl::Status { throw std::runtime_error("bad"); });
  EXPECT_EQ(other.code(), absl::StatusCode::kInternal);
  EXPECT_EQ(other.message(), "parse: bad");
  absl::Status unknown =
      CallCatchingTorchErrors("y", []() -> absl::Status { throw 5; });
  EXPECT_THAT(std::string(unknown.message()), HasSubstr("unknown exception"));
}

}  // namespace
}  // namespace sam2::base
