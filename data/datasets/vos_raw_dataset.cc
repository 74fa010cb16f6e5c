#include "data/datasets/vos_raw_dataset.h"

#include <algorithm>
#include <filesystem>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "data/codecs/file_io.h"
#include "data/codecs/jpeg.h"

namespace sam2::data {
namespace {

namespace fs = std::filesystem;

std::string JoinPath(const std::string& a, const std::string& b) {
  return (fs::path(a) / b).string();
}

enum class Entries { kAll, kDirectories, kFiles };

// Sorted entry names of `dir`.
absl::StatusOr<std::vector<std::string>> ListDir(const std::string& dir,
                                                 Entries which) {
  std::error_code error;
  fs::directory_iterator it(dir, error);
  if (error) {
    return absl::NotFoundError(
        absl::StrCat(dir, ": cannot list directory: ", error.message()));
  }
  std::vector<std::string> names;
  for (const fs::directory_entry& entry : it) {
    if (which == Entries::kDirectories && !entry.is_directory()) continue;
    if (which == Entries::kFiles && entry.is_directory()) continue;
    names.push_back(entry.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

bool HasExtension(const std::string& name, const std::string& ext) {
  return name.size() > ext.size() &&
         name.compare(name.size() - ext.size(), ext.size(), ext) == 0;
}

// os.path.splitext(name)[0]: strips the last extension, leading dots kept.
std::string StripExtension(const std::string& name) {
  const size_t slash = name.find_last_of('/');
  const size_t base = slash == std::string::npos ? 0 : slash + 1;
  size_t first_non_dot = base;
  while (first_non_dot < name.size() && name[first_non_dot] == '.')
    ++first_non_dot;
  const size_t dot = name.find_last_of('.');
  if (dot == std::string::npos || dot < first_non_dot) return name;
  return name.substr(0, dot);
}

// Union of the names in every exclusion list.
absl::StatusOr<std::set<std::string>> ReadExcluded(
    const std::vector<std::string>& lists) {
  std::set<std::string> excluded;
  for (const std::string& list : lists) {
    absl::StatusOr<std::vector<std::string>> names = ReadNameList(list);
    if (!names.ok()) return names.status();
    excluded.insert(names->begin(), names->end());
  }
  return excluded;
}

// The file list, or the folders of img_folder; minus the excluded names.
absl::StatusOr<std::vector<std::string>> VideoSubset(
    const std::string& file_list_txt, const std::string& img_folder,
    const std::vector<std::string>& excluded_lists, bool sort) {
  absl::StatusOr<std::vector<std::string>> subset =
      file_list_txt.empty() ? ListDir(img_folder, Entries::kDirectories)
                            : ReadNameList(file_list_txt);
  if (!subset.ok()) return subset.status();
  absl::StatusOr<std::set<std::string>> excluded = ReadExcluded(excluded_lists);
  if (!excluded.ok()) return excluded.status();
  std::vector<std::string> names;
  for (const std::string& name : *subset) {
    if (excluded->count(name) == 0) names.push_back(name);
  }
  if (sort) std::sort(names.begin(), names.end());
  return names;
}

absl::StatusOr<int> ParseFrameIndex(const std::string& text,
                                    const std::string& path) {
  int value = 0;
  if (!absl::SimpleAtoi(text, &value)) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": file name does not start with a frame number"));
  }
  return value;
}

absl::Status CheckIndex(int64_t idx, size_t size) {
  if (idx < 0 || static_cast<size_t>(idx) >= size) {
    return absl::OutOfRangeError(
        absl::StrCat("video index ", idx, " out of range [0, ", size, ")"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status CheckSegmentsMatchFrame(const FrameSegments& segments,
                                     const VosFrame& frame) {
  absl::StatusOr<ImageSize> size = ReadJpegFileSize(frame.image_path);
  if (!size.ok()) return size.status();
  return segments.CheckSize(*size, frame.image_path);
}

absl::StatusOr<std::vector<std::string>> ReadNameList(const std::string& path) {
  absl::StatusOr<std::string> text = ReadFileToString(path);
  if (!text.ok()) return text.status();
  std::vector<std::string> names;
  for (absl::string_view line : absl::StrSplit(*text, '\n')) {
    const std::string name(absl::StripAsciiWhitespace(line));
    if (!name.empty()) names.push_back(StripExtension(name));
  }
  return names;
}

// ----------------------------------------------------------------------------
// PngRawDataset

absl::StatusOr<std::unique_ptr<PngRawDataset>> PngRawDataset::Create(
    const PngRawDatasetOptions& options) {
  if (options.sample_rate < 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "PngRawDataset: sample_rate must be >= 1, got ", options.sample_rate));
  }
  absl::StatusOr<std::vector<std::string>> videos =
      VideoSubset(options.file_list_txt, options.img_folder,
                  options.excluded_videos_list_txts, /*sort=*/true);
  if (!videos.ok()) return videos.status();
  auto dataset = std::unique_ptr<PngRawDataset>(new PngRawDataset());
  dataset->options_ = options;
  std::vector<std::string> names = std::move(*videos);
  if (options.single_object_mode) {
    std::vector<std::string> per_object;
    for (const std::string& video : names) {
      absl::StatusOr<std::vector<std::string>> objects =
          ListDir(JoinPath(options.gt_folder, video), Entries::kAll);
      if (!objects.ok()) return objects.status();
      for (const std::string& obj : *objects)
        per_object.push_back(video + "/" + obj);
    }
    std::sort(per_object.begin(), per_object.end());
    names = std::move(per_object);
  }
  if (options.frames_sampling_mult) {
    std::vector<std::string> repeated;
    for (const std::string& name : names) {
      const std::string frame_root = options.single_object_mode
                                         ? fs::path(name).parent_path().string()
                                         : name;
      absl::StatusOr<std::vector<std::string>> files =
          ListDir(JoinPath(options.img_folder, frame_root), Entries::kAll);
      if (!files.ok()) return files.status();
      repeated.insert(repeated.end(), files->size(), name);
    }
    names = std::move(repeated);
  }
  dataset->video_names_ = std::move(names);
  return dataset;
}

absl::StatusOr<RawVideo> PngRawDataset::GetVideo(int64_t idx) const {
  absl::Status in_range = CheckIndex(idx, video_names_.size());
  if (!in_range.ok()) return in_range;
  const std::string& name = video_names_[idx];
  const std::string frame_root =
      JoinPath(options_.img_folder, options_.single_object_mode
                                        ? fs::path(name).parent_path().string()
                                        : name);
  const std::string mask_root = JoinPath(options_.gt_folder, name);

  RawVideo result;
  if (options_.is_palette) {
    absl::StatusOr<std::unique_ptr<PalettisedPngSegmentLoader>> loader =
        PalettisedPngSegmentLoader::Create(mask_root);
    if (!loader.ok()) return loader.status();
    result.segment_loader = std::move(*loader);
  } else {
    absl::StatusOr<std::unique_ptr<MultiplePngSegmentLoader>> loader =
        MultiplePngSegmentLoader::Create(mask_root,
                                         options_.single_object_mode);
    if (!loader.ok()) return loader.status();
    result.segment_loader = std::move(*loader);
  }

  absl::StatusOr<std::vector<std::string>> files =
      ListDir(frame_root, Entries::kFiles);
  if (!files.ok()) return files.status();
  std::vector<std::string> jpgs;
  for (const std::string& file : *files) {
    if (HasExtension(file, ".jpg")) jpgs.push_back(file);
  }
  if (options_.truncate_video > 0 &&
      jpgs.size() > static_cast<size_t>(options_.truncate_video)) {
    jpgs.resize(options_.truncate_video);
  }
  result.video.video_name = name;
  result.video.video_id = idx;
  for (size_t i = 0; i < jpgs.size(); i += options_.sample_rate) {
    const std::string path = JoinPath(frame_root, jpgs[i]);
    // As the reference: the frame number is the name up to the first dot.
    absl::StatusOr<int> frame_idx =
        ParseFrameIndex(jpgs[i].substr(0, jpgs[i].find('.')), path);
    if (!frame_idx.ok()) return frame_idx.status();
    result.video.frames.push_back({*frame_idx, path});
  }
  return result;
}

// ----------------------------------------------------------------------------
// Sa1bRawDataset

absl::StatusOr<std::unique_ptr<Sa1bRawDataset>> Sa1bRawDataset::Create(
    const Sa1bRawDatasetOptions& options) {
  if (options.num_frames < 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "Sa1bRawDataset: num_frames must be >= 1, got ", options.num_frames));
  }
  std::vector<std::string> subset;
  if (options.file_list_txt.empty()) {
    absl::StatusOr<std::vector<std::string>> files =
        ListDir(options.img_folder, Entries::kFiles);
    if (!files.ok()) return files.status();
    for (const std::string& file : *files) {
      if (HasExtension(file, ".jpg"))
        subset.push_back(file.substr(0, file.find('.')));
    }
  } else {
    absl::StatusOr<std::vector<std::string>> names =
        ReadNameList(options.file_list_txt);
    if (!names.ok()) return names.status();
    subset = std::move(*names);
  }
  absl::StatusOr<std::set<std::string>> excluded =
      ReadExcluded(options.excluded_videos_list_txts);
  if (!excluded.ok()) return excluded.status();
  auto dataset = std::unique_ptr<Sa1bRawDataset>(new Sa1bRawDataset());
  dataset->options_ = options;
  // The reference keeps the file list's order (not sorted).
  for (const std::string& name : subset) {
    if (excluded->count(name) == 0) dataset->video_names_.push_back(name);
  }
  return dataset;
}

absl::StatusOr<RawVideo> Sa1bRawDataset::GetVideo(int64_t idx) const {
  absl::Status in_range = CheckIndex(idx, video_names_.size());
  if (!in_range.ok()) return in_range;
  const std::string& name = video_names_[idx];
  const std::string frame_path = JoinPath(options_.img_folder, name + ".jpg");
  const std::string mask_path = JoinPath(options_.gt_folder, name + ".json");

  Sa1bSegmentLoader::Options loader_options;
  loader_options.mask_area_frac_thresh = options_.mask_area_frac_thresh;
  loader_options.uncertain_iou = options_.uncertain_iou;
  absl::StatusOr<std::unique_ptr<Sa1bSegmentLoader>> loader =
      Sa1bSegmentLoader::Create(mask_path, frame_path, loader_options);
  if (!loader.ok()) return loader.status();

  RawVideo result;
  result.segment_loader = std::move(*loader);
  // File names are sa_<int>; the id is the image id used by evaluation.
  const size_t underscore = name.find_last_of('_');
  result.video.video_name =
      underscore == std::string::npos ? name : name.substr(underscore + 1);
  if (!absl::SimpleAtoi(result.video.video_name, &result.video.video_id)) {
    return absl::InvalidArgumentError(absl::StrCat(
        frame_path, ": SA-1B image names must end in _<integer id>"));
  }
  for (int i = 0; i < options_.num_frames; ++i) {
    result.video.frames.push_back({i, frame_path});
  }
  return result;
}

// ----------------------------------------------------------------------------
// JsonRawDataset

absl::StatusOr<std::unique_ptr<JsonRawDataset>> JsonRawDataset::Create(
    const JsonRawDatasetOptions& options) {
  if (options.sample_rate < 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "JsonRawDataset: sample_rate must be >= 1, got ", options.sample_rate));
  }
  absl::StatusOr<std::vector<std::string>> videos =
      VideoSubset(options.file_list_txt, options.img_folder,
                  options.excluded_videos_list_txts, /*sort=*/true);
  if (!videos.ok()) return videos.status();
  auto dataset = std::unique_ptr<JsonRawDataset>(new JsonRawDataset());
  dataset->options_ = options;
  dataset->video_names_ = std::move(*videos);
  return dataset;
}

absl::StatusOr<RawVideo> JsonRawDataset::GetVideo(int64_t idx) const {
  absl::Status in_range = CheckIndex(idx, video_names_.size());
  if (!in_range.ok()) return in_range;
  const std::string& name = video_names_[idx];
  const std::string json_path =
      JoinPath(options_.gt_folder, name + "_manual.json");
  JsonSegmentLoader::Options loader_options;
  loader_options.ann_every = options_.ann_every;
  loader_options.frames_fps = options_.frames_fps;
  absl::StatusOr<std::unique_ptr<JsonSegmentLoader>> loader =
      JsonSegmentLoader::Create(json_path, loader_options);
  if (!loader.ok()) return loader.status();

  const std::string frame_root = JoinPath(options_.img_folder, name);
  absl::StatusOr<std::vector<std::string>> files =
      ListDir(frame_root, Entries::kFiles);
  if (!files.ok()) return files.status();
  std::vector<int> frame_ids;
  for (const std::string& file : *files) {
    if (!HasExtension(file, ".jpg")) continue;
    absl::StatusOr<int> frame_idx =
        ParseFrameIndex(StripExtension(file), JoinPath(frame_root, file));
    if (!frame_idx.ok()) return frame_idx.status();
    frame_ids.push_back(*frame_idx);
  }

  RawVideo result;
  result.video.video_name = name;
  result.video.video_id = idx;
  const int ann_every = (*loader)->ann_every();
  for (size_t i = 0; i < frame_ids.size(); i += options_.sample_rate) {
    const int frame_idx = frame_ids[i];
    if (options_.rm_unannotated &&
        (frame_idx % ann_every != 0 ||
         !(*loader)->IsFullyAnnotated(frame_idx / ann_every))) {
      continue;
    }
    result.video.frames.push_back(
        {frame_idx,
         JoinPath(frame_root, absl::StrFormat("%05d.jpg", frame_idx))});
  }
  result.segment_loader = std::move(*loader);
  return result;
}

}  // namespace sam2::data
