// sav_eval: the SA-V / DAVIS J&F scorer of the reference
// (sav_dataset/sav_evaluator.py), same options, same numbers, same
// results.csv.
//
//   bazel run //jobs:sav_eval -- --gt_root=GT --pred_root=PRED
#include <gflags/gflags.h>

#include <cstring>
#include <iostream>
#include <string>

#include "eval/benchmark.h"

DEFINE_string(gt_root, "",
              "the ground-truth folder, e.g. sav_val/Annotations_6fps: one "
              "folder per video, holding either one folder per object of "
              "per-frame 0/1 (or 0/255) PNGs (SA-V layout) or one palettised "
              "PNG of object ids per frame (DAVIS layout)");
DEFINE_string(pred_root, "",
              "the predicted masks, in the same layout as --gt_root; "
              "results.csv is written here");
DEFINE_int32(num_processes, 16,
             "videos scored at the same time (threads; the results do not "
             "depend on it)");
DEFINE_bool(strict, false,
            "every video of --gt_root must have a prediction (and every "
            "prediction a ground truth); otherwise the videos in both are "
            "scored");
DEFINE_bool(quiet, false,
            "print only where results.csv is written, not the table");
DEFINE_bool(do_not_skip_first_and_last_frame, false,
            "score the first and the last frame too (SA-V val/test and DAVIS "
            "semi-supervised skip them)");

DECLARE_bool(help);

namespace {

constexpr char kUsage[] =
    R"(usage: sav_eval --gt_root=GT --pred_root=PRED [flags]

Scores predicted video object masks against the ground truth with region
similarity J (IoU) and boundary accuracy F, as the reference SA-V evaluator
(facebookresearch/sam2 sav_dataset/sav_evaluator.py) does: per object, the
mean over the scored frames from the object's first appearance in the ground
truth or the prediction; globally, the mean over all objects of all videos.
It prints the reference's table and writes PRED/results.csv byte for byte as
the reference writes it.

Flags:
  --gt_root=DIR           ground truth (required)
  --pred_root=DIR         predictions, same layout; receives results.csv
                          (required)
  --num_processes=N       videos scored in parallel, as threads (default 16)
  --strict                videos missing on either side are an error
  --quiet                 do not print the table
  --do_not_skip_first_and_last_frame
                          score the first and the last frame too)";

// The flags are checked before gflags sees them, so that an unknown flag is
// a command-line error (exit code 2) like in the other jobs.
bool UnknownFlag(int argc, char** argv, std::string* flag) {
  for (int i = 1; i < argc; ++i) {
    std::string name = argv[i];
    if (name.rfind("-", 0) != 0) continue;
    name = name.substr(name.find_first_not_of('-'));
    name = name.substr(0, name.find('='));
    if (name == "help") continue;
    gflags::CommandLineFlagInfo info;
    if (gflags::GetCommandLineFlagInfo(name.c_str(), &info)) continue;
    if (name.rfind("no", 0) == 0 &&
        gflags::GetCommandLineFlagInfo(name.substr(2).c_str(), &info) &&
        info.type == "bool") {
      continue;
    }
    *flag = argv[i];
    return true;
  }
  return false;
}

}  // namespace

int main(int argc, char** argv) {
  std::string flag;
  if (UnknownFlag(argc, argv, &flag)) {
    std::cerr << "sav_eval: unknown flag " << flag << " (see --help)\n";
    return 2;
  }
  gflags::SetUsageMessage(kUsage);
  gflags::ParseCommandLineNonHelpFlags(&argc, &argv, /*remove_flags=*/true);
  if (FLAGS_help) {
    std::cout << kUsage << "\n";
    return 0;
  }
  if (argc > 1) {
    std::cerr << "sav_eval: unexpected argument '" << argv[1]
              << "' (see --help)\n";
    return 2;
  }
  if (FLAGS_gt_root.empty() || FLAGS_pred_root.empty()) {
    std::cerr << "sav_eval: --gt_root and --pred_root are required (see "
                 "--help)\n";
    return 2;
  }
  sam2::eval::BenchmarkOptions options;
  options.gt_root = FLAGS_gt_root;
  options.pred_root = FLAGS_pred_root;
  options.strict = FLAGS_strict;
  options.num_threads = FLAGS_num_processes;
  options.verbose = !FLAGS_quiet;
  options.skip_first_and_last = !FLAGS_do_not_skip_first_and_last_frame;
  const auto result = sam2::eval::RunBenchmark(options, std::cout);
  if (!result.ok()) {
    std::cout.flush();
    std::cerr << "sav_eval: " << result.status().message() << "\n";
    return 1;
  }
  return 0;
}
