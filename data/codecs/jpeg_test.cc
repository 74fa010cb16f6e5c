#include "data/codecs/jpeg.h"

#include <cstdlib>

#include "base/testing/temp_dir.h"
#include "data/codecs/file_io.h"
#include "data/codecs/md5_for_test.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace sam2::data {
namespace {

using ::sam2::testutil::TempPath;
using ::testing::HasSubstr;

constexpr char kRgbJpeg[] = "data/codecs/testdata/rgb_33x17.jpg";

Image Gradient(int h, int w) {
  Image image(h, w, 3);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      image.at(y, x, 0) = static_cast<uint8_t>(x * 255 / std::max(1, w - 1));
      image.at(y, x, 1) = static_cast<uint8_t>(y * 255 / std::max(1, h - 1));
      image.at(y, x, 2) = 128;
    }
  return image;
}

double MeanAbsDiff(const Image& a, const Image& b) {
  double sum = 0;
  for (size_t i = 0; i < a.data.size(); ++i)
    sum += std::abs(a.data[i] - b.data[i]);
  return sum / a.data.size();
}

TEST(JpegTest, DecodesLikeOpenCvBitExactly) {
  absl::StatusOr<Image> image = ReadJpegFile(kRgbJpeg);
  ASSERT_TRUE(image.ok()) << image.status();
  EXPECT_EQ(image->height, 17);
  EXPECT_EQ(image->width, 33);
  EXPECT_EQ(image->channels, 3);
  // Same library, islow DCT and fancy upsampling as OpenCV/PIL.
  EXPECT_EQ(Md5Hex(image->data.data(), image->data.size()),
            "bc66cdae1fc1472c4ef9506655171924");
  absl::StatusOr<ImageSize> size = ReadJpegFileSize(kRgbJpeg);
  ASSERT_TRUE(size.ok());
  EXPECT_EQ(*size, (ImageSize{17, 33}));
}

TEST(JpegTest, EncodeDecodeRoundTripIsClose) {
  const Image original = Gradient(48, 80);
  absl::StatusOr<std::string> encoded = EncodeJpeg(original, 95);
  ASSERT_TRUE(encoded.ok()) << encoded.status();
  absl::StatusOr<Image> decoded =
      DecodeJpeg(reinterpret_cast<const uint8_t*>(encoded->data()),
                 encoded->size(), "mem");
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  ASSERT_EQ(decoded->size(), original.size());
  EXPECT_LT(MeanAbsDiff(*decoded, original), 2.0);

  // Gray images encode as gray and decode to 3 equal channels.
  Image gray(10, 12, 1);
  for (size_t i = 0; i < gray.data.size(); ++i) gray.data[i] = (i * 7) % 200;
  const std::string path = TempPath("gray.jpg");
  ASSERT_TRUE(WriteJpegFile(path, gray, 100).ok());
  absl::StatusOr<Image> gray_back = ReadJpegFile(path);
  ASSERT_TRUE(gray_back.ok());
  EXPECT_EQ(gray_back->channels, 3);
  EXPECT_EQ(gray_back->at(3, 4, 0), gray_back->at(3, 4, 2));
  EXPECT_NEAR(gray_back->at(3, 4, 0), gray.at(3, 4), 6);
}

TEST(JpegTest, ChoosesTheSmallestDctScaleStillCoveringTheTarget) {
  const ImageSize source{1080, 1920};
  auto denom = [&](ImageSize target) {
    return ChooseJpegScale(source, target).denom;
  };
  EXPECT_EQ(denom({1024, 1024}), 1);  // more than half: full decode
  EXPECT_EQ(denom({540, 540}), 2);    // exactly half
  EXPECT_EQ(denom({541, 100}), 1);
  EXPECT_EQ(denom({270, 480}), 4);
  EXPECT_EQ(denom({135, 240}), 8);
  EXPECT_EQ(denom({100, 100}), 8);  // 1/8 is the smallest offered
  EXPECT_EQ(denom({136, 10}), 4);
  // ceil() rounding: 1081/8 = 135.1 -> 136 rows.
  EXPECT_EQ(ChooseJpegScale({1081, 1920}, {136, 1}).denom, 8);
  EXPECT_EQ(ChooseJpegScale({1081, 1920}, {0, 0}).denom, 8);
}

TEST(JpegTest, ReducedDecodeIsAtLeastTheTargetAndMatchesTheScale) {
  const Image original = Gradient(200, 300);
  absl::StatusOr<std::string> encoded = EncodeJpeg(original, 90);
  ASSERT_TRUE(encoded.ok());
  const auto* bytes = reinterpret_cast<const uint8_t*>(encoded->data());
  struct Case {
    ImageSize target, want;
  };
  for (const Case& c :
       {Case{{100, 150}, {100, 150}}, Case{{60, 70}, {100, 150}},
        Case{{50, 70}, {50, 75}}, Case{{30, 10}, {50, 75}},
        Case{{25, 38}, {25, 38}}, Case{{101, 10}, {200, 300}},
        Case{{49, 74}, {50, 75}}}) {
    absl::StatusOr<Image> image =
        DecodeJpegAtLeast(bytes, encoded->size(), c.target, "mem");
    ASSERT_TRUE(image.ok()) << image.status();
    EXPECT_EQ(image->size(), c.want)
        << c.target.height << "x" << c.target.width;
    EXPECT_GE(image->height, std::min(200, c.target.height));
    EXPECT_GE(image->width, std::min(300, c.target.width));
  }
  // The half-size decode still looks like the image.
  absl::StatusOr<Image> half =
      DecodeJpegAtLeast(bytes, encoded->size(), {100, 150}, "mem");
  ASSERT_TRUE(half.ok());
  EXPECT_NEAR(half->at(50, 149, 0), 255, 6);
  EXPECT_NEAR(half->at(99, 0, 1), 255, 6);
}

TEST(JpegTest, CorruptTruncatedAndEmptyDataAreErrorsNamingTheSource) {
  absl::StatusOr<std::string> bytes = ReadFileToString(kRgbJpeg);
  ASSERT_TRUE(bytes.ok());
  const std::string truncated_path = TempPath("truncated.jpg");
  ASSERT_TRUE(
      WriteStringToFile(truncated_path, bytes->substr(0, bytes->size() / 2))
          .ok());
  absl::StatusOr<Image> truncated = ReadJpegFile(truncated_path);
  ASSERT_FALSE(truncated.ok());
  EXPECT_THAT(truncated.status().message(), HasSubstr(truncated_path));

  std::string corrupt = *bytes;
  for (size_t i = 0; i < 40; ++i)
    corrupt[2 + i] = static_cast<char>(0xAB);  // header
  const std::string corrupt_path = TempPath("corrupt.jpg");
  ASSERT_TRUE(WriteStringToFile(corrupt_path, corrupt).ok());
  EXPECT_THAT(ReadJpegFile(corrupt_path).status().message(),
              HasSubstr(corrupt_path));
  EXPECT_THAT(ReadJpegFileSize(corrupt_path).status().message(),
              HasSubstr(corrupt_path));

  const std::string text = "not a jpeg at all";
  EXPECT_THAT(DecodeJpeg(reinterpret_cast<const uint8_t*>(text.data()),
                         text.size(), "label.jpg")
                  .status()
                  .message(),
              HasSubstr("label.jpg"));
  EXPECT_FALSE(DecodeJpeg(nullptr, 0, "empty.jpg").ok());
  absl::StatusOr<Image> missing = ReadJpegFile(TempPath("missing.jpg"));
  EXPECT_TRUE(absl::IsNotFound(missing.status()));
  EXPECT_THAT(missing.status().message(), HasSubstr("missing.jpg"));

  EXPECT_FALSE(EncodeJpeg(Image(4, 4, 2)).ok());
  EXPECT_FALSE(EncodeJpeg(Image(4, 4, 3), 0).ok());
}

}  // namespace
}  // namespace sam2::data
