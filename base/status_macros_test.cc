#include "base/status_macros.h"

#include <gtest/gtest.h>

#include <string>

namespace sam2::base {
namespace {

absl::Status Fails() { return absl::NotFoundError("no such file"); }
absl::StatusOr<int> Seven() { return 7; }
absl::StatusOr<int> Missing() { return absl::DataLossError("truncated"); }

absl::Status ReturnIfError(bool fail, int* reached) {
  SAM2_RETURN_IF_ERROR(fail ? Fails() : absl::OkStatus());
  *reached = 1;
  return absl::OkStatus();
}

absl::Status ReturnIfErrorContext() {
  SAM2_RETURN_IF_ERROR_CONTEXT(Fails(), "checkpoints/", "checkpoint.pt");
  return absl::OkStatus();
}

absl::StatusOr<int> AssignTwice() {
  SAM2_ASSIGN_OR_RETURN(int a, Seven());
  SAM2_ASSIGN_OR_RETURN(const int b, Seven());  // two on one scope
  return a + b;
}

absl::StatusOr<int> AssignContext(int* reached) {
  int value = 0;
  SAM2_ASSIGN_OR_RETURN_CONTEXT(value, Missing(), "step ", 12);
  *reached = 1;
  return value;
}

TEST(StatusMacrosTest, ReturnIfErrorPassesOkAndReturnsErrors) {
  int reached = 0;
  EXPECT_TRUE(ReturnIfError(false, &reached).ok());
  EXPECT_EQ(reached, 1);
  reached = 0;
  absl::Status s = ReturnIfError(true, &reached);
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(s.message(), "no such file");
  EXPECT_EQ(reached, 0);
}

TEST(StatusMacrosTest, ContextPrefixesTheMessageAndKeepsTheCode) {
  absl::Status s = ReturnIfErrorContext();
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(s.message(), "checkpoints/checkpoint.pt: no such file");
}

TEST(StatusMacrosTest, AssignOrReturn) {
  absl::StatusOr<int> sum = AssignTwice();
  ASSERT_TRUE(sum.ok());
  EXPECT_EQ(*sum, 14);
  int reached = 0;
  absl::StatusOr<int> failed = AssignContext(&reached);
  EXPECT_EQ(reached, 0);
  EXPECT_EQ(failed.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(failed.status().message(), "step 12: truncated");
}

TEST(StatusMacrosTest, AnnotateKeepsOkAndTheCode) {
  EXPECT_TRUE(Annotate(absl::OkStatus(), "ctx").ok());
  const absl::Status a =
      Annotate(absl::AbortedError("peer gone"), "all-reduce #4");
  EXPECT_EQ(a.code(), absl::StatusCode::kAborted);
  EXPECT_EQ(a.message(), "all-reduce #4: peer gone");
  EXPECT_EQ(Annotate(absl::AbortedError("peer gone"), "").message(),
            "peer gone");
}

}  // namespace
}  // namespace sam2::base
