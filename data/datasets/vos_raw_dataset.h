// Raw video-object-segmentation datasets: which videos exist, their frames
// (image path + frame index) and a segment loader per video (port of
// training/dataset/vos_raw_dataset.py).
//
// Differences from the reference, on purpose:
//  - directory listings are sorted everywhere (os.listdir order is arbitrary);
//  - JSONRawDataset frame listing only considers *.jpg files;
//  - VOSFrame.data (a preloaded tensor) is not carried: data/ has no LibTorch.
#ifndef SAM2_DATA_DATASETS_VOS_RAW_DATASET_H_
#define SAM2_DATA_DATASETS_VOS_RAW_DATASET_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "data/datasets/vos_segment_loader.h"

namespace sam2::data {

struct VosFrame {
  int frame_idx = 0;
  std::string image_path;
  bool is_conditioning_only = false;
};

struct VosVideo {
  std::string video_name;
  int64_t video_id = 0;
  std::vector<VosFrame> frames;
  size_t size() const { return frames.size(); }
};

// A video and the loader of its segments.
struct RawVideo {
  VosVideo video;
  std::unique_ptr<SegmentLoader> segment_loader;
};

// Implementations are immutable after Create(): GetVideo may be called from
// several threads at once.
class VosRawDataset {
 public:
  virtual ~VosRawDataset() = default;
  virtual int64_t size() const = 0;
  // Errors (missing folders/files, malformed annotations) name the file.
  virtual absl::StatusOr<RawVideo> GetVideo(int64_t idx) const = 0;
  // The dataset's entries (a video may repeat, see frames_sampling_mult).
  virtual const std::vector<std::string>& video_names() const = 0;
};

// InvalidArgument naming the mask's source and the image when a segment's
// size differs from the frame's JPEG size (read from its header only).
absl::Status CheckSegmentsMatchFrame(const FrameSegments& segments,
                                     const VosFrame& frame);

// Names listed in a text file, one a line, whitespace-stripped, extension
// removed (os.path.splitext), empty lines skipped.
absl::StatusOr<std::vector<std::string>> ReadNameList(const std::string& path);

// DAVIS / MOSE / YouTube-VOS layout:
//   <img_folder>/<video>/<frame>.jpg, <gt_folder>/<video>/<frame>.png
// (palettised), or with is_palette = false one PNG per object:
//   <gt_folder>/<video>/<obj>/<frame %05d>.png.
struct PngRawDatasetOptions {
  std::string img_folder;
  std::string gt_folder;
  std::string file_list_txt;  // empty: every folder in img_folder
  std::vector<std::string> excluded_videos_list_txts;
  int sample_rate = 1;
  bool is_palette = true;
  // Each (video, object) pair is one entry "<video>/<obj>"; implies the
  // per-object PNG layout.
  bool single_object_mode = false;
  int truncate_video = -1;  // > 0: keep the first N frames (before sampling)
  // Repeat each video once per frame file, so that long videos are sampled
  // proportionally more often.
  bool frames_sampling_mult = false;
};

class PngRawDataset : public VosRawDataset {
 public:
  static absl::StatusOr<std::unique_ptr<PngRawDataset>> Create(
      const PngRawDatasetOptions& options);
  int64_t size() const override { return video_names_.size(); }
  absl::StatusOr<RawVideo> GetVideo(int64_t idx) const override;
  const std::vector<std::string>& video_names() const override {
    return video_names_;
  }

 private:
  PngRawDatasetOptions options_;
  std::vector<std::string> video_names_;
};

// SA-1B: <img_folder>/<name>.jpg + <gt_folder>/<name>.json, names like
// "sa_123"; video_name is the part after the last '_' and video_id its
// integer value. Every video has num_frames copies of the one image.
struct Sa1bRawDatasetOptions {
  std::string img_folder;
  std::string gt_folder;
  std::string file_list_txt;  // empty: every *.jpg in img_folder
  std::vector<std::string> excluded_videos_list_txts;
  int num_frames = 1;
  double mask_area_frac_thresh = 1.1;  // > 1: no filtering
  double uncertain_iou = -1;           // < 0: no filtering
};

class Sa1bRawDataset : public VosRawDataset {
 public:
  static absl::StatusOr<std::unique_ptr<Sa1bRawDataset>> Create(
      const Sa1bRawDatasetOptions& options);
  int64_t size() const override { return video_names_.size(); }
  absl::StatusOr<RawVideo> GetVideo(int64_t idx) const override;
  const std::vector<std::string>& video_names() const override {
    return video_names_;
  }

 private:
  Sa1bRawDatasetOptions options_;
  std::vector<std::string> video_names_;
};

// SA-V: frames <img_folder>/<video>/<%05d>.jpg, masklets
// <gt_folder>/<video>_manual.json.
struct JsonRawDatasetOptions {
  std::string img_folder;
  std::string gt_folder;
  std::string file_list_txt;  // empty: every folder in img_folder
  std::vector<std::string> excluded_videos_list_txts;
  int sample_rate = 1;
  // Drop frames that are not annotated (or have a null masklet).
  bool rm_unannotated = true;
  int ann_every = 1;
  int frames_fps = 24;
};

class JsonRawDataset : public VosRawDataset {
 public:
  static absl::StatusOr<std::unique_ptr<JsonRawDataset>> Create(
      const JsonRawDatasetOptions& options);
  int64_t size() const override { return video_names_.size(); }
  absl::StatusOr<RawVideo> GetVideo(int64_t idx) const override;
  const std::vector<std::string>& video_names() const override {
    return video_names_;
  }

 private:
  JsonRawDatasetOptions options_;
  std::vector<std::string> video_names_;
};

}  // namespace sam2::data

#endif  // SAM2_DATA_DATASETS_VOS_RAW_DATASET_H_
