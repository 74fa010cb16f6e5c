#include "sam2/training/launch_check.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace sam2::training {
namespace {

using ::testing::HasSubstr;

config::Experiment Recipe(int nodes, int gpus, int accumulation) {
  config::Experiment e;
  e.mutable_launcher()->set_num_nodes(nodes);
  e.mutable_launcher()->set_gpus_per_node(gpus);
  e.mutable_optim()->set_gradient_accumulation_steps(accumulation);
  return e;
}

TEST(LaunchCheckTest, TheConfiguredWorldPasses) {
  EXPECT_TRUE(
      CheckWorldMatchesLauncher(Recipe(1, 1, 1), {1, 1, false}, {}).ok());
  EXPECT_TRUE(
      CheckWorldMatchesLauncher(Recipe(2, 4, 1), {8, 2, true}, {}).ok());
}

TEST(LaunchCheckTest, ALoneProcessForEightGpusGetsTheCommand) {
  const absl::Status s = CheckWorldMatchesLauncher(
      Recipe(1, 8, 1), {1, 1, false},
      {"/bin/train", "--config=mose", "--set=trainer { max_epochs: 2 }"});
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(s.message(), HasSubstr("= 8 ranks"));
  EXPECT_THAT(s.message(), HasSubstr("mpirun -np 8 /bin/train --config=mose "
                                     "'--set=trainer { max_epochs: 2 }'"));
  EXPECT_THAT(s.message(), HasSubstr("srun --mpi=pmix --nodes=1 "
                                     "--ntasks-per-node=8"));
  EXPECT_THAT(s.message(), HasSubstr("gradient_accumulation_steps: 8 }"));
}

TEST(LaunchCheckTest, AnotherRunningWorldIsNamedWithTheAccumulationToKeep) {
  const absl::Status s =
      CheckWorldMatchesLauncher(Recipe(1, 8, 1), {2, 1, true}, {});
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(s.message(), HasSubstr("but 2 ranks on 1 node are running"));
  EXPECT_THAT(s.message(), HasSubstr("gpus_per_node: 2"));
  EXPECT_THAT(s.message(), HasSubstr("gradient_accumulation_steps: 4"));
  const absl::Status odd =
      CheckWorldMatchesLauncher(Recipe(1, 8, 1), {3, 1, true}, {});
  EXPECT_THAT(odd.message(), HasSubstr("do not divide over 3 ranks"));
  // Nodes count too.
  EXPECT_FALSE(
      CheckWorldMatchesLauncher(Recipe(1, 8, 1), {8, 2, true}, {}).ok());
}

TEST(LaunchCheckTest, ShellQuoting) {
  EXPECT_EQ(ShellQuote({"a", "b c", "it's", "--x=1"}),
            "a 'b c' 'it'\\''s' --x=1");
}

}  // namespace
}  // namespace sam2::training
