#include "sam2/training/logging/run_log.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "base/testing/temp_dir.h"

namespace sam2::training {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

using ::sam2::testutil::FreshTempDir;

std::string Read(const std::string& path) {
  return ::sam2::testutil::ReadFileOrFail(path);
}

TEST(RunLogTest, RankZeroWritesLogAndStats) {
  const std::string dir = FreshTempDir("run0") + "/logs";
  {
    auto log = RunLog::Open(dir, 0);
    ASSERT_TRUE(log.ok()) << log.status();
    (*log)->Info("Train Epoch: [0] step 1");
    (*log)->Warning("skipped sample video_3");
    ASSERT_TRUE((*log)
                    ->AppendStats(
                        "train_stats.json",
                        {{"Losses/train_all_loss", 0.5}, {"Trainer/epoch", 1}})
                    .ok());
    ASSERT_TRUE((*log)->AppendStats("train_stats.json", {{"loss", NAN}}).ok());
  }
  const std::string text = Read(dir + "/log.txt");
  EXPECT_THAT(text, HasSubstr("INFO "));
  EXPECT_THAT(text, HasSubstr("Train Epoch: [0] step 1\n"));
  EXPECT_THAT(text, HasSubstr("WARNING "));
  EXPECT_EQ(Read(dir + "/train_stats.json"),
            "{\"Losses/train_all_loss\": 0.5, \"Trainer/epoch\": 1}\n"
            "{\"loss\": \"nan\"}\n");
}

TEST(RunLogTest, OtherRanksLogOnlyProblems) {
  const std::string dir = FreshTempDir("run1") + "/logs";
  {
    auto log = RunLog::Open(dir, 3);
    ASSERT_TRUE(log.ok());
    (*log)->Info("not written");
    (*log)->Error("bad batch");
    ASSERT_TRUE((*log)->AppendStats("train_stats.json", {{"a", 1}}).ok());
  }
  const std::string text = Read(dir + "/log_rank3.txt");
  EXPECT_THAT(text, Not(HasSubstr("not written")));
  EXPECT_THAT(text, HasSubstr("rank 3 bad batch"));
  EXPECT_FALSE(std::ifstream(dir + "/train_stats.json").good());
}

TEST(RunLogTest, UnwritableDirectoryIsAnError) {
  auto log = RunLog::Open("/proc/no/such/dir", 0);
  EXPECT_FALSE(log.ok());
}

TEST(RunLogTest, LastStatsValueReadsTheLastLine) {
  const std::string dir = FreshTempDir("run2") + "/logs";
  auto log = RunLog::Open(dir, 0);
  ASSERT_TRUE(log.ok());
  EXPECT_FALSE((*log)->LastStatsValue("val_stats.json", "Trainer/epoch"));
  ASSERT_TRUE(
      (*log)->AppendStats("val_stats.json", {{"Trainer/epoch", 0}}).ok());
  ASSERT_TRUE((*log)
                  ->AppendStats("val_stats.json",
                                {{"Losses/val", 2.5}, {"Trainer/epoch", 3}})
                  .ok());
  EXPECT_EQ((*log)->LastStatsValue("val_stats.json", "Trainer/epoch"), 3.0);
  EXPECT_EQ((*log)->LastStatsValue("val_stats.json", "Losses/val"), 2.5);
  EXPECT_FALSE((*log)->LastStatsValue("val_stats.json", "Trainer/step"));
  auto no_dir = RunLog::Open("", 0);
  ASSERT_TRUE(no_dir.ok());
  EXPECT_FALSE((*no_dir)->LastStatsValue("val_stats.json", "Trainer/epoch"));
}

}  // namespace
}  // namespace sam2::training
