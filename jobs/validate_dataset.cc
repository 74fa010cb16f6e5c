// validate_dataset: reads every sample of a dataset as the trainer would and
// reports every problem in one pass.
//
//   bazel run //jobs:validate_dataset -- --config=mose
//   bazel run //jobs:validate_dataset -- --layout=davis \
//       --img_folder=/data/MOSE/JPEGImages --gt_folder=/data/MOSE/Annotations
//   mpirun -np 8 bazel-bin/jobs/validate_dataset --config=...   (videos split)
#include <ATen/ATen.h>

#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "base/status_macros.h"
#include "configs/cli.h"
#include "configs/loader.h"
#include "data/validation/dataset_check.h"
#include "distributed/mpi_world.h"
#include "sam2/training/data_builder.h"

namespace {

using namespace sam2;

constexpr char kUsage[] =
    R"(usage: validate_dataset (--config=NAME|FILE [--set=TEXT ...] | --layout=davis|sa1b|sav --img_folder=DIR --gt_folder=DIR) [flags]

Reads every sample the trainer would read (every frame decoded, every
object's mask decoded) and reports every problem at once: unreadable images
or annotations, masks whose size differs from their frame, bad RLE, videos
without objects, objects empty on every frame, videos shorter than the
sampler's num_frames. One line per problem (dataset, video, frame, object,
what and which file), counts at the end; exit code 1 if anything is wrong.

With --config, every dataset of data.train and data.val is checked (their
paths, file lists and sampler as the trainer builds them). Under mpirun/srun
the ranks split the videos; rank 0 prints the totals.)";

const std::vector<config::FlagSpec>& JobFlags() {
  static const auto* flags = new std::vector<config::FlagSpec>{
      {"layout", "davis|sa1b|sav",
       "check one dataset in this layout instead of a config's", ""},
      {"img_folder", "DIR", "with --layout: the images", ""},
      {"gt_folder", "DIR", "with --layout: the annotations", ""},
      {"file_list_txt", "FILE", "with --layout: only these videos", ""},
      {"min_frames", "N",
       "with --layout: report videos with fewer frames (a sampler's "
       "num_frames; 0: no check)",
       "0"},
      {"threads", "N", "videos checked at once per rank", "2"},
  };
  return *flags;
}

struct Target {
  std::string name;
  std::shared_ptr<const data::VosRawDataset> dataset;
  int min_frames = 0;
};

absl::StatusOr<std::vector<Target>> FromConfig(const config::CommandLine& cl) {
  SAM2_ASSIGN_OR_RETURN(config::LoadedExperiment loaded,
                        config::LoadExperiment({cl.config, cl.sets, {}}));
  std::vector<Target> targets;
  for (const char* phase : {"train", "val"}) {
    const config::MixedDatasetConfig& mixed =
        std::string(phase) == "train" ? loaded.experiment.data().train()
                                      : loaded.experiment.data().val();
    for (int g = 0; g < mixed.datasets_size(); ++g) {
      for (int c = 0; c < mixed.datasets(g).concat_size(); ++c) {
        const config::VOSDatasetConfig& d = mixed.datasets(g).concat(c);
        const std::string name =
            absl::StrCat("data.", phase, ".datasets[", g, "].concat[", c, "]");
        SAM2_ASSIGN_OR_RETURN(auto raw, training::BuildRawDataset(d, name));
        targets.push_back({name, raw,
                           d.has_random_uniform_sampler()
                               ? d.random_uniform_sampler().num_frames()
                               : 0});
      }
    }
  }
  if (targets.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(loaded.path,
                     ": the config has no data.train or data.val "
                     "datasets"));
  }
  return targets;
}

absl::StatusOr<std::vector<Target>> FromLayout(const config::CommandLine& cl) {
  const std::string layout = cl.Get("layout");
  const std::string img = cl.Get("img_folder"), gt = cl.Get("gt_folder");
  if (img.empty() || gt.empty()) {
    return absl::InvalidArgumentError(
        "--layout needs --img_folder and --gt_folder");
  }
  SAM2_ASSIGN_OR_RETURN(const int64_t min_frames, cl.GetInt("min_frames"));
  // The three layouts' datasets take the same folders and list.
  const auto open = [&](auto options, auto create)
      -> absl::StatusOr<std::shared_ptr<const data::VosRawDataset>> {
    options.img_folder = img;
    options.gt_folder = gt;
    options.file_list_txt = cl.Get("file_list_txt");
    SAM2_ASSIGN_OR_RETURN(auto opened, create(options));
    return std::shared_ptr<const data::VosRawDataset>(std::move(opened));
  };
  std::shared_ptr<const data::VosRawDataset> dataset;
  if (layout == "davis") {
    SAM2_ASSIGN_OR_RETURN(dataset, open(data::PngRawDatasetOptions(),
                                        &data::PngRawDataset::Create));
  } else if (layout == "sa1b") {
    SAM2_ASSIGN_OR_RETURN(dataset, open(data::Sa1bRawDatasetOptions(),
                                        &data::Sa1bRawDataset::Create));
  } else if (layout == "sav") {
    SAM2_ASSIGN_OR_RETURN(dataset, open(data::JsonRawDatasetOptions(),
                                        &data::JsonRawDataset::Create));
  } else {
    return absl::InvalidArgumentError(absl::StrCat(
        "--layout is \"", layout, "\"; allowed: davis, sa1b, sav"));
  }
  return std::vector<Target>{
      {absl::StrCat(layout, " ", gt), dataset, static_cast<int>(min_frames)}};
}

}  // namespace

int main(int argc, char** argv) {
  int exit_code = 0;
  std::optional<config::CommandLine> cl = config::ParseJobCommandLine(
      "validate_dataset", kUsage, argc, argv, JobFlags(),
      /*allow_positional=*/false, &exit_code);
  if (!cl) return exit_code;
  if (cl->config.empty() == cl->Get("layout").empty()) {
    std::fprintf(stderr,
                 "validate_dataset: give either --config or --layout (see "
                 "--help)\n");
    return 2;
  }
  absl::StatusOr<int64_t> threads = cl->GetInt("threads");
  if (!threads.ok() || *threads < 1) {
    std::fprintf(stderr, "validate_dataset: --threads must be >= 1\n");
    return 2;
  }
  auto world = distributed::InitWorld();
  if (!world.ok()) {
    std::fprintf(stderr, "validate_dataset: %s\n",
                 std::string(world.status().message()).c_str());
    return 1;
  }
  distributed::Collectives& w = **world;
  absl::StatusOr<std::vector<Target>> targets =
      cl->config.empty() ? FromLayout(*cl) : FromConfig(*cl);
  if (!targets.ok()) {
    std::fprintf(stderr, "validate_dataset: %s\n",
                 std::string(targets.status().message()).c_str());
    return 1;
  }
  const std::string prefix =
      w.world_size() > 1 ? absl::StrCat("rank ", w.rank(), ": ") : "";
  int64_t total_problems = 0;
  for (const Target& t : *targets) {
    const auto start = std::chrono::steady_clock::now();
    data::DatasetCheckOptions options;
    options.min_frames = t.min_frames;
    options.threads = static_cast<int>(*threads);
    options.shard = w.rank();
    options.num_shards = w.world_size();
    const data::DatasetCheckReport report =
        data::CheckDataset(*t.dataset, options);
    for (const data::DatasetProblem& p : report.problems) {
      const std::string line =
          absl::StrCat(prefix, t.name, ": ", data::FormatProblem(p), "\n");
      std::fwrite(line.data(), 1, line.size(), stdout);
    }
    // Totals over the ranks.
    at::Tensor counts =
        at::tensor({report.videos, report.frames, report.masks,
                    static_cast<int64_t>(report.problems.size())},
                   at::kLong);
    std::vector<at::Tensor> sums = {counts};
    w.AllReduceSum(sums);
    total_problems += counts[3].item<int64_t>();
    if (w.is_main()) {
      const double seconds = std::chrono::duration<double>(
                                 std::chrono::steady_clock::now() - start)
                                 .count();
      std::vector<std::string> kinds;
      for (const auto& [kind, n] : report.problems_by_kind) {
        kinds.push_back(absl::StrCat(n, " ", kind));
      }
      std::printf(
          "%s: %lld videos, %lld frames, %lld masks checked in %.1f s (%.1f "
          "videos/s): %lld problem(s)%s\n",
          t.name.c_str(), static_cast<long long>(counts[0].item<int64_t>()),
          static_cast<long long>(counts[1].item<int64_t>()),
          static_cast<long long>(counts[2].item<int64_t>()), seconds,
          counts[0].item<int64_t>() / std::max(seconds, 1e-9),
          static_cast<long long>(counts[3].item<int64_t>()),
          kinds.empty() || w.world_size() > 1
              ? ""
              : absl::StrCat(" (", absl::StrJoin(kinds, ", "), ")").c_str());
    }
    std::fflush(stdout);
  }
  return total_problems > 0 ? 1 : 0;
}
