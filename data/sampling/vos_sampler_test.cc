#include "data/sampling/vos_sampler.h"

#include <gtest/gtest.h>

#include <map>
#include <set>

namespace sam2::data {
namespace {

// Frame f has the objects visible[f] (non-empty masks) plus, for every
// other id in all_ids, an empty mask.
class FakeLoader : public SegmentLoader {
 public:
  std::map<int, std::set<int>> visible;
  std::set<int> all_ids;
  std::set<int> null_ids;
  bool sa1b = false;
  mutable int loads = 0;

 protected:
  absl::StatusOr<FrameSegments> LoadImpl(
      int frame_idx, const std::vector<int>* /*obj_ids*/) const override {
    ++loads;
    FrameSegments s;
    for (int id : all_ids) {
      if (null_ids.count(id)) {
        s.SetNull(id, "null");
        continue;
      }
      Mask m(4, 4);
      if (visible.count(frame_idx) && visible.at(frame_idx).count(id)) {
        m.at(1, 1) = 1;
      }
      s.SetMask(id, m, "fake");
    }
    s.set_every_object_visible(sa1b);
    return s;
  }
};

VosVideo MakeVideo(int frames) {
  VosVideo v;
  v.video_name = "vid";
  for (int i = 0; i < frames; ++i) v.frames.push_back({i, "x.jpg", false});
  return v;
}

TEST(RandomUniformSamplerTest, FirstFrameShowsASampledObject) {
  FakeLoader loader;
  loader.all_ids = {1, 2, 3};
  for (int f = 6; f < 10; ++f) loader.visible[f] = {2};
  const VosVideo video = MakeVideo(12);
  RandomUniformSampler sampler(3, 3);
  for (uint64_t seed = 0; seed < 30; ++seed) {
    Rng rng(seed);
    auto s = sampler.Sample(video, loader, rng);
    ASSERT_TRUE(s.ok()) << s.status();
    ASSERT_EQ(s->frames.size(), 3u);
    EXPECT_GE(s->frames[0].frame_idx, 6);
    EXPECT_LE(s->frames[0].frame_idx, 9);
    EXPECT_EQ(s->object_ids, std::vector<int>{2});
    for (int i = 1; i < 3; ++i) {
      EXPECT_EQ(s->frames[i].frame_idx, s->frames[0].frame_idx + i);
    }
  }
}

TEST(RandomUniformSamplerTest, ReverseTime) {
  FakeLoader loader;
  loader.all_ids = {1};
  for (int f = 0; f < 10; ++f) loader.visible[f] = {1};
  const VosVideo video = MakeVideo(10);
  RandomUniformSampler always(4, 1, 1.0);
  Rng rng(1);
  auto s = always.Sample(video, loader, rng);
  ASSERT_TRUE(s.ok());
  for (int i = 1; i < 4; ++i) {
    EXPECT_EQ(s->frames[i].frame_idx, s->frames[0].frame_idx - i);
  }
  RandomUniformSampler half(4, 1, 0.5);
  int reversed = 0;
  for (uint64_t seed = 0; seed < 40; ++seed) {
    Rng r(seed);
    auto t = half.Sample(video, loader, r);
    ASSERT_TRUE(t.ok());
    reversed += t->frames[1].frame_idx < t->frames[0].frame_idx;
  }
  EXPECT_GT(reversed, 5);
  EXPECT_LT(reversed, 35);
}

TEST(RandomUniformSamplerTest, AtMostMaxObjectsDistinct) {
  FakeLoader loader;
  loader.all_ids = {1, 2, 3, 4, 5};
  for (int f = 0; f < 8; ++f) loader.visible[f] = {1, 2, 3, 4, 5};
  RandomUniformSampler sampler(8, 3);
  std::set<int> seen;
  for (uint64_t seed = 0; seed < 20; ++seed) {
    Rng rng(seed);
    auto s = sampler.Sample(MakeVideo(8), loader, rng);
    ASSERT_TRUE(s.ok());
    ASSERT_EQ(s->object_ids.size(), 3u);
    EXPECT_EQ(std::set<int>(s->object_ids.begin(), s->object_ids.end()).size(),
              3u);
    seen.insert(s->object_ids.begin(), s->object_ids.end());
    ASSERT_TRUE(s->first_frame_segments.has_value());
  }
  EXPECT_EQ(seen.size(), 5u);
}

TEST(RandomUniformSamplerTest, TooShortAndInvisibleVideosFail) {
  FakeLoader loader;
  loader.all_ids = {1};
  Rng rng(0);
  auto short_video =
      RandomUniformSampler(8, 3).Sample(MakeVideo(5), loader, rng);
  ASSERT_FALSE(short_video.ok());
  EXPECT_NE(short_video.status().message().find("vid"), std::string::npos);
  EXPECT_NE(short_video.status().message().find("only has 5"),
            std::string::npos);
  auto invisible = RandomUniformSampler(2, 3).Sample(MakeVideo(5), loader, rng);
  ASSERT_FALSE(invisible.ok());
  EXPECT_NE(invisible.status().message().find("No visible objects"),
            std::string::npos);
  // Each frame was decoded once, not once per retry.
  EXPECT_LE(loader.loads, 4);
}

TEST(RandomUniformSamplerTest, Sa1bObjectsAreVisibleAndNullsAreNot) {
  FakeLoader sa1b;
  sa1b.all_ids = {0, 1};
  sa1b.sa1b = true;  // empty masks, but listed
  Rng rng(0);
  auto s = RandomUniformSampler(1, 5).Sample(MakeVideo(1), sa1b, rng);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->object_ids.size(), 2u);

  FakeLoader nulls;
  nulls.all_ids = {0, 1};
  nulls.null_ids = {1};
  nulls.visible[0] = {0};
  auto t = RandomUniformSampler(1, 5).Sample(MakeVideo(1), nulls, rng);
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->object_ids, std::vector<int>{0});
}

TEST(EvalSamplerTest, AllFramesSortedAndAllObjects) {
  FakeLoader loader;
  loader.all_ids = {3, 1, 2};
  loader.visible[0] = {1};
  VosVideo video = MakeVideo(5);
  std::swap(video.frames[0], video.frames[4]);
  Rng rng(0);
  auto s = EvalSampler().Sample(video, loader, rng);
  ASSERT_TRUE(s.ok());
  ASSERT_EQ(s->frames.size(), 5u);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(s->frames[i].frame_idx, i);
  EXPECT_EQ(s->object_ids, (std::vector<int>{1, 2, 3}));
  auto unsorted = EvalSampler(false).Sample(video, loader, rng);
  ASSERT_TRUE(unsorted.ok());
  EXPECT_EQ(unsorted->frames[0].frame_idx, 4);

  FakeLoader empty;
  auto none = EvalSampler().Sample(MakeVideo(3), empty, rng);
  ASSERT_FALSE(none.ok());
  EXPECT_NE(none.status().message().find("no objects"), std::string::npos);
}

}  // namespace
}  // namespace sam2::data
