#include "sam2/inference/vos_inference.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <system_error>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "base/status_macros.h"
#include "base/torch_errors.h"
#include "data/codecs/image.h"
#include "data/codecs/png.h"
#include "sam2/checkpoint/state_dict.h"
#include "sam2/checkpoint/torch_file.h"
#include "sam2/inference/frame_loader.h"

namespace sam2::inference {
namespace {

namespace fs = std::filesystem;

constexpr float kNoObjScore = -1024.0f;

std::string Join(const std::string& a, const std::string& b) {
  return (fs::path(a) / b).string();
}

bool Exists(const std::string& path) {
  std::error_code ec;
  return fs::exists(path, ec);
}

// One frame's input masks: object id -> bool [H, W], in the reference's
// dict order, and the palette of the PNG read last (none for gray PNGs).
struct FrameMasks {
  std::vector<std::pair<int64_t, at::Tensor>> masks;
  std::optional<data::PngPalette> palette;
};

absl::StatusOr<data::Image> ReadMaskPng(const std::string& path,
                                        const VideoFrames& video,
                                        data::PngInfo* info) {
  SAM2_ASSIGN_OR_RETURN(data::Image png, data::ReadPngFile(path, info));
  if (png.channels != 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        path, ": a mask must be a palettised or grayscale PNG, this one has ",
        png.channels, " channels"));
  }
  if (png.height != video.video_height || png.width != video.video_width) {
    return absl::InvalidArgumentError(absl::StrCat(
        path, ": mask is ", png.width, "x", png.height, " but the video is ",
        video.video_width, "x", video.video_height));
  }
  return png;
}

at::Tensor ToTensor(const data::Image& png) {
  return at::from_blob(const_cast<uint8_t*>(png.data.data()),
                       {png.height, png.width}, at::kByte)
      .clone();
}

// The object sub-folders of a per-object input video, by integer id.
absl::StatusOr<std::vector<std::pair<int64_t, std::string>>> ObjectFolders(
    const std::string& video_mask_dir) {
  std::error_code ec;
  if (!fs::is_directory(video_mask_dir, ec)) {
    return absl::NotFoundError(
        absl::StrCat(video_mask_dir, ": no such mask folder"));
  }
  std::vector<std::pair<int64_t, std::string>> objects;
  for (const fs::directory_entry& entry :
       fs::directory_iterator(video_mask_dir, ec)) {
    if (!entry.is_directory()) continue;
    const std::string name = entry.path().filename().string();
    int64_t id = 0;
    if (!absl::SimpleAtoi(name, &id)) {
      return absl::InvalidArgumentError(absl::StrCat(
          entry.path().string(),
          ": per-object mask folders must be named by object id (e.g. 001)"));
    }
    objects.emplace_back(id, name);
  }
  // listdir order in the reference; sorted here so that runs repeat.
  std::sort(objects.begin(), objects.end());
  return objects;
}

// load_masks_from_dir.
absl::StatusOr<FrameMasks> LoadFrameMasks(const VosInferenceOptions& options,
                                          const std::string& video_name,
                                          const std::string& frame_name,
                                          const VideoFrames& video,
                                          bool allow_missing) {
  FrameMasks out;
  const std::string video_mask_dir = Join(options.input_mask_dir, video_name);
  if (!options.per_obj_png_file) {
    const std::string path = Join(video_mask_dir, frame_name + ".png");
    if (allow_missing && !Exists(path)) return out;
    data::PngInfo info;
    SAM2_ASSIGN_OR_RETURN(data::Image png, ReadMaskPng(path, video, &info));
    if (info.color_type == data::PngColorType::kPalette) {
      out.palette = info.palette;
    }
    const at::Tensor ids = ToTensor(png);
    const at::Tensor unique = std::get<0>(at::_unique(ids, /*sorted=*/true));
    for (int64_t i = 0; i < unique.numel(); ++i) {
      const int64_t id = unique[i].item<int64_t>();
      if (id > 0) out.masks.emplace_back(id, ids == id);
    }
    return out;
  }
  SAM2_ASSIGN_OR_RETURN(const auto objects, ObjectFolders(video_mask_dir));
  for (const auto& [id, folder] : objects) {
    const std::string path =
        Join(Join(video_mask_dir, folder), frame_name + ".png");
    if (allow_missing && !Exists(path)) continue;
    data::PngInfo info;
    SAM2_ASSIGN_OR_RETURN(data::Image png, ReadMaskPng(path, video, &info));
    out.palette.reset();
    if (info.color_type == data::PngColorType::kPalette) {
      out.palette = info.palette;
    }
    out.masks.emplace_back(id, ToTensor(png) > 0);
  }
  return out;
}

absl::Status MakeDirs(const std::string& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) {
    return absl::UnavailableError(
        absl::StrCat(dir, ": cannot create folder: ", ec.message()));
  }
  return absl::OkStatus();
}

// save_masks_to_dir: `masks` bool [N, H, W] for `obj_ids`.
absl::Status SaveFrameMasks(const VosInferenceOptions& options,
                            const std::string& video_name,
                            const std::string& frame_name,
                            const std::vector<int64_t>& obj_ids,
                            const at::Tensor& masks,
                            const data::PngPalette& palette) {
  const std::string video_dir = Join(options.output_mask_dir, video_name);
  if (options.frame_sink && options.per_obj_png_file) {
    return absl::InvalidArgumentError(
        "VosInferenceOptions.frame_sink takes DAVIS-layout id maps only");
  }
  if (!options.frame_sink) SAM2_RETURN_IF_ERROR(MakeDirs(video_dir));
  const int h = masks.size(1), w = masks.size(2);
  const at::Tensor m = masks.to(at::kCPU).to(at::kByte).contiguous();
  const uint8_t* bits = m.data_ptr<uint8_t>();
  const size_t plane = static_cast<size_t>(h) * w;
  if (!options.per_obj_png_file) {
    data::Image ids(h, w, 1);
    // Highest id first, so that lower ids win where objects overlap.
    std::vector<size_t> order(obj_ids.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::sort(order.begin(), order.end(),
              [&](size_t a, size_t b) { return obj_ids[a] > obj_ids[b]; });
    for (size_t i : order) {
      if (obj_ids[i] > 255) {
        return absl::InvalidArgumentError(absl::StrCat(
            "object id ", obj_ids[i], " does not fit an 8-bit PNG"));
      }
      for (size_t p = 0; p < plane; ++p) {
        if (bits[i * plane + p]) ids.data[p] = static_cast<uint8_t>(obj_ids[i]);
      }
    }
    if (options.frame_sink) return options.frame_sink(frame_name, ids);
    return data::WritePalettePngFile(Join(video_dir, frame_name + ".png"), ids,
                                     palette);
  }
  for (size_t i = 0; i < obj_ids.size(); ++i) {
    const std::string obj_dir =
        Join(video_dir, absl::StrFormat("%03d", obj_ids[i]));
    SAM2_RETURN_IF_ERROR(MakeDirs(obj_dir));
    data::Image binary(h, w, 1);
    for (size_t p = 0; p < plane; ++p) binary.data[p] = bits[i * plane + p];
    SAM2_RETURN_IF_ERROR(data::WritePalettePngFile(
        Join(obj_dir, frame_name + ".png"), binary, palette));
  }
  return absl::OkStatus();
}

absl::Status AddNoObjectsError(const std::string& video_name,
                               const std::string& what) {
  return absl::InvalidArgumentError(absl::StrCat(
      video_name, ": ", what,
      "; for datasets whose objects do not all appear in the first frame "
      "(LVOS, YouTube-VOS) pass --track_object_appearing_later_in_video"));
}

// vos_inference: all objects tracked together from their input frames.
absl::Status RunTogether(VideoPredictor& predictor,
                         const VosInferenceOptions& options,
                         const std::string& video_name,
                         std::optional<data::PngPalette>& input_palette,
                         int64_t* num_objects) {
  const VideoFrames& video = predictor.frames();
  const std::vector<std::string>& names = video.frame_names;
  const std::string video_mask_dir = Join(options.input_mask_dir, video_name);
  std::vector<int64_t> input_frames;
  if (!options.use_all_masks) {
    input_frames = {0};
  } else {
    std::vector<std::string> folders = {video_mask_dir};
    if (options.per_obj_png_file) {
      folders.clear();
      SAM2_ASSIGN_OR_RETURN(const auto objects, ObjectFolders(video_mask_dir));
      for (const auto& o : objects) {
        folders.push_back(Join(video_mask_dir, o.second));
      }
    }
    for (size_t t = 0; t < names.size(); ++t) {
      for (const std::string& folder : folders) {
        if (Exists(Join(folder, names[t] + ".png"))) {
          input_frames.push_back(t);
          break;
        }
      }
    }
    if (input_frames.empty()) {
      return absl::NotFoundError(
          absl::StrCat(video_mask_dir, ": no input masks for ", video_name));
    }
  }
  std::optional<std::vector<int64_t>> object_ids;
  for (int64_t t : input_frames) {
    SAM2_ASSIGN_OR_RETURN(
        FrameMasks frame,
        LoadFrameMasks(options, video_name, names[t], video, false));
    input_palette = frame.palette;
    if (!object_ids.has_value()) {
      object_ids.emplace();
      for (const auto& m : frame.masks) object_ids->push_back(m.first);
    }
    for (const auto& [id, mask] : frame.masks) {
      if (std::find(object_ids->begin(), object_ids->end(), id) ==
          object_ids->end()) {
        return AddNoObjectsError(
            video_name, absl::StrCat("object id ", id, " appears on frame ", t,
                                     " but not on the first input frame"));
      }
      SAM2_RETURN_IF_ERROR(predictor.AddNewMask(t, id, mask));
    }
  }
  if (!object_ids.has_value() || object_ids->empty()) {
    return AddNoObjectsError(
        video_name, absl::StrCat("no objects in the input masks of frame ",
                                 names[input_frames[0]]));
  }
  *num_objects = object_ids->size();
  const data::PngPalette palette = input_palette.value_or(data::DavisPalette());
  // Frames are written as they come (the reference collects them first; the
  // files are the same).
  return predictor.PropagateInVideo(
      [&](int64_t t, const at::Tensor& masks) -> absl::Status {
        return SaveFrameMasks(
            options, video_name, names[t], predictor.obj_ids(),
            (masks > options.score_thresh).squeeze(1), palette);
      });
}

// vos_separate_inference_per_object.
absl::Status RunPerObject(VideoPredictor& predictor,
                          const VosInferenceOptions& options,
                          const std::string& video_name,
                          std::optional<data::PngPalette>& input_palette,
                          int64_t* num_objects) {
  const VideoFrames& video = predictor.frames();
  const std::vector<std::string>& names = video.frame_names;
  std::map<int64_t, std::map<int64_t, at::Tensor>> inputs_per_object;
  for (size_t t = 0; t < names.size(); ++t) {
    if (!options.per_obj_png_file &&
        !Exists(Join(Join(options.input_mask_dir, video_name),
                     names[t] + ".png"))) {
      continue;
    }
    SAM2_ASSIGN_OR_RETURN(
        FrameMasks frame,
        LoadFrameMasks(options, video_name, names[t], video, true));
    input_palette = frame.palette;
    for (const auto& [id, mask] : frame.masks) {
      if (!mask.any().item<bool>()) continue;
      std::map<int64_t, at::Tensor>& inputs = inputs_per_object[id];
      if (!inputs.empty() && !options.use_all_masks) continue;
      inputs[t] = mask;
    }
  }
  if (inputs_per_object.empty()) {
    return absl::NotFoundError(
        absl::StrCat(Join(options.input_mask_dir, video_name),
                     ": no non-empty input mask for any object"));
  }
  std::vector<int64_t> object_ids;
  std::vector<std::map<int64_t, at::Tensor>> scores_per_object;
  for (const auto& [id, inputs] : inputs_per_object) {
    object_ids.push_back(id);
    predictor.ResetState();
    for (const auto& [t, mask] : inputs) {
      SAM2_RETURN_IF_ERROR(predictor.AddNewMask(t, id, mask));
    }
    std::map<int64_t, at::Tensor>& scores = scores_per_object.emplace_back();
    SAM2_RETURN_IF_ERROR(predictor.PropagateInVideo(
        [&](int64_t t, const at::Tensor& masks) {
          // Off the accelerator: a whole video of scores per object.
          scores[t] = masks.to(at::kCPU, at::kFloat);
          return absl::OkStatus();
        },
        inputs.begin()->first));
  }
  const data::PngPalette palette = input_palette.value_or(data::DavisPalette());
  const int64_t n = object_ids.size();
  *num_objects = n;
  for (size_t t = 0; t < names.size(); ++t) {
    at::Tensor scores = at::full({n, 1, video.video_height, video.video_width},
                                 kNoObjScore, at::kFloat);
    for (int64_t i = 0; i < n; ++i) {
      auto it = scores_per_object[i].find(t);
      if (it != scores_per_object[i].end()) scores[i].copy_(it->second[0]);
    }
    if (!options.per_obj_png_file) {
      scores = predictor.ApplyNonOverlappingConstraints(scores);
    }
    SAM2_RETURN_IF_ERROR(
        SaveFrameMasks(options, video_name, names[t], object_ids,
                       (scores > options.score_thresh).squeeze(1), palette));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<modeling::SAM2Base> LoadVideoModel(
    const modeling::SAM2BaseOptions& options, const std::string& checkpoint) {
  return base::CallCatchingTorchErrors(
      checkpoint, [&]() -> absl::StatusOr<modeling::SAM2Base> {
        modeling::SAM2Base model(options);
        SAM2_ASSIGN_OR_RETURN(checkpoint::TensorDict state_dict,
                              checkpoint::LoadStateDict(checkpoint));
        SAM2_RETURN_IF_ERROR(checkpoint::LoadStateDictIntoModel(
                                 *model, state_dict, {}, checkpoint)
                                 .status());
        return model;
      });
}

absl::StatusOr<std::vector<std::string>> ListVideos(
    const std::string& base_video_dir, const std::string& video_list_file) {
  std::vector<std::string> videos;
  if (!video_list_file.empty()) {
    std::ifstream in(video_list_file);
    if (!in) {
      return absl::NotFoundError(
          absl::StrCat(video_list_file, ": cannot read the video list"));
    }
    std::string line;
    while (std::getline(in, line)) {
      const std::string name(absl::StripAsciiWhitespace(line));
      if (!name.empty()) videos.push_back(name);
    }
    return videos;
  }
  std::error_code ec;
  if (!fs::is_directory(base_video_dir, ec)) {
    return absl::NotFoundError(
        absl::StrCat(base_video_dir, ": no such folder"));
  }
  for (const fs::directory_entry& entry :
       fs::directory_iterator(base_video_dir, ec)) {
    if (entry.is_directory()) {
      videos.push_back(entry.path().filename().string());
    }
  }
  std::sort(videos.begin(), videos.end());
  return videos;
}

absl::StatusOr<VideoRunStats> RunVosInferenceOnVideo(
    VideoPredictor& predictor, const VosInferenceOptions& options,
    const std::string& video_name, int image_size) {
  const auto start = std::chrono::steady_clock::now();
  SAM2_ASSIGN_OR_RETURN(
      VideoFrames frames,
      LoadVideoFrames(Join(options.base_video_dir, video_name), image_size));
  VideoRunStats stats;
  stats.num_frames = frames.frame_names.size();
  predictor.InitState(std::move(frames));
  std::optional<data::PngPalette> input_palette;
  absl::Status status = base::CallCatchingTorchErrors(
      absl::StrCat("video ", video_name), [&]() -> absl::Status {
        return options.track_object_appearing_later_in_video
                   ? RunPerObject(predictor, options, video_name, input_palette,
                                  &stats.num_objects)
                   : RunTogether(predictor, options, video_name, input_palette,
                                 &stats.num_objects);
      });
  SAM2_RETURN_IF_ERROR(status);
  stats.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
          .count();
  return stats;
}

}  // namespace sam2::inference
