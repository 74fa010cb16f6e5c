#include "data/datasets/vos_dataset.h"

#include <algorithm>
#include <map>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "data/codecs/jpeg.h"
#include "data/codecs/png.h"

namespace sam2::data {

absl::StatusOr<Image> LoadRgbImage(const std::string& path) {
  if (!absl::EndsWithIgnoreCase(path, ".png")) return ReadJpegFile(path);
  PngInfo info;
  absl::StatusOr<Image> png = ReadPngFile(path, &info);
  if (!png.ok()) return png.status();
  if (info.color_type == PngColorType::kPalette) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": palette PNG frames are not supported"));
  }
  if (png->channels == 3) return png;
  Image rgb(png->height, png->width, 3);
  const size_t n = static_cast<size_t>(png->height) * png->width;
  for (size_t i = 0; i < n; ++i) {
    for (int c = 0; c < 3; ++c) {
      // Gray (+alpha): replicate; RGBA: drop alpha.
      rgb.data[3 * i + c] =
          png->data[i * png->channels + (png->channels >= 3 ? c : 0)];
    }
  }
  return rgb;
}

VosDataset::VosDataset(std::shared_ptr<const VosRawDataset> videos,
                       std::shared_ptr<const VosSampler> sampler,
                       std::shared_ptr<const Transform> transforms,
                       VosDatasetOptions options)
    : videos_(std::move(videos)),
      sampler_(std::move(sampler)),
      transforms_(std::move(transforms)),
      options_(options) {}

std::vector<float> VosDataset::repeat_factors() const {
  return std::vector<float>(static_cast<size_t>(size()), options_.multiplier);
}

std::string VosDataset::VideoName(int64_t index) const {
  const std::vector<std::string>& names = videos_->video_names();
  if (index >= 0 && index < static_cast<int64_t>(names.size())) {
    return names[index];
  }
  return "?";
}

absl::StatusOr<VideoDatapoint> VosDataset::Construct(
    const VosVideo& video, SampledFramesAndObjects& sampled,
    const SegmentLoader& segment_loader) const {
  VideoDatapoint datapoint;
  datapoint.video_id = video.video_id;
  std::map<std::string, size_t> decoded;  // path -> frame holding it
  for (size_t t = 0; t < sampled.frames.size(); ++t) {
    const VosFrame& vf = sampled.frames[t];
    Frame frame;
    auto cached = decoded.find(vf.image_path);
    if (cached != decoded.end()) {
      // SA-1B repeats one image: decode once (the reference deep-copies).
      frame.image = datapoint.frames[cached->second].image;
    } else {
      absl::StatusOr<Image> image = LoadRgbImage(vf.image_path);
      if (!image.ok()) return image.status();
      frame.image = std::move(*image);
      decoded[vf.image_path] = t;
    }
    const ImageSize size = frame.image.size();

    std::optional<FrameSegments> loaded;
    if (t == 0 && sampled.first_frame_segments) {
      loaded = std::move(sampled.first_frame_segments);
      sampled.first_frame_segments.reset();
    } else {
      absl::StatusOr<FrameSegments> segments =
          segment_loader.Load(vf.frame_idx, sampled.object_ids);
      if (!segments.ok()) return segments.status();
      loaded = std::move(*segments);
    }
    for (int obj_id : sampled.object_ids) {
      Object obj;
      obj.object_id = obj_id;
      obj.frame_index = vf.frame_idx;
      if (loaded->Contains(obj_id)) {
        if (loaded->IsNull(obj_id)) {
          return absl::InvalidArgumentError(
              absl::StrCat(loaded->SourceOf(obj_id), ": object ", obj_id,
                           " has no annotation (null) in frame ", vf.frame_idx,
                           "; None targets are not supported"));
        }
        // Moved, not copied: the segments are not used after this frame.
        absl::StatusOr<Mask> mask = loaded->Take(obj_id);
        if (!mask.ok()) return mask.status();
        if (mask->size() != size) {
          return absl::InvalidArgumentError(
              absl::StrCat(loaded->SourceOf(obj_id), ": mask is ", mask->height,
                           "x", mask->width, " but frame ", vf.image_path,
                           " is ", size.height, "x", size.width));
        }
        obj.segment = std::move(*mask);
      } else {
        if (!options_.always_target) continue;
        obj.segment = Mask(size.height, size.width);
      }
      frame.objects.push_back(std::move(obj));
    }
    // As the reference: the datapoint's size is that of the last frame.
    datapoint.size = size;
    datapoint.frames.push_back(std::move(frame));
  }
  return datapoint;
}

absl::StatusOr<VideoDatapoint> VosDataset::TryGet(int64_t index,
                                                  SampleContext& ctx) const {
  absl::StatusOr<RawVideo> raw = videos_->GetVideo(index);
  if (!raw.ok()) return raw.status();
  absl::StatusOr<SampledFramesAndObjects> sampled =
      sampler_->Sample(raw->video, *raw->segment_loader, ctx.rng);
  if (!sampled.ok()) return sampled.status();
  absl::StatusOr<VideoDatapoint> datapoint =
      Construct(raw->video, *sampled, *raw->segment_loader);
  if (!datapoint.ok()) return datapoint.status();
  if (transforms_) {
    if (absl::Status s = transforms_->Apply(*datapoint, ctx); !s.ok()) {
      return s;
    }
  }
  return datapoint;
}

absl::StatusOr<VideoDatapoint> VosDataset::Get(int64_t index,
                                               SampleContext& ctx) const {
  // The reference's `for retry in range(MAX_RETRIES)`: max_retries attempts
  // in all, the first one included (at least one).
  const int attempts = std::max(1, options_.max_retries);
  int64_t idx = index;
  absl::Status last;
  for (int attempt = 0; attempt < attempts; ++attempt) {
    absl::StatusOr<VideoDatapoint> datapoint = TryGet(idx, ctx);
    if (datapoint.ok()) return datapoint;
    const std::string where =
        absl::StrCat("video ", VideoName(idx), " (index ", idx, ")");
    if (!options_.training) {
      return absl::Status(datapoint.status().code(),
                          absl::StrCat("Loading ", where, " failed: ",
                                       datapoint.status().message()));
    }
    last = datapoint.status();
    if (ctx.stats) ++ctx.stats->bad_samples_skipped;
    ctx.Warn(absl::StrCat("Loading ", where, " failed (attempt ", attempt + 1,
                          "/", attempts,
                          "), trying another sample: ", last.message()));
    if (size() <= 0) break;
    idx = UniformInt(ctx.rng, 0, size() - 1);
  }
  return absl::Status(last.code(),
                      absl::StrCat("gave up after ", attempts,
                                   " failed samples starting at index ", index,
                                   "; last error: ", last.message()));
}

}  // namespace sam2::data
