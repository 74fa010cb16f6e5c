#include "data/batch/batch.h"

#include <ATen/ops/empty.h>
#include <ATen/ops/from_blob.h>
#include <sys/mman.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>

#include "absl/strings/str_cat.h"
#include "data/transforms/image_ops.h"

namespace sam2::data {
namespace {

// Writes `image` through `table` into a float [3, H, W] buffer, mirrored
// left-right when `mirror`.
void WriteFloatPlanes(const Image& image, const ChannelTable& table,
                      bool mirror, float* out) {
  const size_t plane = static_cast<size_t>(image.height) * image.width;
  const uint8_t* __restrict in = image.data.data();
  float* __restrict r = out;
  float* __restrict g = out + plane;
  float* __restrict b = out + 2 * plane;
  if (!mirror) {
    for (size_t i = 0; i < plane; ++i) {
      r[i] = table[0][in[3 * i]];
      g[i] = table[1][in[3 * i + 1]];
      b[i] = table[2][in[3 * i + 2]];
    }
    return;
  }
  const int w = image.width;
  for (int y = 0; y < image.height; ++y) {
    const size_t row = static_cast<size_t>(y) * w;
    for (int x = 0; x < w; ++x) {
      const size_t i = row + x, o = row + (w - 1 - x);
      r[o] = table[0][in[3 * i]];
      g[o] = table[1][in[3 * i + 1]];
      b[o] = table[2][in[3 * i + 2]];
    }
  }
}

// A 0/1 mask into bool bytes, mirrored left-right when `mirror`.
void WriteMask(const Mask& mask, bool mirror, uint8_t* __restrict out) {
  const uint8_t* __restrict in = mask.data.data();
  const size_t n = static_cast<size_t>(mask.height) * mask.width;
  if (!mirror) {
    for (size_t i = 0; i < n; ++i) out[i] = in[i] != 0;
    return;
  }
  const int w = mask.width;
  for (int y = 0; y < mask.height; ++y) {
    const size_t row = static_cast<size_t>(y) * w;
    for (int x = 0; x < w; ++x) out[row + w - 1 - x] = in[row + x] != 0;
  }
}

// Asks for transparent huge pages on a fresh, large tensor before it is
// first written: a 1024px batch is ~100 MB, i.e. ~25k page faults with 4 KB
// pages against ~50 with 2 MB ones. A hint only; harmless where THP is off.
void AdviseHugePages(void* data, size_t bytes) {
  constexpr uintptr_t kHuge = 2 << 20;
  const uintptr_t begin = reinterpret_cast<uintptr_t>(data);
  const uintptr_t end = begin + bytes;
  const uintptr_t first = (begin + kHuge - 1) & ~(kHuge - 1);
  const uintptr_t last = end & ~(kHuge - 1);
  if (last > first) {
    madvise(reinterpret_cast<void*>(first), last - first, MADV_HUGEPAGE);
  }
}

void ApplyTable(Image& image, const ByteTable& table) {
  uint8_t* __restrict p = image.data.data();
  const size_t n = image.data.size();
  for (size_t i = 0; i < n; ++i) p[i] = table[p[i]];
}

absl::Status CheckFrame(const Frame& frame, size_t video, size_t t) {
  if (frame.image.channels != 3 ||
      frame.image.num_samples() != frame.image.data.size()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "collate: video ", video, " frame ", t, " is not a 3-channel image"));
  }
  if (!frame.is_float()) {
    return absl::InvalidArgumentError(
        absl::StrCat("collate: video ", video, " frame ", t,
                     " was not converted by ToTensor"));
  }
  if (frame.pending_table) {
    return absl::InternalError(absl::StrCat("collate: video ", video, " frame ",
                                            t, " has a pending byte table"));
  }
  for (const Object& obj : frame.objects) {
    if (obj.segment.size() != frame.image.size() ||
        obj.segment.data.size() !=
            static_cast<size_t>(obj.segment.height) * obj.segment.width) {
      return absl::InvalidArgumentError(
          absl::StrCat("collate: video ", video, " frame ", t, " object ",
                       obj.object_id, ": mask ", obj.segment.height, "x",
                       obj.segment.width, " differs from the frame's ",
                       frame.image.height, "x", frame.image.width));
    }
  }
  return absl::OkStatus();
}

}  // namespace

void Frame::FlushPendingFlip() {
  if (!pending_hflip) return;
  ops::HFlip(image);
  for (Object& obj : objects) ops::HFlip(obj.segment);
  pending_hflip = false;
}

void Frame::FlushPendingTable() {
  if (!pending_table) return;
  ApplyTable(image, *pending_table);
  pending_table.reset();
}

struct TensorBufferPool::Impl {
  explicit Impl(size_t max) : max_cached(max) {}
  ~Impl() {
    for (auto& [bytes, data] : free) std::free(data);
  }
  void* Acquire(size_t bytes) {
    {
      std::lock_guard<std::mutex> lock(mu);
      auto it = free.find(bytes);
      if (it != free.end()) {
        void* data = it->second;
        free.erase(it);
        cached -= bytes;
        return data;
      }
    }
    void* data = std::aligned_alloc(64, bytes);
    if (data != nullptr) AdviseHugePages(data, bytes);
    return data;
  }
  void Release(void* data, size_t bytes) {
    {
      std::lock_guard<std::mutex> lock(mu);
      if (cached + bytes <= max_cached) {
        free.emplace(bytes, data);
        cached += bytes;
        return;
      }
    }
    std::free(data);
  }

  const size_t max_cached;
  std::mutex mu;
  std::multimap<size_t, void*> free;
  size_t cached = 0;
};

TensorBufferPool::TensorBufferPool(size_t max_cached_bytes)
    : impl_(std::make_shared<Impl>(max_cached_bytes)) {}

size_t TensorBufferPool::cached_bytes() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->cached;
}

at::Tensor TensorBufferPool::Empty(at::IntArrayRef sizes,
                                   at::ScalarType dtype) const {
  size_t bytes = c10::elementSize(dtype);
  for (int64_t s : sizes) bytes *= static_cast<size_t>(s);
  bytes = (std::max<size_t>(bytes, 1) + 63) / 64 * 64;  // aligned_alloc
  void* data = impl_->Acquire(bytes);
  if (data == nullptr) throw std::bad_alloc();
  std::shared_ptr<Impl> impl = impl_;
  return at::from_blob(
      data, sizes, [impl, bytes](void* p) { impl->Release(p, bytes); },
      at::TensorOptions().dtype(dtype));
}

at::Tensor Frame::ToTensor() const {
  const int64_t h = image.height, w = image.width;
  if (pending_table || pending_hflip) {
    Frame flushed = *this;
    flushed.FlushPendingTable();
    flushed.FlushPendingFlip();
    return flushed.ToTensor();
  }
  if (is_float()) {
    at::Tensor out = at::empty({3, h, w}, at::kFloat);
    WriteFloatPlanes(image, *float_table, false, out.data_ptr<float>());
    return out;
  }
  at::Tensor out = at::empty({3, h, w}, at::kByte);
  uint8_t* dst = out.data_ptr<uint8_t>();
  const size_t plane = static_cast<size_t>(h) * w;
  for (size_t i = 0; i < plane; ++i) {
    for (int c = 0; c < 3; ++c) dst[c * plane + i] = image.data[3 * i + c];
  }
  return out;
}

at::Tensor BatchedVideoDatapoint::flat_obj_to_img_idx() const {
  at::Tensor frame_idx = obj_to_frame_idx.select(-1, 0);
  at::Tensor video_idx = obj_to_frame_idx.select(-1, 1);
  return video_idx.mul(num_frames()).add(frame_idx);
}

at::Tensor BatchedVideoDatapoint::flat_img_batch() const {
  return img_batch.transpose(0, 1).flatten(0, 1);
}

BatchedVideoDatapoint BatchedVideoDatapoint::To(at::Device device,
                                                bool non_blocking) const {
  auto move = [&](const at::Tensor& t) {
    return t.to(device, /*non_blocking=*/non_blocking);
  };
  BatchedVideoDatapoint out;
  out.img_batch = move(img_batch);
  out.obj_to_frame_idx = move(obj_to_frame_idx);
  out.masks = move(masks);
  out.metadata.unique_objects_identifier =
      move(metadata.unique_objects_identifier);
  out.metadata.frame_orig_size = move(metadata.frame_orig_size);
  out.dict_key = dict_key;
  return out;
}

BatchedVideoDatapoint BatchedVideoDatapoint::PinMemory() const {
  BatchedVideoDatapoint out;
  out.img_batch = img_batch.pin_memory();
  out.obj_to_frame_idx = obj_to_frame_idx.pin_memory();
  out.masks = masks.pin_memory();
  out.metadata.unique_objects_identifier =
      metadata.unique_objects_identifier.pin_memory();
  out.metadata.frame_orig_size = metadata.frame_orig_size.pin_memory();
  out.dict_key = dict_key;
  return out;
}

absl::StatusOr<BatchedVideoDatapoint> Collate(
    const std::vector<VideoDatapoint>& batch, const std::string& dict_key,
    const TensorBufferPool* pool) {
  if (batch.empty()) {
    return absl::InvalidArgumentError("collate: empty batch");
  }
  const size_t num_frames = batch[0].frames.size();
  if (num_frames == 0) {
    return absl::InvalidArgumentError("collate: video 0 has no frames");
  }
  const ImageSize size = batch[0].frames[0].image.size();
  size_t num_objects = 0;
  for (size_t b = 0; b < batch.size(); ++b) {
    if (batch[b].frames.size() != num_frames) {
      return absl::InvalidArgumentError(
          absl::StrCat("collate: video ", b, " has ", batch[b].frames.size(),
                       " frames, video 0 has ", num_frames));
    }
    for (size_t t = 0; t < num_frames; ++t) {
      const Frame& frame = batch[b].frames[t];
      if (absl::Status s = CheckFrame(frame, b, t); !s.ok()) return s;
      if (frame.image.size() != size) {
        return absl::InvalidArgumentError(absl::StrCat(
            "collate: video ", b, " frame ", t, " is ", frame.image.height, "x",
            frame.image.width, ", video 0 frame 0 is ", size.height, "x",
            size.width));
      }
    }
    num_objects += batch[b].frames[0].objects.size();
  }
  for (size_t t = 1; t < num_frames; ++t) {
    size_t count = 0;
    for (const VideoDatapoint& video : batch) {
      count += video.frames[t].objects.size();
    }
    if (count != num_objects) {
      return absl::InvalidArgumentError(
          absl::StrCat("collate: ", count, " objects at frame ", t, ", ",
                       num_objects, " at frame 0"));
    }
  }
  if (num_objects == 0) {
    return absl::InvalidArgumentError("collate: the batch has no objects");
  }

  const int64_t T = static_cast<int64_t>(num_frames);
  const int64_t B = static_cast<int64_t>(batch.size());
  const int64_t O = static_cast<int64_t>(num_objects);
  const int64_t H = size.height, W = size.width;
  const size_t plane = static_cast<size_t>(H) * W;

  BatchedVideoDatapoint out;
  out.dict_key = dict_key;
  auto big_empty = [pool](at::IntArrayRef sizes, at::ScalarType dtype) {
    if (pool != nullptr) return pool->Empty(sizes, dtype);
    at::Tensor t = at::empty(sizes, dtype);
    AdviseHugePages(t.data_ptr(), t.nbytes());
    return t;
  };
  out.img_batch = big_empty({T, B, 3, H, W}, at::kFloat);
  out.obj_to_frame_idx = at::empty({T, O, 2}, at::kInt);
  out.masks = big_empty({T, O, H, W}, at::kBool);
  out.metadata.unique_objects_identifier = at::empty({T, O, 3}, at::kLong);
  out.metadata.frame_orig_size = at::empty({T, O, 2}, at::kLong);

  float* images = out.img_batch.data_ptr<float>();
  int32_t* obj_to_frame = out.obj_to_frame_idx.data_ptr<int32_t>();
  // bool tensors hold one byte per element, 0 or 1: the masks' own bytes.
  uint8_t* masks = reinterpret_cast<uint8_t*>(out.masks.data_ptr<bool>());
  int64_t* ids = out.metadata.unique_objects_identifier.data_ptr<int64_t>();
  int64_t* orig_size = out.metadata.frame_orig_size.data_ptr<int64_t>();

  for (int64_t t = 0; t < T; ++t) {
    int64_t o = 0;
    for (int64_t b = 0; b < B; ++b) {
      const VideoDatapoint& video = batch[b];
      const Frame& frame = video.frames[t];
      WriteFloatPlanes(frame.image, *frame.float_table, frame.pending_hflip,
                       images + (t * B + b) * 3 * plane);
      for (const Object& obj : frame.objects) {
        const int64_t row = t * O + o;
        obj_to_frame[row * 2 + 0] = static_cast<int32_t>(t);
        obj_to_frame[row * 2 + 1] = static_cast<int32_t>(b);
        WriteMask(obj.segment, frame.pending_hflip, masks + row * plane);
        ids[row * 3 + 0] = video.video_id;
        ids[row * 3 + 1] = obj.object_id;
        ids[row * 3 + 2] = obj.frame_index;
        orig_size[row * 2 + 0] = video.size.height;
        orig_size[row * 2 + 1] = video.size.width;
        ++o;
      }
    }
  }
  return out;
}

}  // namespace sam2::data
