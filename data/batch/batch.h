// Datapoints of the data pipeline and their collation into a batch (port of
// training/utils/data_utils.py).
//
// A frame's pixels stay 8-bit RGB (HWC) through the geometric and colour
// transforms, as the reference's PIL images do. ToTensor / Normalize do not
// convert the pixels: they record a per-channel lookup table (uint8 value ->
// float), composed with the exact float32 operations of the reference
// (v / 255, then (x - mean) / std), and the table is applied once, when the
// batch is collated straight into img_batch. Same numbers, two fewer passes
// over 12 MB per 1024x1024 frame.
#ifndef SAM2_DATA_BATCH_BATCH_H_
#define SAM2_DATA_BATCH_BATCH_H_

#include <ATen/core/Tensor.h>

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "data/codecs/image.h"

namespace sam2::data {

struct Object {
  // Id of the object in the video (the segment loader's id).
  int64_t object_id = 0;
  // Index of the frame in the video (0 for an image).
  int64_t frame_index = 0;
  // 0/1 mask of the frame's size. (The reference allows None segments; its
  // VOSDataset never produces them, and collation rejects them, so we don't.)
  Mask segment;
};

// value = table[channel][uint8 sample]: a frame's float values after
// ToTensor (and Normalize).
using ChannelTable = std::array<std::array<float, 256>, 3>;
// A map of 8-bit samples (the same for every channel).
using ByteTable = std::array<uint8_t, 256>;

struct Frame {
  // RGB, 3 channels, HWC.
  Image image;
  // A per-sample map not yet applied to `image` (brightness / contrast
  // steps of ColorJitter, kept for the next pass over the pixels): the
  // frame's 8-bit value is pending_table[image(y, x, c)]. Transforms that
  // need the pixels call FlushPendingTable first; ToTensor folds it into
  // float_table.
  std::optional<ByteTable> pending_table;
  // Set by ToTensor: the frame is then the float tensor
  // [3, H, W] = float_table[c][image(y, x, c)].
  std::optional<ChannelTable> float_table;
  // Set by RandomHorizontalFlip: the image and the masks are to be mirrored
  // left-right. RandomAffine folds the mirror into its sampling
  // (bit-exactly), other geometric transforms apply it first
  // (FlushPendingFlip), colour transforms commute with it and collation
  // writes the frame mirrored.
  bool pending_hflip = false;
  std::vector<Object> objects;

  bool is_float() const { return float_table.has_value(); }
  // Applies pending_table to the pixels (no-op without one).
  void FlushPendingTable();
  // Mirrors image and masks if pending_hflip (and clears it).
  void FlushPendingFlip();
  // The frame as the reference's tensor: float [3, H, W] once ToTensor ran,
  // else uint8 [3, H, W].
  at::Tensor ToTensor() const;
};

struct VideoDatapoint {
  std::vector<Frame> frames;
  int64_t video_id = 0;
  // Size of the frames as loaded, before any transform.
  ImageSize size;
};

struct BatchedVideoMetaData {
  // int64 [T, O, 3]: (video id, object id, frame index) of every object.
  at::Tensor unique_objects_identifier;
  // int64 [T, O, 2]: (height, width) of the video's frames as loaded.
  at::Tensor frame_orig_size;
};

// T frames per video, B videos, O objects over the batch (the same objects
// at every t).
struct BatchedVideoDatapoint {
  at::Tensor img_batch;         // float [T, B, 3, H, W]
  at::Tensor obj_to_frame_idx;  // int32 [T, O, 2]: (t, video index in batch)
  at::Tensor masks;             // bool [T, O, H, W]
  BatchedVideoMetaData metadata;
  std::string dict_key;

  int64_t num_frames() const { return img_batch.size(0); }
  int64_t num_videos() const { return img_batch.size(1); }
  // int32 [T, O]: index of each object's image in flat_img_batch().
  at::Tensor flat_obj_to_img_idx() const;
  // float [B * T, 3, H, W] (video-major).
  at::Tensor flat_img_batch() const;
  // Every tensor moved to `device` (e.g. at::kCUDA); pinned host memory
  // first when `pin_memory` (so that the copy can be asynchronous).
  BatchedVideoDatapoint To(at::Device device, bool non_blocking = false) const;
  BatchedVideoDatapoint PinMemory() const;
};

// Host memory for collated batches, recycled: a 1024px batch of 8 frames
// is ~100 MB, and fresh memory costs a page fault per 4 KB on first write
// (as much CPU time as building the batch). Tensors from Empty() hand their
// buffer back when their storage is freed (any thread, also after the pool
// object is gone); up to max_cached_bytes are kept for reuse.
class TensorBufferPool {
 public:
  explicit TensorBufferPool(size_t max_cached_bytes = size_t{1} << 30);
  // An uninitialised contiguous CPU tensor.
  at::Tensor Empty(at::IntArrayRef sizes, at::ScalarType dtype) const;
  size_t cached_bytes() const;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

// collate_fn: InvalidArgument when videos differ in frame count or frame
// size, a frame has not been through ToTensor, a mask's size differs from its
// frame, frames of one time step have different object counts, or there are
// no objects at all. img_batch and masks come from `pool` when given.
absl::StatusOr<BatchedVideoDatapoint> Collate(
    const std::vector<VideoDatapoint>& batch, const std::string& dict_key,
    const TensorBufferPool* pool = nullptr);

}  // namespace sam2::data

#endif  // SAM2_DATA_BATCH_BATCH_H_
