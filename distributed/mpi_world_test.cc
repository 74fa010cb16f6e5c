// The launcher detection and cross-checks, without starting MPI (the ranks
// themselves are tested by mpi_world_ranks_test.sh under mpirun).
#include "distributed/mpi_world.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace sam2::distributed {
namespace {

using ::testing::HasSubstr;

TEST(MpiWorldTest, NoLauncherMeansOneProcessWithoutMpi) {
  EXPECT_FALSE(
      StartedByMpiLauncher({{"HOME", "/root"}, {"SLURM_PROCID", "0"}}));
  EXPECT_TRUE(StartedByMpiLauncher({{"OMPI_COMM_WORLD_SIZE", "2"}}));
  EXPECT_TRUE(StartedByMpiLauncher({{"PMIX_RANK", "1"}}));
  // The test itself runs without a launcher: world 1, MPI never initialised.
  absl::StatusOr<std::unique_ptr<Collectives>> world = InitWorld();
  ASSERT_TRUE(world.ok()) << world.status();
  EXPECT_EQ((*world)->world_size(), 1);
  EXPECT_EQ((*world)->rank(), 0);
}

TEST(MpiWorldTest, LauncherVariablesOfOpenMpiThenSlurm) {
  LauncherRanks ompi =
      LauncherRanksFromEnvironment({{"OMPI_COMM_WORLD_RANK", "3"},
                                    {"OMPI_COMM_WORLD_SIZE", "8"},
                                    {"OMPI_COMM_WORLD_LOCAL_RANK", "1"},
                                    {"SLURM_PROCID", "5"}});
  EXPECT_EQ(ompi.rank, 3);
  EXPECT_EQ(ompi.size, 8);
  EXPECT_EQ(ompi.local_rank, 1);
  LauncherRanks slurm = LauncherRanksFromEnvironment(
      {{"SLURM_PROCID", "5"}, {"SLURM_NTASKS", "16"}, {"SLURM_LOCALID", "2"}});
  EXPECT_EQ(slurm.rank, 5);
  EXPECT_EQ(slurm.size, 16);
  EXPECT_EQ(slurm.local_rank, 2);
  LauncherRanks none = LauncherRanksFromEnvironment({});
  EXPECT_EQ(none.rank, -1);
}

TEST(MpiWorldTest, DisagreementWithTheLauncherIsAnError) {
  EXPECT_TRUE(CheckAgainstLauncher(1, 2, 1, {1, 2, 1}).ok());
  EXPECT_TRUE(CheckAgainstLauncher(1, 2, 1, {-1, -1, -1}).ok());
  absl::Status s = CheckAgainstLauncher(0, 1, 0, {3, 8, 1});
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()),
              HasSubstr("MPI says rank 0 of 1 (local rank 0) but the "
                        "launcher's environment says rank 3 of 8"));
}

}  // namespace
}  // namespace sam2::distributed
