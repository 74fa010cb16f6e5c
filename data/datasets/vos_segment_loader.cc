#include "data/datasets/vos_segment_loader.h"

#include <algorithm>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "data/codecs/file_io.h"
#include "data/codecs/jpeg.h"
#include "data/codecs/png.h"
#include "data/codecs/rle_json.h"

namespace sam2::data {
namespace {

namespace fs = std::filesystem;

bool Wanted(int obj_id, const std::vector<int>* obj_ids) {
  return obj_ids == nullptr ||
         std::find(obj_ids->begin(), obj_ids->end(), obj_id) != obj_ids->end();
}

std::string JoinPath(const std::string& a, const std::string& b) {
  return (fs::path(a) / b).string();
}

// Sorted names of the entries of `dir` (files and folders).
absl::StatusOr<std::vector<std::string>> ListDir(const std::string& dir) {
  std::error_code error;
  fs::directory_iterator it(dir, error);
  if (error) {
    return absl::NotFoundError(
        absl::StrCat(dir, ": cannot list directory: ", error.message()));
  }
  std::vector<std::string> names;
  for (const fs::directory_entry& entry : it) {
    names.push_back(entry.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

bool HasExtension(const std::string& name, const std::string& ext) {
  return name.size() > ext.size() &&
         name.compare(name.size() - ext.size(), ext.size(), ext) == 0;
}

// int(os.path.splitext(name)[0]).
absl::StatusOr<int> IntStem(const std::string& name, const std::string& dir) {
  int value = 0;
  if (!absl::SimpleAtoi(fs::path(name).stem().string(), &value)) {
    return absl::InvalidArgumentError(absl::StrCat(
        JoinPath(dir, name), ": file name is not an integer frame/object id"));
  }
  return value;
}

absl::StatusOr<nlohmann::json> ReadJsonFile(const std::string& path) {
  absl::StatusOr<std::string> text = ReadFileToString(path);
  if (!text.ok()) return text.status();
  nlohmann::json json = nlohmann::json::parse(*text, /*cb=*/nullptr,
                                              /*allow_exceptions=*/false);
  if (json.is_discarded()) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": malformed JSON"));
  }
  return json;
}

// One mask per non-zero value of a label map (0 is background), for the
// wanted ids only, in one pass. `stride` samples per pixel, the first one is
// the label. slot[value] is the index of the value's mask, kUnseen before
// the value first appears, kUnwanted for ids the caller did not ask for: a
// table instead of a map lookup per foreground pixel.
template <typename T>
FrameSegments SplitLabels(const T* labels, int stride, int height, int width,
                          const std::vector<int>* obj_ids,
                          const std::string& path) {
  constexpr int kUnseen = -1, kUnwanted = -2;
  std::vector<int> slot(size_t{1} << (8 * sizeof(T)), kUnseen);
  std::vector<int> ids;
  std::vector<Mask> masks;
  std::vector<uint8_t*> out;  // masks[k].data.data()
  const size_t num_pixels = static_cast<size_t>(height) * width;
  for (size_t i = 0; i < num_pixels; ++i) {
    const T value = labels[i * stride];
    if (value == 0) continue;
    int s = slot[value];
    if (s == kUnseen) {
      if (Wanted(value, obj_ids)) {
        s = static_cast<int>(masks.size());
        ids.push_back(value);
        masks.emplace_back(height, width);
        out.clear();
        for (Mask& m : masks) out.push_back(m.data.data());
      } else {
        s = kUnwanted;
      }
      slot[value] = s;
    }
    if (s >= 0) out[s][i] = 1;
  }
  // SetMask keeps ids ascending whatever the order of first appearance.
  FrameSegments segments;
  for (size_t k = 0; k < masks.size(); ++k) {
    segments.SetMask(ids[k], std::move(masks[k]), path);
  }
  return segments;
}

}  // namespace

// ----------------------------------------------------------------------------
// FrameSegments

void FrameSegments::SetMask(int obj_id, Mask mask, std::string source) {
  Entry& entry = entries_[obj_id];
  entry.kind = Entry::Kind::kMask;
  entry.rle = Rle();
  entry.mask = std::move(mask);
  entry.source = std::move(source);
}

void FrameSegments::SetRle(int obj_id, Rle rle, std::string source) {
  Entry& entry = entries_[obj_id];
  entry.kind = Entry::Kind::kRle;
  entry.rle = std::move(rle);
  entry.mask.reset();
  entry.source = std::move(source);
}

void FrameSegments::SetNull(int obj_id, std::string source) {
  Entry& entry = entries_[obj_id];
  entry.kind = Entry::Kind::kNull;
  entry.rle = Rle();
  entry.mask.reset();
  entry.source = std::move(source);
}

std::vector<int> FrameSegments::ObjectIds() const {
  std::vector<int> ids;
  ids.reserve(entries_.size());
  for (const auto& [id, entry] : entries_) ids.push_back(id);
  return ids;
}

bool FrameSegments::IsNull(int obj_id) const {
  auto it = entries_.find(obj_id);
  return it != entries_.end() && it->second.kind == Entry::Kind::kNull;
}

absl::StatusOr<const FrameSegments::Entry*> FrameSegments::Find(
    int obj_id) const {
  auto it = entries_.find(obj_id);
  if (it == entries_.end()) {
    return absl::NotFoundError(absl::StrCat("no segment for object ", obj_id));
  }
  if (it->second.kind == Entry::Kind::kNull) {
    return absl::FailedPreconditionError(absl::StrCat(
        it->second.source, ": object ", obj_id, " has no annotation (null)"));
  }
  if (it->second.kind == Entry::Kind::kTaken) {
    return absl::FailedPreconditionError(
        absl::StrCat(it->second.source, ": the mask of object ", obj_id,
                     " was already taken"));
  }
  return &it->second;
}

absl::StatusOr<int64_t> FrameSegments::Area(int obj_id) const {
  absl::StatusOr<const Entry*> entry = Find(obj_id);
  if (!entry.ok()) return entry.status();
  if ((*entry)->mask.has_value()) return (*entry)->mask->Area();
  return RleArea((*entry)->rle);
}

absl::StatusOr<ImageSize> FrameSegments::SizeOf(int obj_id) const {
  absl::StatusOr<const Entry*> entry = Find(obj_id);
  if (!entry.ok()) return entry.status();
  if ((*entry)->kind == Entry::Kind::kMask) return (*entry)->mask->size();
  return ImageSize{(*entry)->rle.height, (*entry)->rle.width};
}

absl::StatusOr<const Mask*> FrameSegments::Get(int obj_id) const {
  absl::StatusOr<const Entry*> found = Find(obj_id);
  if (!found.ok()) return found.status();
  const Entry& entry = **found;
  if (!entry.mask.has_value()) {
    absl::StatusOr<Mask> decoded = DecodeRle(entry.rle, entry.source);
    if (!decoded.ok()) return decoded.status();
    entry.mask = std::move(*decoded);
  }
  return &*entry.mask;
}

absl::StatusOr<Mask> FrameSegments::Take(int obj_id) {
  absl::StatusOr<const Mask*> mask = Get(obj_id);
  if (!mask.ok()) return mask.status();
  Entry& entry = entries_.find(obj_id)->second;
  Mask out = std::move(*entry.mask);
  entry.mask.reset();
  entry.rle = Rle();
  entry.kind = Entry::Kind::kTaken;
  return out;
}

std::string FrameSegments::SourceOf(int obj_id) const {
  auto it = entries_.find(obj_id);
  return it == entries_.end() ? std::string() : it->second.source;
}

absl::Status FrameSegments::CheckSize(ImageSize frame_size,
                                      absl::string_view frame_source) const {
  for (const auto& [id, entry] : entries_) {
    if (entry.kind == Entry::Kind::kNull || entry.kind == Entry::Kind::kTaken) {
      continue;
    }
    absl::StatusOr<ImageSize> size = SizeOf(id);
    if (!size.ok()) return size.status();
    if (*size != frame_size) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "%s: mask of object %d is %dx%d (HxW) but frame %s is %dx%d",
          entry.source, id, size->height, size->width, frame_source,
          frame_size.height, frame_size.width));
    }
  }
  return absl::OkStatus();
}

// ----------------------------------------------------------------------------
// PalettisedPngSegmentLoader

absl::StatusOr<std::unique_ptr<PalettisedPngSegmentLoader>>
PalettisedPngSegmentLoader::Create(const std::string& video_png_root) {
  absl::StatusOr<std::vector<std::string>> names = ListDir(video_png_root);
  if (!names.ok()) return names.status();
  auto loader = std::unique_ptr<PalettisedPngSegmentLoader>(
      new PalettisedPngSegmentLoader());
  loader->root_ = video_png_root;
  for (const std::string& name : *names) {
    if (!HasExtension(name, ".png")) continue;
    absl::StatusOr<int> frame = IntStem(name, video_png_root);
    if (!frame.ok()) return frame.status();
    loader->frame_to_filename_[*frame] = name;
  }
  return loader;
}

std::vector<int> PalettisedPngSegmentLoader::FrameIds() const {
  std::vector<int> ids;
  for (const auto& [frame, name] : frame_to_filename_) ids.push_back(frame);
  return ids;
}

absl::StatusOr<FrameSegments> PalettisedPngSegmentLoader::LoadImpl(
    int frame_idx, const std::vector<int>* obj_ids) const {
  auto it = frame_to_filename_.find(frame_idx);
  if (it == frame_to_filename_.end()) {
    return absl::NotFoundError(
        absl::StrCat(root_, ": no mask PNG for frame ", frame_idx));
  }
  const std::string path = JoinPath(root_, it->second);
  absl::StatusOr<std::string> bytes = ReadFileToString(path);
  if (!bytes.ok()) return bytes.status();
  const auto* data = reinterpret_cast<const uint8_t*>(bytes->data());
  absl::StatusOr<PngInfo> info = ReadPngInfo(data, bytes->size(), path);
  if (!info.ok()) return info.status();
  if (info->channels > 2) {
    return absl::InvalidArgumentError(absl::StrCat(
        path, ": expected a palette or grayscale PNG of object ids, got ",
        info->channels, " channels"));
  }
  // Object ids are the stored VALUES. The 8-bit decode keeps them for
  // palette indices of any depth and for 8-bit gray (it would rescale 1/2/4-
  // and 16-bit gray), and is the common case (DAVIS / MOSE): one byte per
  // pixel to scan instead of two.
  if (info->color_type == PngColorType::kPalette || info->bit_depth == 8) {
    absl::StatusOr<Image> labels = DecodePng(data, bytes->size(), path);
    if (!labels.ok()) return labels.status();
    return SplitLabels(labels->data.data(), labels->channels, labels->height,
                       labels->width, obj_ids, path);
  }
  absl::StatusOr<Image16> labels = DecodePng16(data, bytes->size(), path);
  if (!labels.ok()) return labels.status();
  return SplitLabels(labels->data.data(), labels->channels, labels->height,
                     labels->width, obj_ids, path);
}

// ----------------------------------------------------------------------------
// MultiplePngSegmentLoader

absl::StatusOr<std::unique_ptr<MultiplePngSegmentLoader>>
MultiplePngSegmentLoader::Create(const std::string& video_png_root,
                                 bool single_object_mode) {
  auto loader =
      std::unique_ptr<MultiplePngSegmentLoader>(new MultiplePngSegmentLoader());
  loader->root_ = video_png_root;
  loader->single_object_mode_ = single_object_mode;
  std::string first_png;
  if (single_object_mode) {
    const std::string folder = fs::path(video_png_root).filename().string();
    absl::StatusOr<int> obj =
        IntStem(folder, fs::path(video_png_root).parent_path());
    if (!obj.ok()) return obj.status();
    loader->objects_.push_back({*obj + 1, video_png_root});  // 0 = background
    absl::StatusOr<std::vector<std::string>> names = ListDir(video_png_root);
    if (!names.ok()) return names.status();
    for (const std::string& name : *names) {
      if (HasExtension(name, ".png")) {
        first_png = JoinPath(video_png_root, name);
        break;
      }
    }
  } else {
    absl::StatusOr<std::vector<std::string>> folders = ListDir(video_png_root);
    if (!folders.ok()) return folders.status();
    for (const std::string& folder : *folders) {
      const std::string path = JoinPath(video_png_root, folder);
      if (!fs::is_directory(path)) continue;
      absl::StatusOr<int> obj = IntStem(folder, video_png_root);
      if (!obj.ok()) return obj.status();
      loader->objects_.push_back({*obj + 1, path});
      if (!first_png.empty()) continue;
      absl::StatusOr<std::vector<std::string>> names = ListDir(path);
      if (!names.ok()) return names.status();
      for (const std::string& name : *names) {
        if (HasExtension(name, ".png")) {
          first_png = JoinPath(path, name);
          break;
        }
      }
    }
  }
  if (first_png.empty()) {
    return absl::NotFoundError(
        absl::StrCat(video_png_root, ": no mask PNG found"));
  }
  absl::StatusOr<PngInfo> info = ReadPngFileInfo(first_png);
  if (!info.ok()) return info.status();
  loader->size_ = {info->height, info->width};
  return loader;
}

absl::StatusOr<FrameSegments> MultiplePngSegmentLoader::LoadImpl(
    int frame_idx, const std::vector<int>* obj_ids) const {
  FrameSegments segments;
  const std::string file = absl::StrFormat("%05d.png", frame_idx);
  for (const auto& [obj_id, folder] : objects_) {
    if (!Wanted(obj_id, obj_ids)) continue;
    const std::string path = JoinPath(folder, file);
    Mask mask(size_.height, size_.width);
    if (fs::exists(path)) {
      absl::StatusOr<Image16> image = ReadPng16File(path);
      if (!image.ok()) return image.status();
      if (image->size() != size_) {
        return absl::InvalidArgumentError(absl::StrFormat(
            "%s: mask is %dx%d (HxW) but the video's masks are %dx%d", path,
            image->height, image->width, size_.height, size_.width));
      }
      for (size_t i = 0; i < mask.data.size(); ++i) {
        mask.data[i] = image->data[i * image->channels] > 0;
      }
    }  // else: the object is absent from this frame, an all-zero mask
    segments.SetMask(obj_id, std::move(mask), path);
  }
  return segments;
}

// ----------------------------------------------------------------------------
// JsonSegmentLoader

absl::StatusOr<std::unique_ptr<JsonSegmentLoader>> JsonSegmentLoader::Create(
    const std::string& video_json_path, const Options& options) {
  absl::StatusOr<nlohmann::json> json = ReadJsonFile(video_json_path);
  if (!json.ok()) return json.status();
  auto loader = std::unique_ptr<JsonSegmentLoader>(new JsonSegmentLoader());
  loader->path_ = video_json_path;
  loader->ann_every_ = options.ann_every;
  loader->valid_obj_ids_ = options.valid_obj_ids;

  const nlohmann::json* frames = nullptr;
  std::string field = "masklet";
  if (json->is_array()) {
    frames = &*json;
    field = "";
  } else if (json->is_object()) {
    if (!json->contains("masklet")) field = "masks";
    auto it = json->find(field);
    if (it == json->end() || !it->is_array()) {
      return absl::InvalidArgumentError(absl::StrCat(
          video_json_path, ": needs a \"masklet\" or \"masks\" list"));
    }
    frames = &*it;
    auto fps = json->find("fps");
    if (fps != json->end()) {
      const nlohmann::json& value =
          fps->is_array() && !fps->empty() ? (*fps)[0] : *fps;
      if (!value.is_number()) {
        return absl::InvalidArgumentError(
            absl::StrCat(video_json_path, ": \"fps\" is not a number"));
      }
      const int annotation_fps = static_cast<int>(value.get<double>());
      if (annotation_fps <= 0 || options.frames_fps % annotation_fps != 0) {
        return absl::InvalidArgumentError(absl::StrCat(
            video_json_path, ": frames_fps ", options.frames_fps,
            " is not a multiple of the annotation fps ", annotation_fps));
      }
      loader->ann_every_ = options.frames_fps / annotation_fps;
    }
  } else {
    return absl::InvalidArgumentError(absl::StrCat(
        video_json_path, ": expected a list or an object at the top level"));
  }
  if (loader->ann_every_ <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(video_json_path, ": ann_every must be positive, got ",
                     loader->ann_every_));
  }

  const std::string prefix = field.empty()
                                 ? video_json_path
                                 : absl::StrCat(video_json_path, ": ", field);
  loader->annots_.reserve(frames->size());
  for (size_t f = 0; f < frames->size(); ++f) {
    const nlohmann::json& frame = (*frames)[f];
    if (frame.is_null()) {
      loader->annots_.emplace_back(std::nullopt);
      continue;
    }
    if (!frame.is_array()) {
      return absl::InvalidArgumentError(
          absl::StrCat(prefix, "[", f, "] is not a list of masklets"));
    }
    std::vector<std::optional<Rle>> masklets;
    masklets.reserve(frame.size());
    for (size_t o = 0; o < frame.size(); ++o) {
      if (frame[o].is_null()) {
        masklets.emplace_back(std::nullopt);
        continue;
      }
      absl::StatusOr<Rle> rle =
          RleFromJson(frame[o], absl::StrCat(prefix, "[", f, "][", o, "]"));
      if (!rle.ok()) return rle.status();
      masklets.emplace_back(std::move(*rle));
    }
    loader->annots_.emplace_back(std::move(masklets));
  }
  return loader;
}

int JsonSegmentLoader::num_objects() const {
  if (annots_.empty() || !annots_[0].has_value()) return 0;
  return static_cast<int>(annots_[0]->size());
}

bool JsonSegmentLoader::IsFullyAnnotated(int annot_idx) const {
  if (annot_idx < 0 || annot_idx >= static_cast<int>(annots_.size()) ||
      !annots_[annot_idx].has_value()) {
    return false;
  }
  for (const std::optional<Rle>& masklet : *annots_[annot_idx]) {
    if (!masklet.has_value()) return false;
  }
  return true;
}

std::map<int, std::vector<int>> JsonSegmentLoader::GetValidObjFramesIds(
    std::optional<int> num_frames_min) const {
  std::map<int, std::vector<int>> result;
  const int num = num_objects();
  for (int obj = 0; obj < num; ++obj) result[obj];
  for (size_t i = 0; i < annots_.size(); ++i) {
    if (!annots_[i].has_value()) continue;
    for (int obj = 0; obj < num && obj < static_cast<int>(annots_[i]->size());
         ++obj) {
      if ((*annots_[i])[obj].has_value()) {
        result[obj].push_back(static_cast<int>(i) * ann_every_);
      }
    }
  }
  if (num_frames_min.has_value()) {
    for (auto it = result.begin(); it != result.end();) {
      if (static_cast<int>(it->second.size()) < *num_frames_min) {
        it = result.erase(it);
      } else {
        ++it;
      }
    }
  }
  return result;
}

absl::StatusOr<FrameSegments> JsonSegmentLoader::LoadImpl(
    int frame_idx, const std::vector<int>* obj_ids) const {
  if (frame_idx < 0 || frame_idx % ann_every_ != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        path_, ": frame ", frame_idx, " is not annotated (annotations every ",
        ann_every_, " frames)"));
  }
  const size_t annot_idx = frame_idx / ann_every_;
  if (annot_idx >= annots_.size()) {
    return absl::OutOfRangeError(absl::StrCat(path_, ": frame ", frame_idx,
                                              " is past the ", annots_.size(),
                                              " annotated frames"));
  }
  if (!annots_[annot_idx].has_value()) {
    return absl::FailedPreconditionError(
        absl::StrCat(path_, ": frame ", frame_idx, " has a null annotation"));
  }
  const std::vector<std::optional<Rle>>& masklets = *annots_[annot_idx];
  FrameSegments segments;
  for (int obj = 0; obj < static_cast<int>(masklets.size()); ++obj) {
    if (valid_obj_ids_.has_value() &&
        std::find(valid_obj_ids_->begin(), valid_obj_ids_->end(), obj) ==
            valid_obj_ids_->end()) {
      continue;
    }
    if (!Wanted(obj, obj_ids)) continue;
    std::string source =
        absl::StrCat(path_, ": frame ", frame_idx, " masklet ", obj);
    if (masklets[obj].has_value()) {
      segments.SetRle(obj, *masklets[obj], std::move(source));
    } else {
      segments.SetNull(obj, std::move(source));
    }
  }
  return segments;
}

// ----------------------------------------------------------------------------
// Sa1bSegmentLoader

absl::StatusOr<std::unique_ptr<Sa1bSegmentLoader>> Sa1bSegmentLoader::Create(
    const std::string& video_mask_path, const std::string& video_frame_path,
    const Options& options) {
  absl::StatusOr<nlohmann::json> json = ReadJsonFile(video_mask_path);
  if (!json.ok()) return json.status();
  if (!json->is_object() || !json->contains("annotations") ||
      !(*json)["annotations"].is_array()) {
    return absl::InvalidArgumentError(
        absl::StrCat(video_mask_path, ": needs an \"annotations\" list"));
  }
  double image_area = 0;
  if (options.mask_area_frac_thresh <= 1.0) {
    absl::StatusOr<ImageSize> size = ReadJpegFileSize(video_frame_path);
    if (!size.ok()) return size.status();
    image_area = static_cast<double>(size->height) * size->width;
  }
  auto loader = std::unique_ptr<Sa1bSegmentLoader>(new Sa1bSegmentLoader());
  loader->path_ = video_mask_path;
  const nlohmann::json& annotations = (*json)["annotations"];
  for (size_t i = 0; i < annotations.size(); ++i) {
    const nlohmann::json& annotation = annotations[i];
    const std::string source =
        absl::StrCat(video_mask_path, ": annotations[", i, "]");
    if (!annotation.is_object() || !annotation.contains("area") ||
        !annotation["area"].is_number() ||
        !annotation.contains("segmentation")) {
      return absl::InvalidArgumentError(absl::StrCat(
          source, " needs a numeric \"area\" and a \"segmentation\""));
    }
    const double area = annotation["area"].get<double>();
    if (!(area > 0)) continue;
    // The reference reads "uncertain_iou" (a stability score) only when the
    // field exists; SA-1B's own files name it "stability_score", which the
    // reference does not filter on. We keep that behaviour.
    auto uncertain = annotation.find("uncertain_iou");
    if (uncertain != annotation.end() && uncertain->is_number() &&
        uncertain->get<double>() < options.uncertain_iou) {
      continue;
    }
    if (options.mask_area_frac_thresh <= 1.0 &&
        area / image_area >= options.mask_area_frac_thresh) {
      continue;
    }
    absl::StatusOr<Rle> rle = RleFromJson(annotation["segmentation"], source);
    if (!rle.ok()) return rle.status();
    loader->rles_.push_back({std::move(*rle), source});
  }
  return loader;
}

absl::StatusOr<FrameSegments> Sa1bSegmentLoader::LoadImpl(
    int frame_idx, const std::vector<int>* obj_ids) const {
  FrameSegments segments;
  segments.set_every_object_visible(true);
  for (int i = 0; i < static_cast<int>(rles_.size()); ++i) {
    if (!Wanted(i, obj_ids)) continue;
    segments.SetRle(i, rles_[i].first, rles_[i].second);
  }
  return segments;
}

}  // namespace sam2::data
