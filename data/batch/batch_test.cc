#include "data/batch/batch.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

namespace sam2::data {
namespace {

ChannelTable Table(float scale) {
  ChannelTable t;
  for (int c = 0; c < 3; ++c) {
    for (int v = 0; v < 256; ++v) t[c][v] = v * scale + c;
  }
  return t;
}

// A video of `frames` frames of h x w with `objects` objects per frame.
VideoDatapoint Video(int64_t id, int frames, int objects, int h, int w) {
  VideoDatapoint v;
  v.video_id = id;
  v.size = {h * 2, w * 2};
  for (int t = 0; t < frames; ++t) {
    Frame f;
    f.image = Image(h, w, 3);
    for (size_t i = 0; i < f.image.data.size(); ++i) {
      f.image.data[i] = static_cast<uint8_t>(i + t + id);
    }
    f.float_table = Table(0.5f);
    for (int o = 0; o < objects; ++o) {
      Mask m(h, w);
      m.at(o, t) = 1;
      f.objects.push_back({10 * id + o, 100 + t, m});
    }
    v.frames.push_back(std::move(f));
  }
  return v;
}

TEST(CollateTest, ShapesAndContents) {
  const int T = 3, H = 6, W = 5;
  std::vector<VideoDatapoint> batch = {Video(1, T, 2, H, W),
                                       Video(2, T, 1, H, W)};
  absl::StatusOr<BatchedVideoDatapoint> out = Collate(batch, "all");
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->img_batch.sizes(), (at::IntArrayRef{T, 2, 3, H, W}));
  EXPECT_EQ(out->img_batch.scalar_type(), at::kFloat);
  EXPECT_EQ(out->obj_to_frame_idx.sizes(), (at::IntArrayRef{T, 3, 2}));
  EXPECT_EQ(out->obj_to_frame_idx.scalar_type(), at::kInt);
  EXPECT_EQ(out->masks.sizes(), (at::IntArrayRef{T, 3, H, W}));
  EXPECT_EQ(out->masks.scalar_type(), at::kBool);
  EXPECT_EQ(out->metadata.unique_objects_identifier.sizes(),
            (at::IntArrayRef{T, 3, 3}));
  EXPECT_EQ(out->metadata.frame_orig_size.sizes(), (at::IntArrayRef{T, 3, 2}));
  EXPECT_EQ(out->dict_key, "all");
  EXPECT_EQ(out->num_frames(), T);
  EXPECT_EQ(out->num_videos(), 2);

  // img_batch[t][b] is the frame's float tensor.
  EXPECT_TRUE(out->img_batch[1][1].equal(batch[1].frames[1].ToTensor()));
  // Objects of video 0 first, then video 1.
  auto o2f = out->obj_to_frame_idx;
  EXPECT_EQ(o2f[2][0][0].item<int>(), 2);
  EXPECT_EQ(o2f[2][0][1].item<int>(), 0);
  EXPECT_EQ(o2f[2][2][1].item<int>(), 1);
  auto ids = out->metadata.unique_objects_identifier;
  EXPECT_EQ(ids[1][2][0].item<int64_t>(), 2);    // video id
  EXPECT_EQ(ids[1][2][1].item<int64_t>(), 20);   // object id
  EXPECT_EQ(ids[1][2][2].item<int64_t>(), 101);  // frame index
  EXPECT_EQ(out->metadata.frame_orig_size[0][0][0].item<int64_t>(), 2 * H);
  EXPECT_TRUE(out->masks[1][1][1][1].item<bool>());
  EXPECT_EQ(out->masks.sum().item<int64_t>(), 3 * T);
  // flat index = video * T + t.
  EXPECT_EQ(out->flat_obj_to_img_idx()[2][2].item<int>(), 1 * T + 2);
  EXPECT_EQ(out->flat_img_batch().sizes(), (at::IntArrayRef{2 * T, 3, H, W}));
  EXPECT_TRUE(out->flat_img_batch()[T + 1].equal(out->img_batch[1][1]));
}

// Frames wide enough for the vector path (and a width that is not a
// multiple of its 8-pixel steps), plain and mirrored: every float is the
// table's value of its source sample.
TEST(CollateTest, FloatPlanesAreTableValuesPlainAndMirrored) {
  for (int w : {37, 64}) {
    const int h = 3;
    VideoDatapoint video = Video(1, 2, 1, h, w);
    ChannelTable table;
    for (int c = 0; c < 3; ++c) {
      for (int v = 0; v < 256; ++v) table[c][v] = 1000.0f * c - 3.5f * v;
    }
    for (Frame& frame : video.frames) {
      frame.float_table = table;
      for (size_t i = 0; i < frame.image.data.size(); ++i) {
        frame.image.data[i] = static_cast<uint8_t>(i * 7919 % 251);
      }
    }
    video.frames[1].pending_hflip = true;
    absl::StatusOr<BatchedVideoDatapoint> out = Collate({video}, "all");
    ASSERT_TRUE(out.ok()) << out.status();
    for (int t = 0; t < 2; ++t) {
      const Image& image = video.frames[t].image;
      const at::Tensor planes = out->img_batch[t][0].contiguous();
      const float* p = planes.data_ptr<float>();
      int mismatches = 0;
      for (int c = 0; c < 3; ++c) {
        for (int y = 0; y < h; ++y) {
          for (int x = 0; x < w; ++x) {
            const int sx = t == 1 ? w - 1 - x : x;
            mismatches +=
                p[(c * h + y) * w + x] != table[c][image.at(y, sx, c)];
          }
        }
      }
      EXPECT_EQ(mismatches, 0) << "w " << w << " frame " << t;
    }
  }
}

TEST(CollateTest, Errors) {
  EXPECT_FALSE(Collate({}, "all").ok());
  // Different frame counts.
  EXPECT_FALSE(Collate({Video(1, 2, 1, 4, 4), Video(2, 3, 1, 4, 4)}, "x").ok());
  // Different sizes.
  EXPECT_FALSE(Collate({Video(1, 2, 1, 4, 4), Video(2, 2, 1, 5, 4)}, "x").ok());
  // No ToTensor.
  VideoDatapoint raw = Video(1, 2, 1, 4, 4);
  raw.frames[1].float_table.reset();
  EXPECT_FALSE(Collate({raw}, "x").ok());
  // Object counts differ between frames.
  VideoDatapoint uneven = Video(1, 2, 2, 4, 4);
  uneven.frames[1].objects.pop_back();
  EXPECT_FALSE(Collate({uneven}, "x").ok());
  // Mask size differs from the frame.
  VideoDatapoint bad_mask = Video(1, 2, 1, 4, 4);
  bad_mask.frames[0].objects[0].segment = Mask(3, 4);
  EXPECT_FALSE(Collate({bad_mask}, "x").ok());
  // No objects.
  EXPECT_FALSE(Collate({Video(1, 2, 0, 4, 4)}, "x").ok());
}

}  // namespace
}  // namespace sam2::data
