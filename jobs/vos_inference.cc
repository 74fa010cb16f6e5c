// vos_inference: semi-supervised video object segmentation with a SAM 2
// model, as the reference's tools/vos_inference.py (same flags, same output
// files; --config replaces --sam2_cfg).
//
//   bazel run //jobs:vos_inference -- --config=parity_small
//     --checkpoint=model.pt --base_video_dir=JPEGImages
//     --input_mask_dir=Annotations --output_mask_dir=out
//   mpirun -np 8 bazel-bin/jobs/vos_inference ...   (videos split over ranks)
#include "sam2/inference/vos_inference.h"

#include <ATen/ATen.h>
#include <torch/cuda.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "configs/cli.h"
#include "configs/loader.h"
#include "distributed/mpi_world.h"
#include "distributed/work_split.h"
#include "sam2/training/model_builder.h"
#include "sam2/training/runtime/autocast.h"
#include "sam2/training/runtime/device.h"

namespace {

constexpr char kUsage[] =
    R"(usage: vos_inference --config=NAME|FILE --checkpoint=FILE
         --base_video_dir=DIR --input_mask_dir=DIR --output_mask_dir=DIR [flags]

Tracks the objects of each video's input masks through the video with SAM 2
(the reference's tools/vos_inference.py): <base_video_dir>/<video>/*.jpg,
masks from <input_mask_dir>/<video>/<frame>.png (palettised object ids) or,
with --per_obj_png_file, <input_mask_dir>/<video>/<id>/<frame>.png; the
output masks go to <output_mask_dir> in the same layout. The model is the
config's `model` section (--config=NAME reads configs/NAME.pbtxt; a model
preset works through an experiment file with model_preset). A video that
fails (missing or unreadable frame or mask, mismatched sizes) is reported and
the others still run; the exit code is 1 if any failed.

Devices: --device=auto (the default) runs on this rank's GPU when the binary
has CUDA (bazel build --config=cuda) and the machine a GPU, else on the CPU.
On a GPU the model runs under bfloat16 autocast, as the reference's script
(@torch.autocast("cuda", dtype=torch.bfloat16)); on the CPU in float32, as
the reference there (its CUDA autocast does nothing on the CPU).
--autocast=off runs float32 on the GPU too.

Under mpirun/srun each rank takes a disjoint share of the videos (balanced by
frame count) and prints its own progress lines ("rank R: ..."); rank 0
prints the totals. The exit code is 1 on every rank if any video failed on
any rank.)";

const std::vector<sam2::config::FlagSpec>& JobFlags() {
  static const auto* flags = new std::vector<sam2::config::FlagSpec>{
      {"checkpoint", "FILE",
       "the model weights: an official SAM 2 checkpoint ({\"model\": "
       "state_dict}) or one of ours",
       ""},
      {"base_video_dir", "DIR", "one folder of JPEG frames per video", ""},
      {"input_mask_dir", "DIR", "the input masks (PNG) of each video", ""},
      {"output_mask_dir", "DIR", "where the output masks (PNG) are written",
       ""},
      {"video_list_file", "FILE",
       "the videos to run, one name a line (default: every folder of "
       "--base_video_dir)",
       ""},
      {"score_thresh", "X", "threshold on the output mask logits", "0.0"},
      {"use_all_masks", "",
       "use every PNG in --input_mask_dir as an input (default: the first "
       "frame's only)",
       ""},
      {"per_obj_png_file", "",
       "one PNG per object and frame (SA-V layout), for inputs and outputs; "
       "objects may overlap",
       ""},
      {"apply_postprocessing", "",
       "post-process the masks as the reference's "
       "build_sam2_video_predictor(apply_postprocessing=True): dynamic "
       "multimask via stability, binarised memories of prompted frames, "
       "holes of up to 8 low-res pixels filled (also on the CPU, where the "
       "reference skips it without its CUDA extension)",
       ""},
      {"track_object_appearing_later_in_video", "",
       "track each object from the first frame where its mask is non-empty "
       "(LVOS, YouTube-VOS)",
       ""},
      {"objects_one_by_one", "",
       "track each object in its own forward pass, as the reference (default: "
       "the objects of a frame whose memories come from the same frames go "
       "through the model as one batch: the same results up to float "
       "rounding, faster)",
       ""},
      {"device", "auto|cpu|cuda",
       "where the model runs (auto: this rank's GPU if there is one)", "auto"},
      {"autocast", "auto|off",
       "mixed precision (auto: bfloat16 on a GPU as the reference, float32 "
       "on the CPU; off: float32 everywhere)",
       "auto"},
  };
  return *flags;
}

bool Switch(const sam2::config::CommandLine& cl, const std::string& name) {
  return cl.Has(name) && cl.Get(name) != "false";
}

int Fail(const std::string& message) {
  std::cerr << "vos_inference: " << message << "\n";
  return 1;
}

// --device (checked to be auto, cpu or cuda): auto is CUDA when this binary
// and the machine have it. Errors: cuda without a usable GPU.
absl::StatusOr<c10::Device> JobDevice(const std::string& flag,
                                      int local_rank) {
  if (flag == "cuda" && !torch::cuda::is_available()) {
    return absl::FailedPreconditionError(
        "--device=cuda but no GPU is usable: build against a CUDA LibTorch "
        "(bazel build --config=cuda --repo_env=LIBTORCH_DIR=/path/to/libtorch) "
        "and run on a machine with a GPU, or pass --device=cpu");
  }
  const bool cuda =
      flag == "cuda" || (flag == "auto" && torch::cuda::is_available());
  return sam2::training::ResolveDevice(
      cuda ? sam2::config::Accelerator::kCuda : sam2::config::Accelerator::kCpu,
      local_rank);
}

// --autocast (checked to be auto or off): whether the model runs under
// bfloat16 autocast on `device`. Not on the CPU: LibTorch 1.13's CPU
// autocast leaves layer_norm's bfloat16 inputs next to float32 weights,
// which its CPU kernel rejects (and the reference does not use it there).
bool JobAutocast(const std::string& flag, const c10::Device& device) {
  return flag == "auto" && device.is_cuda();
}

// This rank's videos, balanced by their number of frames (files in the
// video's folder; a missing folder counts 0 and fails where it runs), in
// list order.
std::vector<std::string> MyVideos(const std::vector<std::string>& all,
                                  const std::string& base_video_dir, int rank,
                                  int ranks) {
  namespace fs = std::filesystem;
  std::vector<sam2::distributed::WorkUnit> units;
  for (const std::string& video : all) {
    std::error_code ec;
    uint64_t files = 0;
    for (fs::directory_iterator it(fs::path(base_video_dir) / video, ec), end;
         !ec && it != end; it.increment(ec)) {
      ++files;
    }
    units.push_back({video, files});
  }
  std::vector<std::string> mine;
  for (size_t i : sam2::distributed::MyShareOfWork(units, rank, ranks)) {
    mine.push_back(all[i]);
  }
  return mine;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace sam2;
  int exit_code = 0;
  std::optional<config::CommandLine> cl = config::ParseJobCommandLine(
      "vos_inference", kUsage, argc, argv, JobFlags(),
      /*allow_positional=*/false, &exit_code);
  if (!cl) return exit_code;
  for (const char* required :
       {"checkpoint", "base_video_dir", "input_mask_dir", "output_mask_dir"}) {
    if (cl->Get(required).empty()) {
      std::cerr << "vos_inference: --" << required
                << " is required (see --help)\n";
      return 2;
    }
  }
  inference::VosInferenceOptions options;
  options.base_video_dir = cl->Get("base_video_dir");
  options.input_mask_dir = cl->Get("input_mask_dir");
  options.output_mask_dir = cl->Get("output_mask_dir");
  options.use_all_masks = Switch(*cl, "use_all_masks");
  options.per_obj_png_file = Switch(*cl, "per_obj_png_file");
  options.track_object_appearing_later_in_video =
      Switch(*cl, "track_object_appearing_later_in_video");
  if (!absl::SimpleAtod(cl->Get("score_thresh"), &options.score_thresh)) {
    std::cerr << "vos_inference: --score_thresh must be a number\n";
    return 2;
  }
  for (const auto& [flag, allowed] :
       std::vector<std::pair<std::string, std::vector<std::string>>>{
           {"device", {"auto", "cpu", "cuda"}},
           {"autocast", {"auto", "off"}}}) {
    if (std::find(allowed.begin(), allowed.end(), cl->Get(flag)) ==
        allowed.end()) {
      std::cerr << "vos_inference: --" << flag << " must be one of "
                << absl::StrJoin(allowed, ", ") << ", got \"" << cl->Get(flag)
                << "\"\n";
      return 2;
    }
  }

  absl::StatusOr<config::LoadedExperiment> loaded =
      config::LoadExperiment({cl->config, cl->sets, {}});
  if (!loaded.ok()) return Fail(std::string(loaded.status().message()));
  if (cl->print_config) {
    std::cout << config::ToText(loaded->experiment.model());
    return 0;
  }
  config::ValidationOptions model_only;
  model_only.check_paths = false;
  model_only.require_train_data = false;
  if (absl::Status s = config::ValidateExperiment(*loaded, model_only);
      !s.ok()) {
    return Fail(std::string(s.message()));
  }
  absl::StatusOr<training::SAM2TrainOptions> model_options =
      training::ModelOptionsFromConfig(loaded->experiment.model());
  if (!model_options.ok()) {
    return Fail(
        absl::StrCat(loaded->path, ": ", model_options.status().message()));
  }
  auto created = distributed::InitWorld();
  if (!created.ok()) return Fail(std::string(created.status().message()));
  distributed::Collectives& world = **created;
  const std::string who =
      world.world_size() > 1 ? absl::StrCat("rank ", world.rank(), ": ") : "";
  absl::StatusOr<c10::Device> device =
      JobDevice(cl->Get("device"), world.local_rank());
  if (!device.ok()) return Fail(who + std::string(device.status().message()));
  const bool autocast = JobAutocast(cl->Get("autocast"), *device);

  const int image_size = model_options->base.image_size;
  inference::VideoPredictorOptions predictor_options;
  // As the reference's main(): per-object PNGs may overlap.
  predictor_options.non_overlap_masks = !options.per_obj_png_file;
  predictor_options.batch_objects = !Switch(*cl, "objects_one_by_one");
  if (Switch(*cl, "apply_postprocessing")) {
    inference::SetPostprocessingOptions(&model_options->base,
                                        &predictor_options);
  }
  absl::StatusOr<modeling::SAM2Base> model =
      inference::LoadVideoModel(model_options->base, cl->Get("checkpoint"));
  if (!model.ok()) return Fail(std::string(model.status().message()));
  (*model)->to(*device);
  inference::VideoPredictor predictor(*model, predictor_options);

  absl::StatusOr<std::vector<std::string>> videos =
      inference::ListVideos(options.base_video_dir, cl->Get("video_list_file"));
  if (!videos.ok()) return Fail(std::string(videos.status().message()));
  const std::vector<std::string> mine = MyVideos(
      *videos, options.base_video_dir, world.rank(), world.world_size());
  if (world.is_main()) {
    std::printf("running VOS prediction on %zu videos (%s) on %s%s%s\n",
                videos->size(),
                options.use_all_masks ? "all available masks as inputs"
                                      : "the first frame's masks as inputs",
                device->str().c_str(), autocast ? " with bfloat16 autocast" : "",
                world.world_size() > 1
                    ? absl::StrCat(", split over ", world.world_size(),
                                   " ranks")
                          .c_str()
                    : "");
    std::fflush(stdout);
  }
  int64_t failed = 0;
  // Object-frames (one object tracked on one frame) measure the work: each
  // object is tracked on its own, so the time grows with the objects.
  int64_t total_frames = 0, total_object_frames = 0;
  double total_seconds = 0.0;
  const auto start = std::chrono::steady_clock::now();
  for (size_t i = 0; i < mine.size(); ++i) {
    const std::string& video = mine[i];
    absl::StatusOr<inference::VideoRunStats> stats;
    {
      // The reference's @torch.autocast around each video's inference.
      training::AutocastScope scope(autocast, device->type(), at::kBFloat16);
      stats = inference::RunVosInferenceOnVideo(predictor, options, video,
                                                image_size);
    }
    const double elapsed =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
            .count();
    // The time per video so far, times the videos left.
    const std::string eta = absl::StrFormat(
        "ETA %.0f s", elapsed / static_cast<double>(i + 1) *
                          static_cast<double>(mine.size() - i - 1));
    if (!stats.ok()) {
      ++failed;
      std::fflush(stdout);
      std::cerr << who << "vos_inference: " << video << ": "
                << stats.status().message() << "\n";
      std::printf("%s%zu/%zu %s: failed | %s\n", who.c_str(), i + 1,
                  mine.size(), video.c_str(), eta.c_str());
      std::fflush(stdout);
      continue;
    }
    const double seconds = std::max(stats->seconds, 1e-9);
    std::printf(
        "%s%zu/%zu %s: %lld frames, %lld objects, %.2f s (%.2f frames/s, "
        "%.2f object-frames/s) | %s\n",
        who.c_str(), i + 1, mine.size(), video.c_str(),
        static_cast<long long>(stats->num_frames),
        static_cast<long long>(stats->num_objects), stats->seconds,
        stats->num_frames / seconds,
        stats->num_frames * stats->num_objects / seconds, eta.c_str());
    std::fflush(stdout);
    total_frames += stats->num_frames;
    total_object_frames += stats->num_frames * stats->num_objects;
    total_seconds += stats->seconds;
  }
  // Totals over ranks; the time is the slowest rank's (each rank's time is
  // summed into its own slot, so the maximum can be read off).
  at::Tensor totals = at::zeros({4 + world.world_size()}, at::kDouble);
  totals[0] = static_cast<double>(failed);
  totals[1] = static_cast<double>(total_frames);
  totals[2] = static_cast<double>(total_object_frames);
  totals[3] = static_cast<double>(mine.size());
  totals[4 + world.rank()] = total_seconds;
  std::vector<at::Tensor> sums = {totals};
  world.AllReduceSum(sums);
  totals = sums[0];
  const int64_t all_failed = totals[0].item<double>();
  const int64_t all_frames = totals[1].item<double>();
  const int64_t all_object_frames = totals[2].item<double>();
  const double slowest = totals.slice(0, 4).max().item<double>();
  if (world.is_main()) {
    if (all_frames > 0) {
      const double seconds = std::max(slowest, 1e-9);
      std::printf(
          "speed: %lld frames, %lld object-frames in %.2f s: %.2f frames/s, "
          "%.2f object-frames/s\n",
          static_cast<long long>(all_frames),
          static_cast<long long>(all_object_frames), slowest,
          all_frames / seconds, all_object_frames / seconds);
    }
    std::printf(
        "completed VOS prediction on %lld videos (%lld failed); output "
        "masks saved to %s\n",
        static_cast<long long>(videos->size() - all_failed),
        static_cast<long long>(all_failed), options.output_mask_dir.c_str());
  }
  return all_failed > 0 ? 1 : 0;
}
