#include "eval/benchmark.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <optional>
#include <set>
#include <thread>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "base/status_macros.h"
#include "data/codecs/file_io.h"
#include "eval/folders.h"
#include "eval/numpy_mean.h"

namespace sam2::eval {
namespace {

std::vector<std::string> Folders(const std::string& root,
                                 const std::vector<std::string>& names) {
  std::vector<std::string> folders;
  for (const std::string& name : names) {
    if (IsDir(PathJoin(root, name))) folders.push_back(name);
  }
  return folders;
}

// The names of `a` not in `b`, sorted.
std::vector<std::string> Missing(const std::set<std::string>& a,
                                 const std::set<std::string>& b) {
  std::vector<std::string> missing;
  for (const std::string& name : a) {
    if (b.count(name) == 0) missing.push_back(name);
  }
  return missing;
}

absl::Status CheckStrict(const std::string& gt_root,
                         const std::string& pred_root,
                         const std::set<std::string>& gt,
                         const std::set<std::string>& pred) {
  const std::vector<std::string> gt_extras = Missing(gt, pred);
  const std::vector<std::string> pred_extras = Missing(pred, gt);
  if (gt_extras.empty() && pred_extras.empty()) return absl::OkStatus();
  std::vector<std::string> parts;
  if (!gt_extras.empty()) {
    parts.push_back(absl::StrCat("videos in ", gt_root, " but not in ",
                                 pred_root, ": ",
                                 absl::StrJoin(gt_extras, ", ")));
  }
  if (!pred_extras.empty()) {
    parts.push_back(absl::StrCat("videos in ", pred_root, " but not in ",
                                 gt_root, ": ",
                                 absl::StrJoin(pred_extras, ", ")));
  }
  return absl::NotFoundError(
      absl::StrCat(pred_root, ": strict mode: ", absl::StrJoin(parts, "; ")));
}

}  // namespace

absl::StatusOr<std::vector<std::string>> SelectVideos(
    std::string* gt_root, const std::string& pred_root, bool strict) {
  SAM2_ASSIGN_OR_RETURN(std::vector<std::string> gt_names, ListDir(*gt_root));
  SAM2_ASSIGN_OR_RETURN(std::vector<std::string> pred_names,
                        ListDir(pred_root));
  // The reference's fallback for a dataset root passed instead of its
  // Annotations folder: it compares entry counts (files included) and looks
  // at the first name the file system lists.
  if (gt_names.size() != pred_names.size() &&
      std::count(gt_names.begin(), gt_names.end(), "Annotations") > 0) {
    const std::string annotations = PathJoin(*gt_root, "Annotations");
    SAM2_ASSIGN_OR_RETURN(std::vector<std::string> inner, ListDir(annotations));
    if (inner.empty()) {
      return absl::NotFoundError(absl::StrCat(annotations, ": empty folder"));
    }
    if (!absl::StrContains(inner[0], ".png")) {
      *gt_root = annotations;
      SAM2_ASSIGN_OR_RETURN(gt_names, ListDir(*gt_root));
    }
  }
  const std::vector<std::string> gt_videos = Folders(*gt_root, gt_names);
  const std::vector<std::string> pred_videos = Folders(pred_root, pred_names);
  const std::set<std::string> gt(gt_videos.begin(), gt_videos.end());
  const std::set<std::string> pred(pred_videos.begin(), pred_videos.end());
  if (strict) {
    SAM2_RETURN_IF_ERROR(CheckStrict(*gt_root, pred_root, gt, pred));
    return std::vector<std::string>(gt.begin(), gt.end());
  }
  std::vector<std::string> both;
  std::set_intersection(gt.begin(), gt.end(), pred.begin(), pred.end(),
                        std::back_inserter(both));
  return both;
}

absl::StatusOr<std::vector<VideoResult>> EvaluateVideos(
    const std::string& gt_root, const std::string& pred_root,
    const std::vector<std::string>& videos, bool skip_first_and_last,
    int num_threads) {
  std::vector<std::optional<absl::StatusOr<VideoResult>>> results(
      videos.size());
  std::atomic<size_t> next{0};
  auto work = [&]() {
    for (size_t i = next++; i < videos.size(); i = next++) {
      results[i] =
          EvaluateVideo(gt_root, pred_root, videos[i], skip_first_and_last);
    }
  };
  const size_t count =
      std::min<size_t>(std::max(num_threads, 1), videos.size());
  std::vector<std::thread> threads;
  for (size_t t = 1; t < count; ++t) threads.emplace_back(work);
  work();
  for (std::thread& thread : threads) thread.join();

  std::vector<VideoResult> scored;
  for (std::optional<absl::StatusOr<VideoResult>>& result : results) {
    if (!result->ok()) return result->status();
    scored.push_back(*std::move(*result));
  }
  return scored;
}

GlobalScores ComputeGlobalScores(const std::vector<VideoResult>& videos) {
  std::vector<double> all_j;
  std::vector<double> all_f;
  for (const VideoResult& video : videos) {
    for (const ObjectResult& object : video.objects) {
      all_j.push_back(object.j);
      all_f.push_back(object.f);
    }
  }
  GlobalScores global;
  global.j = NumpyMean(all_j);
  global.f = NumpyMean(all_f);
  global.jf = (global.j + global.f) / 2;
  return global;
}

absl::StatusOr<BenchmarkResult> RunBenchmark(const BenchmarkOptions& options,
                                             std::ostream& out) {
  if (options.num_threads < 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--num_processes must be at least 1, got ", options.num_threads));
  }
  if (options.verbose) {
    out << (options.skip_first_and_last
                ? "We are *SKIPPING* the evaluation of the first and the last "
                  "frame (standard for semi-supervised video object "
                  "segmentation).\n"
                : "We are *NOT SKIPPING* the evaluation of the first and the "
                  "last frame (*NOT STANDARD* for semi-supervised video "
                  "object segmentation).\n");
  }
  const auto start = std::chrono::steady_clock::now();
  std::string gt_root = options.gt_root;
  SAM2_ASSIGN_OR_RETURN(
      std::vector<std::string> videos,
      SelectVideos(&gt_root, options.pred_root, options.strict));
  if (options.verbose) {
    out << "In dataset " << gt_root << ", we are evaluating on "
        << videos.size() << " videos: " << PyListRepr(videos) << "\n";
  }
  if (videos.empty()) {
    // The reference fails here too (max() of one value).
    return absl::NotFoundError(absl::StrCat(
        options.pred_root, ": no video to evaluate (no folder in both ",
        gt_root, " and ", options.pred_root, ")"));
  }
  BenchmarkResult result;
  SAM2_ASSIGN_OR_RETURN(
      result.videos,
      EvaluateVideos(gt_root, options.pred_root, videos,
                     options.skip_first_and_last, options.num_threads));
  result.global = ComputeGlobalScores(result.videos);
  result.results_csv = ResultsCsv(result.videos, result.global);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
          .count();
  if (options.verbose) {
    out << ConsoleSummary(result.results_csv, result.global,
                          options.print_time ? seconds : -1);
  }
  result.results_path = PathJoin(options.pred_root, "results.csv");
  out << "Saving the results to " << result.results_path << "\n";
  out.flush();
  SAM2_RETURN_IF_ERROR(
      data::WriteStringToFile(result.results_path, result.results_csv));
  return result;
}

}  // namespace sam2::eval
