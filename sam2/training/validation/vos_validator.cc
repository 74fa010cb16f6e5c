#include "sam2/training/validation/vos_validator.h"

#include <ATen/ATen.h>
#include <c10/core/GradMode.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <optional>
#include <system_error>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "base/status_macros.h"
#include "base/torch_errors.h"
#include "data/codecs/file_io.h"
#include "data/codecs/jpeg.h"
#include "data/codecs/png.h"
#include "distributed/work_split.h"
#include "eval/benchmark.h"
#include "eval/folders.h"
#include "eval/report.h"
#include "sam2/checkpoint/state_dict.h"
#include "sam2/inference/frame_loader.h"
#include "sam2/inference/vos_inference.h"
#include "sam2/training/runtime/autocast.h"

namespace sam2::training {
namespace {

namespace fs = std::filesystem;

constexpr int kGap = 2;  // pixels between the strip's frames and rows

double Now() {
  return std::chrono::duration<double>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// What the scorer reads back from the PNG vos_inference writes for `ids`:
// the palette indices.
eval::LabelMap ToLabelMap(const data::Image& ids) {
  eval::LabelMap map;
  map.height = ids.height;
  map.width = ids.width;
  map.values.assign(ids.data.begin(), ids.data.end());
  return map;
}

// The ground truth of one DAVIS-layout video, as the scorer reads it.
absl::StatusOr<std::map<std::string, eval::LabelMap>> ReadGroundTruth(
    const std::string& gt_folder, const std::string& video) {
  const std::string dir = eval::PathJoin(gt_folder, video);
  SAM2_ASSIGN_OR_RETURN(std::vector<std::string> names,
                        eval::ListDirSorted(dir));
  std::map<std::string, eval::LabelMap> gt;
  for (const std::string& name : names) {
    if (!absl::EndsWith(name, ".png")) {
      return absl::InvalidArgumentError(absl::StrCat(
          eval::PathJoin(dir, name),
          ": data.val_vos.gt_folder must be in DAVIS layout "
          "(<video>/<frame>.png only)"));
    }
    SAM2_ASSIGN_OR_RETURN(gt[name],
                          eval::ReadLabelPng(eval::PathJoin(dir, name)));
  }
  if (gt.empty()) {
    return absl::NotFoundError(absl::StrCat(dir, ": no annotation PNGs"));
  }
  return gt;
}

// Copies the training model's weights into the predictor's model (same
// state_dict keys; copy_ also moves them between devices).
absl::Status CopyWeights(const torch::nn::Module& source,
                         torch::nn::Module& target) {
  c10::NoGradGuard no_grad;
  return checkpoint::LoadStateDictIntoModel(
             target, checkpoint::ModelStateDict(source), {},
             "the training model")
      .status();
}

}  // namespace

std::vector<int64_t> PictureFrames(int64_t num_frames, int64_t max_frames) {
  std::vector<int64_t> frames;
  if (num_frames <= 0 || max_frames <= 0) return frames;
  const int64_t k = std::min(num_frames, max_frames);
  if (k == 1) return {0};
  for (int64_t i = 0; i < k; ++i) {
    // Rounded to the nearest frame: the first and the last are included.
    frames.push_back((i * (num_frames - 1) + (k - 1) / 2) / (k - 1));
  }
  return frames;
}

absl::StatusOr<data::Image> OverlayStrip(
    const std::vector<data::Image>& frames,
    const std::vector<const eval::LabelMap*>& pred,
    const std::vector<const eval::LabelMap*>& gt) {
  if (frames.empty() || pred.size() != frames.size() ||
      gt.size() != frames.size()) {
    return absl::InvalidArgumentError(
        "a strip needs one prediction and one ground truth per frame");
  }
  const int h = frames[0].height, w = frames[0].width;
  const int n = static_cast<int>(frames.size());
  data::Image strip(2 * h + kGap, n * w + (n - 1) * kGap, 3);
  std::fill(strip.data.begin(), strip.data.end(), 255);
  const data::PngPalette palette = data::DavisPalette();
  for (int i = 0; i < n; ++i) {
    const data::Image& frame = frames[i];
    if (frame.height != h || frame.width != w || frame.channels != 3) {
      return absl::InvalidArgumentError(
          "the strip's frames must be RGB and of one size");
    }
    for (int row = 0; row < 2; ++row) {
      const eval::LabelMap& ids = *(row == 0 ? pred[i] : gt[i]);
      if (ids.height != h || ids.width != w) {
        return absl::InvalidArgumentError(absl::StrCat(
            "a mask of ", ids.height, "x", ids.width, " over a frame of ", h,
            "x", w));
      }
      for (int y = 0; y < h; ++y) {
        uint8_t* out =
            &strip.data[((row * (h + kGap) + y) * strip.width + i * (w + kGap)) *
                        3];
        const uint8_t* in = &frame.data[static_cast<size_t>(y) * w * 3];
        for (int x = 0; x < w; ++x) {
          const uint16_t id = ids.values[static_cast<size_t>(y) * w + x];
          for (int c = 0; c < 3; ++c) {
            int v = in[x * 3 + c];
            if (id > 0) {
              const int colour = palette[id % palette.size()][c];
              v = (v + colour + 1) / 2;
            }
            out[x * 3 + c] = static_cast<uint8_t>(v);
          }
        }
      }
    }
  }
  return strip;
}

absl::StatusOr<std::unique_ptr<VosValidator>> VosValidator::Create(
    const VosValidationOptions& options,
    const modeling::SAM2BaseOptions& model_options,
    torch::nn::Module& source_model, distributed::Collectives& world,
    RunLog& log, tensorboard::EventWriter* images) {
  SAM2_ASSIGN_OR_RETURN(std::vector<std::string> videos,
                        inference::ListVideos(options.img_folder,
                                              options.file_list_txt));
  if (options.max_videos > 0 &&
      static_cast<int64_t>(videos.size()) > options.max_videos) {
    videos.resize(options.max_videos);
  }
  if (videos.empty()) {
    return absl::NotFoundError(
        absl::StrCat("data.val_vos: no videos in ",
                     options.file_list_txt.empty() ? options.img_folder
                                                   : options.file_list_txt));
  }
  // Frame counts balance the split; every rank lists the same.
  std::vector<distributed::WorkUnit> units;
  for (const std::string& video : videos) {
    SAM2_ASSIGN_OR_RETURN(
        std::vector<inference::FrameFile> frames,
        inference::ListJpegFrames(eval::PathJoin(options.img_folder, video)));
    units.push_back({video, static_cast<uint64_t>(frames.size())});
  }
  SAM2_ASSIGN_OR_RETURN(
      modeling::SAM2Base model,
      base::CallCatchingTorchErrors(
          "building the validation model",
          [&]() -> absl::StatusOr<modeling::SAM2Base> {
            modeling::SAM2Base model(model_options);
            model->to(options.device);
            return model;
          }));
  std::unique_ptr<VosValidator> validator(
      new VosValidator(options, std::move(model),
                       static_cast<int>(model_options.image_size),
                       source_model, world, log, images));
  validator->videos_ = std::move(videos);
  validator->mine_ =
      distributed::MyShareOfWork(units, world.rank(), world.world_size());
  log.Info(absl::StrFormat(
      "VOS validation: %d videos of %s (%d on this rank) on %s%s, "
      "score_thresh %g, %s the first and last frame%s",
      validator->videos_.size(), options.img_folder, validator->mine_.size(),
      options.device.str(),
      options.autocast_bf16 ? " with bfloat16 autocast" : "",
      options.score_thresh,
      options.skip_first_and_last_frame ? "skipping" : "scoring",
      options.pictures_dir.empty() || options.num_pictures == 0
          ? ""
          : absl::StrCat("; pictures of ",
                         std::min<int64_t>(options.num_pictures,
                                           validator->videos_.size()),
                         " in ", options.pictures_dir)));
  return validator;
}

std::string VosValidator::PicturePath(int64_t epoch,
                                      const std::string& video) const {
  return absl::StrCat(options_.pictures_dir, "/epoch_", epoch, "/", video,
                      ".png");
}

absl::StatusOr<eval::VideoResult> VosValidator::RunVideo(
    size_t index, int64_t epoch, inference::VideoPredictor& predictor) {
  const std::string& video = videos_[index];
  std::map<std::string, eval::LabelMap> pred;
  inference::VosInferenceOptions run;
  run.base_video_dir = options_.img_folder;
  run.input_mask_dir = options_.gt_folder;
  run.score_thresh = options_.score_thresh;
  run.frame_sink = [&pred](const std::string& frame, const data::Image& ids) {
    pred[frame + ".png"] = ToLabelMap(ids);
    return absl::OkStatus();
  };
  SAM2_RETURN_IF_ERROR(
      inference::RunVosInferenceOnVideo(predictor, run, video, image_size_)
          .status());
  SAM2_ASSIGN_OR_RETURN(auto gt, ReadGroundTruth(options_.gt_folder, video));
  SAM2_ASSIGN_OR_RETURN(
      eval::VideoResult result,
      eval::EvaluateDavisVideo(video, gt, pred,
                               options_.skip_first_and_last_frame));
  if (options_.pictures_dir.empty() ||
      static_cast<int64_t>(index) >= options_.num_pictures) {
    return result;
  }
  // The picture: frames of the video that have both masks.
  SAM2_ASSIGN_OR_RETURN(std::vector<inference::FrameFile> files,
                        inference::ListJpegFrames(
                            eval::PathJoin(options_.img_folder, video)));
  std::vector<inference::FrameFile> scored;
  for (const inference::FrameFile& file : files) {
    const std::string png = file.name + ".png";
    if (gt.count(png) && pred.count(png)) scored.push_back(file);
  }
  std::vector<data::Image> frames;
  std::vector<const eval::LabelMap*> pred_maps, gt_maps;
  for (int64_t t : PictureFrames(scored.size(), options_.picture_max_frames)) {
    SAM2_ASSIGN_OR_RETURN(data::Image rgb, data::ReadJpegFile(scored[t].path));
    frames.push_back(std::move(rgb));
    pred_maps.push_back(&pred.at(scored[t].name + ".png"));
    gt_maps.push_back(&gt.at(scored[t].name + ".png"));
  }
  if (frames.empty()) return result;
  SAM2_ASSIGN_OR_RETURN(data::Image strip,
                        OverlayStrip(frames, pred_maps, gt_maps));
  const std::string path = PicturePath(epoch, video);
  std::error_code ec;
  fs::create_directories(fs::path(path).parent_path(), ec);
  if (ec) {
    return absl::UnavailableError(
        absl::StrCat(path, ": cannot create its folder: ", ec.message()));
  }
  SAM2_RETURN_IF_ERROR(data::WritePngFile(path, strip));
  return result;
}

absl::StatusOr<std::map<std::string, double>> VosValidator::Validate(
    int64_t epoch) {
  const double start = Now();
  SAM2_RETURN_IF_ERROR(CopyWeights(source_, *model_));
  inference::VideoPredictorOptions predictor_options;
  // DAVIS layout, as the reference's main() without per_obj_png_file.
  predictor_options.non_overlap_masks = true;
  inference::VideoPredictor predictor(model_, predictor_options);

  const size_t n = videos_.size();
  std::vector<std::optional<eval::VideoResult>> local(n);
  int failures = 0;
  std::string first_error;
  int64_t frames = 0;
  for (size_t index : mine_) {
    absl::StatusOr<eval::VideoResult> result;
    {
      AutocastScope autocast(options_.autocast_bf16,
                             options_.device.type(), at::kBFloat16);
      result = RunVideo(index, epoch, predictor);
    }
    if (!result.ok()) {
      ++failures;
      const std::string message = absl::StrCat(
          "VOS validation, video ", videos_[index], ": ",
          result.status().message());
      log_.Error(message);
      if (first_error.empty()) first_error = message;
      continue;
    }
    for (const auto& [object, lists] : result->per_frame) {
      frames = std::max<int64_t>(frames, lists.frames.size());
    }
    local[index] = *std::move(result);
  }

  // Every rank learns each video's object count (and the failures), then
  // every object's id, J and F. Each value is summed with zeros only, so
  // the gathered numbers are the computing rank's, bit for bit.
  at::Tensor counts = at::zeros({static_cast<int64_t>(n) + 1}, at::kDouble);
  double* count = counts.data_ptr<double>();
  for (size_t i = 0; i < n; ++i) {
    if (local[i]) count[i] = static_cast<double>(local[i]->objects.size());
  }
  count[n] = failures;
  std::vector<at::Tensor> gather = {counts};
  world_.AllReduceSum(gather);
  counts = gather[0].contiguous();
  count = counts.data_ptr<double>();
  if (count[n] > 0) {
    return absl::InternalError(
        !first_error.empty()
            ? first_error
            : absl::StrCat("VOS validation failed on another rank (",
                           static_cast<int64_t>(count[n]), " video(s))"));
  }
  std::vector<int64_t> offsets(n + 1, 0);
  for (size_t i = 0; i < n; ++i) {
    offsets[i + 1] = offsets[i] + static_cast<int64_t>(count[i]);
  }
  at::Tensor values = at::zeros({offsets[n], 3}, at::kDouble);
  double* value = values.data_ptr<double>();
  for (size_t i = 0; i < n; ++i) {
    if (!local[i]) continue;
    for (size_t k = 0; k < local[i]->objects.size(); ++k) {
      const eval::ObjectResult& object = local[i]->objects[k];
      double* row = value + 3 * (offsets[i] + static_cast<int64_t>(k));
      row[0] = std::stod(object.name);  // DAVIS layout: the object id
      row[1] = object.j;
      row[2] = object.f;
    }
  }
  gather = {values};
  world_.AllReduceSum(gather);
  values = gather[0].contiguous();
  value = values.data_ptr<double>();
  std::vector<eval::VideoResult> results(n);
  int64_t objects = 0;
  for (size_t i = 0; i < n; ++i) {
    results[i].name = videos_[i];
    for (int64_t k = offsets[i]; k < offsets[i + 1]; ++k) {
      const std::string name =
          std::to_string(static_cast<int64_t>(value[3 * k]));
      results[i].objects.push_back({name, eval::ObjectLabel(name, true),
                                    value[3 * k + 1], value[3 * k + 2]});
      ++objects;
    }
  }
  // The scorer's order: videos by name.
  std::sort(results.begin(), results.end(),
            [](const eval::VideoResult& a, const eval::VideoResult& b) {
              return a.name < b.name;
            });
  const eval::GlobalScores global = eval::ComputeGlobalScores(results);
  last_results_ = std::move(results);

  // Pictures in TensorBoard: rank 0 reads every rank's strips (the log
  // directory is shared, as the checkpoints are).
  const int64_t pictures =
      options_.pictures_dir.empty()
          ? 0
          : std::min<int64_t>(options_.num_pictures, static_cast<int64_t>(n));
  if (pictures > 0) world_.Barrier();  // the other ranks' files are written
  if (images_ != nullptr && world_.is_main()) {
    for (int64_t i = 0; i < pictures; ++i) {
      const std::string path = PicturePath(epoch, videos_[i]);
      absl::StatusOr<std::string> png = data::ReadFileToString(path);
      if (!png.ok()) {
        log_.Warning(absl::StrCat("VOS validation picture for TensorBoard: ",
                                  png.status().message()));
        continue;
      }
      absl::StatusOr<data::PngInfo> info = data::ReadPngInfo(
          reinterpret_cast<const uint8_t*>(png->data()), png->size(), path);
      if (!info.ok()) continue;
      images_->AddImage(absl::StrCat("val_pictures/", videos_[i]), *png,
                        info->height, info->width, 3, epoch);
    }
    images_->Flush();
  }
  log_.Info(absl::StrFormat(
      "VOS validation after epoch %d: J&F %.2f (J %.2f, F %.2f) on %d videos, "
      "%d objects, in %.1f s%s",
      epoch, global.jf, global.j, global.f, n, objects, Now() - start,
      pictures > 0
          ? absl::StrCat("; pictures in ", options_.pictures_dir, "/epoch_",
                         epoch)
          : ""));
  return std::map<std::string, double>{
      {kValJ, global.j}, {kValF, global.f}, {kValJF, global.jf}};
}

}  // namespace sam2::training
