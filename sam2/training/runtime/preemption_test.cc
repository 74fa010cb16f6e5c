#include "sam2/training/runtime/preemption.h"

#include <gtest/gtest.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <thread>

namespace sam2::training {
namespace {

// Waits up to 10 s for the watcher thread to record `signal`.
bool Received(int signal) {
  for (int i = 0; i < 1000 && StopSignalReceived() != signal; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return StopSignalReceived() == signal;
}

TEST(PreemptionTest, StopSignalsAreRecordedNotFatal) {
  InstallStopSignalHandlers();
  InstallStopSignalHandlers();  // idempotent
  EXPECT_EQ(StopSignalReceived(), 0);
  // This thread (and threads it starts) never takes them.
  sigset_t blocked;
  pthread_sigmask(SIG_BLOCK, nullptr, &blocked);
  EXPECT_TRUE(sigismember(&blocked, SIGUSR1));
  EXPECT_TRUE(sigismember(&blocked, SIGTERM));
  std::thread([] {
    sigset_t inherited;
    pthread_sigmask(SIG_BLOCK, nullptr, &inherited);
    EXPECT_TRUE(sigismember(&inherited, SIGUSR1));
  }).join();
  // Sent to the process, as SLURM and mpirun send them.
  kill(getpid(), SIGUSR1);
  EXPECT_TRUE(Received(SIGUSR1));
  kill(getpid(), SIGTERM);  // the first SIGTERM is a request too
  EXPECT_TRUE(Received(SIGTERM));
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
