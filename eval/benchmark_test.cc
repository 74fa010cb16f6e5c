// The reference's goldens (testdata/jf, copied from the fixtures measured
// with sav_dataset/sav_evaluator.py): results.csv and the console byte for
// byte, every J, F, J&F and per-frame value, and the failure paths.
#include "eval/benchmark.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "base/testing/temp_dir.h"
#include "data/codecs/file_io.h"
#include "data/codecs/png.h"
#include "eval/boundary_f.h"

namespace sam2::eval {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr double kTolerance = 1e-12;

const std::string& TestdataDir() {
  static const std::string* dir =
      new std::string(fs::absolute("eval/testdata/jf").string());
  return *dir;
}

std::string ReadOrFail(const std::string& path) {
  absl::StatusOr<std::string> bytes = data::ReadFileToString(path);
  EXPECT_TRUE(bytes.ok()) << bytes.status();
  return bytes.ok() ? *bytes : "";
}

// A writable copy of a case (the scorer writes results.csv into pred/),
// without the reference's results files; the working directory moves into
// it so that the roots are "gt" and "pred" as in the reference's run.
class CaseDir {
 public:
  explicit CaseDir(const std::string& name) {
    dir_ = testutil::FreshTempDir("jf/" + name);
    fs::copy(TestdataDir() + "/" + name, dir_, fs::copy_options::recursive);
    for (const char* file : {"results.csv", "results_do_not_skip.csv"}) {
      fs::remove(dir_ + "/pred/" + file);
    }
    old_cwd_ = fs::current_path();
    fs::current_path(dir_);
  }
  ~CaseDir() { fs::current_path(old_cwd_); }
  const std::string& path() const { return dir_; }

 private:
  std::string dir_;
  fs::path old_cwd_;
};

BenchmarkOptions Options(bool skip = true, int threads = 16) {
  BenchmarkOptions options;
  options.gt_root = "gt";
  options.pred_root = "pred";
  options.skip_first_and_last = skip;
  options.num_threads = threads;
  options.print_time = false;
  return options;
}

// The reference's console without tqdm's progress bar (and the blank line
// its carriage returns leave) and without the timing line.
std::string WithoutProgressAndTiming(const std::string& text) {
  std::string out;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    if (absl::StrContains(line, "it/s]") ||
        absl::StartsWith(line, "Time taken:")) {
      continue;
    }
    out += std::string(line) + "\n";
  }
  // The blank line that tqdm's first "\r" leaves after "In dataset ...".
  const size_t at = out.find("]\n\n");
  if (at != std::string::npos && at < out.find("sequence")) {
    out.erase(at + 1, 1);
  }
  while (absl::EndsWith(out, "\n\n")) out.pop_back();
  return out;
}

json ReadJson(const std::string& path) {
  std::ifstream file(path);
  EXPECT_TRUE(file) << path;
  return json::parse(file);
}

void ExpectNear(double actual, const json& expected, const std::string& what) {
  EXPECT_NEAR(actual, expected.get<double>(), kTolerance) << what;
}

void ExpectMatchesJson(const BenchmarkResult& result, const json& golden) {
  ExpectNear(result.global.j, golden["global"]["J"], "global J");
  ExpectNear(result.global.f, golden["global"]["F"], "global F");
  ExpectNear(result.global.jf, golden["global"]["J&F"], "global J&F");
  ASSERT_EQ(result.videos.size(), golden["videos"].size());
  for (const VideoResult& video : result.videos) {
    SCOPED_TRACE(video.name);
    const json& expected = golden["videos"][video.name];
    EXPECT_EQ(video.sav_layout, expected["layout"] == "SA-V");
    EXPECT_EQ(BoundaryRadius(expected["frame_hw"][0], expected["frame_hw"][1]),
              expected["boundary_radius_px"].get<double>());
    // The reported objects, in the reference's order.
    std::vector<std::string> names;
    for (const auto& [name, _] : expected["objects"].items()) {
      names.push_back(name);
    }
    std::vector<std::string> ours;
    for (const ObjectResult& object : video.objects) {
      ours.push_back(object.name);
      const json& values = expected["objects"][object.name];
      ExpectNear(object.j, values["J"], object.name + " J");
      ExpectNear(object.f, values["F"], object.name + " F");
      ExpectNear((object.j + object.f) / 2, values["J&F"],
                 object.name + " J&F");
    }
    EXPECT_EQ(ours, names);
    // Every scored object's per-frame lists (DAVIS: prediction-only too).
    const json& frames = expected["per_frame_J_F_of_every_scored_object"];
    EXPECT_EQ(video.per_frame.size(), frames.size());
    for (const auto& [name, lists] : video.per_frame) {
      SCOPED_TRACE(name);
      ASSERT_TRUE(frames.contains(name));
      EXPECT_EQ(lists.frames,
                frames[name]["frames"].get<std::vector<std::string>>());
      ASSERT_EQ(lists.j.size(), frames[name]["J"].size());
      ASSERT_EQ(lists.f.size(), frames[name]["F"].size());
      for (size_t i = 0; i < lists.j.size(); ++i) {
        ExpectNear(lists.j[i], frames[name]["J"][i], "J of " + lists.frames[i]);
        ExpectNear(lists.f[i], frames[name]["F"][i], "F of " + lists.frames[i]);
      }
    }
  }
}

struct GoldenCase {
  std::string name;
  bool skip;
  std::string csv;      // under the case's pred/
  std::string console;  // under the case
  std::string json_key;
};

void PrintTo(const GoldenCase& golden, std::ostream* os) {
  *os << golden.name << (golden.skip ? "" : " (do not skip)");
}

class GoldenTest : public testing::TestWithParam<GoldenCase> {};

TEST_P(GoldenTest, ReproducesTheReference) {
  const GoldenCase& golden = GetParam();
  const std::string source = TestdataDir() + "/" + golden.name;
  const std::string expected_csv = ReadOrFail(source + "/pred/" + golden.csv);
  const std::string expected_console =
      WithoutProgressAndTiming(ReadOrFail(source + "/" + golden.console));
  const json expected =
      ReadJson(source + "/jf_full_precision.json")[golden.json_key];

  CaseDir dir(golden.name);
  std::ostringstream console;
  absl::StatusOr<BenchmarkResult> result =
      RunBenchmark(Options(golden.skip), console);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(ReadOrFail("pred/results.csv"), expected_csv);
  EXPECT_EQ(result->results_csv, expected_csv);
  EXPECT_EQ(WithoutProgressAndTiming(console.str()), expected_console);
  ExpectMatchesJson(*result, expected);
}

INSTANTIATE_TEST_SUITE_P(
    Fixtures, GoldenTest,
    testing::Values(GoldenCase{"i_sav_layout", true, "results.csv",
                               "console.txt", "skip"},
                    GoldenCase{"i_sav_layout", false, "results_do_not_skip.csv",
                               "console_do_not_skip.txt", "do_not_skip"},
                    GoldenCase{"ii_davis_layout", true, "results.csv",
                               "console.txt", "skip"},
                    GoldenCase{"iii_odd_sizes", true, "results.csv",
                               "console.txt", "skip"}),
    [](const testing::TestParamInfo<GoldenCase>& info) {
      return info.param.name + (info.param.skip ? "" : "_do_not_skip");
    });

// Bitwise the same results on 1 and on 4 threads.
TEST(BenchmarkTest, IndependentOfTheThreadCount) {
  for (const char* name :
       {"i_sav_layout", "ii_davis_layout", "iii_odd_sizes"}) {
    SCOPED_TRACE(name);
    CaseDir dir(name);
    std::ostringstream console;
    BenchmarkOptions options = Options(true, 1);
    options.verbose = false;
    absl::StatusOr<BenchmarkResult> one = RunBenchmark(options, console);
    options.num_threads = 4;
    absl::StatusOr<BenchmarkResult> four = RunBenchmark(options, console);
    ASSERT_TRUE(one.ok() && four.ok());
    EXPECT_EQ(one->results_csv, four->results_csv);
    EXPECT_EQ(one->global.j, four->global.j);
    EXPECT_EQ(one->global.f, four->global.f);
    ASSERT_EQ(one->videos.size(), four->videos.size());
    for (size_t v = 0; v < one->videos.size(); ++v) {
      ASSERT_EQ(one->videos[v].objects.size(), four->videos[v].objects.size());
      for (size_t o = 0; o < one->videos[v].objects.size(); ++o) {
        EXPECT_EQ(one->videos[v].objects[o].j, four->videos[v].objects[o].j);
        EXPECT_EQ(one->videos[v].objects[o].f, four->videos[v].objects[o].f);
      }
    }
  }
}

TEST(BenchmarkTest, QuietPrintsOnlyWhereItWrites) {
  CaseDir dir("ii_davis_layout");
  std::ostringstream console;
  BenchmarkOptions options = Options();
  options.verbose = false;
  ASSERT_TRUE(RunBenchmark(options, console).ok());
  EXPECT_EQ(console.str(), "Saving the results to pred/results.csv\n");
}

// Runs the benchmark expecting failure; returns the message and checks that
// no results.csv was written.
std::string ExpectFailure(const BenchmarkOptions& options) {
  std::ostringstream console;
  absl::StatusOr<BenchmarkResult> result = RunBenchmark(options, console);
  EXPECT_FALSE(result.ok());
  EXPECT_FALSE(fs::exists(options.pred_root + "/results.csv"));
  return result.ok() ? "" : std::string(result.status().message());
}

TEST(BenchmarkFailureTest, StrictModeNamesTheMissingVideo) {
  CaseDir dir("i_sav_layout");
  fs::remove_all("pred/sav_b");
  BenchmarkOptions options = Options();
  // Not strict: the videos in both are scored.
  std::ostringstream console;
  absl::StatusOr<BenchmarkResult> lenient = RunBenchmark(options, console);
  ASSERT_TRUE(lenient.ok()) << lenient.status();
  EXPECT_EQ(lenient->videos.size(), 1u);
  fs::remove("pred/results.csv");
  options.strict = true;
  const std::string message = ExpectFailure(options);
  EXPECT_TRUE(absl::StrContains(message, "videos in gt but not in pred: sav_b"))
      << message;
}

TEST(BenchmarkFailureTest, CorruptPngIsNamed) {
  CaseDir dir("i_sav_layout");
  const std::string png = "pred/sav_a/001/00012.png";
  std::string bytes = ReadOrFail(png);
  ASSERT_TRUE(
      data::WriteStringToFile(png, bytes.substr(0, bytes.size() / 2)).ok());
  const std::string message = ExpectFailure(Options());
  EXPECT_TRUE(absl::StrContains(message, png)) << message;
}

TEST(BenchmarkFailureTest, MismatchedSizesNameBothFiles) {
  CaseDir dir("ii_davis_layout");
  const std::string png = "pred/davis_b/00003.png";
  data::Image small(10, 12, 1);
  ASSERT_TRUE(data::WritePngFile(png, small).ok());
  const std::string message = ExpectFailure(Options());
  EXPECT_TRUE(absl::StrContains(message, png)) << message;
  EXPECT_TRUE(absl::StrContains(message, "gt/davis_b/00003.png")) << message;
  EXPECT_TRUE(absl::StrContains(message, "size mismatch")) << message;
}

TEST(BenchmarkFailureTest, MissingPredictedFrameIsNamed) {
  CaseDir dir("iii_odd_sizes");
  fs::remove("pred/odd_75x100/001/00008.png");
  const std::string message = ExpectFailure(Options());
  EXPECT_TRUE(absl::StrContains(message, "pred/odd_75x100/001/00008.png"))
      << message;
}

TEST(BenchmarkFailureTest, SavMaskWithTwoObjectsIsNamed) {
  CaseDir dir("i_sav_layout");
  const std::string png = "pred/sav_b/000/00008.png";
  data::Image three(90, 70, 1);
  three.at(0, 0) = 1;
  three.at(0, 1) = 2;
  ASSERT_TRUE(data::WritePngFile(png, three).ok());
  const std::string message = ExpectFailure(Options());
  EXPECT_TRUE(absl::StrContains(message, png)) << message;
}

TEST(BenchmarkFailureTest, MissingRootIsNamed) {
  CaseDir dir("i_sav_layout");
  BenchmarkOptions options = Options();
  options.gt_root = "no_such_gt";
  std::ostringstream console;
  absl::StatusOr<BenchmarkResult> result = RunBenchmark(options, console);
  ASSERT_FALSE(result.ok());
  EXPECT_TRUE(absl::StrContains(result.status().message(), "no_such_gt"))
      << result.status();
}

TEST(BenchmarkFailureTest, EmptySavGroundTruthIsAnError) {
  CaseDir dir("i_sav_layout");
  // Object 001 of sav_a is empty in the ground truth until 00012; scoring
  // only up to 00008 leaves it empty on every scored frame.
  for (const char* frame : {"00012", "00016", "00020", "00024", "00028"}) {
    fs::remove(std::string("gt/sav_a/001/") + frame + ".png");
  }
  const std::string message = ExpectFailure(Options());
  EXPECT_TRUE(absl::StrContains(message, "gt/sav_a/001")) << message;
}

}  // namespace
}  // namespace sam2::eval
