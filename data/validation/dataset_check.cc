#include "data/validation/dataset_check.h"

#include <algorithm>
#include <atomic>
#include <mutex>
#include <set>
#include <thread>

#include "absl/strings/str_cat.h"
#include "data/codecs/jpeg.h"

namespace sam2::data {
namespace {

// The problems of one video, found by one thread.
struct VideoResult {
  int64_t frames = 0;
  int64_t masks = 0;
  std::vector<DatasetProblem> problems;
};

VideoResult CheckVideo(const VosRawDataset& dataset, int64_t index,
                       const DatasetCheckOptions& options) {
  VideoResult result;
  const std::string name = dataset.video_names()[static_cast<size_t>(index)];
  auto add = [&](int frame, int obj, std::string kind, std::string detail) {
    result.problems.push_back(
        {name, frame, obj, std::move(kind), std::move(detail)});
  };
  absl::StatusOr<RawVideo> raw = dataset.GetVideo(index);
  if (!raw.ok()) {
    add(-1, -1, "unreadable video", std::string(raw.status().message()));
    return result;
  }
  const VosVideo& video = raw->video;
  if (video.frames.empty()) {
    add(-1, -1, "no frames", "the video has no frame images");
    return result;
  }
  if (options.min_frames > 0 &&
      static_cast<int>(video.frames.size()) < options.min_frames) {
    add(-1, -1, "too short",
        absl::StrCat(video.frames.size(),
                     " frames, fewer than the sampler's "
                     "num_frames ",
                     options.min_frames));
  }
  std::set<int> objects, visible;
  for (const VosFrame& frame : video.frames) {
    ++result.frames;
    absl::StatusOr<Image> image = ReadJpegFile(frame.image_path);
    if (!image.ok()) {
      add(frame.frame_idx, -1, "unreadable image",
          std::string(image.status().message()));
    }
    absl::StatusOr<FrameSegments> segments =
        raw->segment_loader->Load(frame.frame_idx);
    if (!segments.ok()) {
      add(frame.frame_idx, -1, "unreadable annotation",
          std::string(segments.status().message()));
      continue;
    }
    if (image.ok()) {
      if (absl::Status s = segments->CheckSize({image->height, image->width},
                                               frame.image_path);
          !s.ok()) {
        add(frame.frame_idx, -1, "size mismatch", std::string(s.message()));
      }
    }
    for (int id : segments->ObjectIds()) {
      objects.insert(id);
      if (segments->IsNull(id)) continue;  // annotated elsewhere, not here
      if (id < 0) {
        add(frame.frame_idx, id, "bad object id",
            absl::StrCat(segments->SourceOf(id), ": negative object id"));
      }
      absl::StatusOr<const Mask*> mask = segments->Get(id);
      ++result.masks;
      if (!mask.ok()) {
        add(frame.frame_idx, id, "bad mask",
            std::string(mask.status().message()));
        continue;
      }
      if (segments->every_object_visible()) {
        visible.insert(id);
        continue;
      }
      absl::StatusOr<int64_t> area = segments->Area(id);
      if (area.ok() && *area > 0) visible.insert(id);
    }
  }
  if (objects.empty()) {
    add(-1, -1, "no objects", "no frame of the video has an object mask");
  }
  for (int id : objects) {
    if (!visible.count(id)) {
      add(-1, id, "empty object",
          "the object's mask is empty (or missing) on every frame");
    }
  }
  return result;
}

}  // namespace

DatasetCheckReport CheckDataset(const VosRawDataset& dataset,
                                const DatasetCheckOptions& options) {
  std::vector<int64_t> mine;
  for (int64_t i = 0; i < dataset.size(); ++i) {
    if (i % options.num_shards == options.shard) mine.push_back(i);
  }
  std::vector<VideoResult> results(mine.size());
  std::atomic<size_t> next{0};
  auto work = [&] {
    for (size_t k = next++; k < mine.size(); k = next++) {
      results[k] = CheckVideo(dataset, mine[k], options);
    }
  };
  std::vector<std::thread> threads;
  const int n = std::max(
      1, std::min<int>(options.threads, static_cast<int>(mine.size())));
  for (int t = 1; t < n; ++t) threads.emplace_back(work);
  work();
  for (std::thread& t : threads) t.join();
  DatasetCheckReport report;
  report.videos = static_cast<int64_t>(mine.size());
  for (VideoResult& r : results) {
    report.frames += r.frames;
    report.masks += r.masks;
    for (DatasetProblem& p : r.problems) {
      ++report.problems_by_kind[p.kind];
      report.problems.push_back(std::move(p));
    }
  }
  return report;
}

std::string FormatProblem(const DatasetProblem& p) {
  std::string where = absl::StrCat("video '", p.video, "'");
  if (p.frame_idx >= 0) absl::StrAppend(&where, ", frame ", p.frame_idx);
  if (p.obj_id != -1) absl::StrAppend(&where, ", object ", p.obj_id);
  return absl::StrCat(where, ": ", p.kind, ": ", p.detail);
}

}  // namespace sam2::data
