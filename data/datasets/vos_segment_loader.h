// Per-video segment loaders: for a frame index, the object id -> binary mask
// map, decoded lazily (port of training/dataset/vos_segment_loader.py).
#ifndef SAM2_DATA_DATASETS_VOS_SEGMENT_LOADER_H_
#define SAM2_DATA_DATASETS_VOS_SEGMENT_LOADER_H_

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "data/codecs/image.h"
#include "data/codecs/rle.h"

namespace sam2::data {

// The segments of one frame, keyed by object id (ascending). An entry is a
// decoded mask (PNG loaders), a run-length encoding decoded on first access
// (JSON / SA-1B loaders), or null: the object exists in the video but this
// frame has no annotation for it (a JSON `null` masklet; the reference's
// `None`). Every entry remembers its source (file, and position inside it)
// for error messages.
//
// Not safe for concurrent use (Get caches decoded masks); each worker gets
// its own FrameSegments from SegmentLoader::Load.
class FrameSegments {
 public:
  void SetMask(int obj_id, Mask mask, std::string source);
  void SetRle(int obj_id, Rle rle, std::string source);
  void SetNull(int obj_id, std::string source);

  size_t size() const { return entries_.size(); }
  bool empty() const { return entries_.empty(); }
  std::vector<int> ObjectIds() const;  // ascending
  bool Contains(int obj_id) const { return entries_.count(obj_id) > 0; }
  bool IsNull(int obj_id) const;

  // Set pixels of a non-null entry; RLE entries are counted without decoding.
  // NotFound for an unknown id, FailedPrecondition for a null entry.
  absl::StatusOr<int64_t> Area(int obj_id) const;
  // Mask size of a non-null entry, without decoding.
  absl::StatusOr<ImageSize> SizeOf(int obj_id) const;
  // The decoded 0/1 mask (decoded on the first call, then cached; the
  // pointer stays valid while this object lives and is not modified).
  absl::StatusOr<const Mask*> Get(int obj_id) const;
  // The decoded mask moved out (no copy of a decoded mask, which is ~1 MB
  // at 720p); the entry then stays known (Contains, SourceOf) but holds no
  // pixels: a later Get/Take/Area/SizeOf of it is FailedPrecondition.
  absl::StatusOr<Mask> Take(int obj_id);
  // Where the entry came from ("path/00003.png", "x.json: masklet[2][1]").
  std::string SourceOf(int obj_id) const;

  // InvalidArgument naming both files if any non-null entry's size differs
  // from `frame_size` (the size of the image `frame_source`).
  absl::Status CheckSize(ImageSize frame_size,
                         absl::string_view frame_source) const;

  // SA-1B semantics: the reference returns LazySegments there and its
  // samplers take every key as a visible object without looking at pixels
  // (the loader has already dropped area-0 annotations). For the other
  // loaders, "visible" means Area(id) > 0.
  bool every_object_visible() const { return every_object_visible_; }
  void set_every_object_visible(bool v) { every_object_visible_ = v; }

 private:
  struct Entry {
    enum class Kind { kMask, kRle, kNull, kTaken } kind = Kind::kNull;
    Rle rle;
    mutable std::optional<Mask> mask;  // set for kMask, cached for kRle
    std::string source;
  };
  absl::StatusOr<const Entry*> Find(int obj_id) const;

  std::map<int, Entry> entries_;
  bool every_object_visible_ = false;
};

// Loads the segments of one video's frames. Implementations are immutable
// after Create(), so Load may be called from several threads.
class SegmentLoader {
 public:
  virtual ~SegmentLoader() = default;

  // All objects of frame `frame_idx`.
  absl::StatusOr<FrameSegments> Load(int frame_idx) const {
    return LoadImpl(frame_idx, nullptr);
  }
  // Only the objects in `obj_ids` (ids the frame does not have are skipped).
  // The reference only filters in its JSON loader; filtering the others too
  // changes nothing for callers that look up the sampled ids only.
  absl::StatusOr<FrameSegments> Load(int frame_idx,
                                     const std::vector<int>& obj_ids) const {
    return LoadImpl(frame_idx, &obj_ids);
  }

 protected:
  virtual absl::StatusOr<FrameSegments> LoadImpl(
      int frame_idx, const std::vector<int>* obj_ids) const = 0;
};

// One palettised PNG per frame (DAVIS / MOSE): <root>/<frame>.png whose
// palette indices (or 8/16-bit gray values) are object ids, 0 = background.
// File names are parsed as integers ("00012.png" and "00000012.png" both
// give frame 12). Object ids are the non-zero values present in the frame.
class PalettisedPngSegmentLoader : public SegmentLoader {
 public:
  static absl::StatusOr<std::unique_ptr<PalettisedPngSegmentLoader>> Create(
      const std::string& video_png_root);
  // Frame indices that have a mask file, ascending.
  std::vector<int> FrameIds() const;

 protected:
  absl::StatusOr<FrameSegments> LoadImpl(
      int frame_idx, const std::vector<int>* obj_ids) const override;

 private:
  std::string root_;
  std::map<int, std::string> frame_to_filename_;
};

// One PNG per object and frame.
//  - multi-object layout: <root>/<obj>/<frame %05d>.png; object id = <obj>+1
//    (0 is background); a missing frame file gives an all-zero mask.
//  - single_object_mode: <root> is one object's folder (<video>/<obj>), files
//    <root>/<frame %05d>.png, object id = int(basename(root)) + 1.
// A pixel is set when its (first-channel) value is > 0. The mask size is read
// from the first PNG found at Create().
class MultiplePngSegmentLoader : public SegmentLoader {
 public:
  static absl::StatusOr<std::unique_ptr<MultiplePngSegmentLoader>> Create(
      const std::string& video_png_root, bool single_object_mode);
  ImageSize mask_size() const { return size_; }

 protected:
  absl::StatusOr<FrameSegments> LoadImpl(
      int frame_idx, const std::vector<int>* obj_ids) const override;

 private:
  std::string root_;
  bool single_object_mode_ = false;
  ImageSize size_;
  std::vector<std::pair<int, std::string>> objects_;  // (obj id, folder)
};

// SA-V style JSON: a list of per-annotated-frame lists of RLE masklets, or a
// dict whose "masklet" (else "masks") field is that list. Annotated frame i
// is video frame i * ann_every; a top-level "fps" (number or list) sets
// ann_every = frames_fps / fps. All RLEs are parsed and validated at Create()
// (cheap: no decoding), masks are decoded on FrameSegments::Get.
class JsonSegmentLoader : public SegmentLoader {
 public:
  struct Options {
    int ann_every = 1;
    int frames_fps = 24;
    // Objects (masklet indices) kept for this video; nullopt = all.
    std::optional<std::vector<int>> valid_obj_ids;
  };
  static absl::StatusOr<std::unique_ptr<JsonSegmentLoader>> Create(
      const std::string& video_json_path, const Options& options);

  int ann_every() const { return ann_every_; }
  int num_annotated_frames() const { return static_cast<int>(annots_.size()); }
  // Masklets listed in annotated frame 0 (the reference's num_objects).
  int num_objects() const;
  // Annotated frame `annot_idx` exists and has no null masklet (the
  // reference's rm_unannotated test).
  bool IsFullyAnnotated(int annot_idx) const;
  // obj id -> video frame indices where its masklet is not null; objects with
  // fewer than num_frames_min frames are dropped.
  std::map<int, std::vector<int>> GetValidObjFramesIds(
      std::optional<int> num_frames_min = std::nullopt) const;

 protected:
  // frame_idx must be a multiple of ann_every and annotated (else an error).
  absl::StatusOr<FrameSegments> LoadImpl(
      int frame_idx, const std::vector<int>* obj_ids) const override;

 private:
  std::string path_;
  int ann_every_ = 1;
  std::optional<std::vector<int>> valid_obj_ids_;
  // annots_[i] is nullopt for a null frame; inner nullopt = null masklet.
  std::vector<std::optional<std::vector<std::optional<Rle>>>> annots_;
};

// SA-1B: <id>.json {"annotations": [{"segmentation": RLE, "area": ...,
// "stability_score"?/"uncertain_iou"?, ...}]}. Keeps annotations with
// area > 0, uncertain_iou >= options.uncertain_iou (when the field exists),
// and, if mask_area_frac_thresh <= 1, area / image area <
// mask_area_frac_thresh (the image size is read from the JPEG header).
// Object ids are 0..n-1 over the kept annotations; the same segments are
// returned for every frame index (SA-1B "videos" repeat one image).
class Sa1bSegmentLoader : public SegmentLoader {
 public:
  struct Options {
    double mask_area_frac_thresh = 1.1;  // > 1: no filtering
    double uncertain_iou = -1;           // < 0: no filtering
  };
  static absl::StatusOr<std::unique_ptr<Sa1bSegmentLoader>> Create(
      const std::string& video_mask_path, const std::string& video_frame_path,
      const Options& options);
  int num_segments() const { return static_cast<int>(rles_.size()); }

 protected:
  absl::StatusOr<FrameSegments> LoadImpl(
      int frame_idx, const std::vector<int>* obj_ids) const override;

 private:
  std::string path_;
  std::vector<std::pair<Rle, std::string>> rles_;  // (mask, source)
};

}  // namespace sam2::data

#endif  // SAM2_DATA_DATASETS_VOS_SEGMENT_LOADER_H_
