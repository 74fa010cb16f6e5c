#include "configs/choices.h"

#include <gtest/gtest.h>

#include <set>
#include <string>

namespace sam2::config {
namespace {

// Every name parses to its value and back, names are unique, and an unknown
// name's error lists all the allowed ones.
template <typename E>
void ExpectRoundTripsAndRejectsUnknown(const std::string& unknown) {
  std::set<std::string_view> names;
  ASSERT_FALSE(Choices<E>().empty());
  for (const Choice<E>& choice : Choices<E>()) {
    EXPECT_TRUE(names.insert(choice.name).second) << choice.name;
    absl::StatusOr<E> parsed = ParseChoice<E>(choice.name);
    ASSERT_TRUE(parsed.ok()) << parsed.status();
    EXPECT_EQ(*parsed, choice.value) << choice.name;
    EXPECT_EQ(NameOf(*parsed), choice.name);
  }
  absl::StatusOr<E> bad = ParseChoice<E>(unknown);
  ASSERT_FALSE(bad.ok()) << unknown;
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  const std::string message(bad.status().message());
  EXPECT_NE(message.find("\"" + unknown + "\""), std::string::npos) << message;
  for (std::string_view name : names) {
    EXPECT_NE(message.find(std::string(name)), std::string::npos)
        << message << " does not list " << name;
  }
}

TEST(ChoicesTest, EveryEnumRoundTripsAndRejectsUnknownNames) {
  ExpectRoundTripsAndRejectsUnknown<TrainerMode>("training");
  ExpectRoundTripsAndRejectsUnknown<Accelerator>("tpu");
  ExpectRoundTripsAndRejectsUnknown<AmpDtype>("fp8");
  ExpectRoundTripsAndRejectsUnknown<Optimizer>("SGD");
  ExpectRoundTripsAndRejectsUnknown<IntervalScaling>("scaled");
  ExpectRoundTripsAndRejectsUnknown<DistributedBackend>("ucc");
  ExpectRoundTripsAndRejectsUnknown<FpnInterpMode>("area");
  ExpectRoundTripsAndRejectsUnknown<FpnFuseType>("max");
  ExpectRoundTripsAndRejectsUnknown<Activation>("tanh");
  ExpectRoundTripsAndRejectsUnknown<PointSampling>("centre");
  ExpectRoundTripsAndRejectsUnknown<ImageInterpolation>("nearest");
}

TEST(ChoicesTest, SpellingsAreTheReferences) {
  EXPECT_EQ(NameOf(TrainerMode::kTrainOnly), "train_only");
  EXPECT_EQ(NameOf(AmpDtype::kBfloat16), "bfloat16");
  EXPECT_EQ(NameOf(Optimizer::kAdamW), "AdamW");
  EXPECT_EQ(NameOf(FpnInterpMode::kNearestExact), "nearest-exact");
  EXPECT_EQ(*ParseChoice<ImageInterpolation>("bilinear"),
            ImageInterpolation::kBilinear);
  EXPECT_EQ(AllowedNames<Accelerator>(), "cuda, cpu");
}

TEST(ChoicesTest, MatchingIsCaseSensitiveAsInTheReference) {
  EXPECT_FALSE(ParseChoice<Optimizer>("adamw").ok());
  EXPECT_FALSE(ParseChoice<Accelerator>("CUDA").ok());
  EXPECT_FALSE(ParseChoice<TrainerMode>("").ok());
}

}  // namespace
}  // namespace sam2::config
