#include "configs/cli.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

namespace sam2::config {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

absl::StatusOr<CommandLine> Parse(std::vector<std::string> args) {
  args.insert(args.begin(), "prog");
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  return ParseCommandLine(static_cast<int>(argv.size()), argv.data(),
                          {{"benchmark_steps", "N", "steps to time", "0"},
                           {"resume", "", "resume", ""}});
}

TEST(CliTest, ParsesCommonAndJobFlags) {
  absl::StatusOr<CommandLine> cl =
      Parse({"--config=mose", "--set=a { }", "--set", "b { }",
             "--benchmark_steps=5", "--resume", "--print_config"});
  ASSERT_TRUE(cl.ok()) << cl.status();
  EXPECT_EQ(cl->config, "mose");
  EXPECT_THAT(cl->sets, ElementsAre("a { }", "b { }"));
  EXPECT_EQ(*cl->GetInt("benchmark_steps"), 5);
  EXPECT_EQ(cl->Get("resume"), "true");
  EXPECT_TRUE(cl->print_config);
  EXPECT_FALSE(cl->help);
}

TEST(CliTest, DefaultsApply) {
  absl::StatusOr<CommandLine> cl = Parse({"--config=demo"});
  ASSERT_TRUE(cl.ok());
  EXPECT_EQ(*cl->GetInt("benchmark_steps"), 0);
  EXPECT_FALSE(cl->Has("resume"));
}

TEST(CliTest, UnknownFlagIsAnError) {
  absl::StatusOr<CommandLine> cl = Parse({"--config=demo", "--max_epochs=3"});
  ASSERT_FALSE(cl.ok());
  EXPECT_THAT(std::string(cl.status().message()),
              HasSubstr("unknown flag --max_epochs=3"));
}

TEST(CliTest, MissingValueIsAnError) {
  absl::StatusOr<CommandLine> cl = Parse({"--config"});
  ASSERT_FALSE(cl.ok());
  EXPECT_THAT(std::string(cl.status().message()),
              HasSubstr("--config needs a value"));
}

TEST(CliTest, NonIntegerIsAnError) {
  absl::StatusOr<CommandLine> cl = Parse({"--benchmark_steps=many"});
  ASSERT_TRUE(cl.ok());
  EXPECT_FALSE(cl->GetInt("benchmark_steps").ok());
}

TEST(CliTest, HelpListsEveryFlag) {
  const std::string help =
      HelpText("usage: train --config=NAME",
               {{"benchmark_steps", "N", "steps to time", "0"}});
  EXPECT_THAT(help, HasSubstr("--config=NAME|FILE"));
  EXPECT_THAT(help, HasSubstr("--set=TEXT"));
  EXPECT_THAT(help, HasSubstr("--benchmark_steps=N\n      steps to time "
                              "(default: 0)"));
}

// ParseJobCommandLine on `args`; returns what main() would see.
struct JobStart {
  std::optional<CommandLine> cl;
  int exit_code = -1;
  std::string out, err;
};
JobStart StartJob(std::vector<std::string> args, bool allow_positional) {
  args.insert(args.begin(), "prog");
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  JobStart start;
  ::testing::internal::CaptureStdout();
  ::testing::internal::CaptureStderr();
  start.cl = ParseJobCommandLine("prog", "usage: prog --config=NAME",
                                 static_cast<int>(argv.size()), argv.data(),
                                 {{"steps", "N", "steps", "0"}},
                                 allow_positional, &start.exit_code);
  start.out = ::testing::internal::GetCapturedStdout();
  start.err = ::testing::internal::GetCapturedStderr();
  return start;
}

TEST(CliTest, JobStartReturnsTheCommandLine) {
  JobStart start = StartJob({"--config=demo", "--steps=3"}, false);
  ASSERT_TRUE(start.cl.has_value());
  EXPECT_EQ(start.cl->config, "demo");
  EXPECT_EQ(start.cl->Get("steps"), "3");
  EXPECT_EQ(start.exit_code, -1);  // untouched
  EXPECT_EQ(start.err, "");
}

TEST(CliTest, JobStartPrintsHelpAndExitsZero) {
  JobStart start = StartJob({"--help"}, false);
  EXPECT_FALSE(start.cl.has_value());
  EXPECT_EQ(start.exit_code, 0);
  EXPECT_THAT(start.out, HasSubstr("usage: prog --config=NAME"));
  EXPECT_THAT(start.out, HasSubstr("--steps"));
}

TEST(CliTest, JobStartErrorsNameTheProgramAndExitTwo) {
  JobStart bad = StartJob({"--stpes=3"}, false);
  EXPECT_FALSE(bad.cl.has_value());
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_THAT(bad.err, HasSubstr("prog: "));
  EXPECT_THAT(bad.err, HasSubstr("--stpes"));

  JobStart stray = StartJob({"--config=demo", "extra"}, false);
  EXPECT_FALSE(stray.cl.has_value());
  EXPECT_EQ(stray.exit_code, 2);
  EXPECT_THAT(stray.err, HasSubstr("prog: unexpected argument 'extra'"));

  JobStart allowed = StartJob({"--config=demo", "extra"}, true);
  ASSERT_TRUE(allowed.cl.has_value());
  EXPECT_THAT(allowed.cl->positional, ElementsAre("extra"));
}

}  // namespace
}  // namespace sam2::config
