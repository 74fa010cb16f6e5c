#include "data/codecs/rle.h"

#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "data/codecs/md5_for_test.h"
#include "data/codecs/rle_json.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace sam2::data {
namespace {

using ::testing::HasSubstr;

constexpr char kSavJson[] = "data/codecs/testdata/sav_000001_manual.json";
constexpr char kSavDecoded[] =
    "data/codecs/testdata/sav_000001_manual.decoded.json";

nlohmann::json LoadJson(const std::string& path) {
  std::ifstream in(path);
  EXPECT_TRUE(in.good()) << path;
  std::stringstream buffer;
  buffer << in.rdbuf();
  return nlohmann::json::parse(buffer.str());
}

Mask RandomMask(int h, int w, double density, std::mt19937* rng) {
  Mask mask(h, w);
  std::bernoulli_distribution set(density);
  // Blobs rather than noise: a random walk of rectangles.
  for (int i = 0; i < 6; ++i) {
    const int y0 = (*rng)() % h, x0 = (*rng)() % w;
    const int y1 = std::min(h, y0 + 1 + static_cast<int>((*rng)() % h));
    const int x1 = std::min(w, x0 + 1 + static_cast<int>((*rng)() % w));
    for (int y = y0; y < y1; ++y)
      for (int x = x0; x < x1; ++x) mask.at(y, x) = set(*rng) ? 1 : 0;
  }
  return mask;
}

RleBox PixelBox(const Mask& mask) {
  int x0 = mask.width, y0 = mask.height, x1 = -1, y1 = -1;
  for (int y = 0; y < mask.height; ++y)
    for (int x = 0; x < mask.width; ++x)
      if (mask.at(y, x)) {
        x0 = std::min(x0, x), x1 = std::max(x1, x);
        y0 = std::min(y0, y), y1 = std::max(y1, y);
      }
  if (x1 < 0) return {};
  return {x0, y0, x1 - x0 + 1, y1 - y0 + 1};
}

// Every masklet of a real SA-V annotation decodes to the reference's area,
// box and md5, and re-encodes to the identical string.
TEST(RleTest, SavFixtureMatchesReferenceDecoding) {
  const nlohmann::json annotation = LoadJson(kSavJson);
  const nlohmann::json expected = LoadJson(kSavDecoded);
  const nlohmann::json& masklets = annotation.at("masklet");
  ASSERT_EQ(masklets.size(), expected.at("frames").size());
  int checked = 0, non_empty = 0;
  for (size_t f = 0; f < masklets.size(); ++f) {
    ASSERT_EQ(masklets[f].size(), expected["frames"][f].size());
    for (size_t o = 0; o < masklets[f].size(); ++o) {
      const std::string where = absl::StrCat("masklet[", f, "][", o, "]");
      const nlohmann::json& want = expected["frames"][f][o];
      absl::StatusOr<Rle> rle = RleFromJson(masklets[f][o], where);
      ASSERT_TRUE(rle.ok()) << rle.status();
      EXPECT_EQ(rle->height, 848);
      EXPECT_EQ(rle->width, 480);
      EXPECT_EQ(RleArea(*rle), want["area"].get<int64_t>()) << where;

      const RleBox box = RleToBbox(*rle);
      if (want["bbox_xyxy"].is_null()) {
        EXPECT_EQ(box.width, 0) << where;
        EXPECT_EQ(box.height, 0) << where;
      } else {
        const auto xyxy = want["bbox_xyxy"].get<std::vector<int>>();
        EXPECT_EQ(box.x, xyxy[0]) << where;
        EXPECT_EQ(box.y, xyxy[1]) << where;
        EXPECT_EQ(box.width, xyxy[2] - xyxy[0] + 1) << where;
        EXPECT_EQ(box.height, xyxy[3] - xyxy[1] + 1) << where;
        ++non_empty;
      }

      absl::StatusOr<Mask> mask = DecodeRle(*rle, where);
      ASSERT_TRUE(mask.ok()) << mask.status();
      EXPECT_EQ(Md5Hex(mask->data.data(), mask->data.size()),
                want["md5_row_major_u8"].get<std::string>())
          << where;
      EXPECT_EQ(mask->Area(), RleArea(*rle)) << where;

      const Rle reencoded = EncodeMask(*mask);
      EXPECT_EQ(reencoded.counts, rle->counts) << where;
      EXPECT_EQ(RleToString(reencoded),
                masklets[f][o]["counts"].get<std::string>())
          << where;
      ++checked;
    }
  }
  EXPECT_EQ(checked, 121 * 5);
  EXPECT_GT(non_empty, 400);
}

TEST(RleTest, Md5HelperMatchesKnownDigests) {
  EXPECT_EQ(Md5Hex(nullptr, 0), "d41d8cd98f00b204e9800998ecf8427e");
  const std::string fox = "The quick brown fox jumps over the lazy dog";
  EXPECT_EQ(Md5Hex(reinterpret_cast<const uint8_t*>(fox.data()), fox.size()),
            "9e107d9d372bb6826bd81d3542a419d6");
}

TEST(RleTest, ColumnMajorRunsOfASmallMask) {
  // 2x3 mask, row-major:
  //   0 1 1
  //   0 0 1
  // column-major: 0 0 | 1 0 | 1 1  -> runs 0:2, 1:1, 0:1, 1:2
  Mask mask(2, 3);
  mask.at(0, 1) = mask.at(0, 2) = mask.at(1, 2) = 1;
  const Rle rle = EncodeMask(mask);
  EXPECT_EQ(rle.counts, (std::vector<uint32_t>{2, 1, 1, 2}));
  EXPECT_EQ(RleArea(rle), 3);
  const RleBox box = RleToBbox(rle);
  EXPECT_EQ(box.x, 1);
  EXPECT_EQ(box.y, 0);
  EXPECT_EQ(box.width, 2);
  EXPECT_EQ(box.height, 2);
  // A mask starting with a set pixel begins with an empty run of 0s.
  Mask first(1, 2);
  first.at(0, 0) = 1;
  EXPECT_EQ(EncodeMask(first).counts, (std::vector<uint32_t>{0, 1, 1}));
}

TEST(RleTest, StringRoundTripsIncludingNegativeDeltas) {
  // Deltas against counts[i-2] go negative here; large counts need several
  // 5-bit chunks.
  const std::vector<uint32_t> counts = {0, 5, 100000, 3, 7, 1, 2, 99887};
  int64_t total = 0;
  for (uint32_t c : counts) total += c;
  absl::StatusOr<Rle> rle =
      RleFromCounts(counts, 1, static_cast<int>(total), "x");
  ASSERT_TRUE(rle.ok()) << rle.status();
  const std::string s = RleToString(*rle);
  absl::StatusOr<Rle> back = RleFromString(s, 1, static_cast<int>(total), "x");
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->counts, counts);
}

TEST(RleTest, RandomMasksRoundTripWithExactAreaAndBox) {
  std::mt19937 rng(7);
  for (int trial = 0; trial < 60; ++trial) {
    const int h = 1 + rng() % 40, w = 1 + rng() % 40;
    const Mask mask = RandomMask(h, w, trial % 3 == 0 ? 1.0 : 0.6, &rng);
    const Rle rle = EncodeMask(mask);
    EXPECT_EQ(RleArea(rle), mask.Area());
    const RleBox want = PixelBox(mask), got = RleToBbox(rle);
    EXPECT_EQ(got.x, want.x);
    EXPECT_EQ(got.y, want.y);
    EXPECT_EQ(got.width, want.width);
    EXPECT_EQ(got.height, want.height);
    absl::StatusOr<Rle> parsed = RleFromString(RleToString(rle), h, w, "t");
    ASSERT_TRUE(parsed.ok()) << parsed.status();
    absl::StatusOr<Mask> decoded = DecodeRle(*parsed, "t");
    ASSERT_TRUE(decoded.ok());
    EXPECT_EQ(decoded->data, mask.data);
    // JSON form too.
    absl::StatusOr<Rle> from_json = RleFromJson(RleToJson(rle), "t");
    ASSERT_TRUE(from_json.ok());
    EXPECT_EQ(from_json->counts, rle.counts);
  }
}

TEST(RleTest, MergeIsPixelwiseUnionOrIntersection) {
  std::mt19937 rng(11);
  for (int trial = 0; trial < 30; ++trial) {
    const int h = 1 + rng() % 20, w = 1 + rng() % 20;
    const Mask a = RandomMask(h, w, 0.7, &rng), b = RandomMask(h, w, 0.7, &rng),
               c = RandomMask(h, w, 0.7, &rng);
    for (bool intersect : {false, true}) {
      absl::StatusOr<Rle> merged = MergeRles(
          {EncodeMask(a), EncodeMask(b), EncodeMask(c)}, intersect, "m");
      ASSERT_TRUE(merged.ok()) << merged.status();
      Mask want(h, w);
      for (size_t i = 0; i < want.data.size(); ++i) {
        want.data[i] = intersect ? (a.data[i] & b.data[i] & c.data[i])
                                 : (a.data[i] | b.data[i] | c.data[i]);
      }
      // Canonical runs, as the encoder of the merged pixels would give.
      EXPECT_EQ(merged->counts, EncodeMask(want).counts);
    }
  }
  EXPECT_FALSE(MergeRles({}, false, "m").ok());
  EXPECT_THAT(MergeRles({EncodeMask(Mask(2, 2)), EncodeMask(Mask(2, 3))}, false,
                        "m.json")
                  .status()
                  .message(),
              HasSubstr("m.json"));
}

TEST(RleTest, CountsNotCoveringTheMaskAreErrorsNamingTheSource) {
  absl::StatusOr<Rle> short_counts =
      RleFromCounts({1, 2}, 2, 2, "a.json: ann 3");
  ASSERT_FALSE(short_counts.ok());
  EXPECT_THAT(short_counts.status().message(), HasSubstr("a.json: ann 3"));
  EXPECT_THAT(short_counts.status().message(), HasSubstr("sum to 3"));

  // A valid 2x2 string, parsed as 3x3.
  const std::string s = RleToString(EncodeMask(Mask(2, 2)));
  absl::StatusOr<Rle> wrong_size = RleFromString(s, 3, 3, "b.json");
  ASSERT_FALSE(wrong_size.ok());
  EXPECT_THAT(wrong_size.status().message(), HasSubstr("b.json"));

  EXPECT_THAT(RleFromString("0{", 1, 1, "c.json").status().message(),
              HasSubstr("invalid character"));
  // 'P' (chunk 32) says "more follows", then the string ends.
  EXPECT_THAT(RleFromString("P", 1, 1, "d.json").status().message(),
              HasSubstr("ends inside a count"));
  EXPECT_FALSE(DecodeRle(Rle{2, 2, {1, 1}}, "e").ok());
  EXPECT_THAT(RleFromJson(nlohmann::json{{"size", {2, 2}}}, "f.json")
                  .status()
                  .message(),
              HasSubstr("f.json"));
  EXPECT_FALSE(
      RleFromJson(nlohmann::json{{"size", {2, 2}}, {"counts", 4}}, "g").ok());
  EXPECT_FALSE(
      RleFromJson(nlohmann::json{{"size", {-2, 2}}, {"counts", ""}}, "h").ok());
}

}  // namespace
}  // namespace sam2::data
