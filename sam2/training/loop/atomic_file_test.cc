#include "sam2/training/loop/atomic_file.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "base/testing/temp_dir.h"

namespace sam2::training {
namespace {

std::string Read(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string TempDir() { return ::sam2::testutil::TestTmpRoot(); }

TEST(AtomicFileTest, WritesAndReplaces) {
  const std::string path = TempDir() + "/sub/dir/file.txt";
  ASSERT_TRUE(WriteStringAtomically(path, "first").ok());
  EXPECT_EQ(Read(path), "first");
  ASSERT_TRUE(WriteStringAtomically(path, "second").ok());
  EXPECT_EQ(Read(path), "second");
}

TEST(AtomicFileTest, FailedWriteKeepsPreviousVersion) {
  const std::string path = TempDir() + "/keep.txt";
  ASSERT_TRUE(WriteStringAtomically(path, "good").ok());
  absl::Status status = WriteFileAtomically(path, [](const std::string& temp) {
    std::ofstream(temp) << "half-writ";
    return absl::DataLossError("disk full");
  });
  EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(Read(path), "good");
  // No temporary file is left behind.
  int entries = 0;
  for (const auto& e : std::filesystem::directory_iterator(TempDir())) {
    if (e.path().filename().string().rfind("keep.txt.tmp", 0) == 0) ++entries;
  }
  EXPECT_EQ(entries, 0);
}

// A process killed in the middle of writing (SIGKILL, as a preempted job)
// leaves the previous file intact.
TEST(AtomicFileTest, KilledWriterLeavesPreviousVersion) {
  const std::string path = TempDir() + "/killed.txt";
  ASSERT_TRUE(WriteStringAtomically(path, "previous").ok());
  int ready[2];
  ASSERT_EQ(pipe(ready), 0);
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    (void)WriteFileAtomically(path, [&](const std::string& temp) {
      std::ofstream out(temp);
      out << std::string(1 << 20, 'x');
      out.flush();
      const char byte = 1;
      (void)!write(ready[1], &byte, 1);
      pause();  // killed here, mid-write
      return absl::OkStatus();
    });
    _exit(0);
  }
  char byte;
  ASSERT_EQ(read(ready[0], &byte, 1), 1);
  kill(child, SIGKILL);
  int wstatus = 0;
  waitpid(child, &wstatus, 0);
  EXPECT_TRUE(WIFSIGNALED(wstatus));
  EXPECT_EQ(Read(path), "previous");
}

}  // namespace
}  // namespace sam2::training
