#include "sam2/training/runtime/preemption.h"

#include <gtest/gtest.h>
#include <signal.h>

namespace sam2::training {
namespace {

TEST(PreemptionTest, StopSignalsAreRecordedNotFatal) {
  InstallStopSignalHandlers();
  EXPECT_EQ(StopSignalReceived(), 0);
  raise(SIGUSR1);
  EXPECT_EQ(StopSignalReceived(), SIGUSR1);
  raise(SIGTERM);  // the first SIGTERM is a request too
  EXPECT_EQ(StopSignalReceived(), SIGTERM);
}

TEST(PreemptionTest, SlurmJobFromItsVariables) {
  const SlurmJob none = SlurmJobFromEnvironment({});
  EXPECT_FALSE(none.present);
  EXPECT_EQ(DescribeSlurmJob(none), "not under SLURM");
  EXPECT_FALSE(*RequeueSlurmJob(none));
  const SlurmJob job =
      SlurmJobFromEnvironment({{"SLURM_JOB_ID", "42"},
                               {"SLURM_JOB_NODELIST", "node[1-2]"},
                               {"SLURM_JOB_NUM_NODES", "2"},
                               {"SLURM_NTASKS", "16"},
                               {"SLURM_RESTART_COUNT", "3"}});
  EXPECT_EQ(DescribeSlurmJob(job),
            "SLURM job 42 (restart 3): 16 tasks on 2 nodes (node[1-2])");
  SlurmJob odd = job;
  odd.job_id = "42; rm -rf /";
  EXPECT_FALSE(RequeueSlurmJob(odd).ok());
}

}  // namespace
}  // namespace sam2::training
