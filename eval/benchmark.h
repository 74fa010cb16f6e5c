// The reference's `benchmark()` for one dataset (what sav_evaluator.py
// runs): lists the videos, scores them on `num_threads` threads (the
// reference's worker processes), computes the global J, F and J&F over all
// objects of all videos, prints the reference's console output and writes
// `results.csv` into pred_root. Results do not depend on the thread count.
#ifndef SAM2_EVAL_BENCHMARK_H_
#define SAM2_EVAL_BENCHMARK_H_

#include <ostream>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "eval/report.h"
#include "eval/video_evaluator.h"

namespace sam2::eval {

struct BenchmarkOptions {
  std::string gt_root;
  std::string pred_root;
  // Every video of gt_root must be in pred_root and the other way round;
  // otherwise the videos scored are those in both.
  bool strict = false;
  int num_threads = 16;
  // Print the reference's console output (the "Saving the results to" line
  // is printed either way, as the reference does).
  bool verbose = true;
  bool skip_first_and_last = true;
  // Print the "Time taken" line (off for byte-exact comparisons).
  bool print_time = true;
};

struct BenchmarkResult {
  GlobalScores global;
  std::vector<VideoResult> videos;  // sorted by name
  std::string results_csv;          // the file's contents
  std::string results_path;         // where it was written
};

// Errors name the folder or file (missing folders, videos missing in strict
// mode, unreadable or mismatched PNGs); nothing is written then.
absl::StatusOr<BenchmarkResult> RunBenchmark(const BenchmarkOptions& options,
                                             std::ostream& out);

// The videos to score, as the reference picks them (including its
// "gt_root/Annotations" fallback, which may change `*gt_root`).
absl::StatusOr<std::vector<std::string>> SelectVideos(
    std::string* gt_root, const std::string& pred_root, bool strict);

// EvaluateVideo for every video on `num_threads` threads; results in video
// order; the first video's error (in that order) wins.
absl::StatusOr<std::vector<VideoResult>> EvaluateVideos(
    const std::string& gt_root, const std::string& pred_root,
    const std::vector<std::string>& videos, bool skip_first_and_last,
    int num_threads);

// The reference's global means: np.mean over every reported object's J (F)
// of every video, in order; J&F = (J + F) / 2.
GlobalScores ComputeGlobalScores(const std::vector<VideoResult>& videos);

}  // namespace sam2::eval

#endif  // SAM2_EVAL_BENCHMARK_H_
