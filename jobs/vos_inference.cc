// vos_inference: semi-supervised video object segmentation with a SAM 2
// model, as the reference's tools/vos_inference.py (same flags, same output
// files; --config replaces --sam2_cfg).
//
//   bazel run //jobs:vos_inference -- --config=parity_small
//     --checkpoint=model.pt --base_video_dir=JPEGImages
//     --input_mask_dir=Annotations --output_mask_dir=out
#include "sam2/inference/vos_inference.h"

#include <algorithm>
#include <cstdio>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "configs/cli.h"
#include "configs/loader.h"
#include "sam2/training/model_builder.h"

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
the others still run; the exit code is 1 if any failed.)";

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
  const int image_size = model_options->base.image_size;
  inference::VideoPredictorOptions predictor_options;
  // As the reference's main(): per-object PNGs may overlap.
  predictor_options.non_overlap_masks = !options.per_obj_png_file;
  if (Switch(*cl, "apply_postprocessing")) {
    inference::SetPostprocessingOptions(&model_options->base,
                                        &predictor_options);
  }
  absl::StatusOr<modeling::SAM2Base> model =
      inference::LoadVideoModel(model_options->base, cl->Get("checkpoint"));
  if (!model.ok()) return Fail(std::string(model.status().message()));
  inference::VideoPredictor predictor(*model, predictor_options);

  absl::StatusOr<std::vector<std::string>> videos =
      inference::ListVideos(options.base_video_dir, cl->Get("video_list_file"));
  if (!videos.ok()) return Fail(std::string(videos.status().message()));
  std::printf("running VOS prediction on %zu videos (%s)\n", videos->size(),
              options.use_all_masks ? "all available masks as inputs"
                                    : "the first frame's masks as inputs");
  int failed = 0;
  // Object-frames (one object tracked on one frame) measure the work: each
  // object is tracked on its own, so the time grows with the objects.
  int64_t total_frames = 0, total_object_frames = 0;
  double total_seconds = 0.0;
  for (size_t i = 0; i < videos->size(); ++i) {
    const std::string& video = (*videos)[i];
    absl::StatusOr<inference::VideoRunStats> stats =
        inference::RunVosInferenceOnVideo(predictor, options, video,
                                          image_size);
    if (!stats.ok()) {
      ++failed;
      std::fflush(stdout);
      std::cerr << "vos_inference: " << video << ": "
                << stats.status().message() << "\n";
      continue;
    }
    const double seconds = std::max(stats->seconds, 1e-9);
    std::printf(
        "%zu/%zu %s: %lld frames, %lld objects, %.2f s (%.2f frames/s, "
        "%.2f object-frames/s)\n",
        i + 1, videos->size(), video.c_str(),
        static_cast<long long>(stats->num_frames),
        static_cast<long long>(stats->num_objects), stats->seconds,
        stats->num_frames / seconds,
        stats->num_frames * stats->num_objects / seconds);
    std::fflush(stdout);
    total_frames += stats->num_frames;
    total_object_frames += stats->num_frames * stats->num_objects;
    total_seconds += stats->seconds;
  }
  if (total_frames > 0) {
    const double seconds = std::max(total_seconds, 1e-9);
    std::printf(
        "speed: %lld frames, %lld object-frames in %.2f s: %.2f frames/s, "
        "%.2f object-frames/s\n",
        static_cast<long long>(total_frames),
        static_cast<long long>(total_object_frames), total_seconds,
        total_frames / seconds, total_object_frames / seconds);
  }
  std::printf(
      "completed VOS prediction on %zu videos (%d failed); output "
      "masks saved to %s\n",
      videos->size() - failed, failed, options.output_mask_dir.c_str());
  return failed > 0 ? 1 : 0;
}
