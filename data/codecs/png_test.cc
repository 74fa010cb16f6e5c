#include "data/codecs/png.h"

#include "base/testing/temp_dir.h"
#include "data/codecs/file_io.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace sam2::data {
namespace {

using ::sam2::testutil::TempPath;
using ::testing::HasSubstr;

absl::StatusOr<Image> DecodeString(const std::string& bytes,
                                   PngInfo* info = nullptr) {
  return DecodePng(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(),
                   "mem", info);
}

TEST(PngTest, EightBitRoundTripsForEveryChannelCount) {
  for (int channels = 1; channels <= 4; ++channels) {
    Image image(7, 11, channels);
    for (size_t i = 0; i < image.data.size(); ++i)
      image.data[i] = (i * 37 + 5) % 256;
    absl::StatusOr<std::string> encoded = EncodePng(image);
    ASSERT_TRUE(encoded.ok()) << encoded.status();
    PngInfo info;
    absl::StatusOr<Image> decoded = DecodeString(*encoded, &info);
    ASSERT_TRUE(decoded.ok()) << decoded.status();
    EXPECT_EQ(decoded->channels, channels);
    EXPECT_EQ(decoded->data, image.data);
    EXPECT_EQ(info.bit_depth, 8);
    EXPECT_EQ(info.channels, channels);
  }
}

TEST(PngTest, SixteenBitKeepsValuesOrScalesToEightBit) {
  Image16 image(3, 4, 1);
  for (size_t i = 0; i < image.data.size(); ++i) image.data[i] = i * 5000 + 1;
  const std::string path = TempPath("g16.png");
  ASSERT_TRUE(WritePng16File(path, image).ok());
  PngInfo info;
  absl::StatusOr<Image16> back = ReadPng16File(path, &info);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->data, image.data);
  EXPECT_EQ(info.bit_depth, 16);
  absl::StatusOr<Image> scaled = ReadPngFile(path);
  ASSERT_TRUE(scaled.ok());
  EXPECT_EQ(scaled->at(2, 3),
            static_cast<uint8_t>((11 * 5000 + 1) * 255.0 / 65535 + 0.5));

  // Written by OpenCV: big-endian samples in the file, ours come out native.
  absl::StatusOr<Image16> cv =
      ReadPng16File("data/codecs/testdata/gray_16bit_5x4.png");
  ASSERT_TRUE(cv.ok()) << cv.status();
  for (int y = 0; y < 4; ++y)
    for (int x = 0; x < 5; ++x) EXPECT_EQ(cv->at(y, x), (5 * y + x) * 3001 + 7);

  Image16 rgba(2, 2, 4);
  for (size_t i = 0; i < rgba.data.size(); ++i) rgba.data[i] = 65535 - i * 999;
  absl::StatusOr<std::string> encoded = EncodePng16(rgba);
  ASSERT_TRUE(encoded.ok());
  absl::StatusOr<Image16> rgba_back =
      DecodePng16(reinterpret_cast<const uint8_t*>(encoded->data()),
                  encoded->size(), "mem");
  ASSERT_TRUE(rgba_back.ok());
  EXPECT_EQ(rgba_back->data, rgba.data);
}

TEST(PngTest, PaletteImagesDecodeToIndices) {
  Image indices(5, 6, 1);
  for (size_t i = 0; i < indices.data.size(); ++i)
    indices.data[i] = i % 4 == 0 ? 0 : 1 + i % 7;
  const PngPalette palette = DavisPalette();
  const std::string path = TempPath("pal.png");
  ASSERT_TRUE(WritePalettePngFile(path, indices, palette).ok());
  PngInfo info;
  absl::StatusOr<Image> back = ReadPngFile(path, &info);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(info.color_type, PngColorType::kPalette);
  EXPECT_EQ(back->channels, 1);
  EXPECT_EQ(back->data, indices.data);
  absl::StatusOr<Image16> back16 = ReadPng16File(path);
  ASSERT_TRUE(back16.ok());
  EXPECT_EQ(back16->at(0, 1), indices.at(0, 1));
  // The palette comes back as written (VOS inference writes its outputs with
  // the input's palette).
  EXPECT_EQ(info.palette, palette);
  const PngPalette short_palette = {{1, 2, 3},    {4, 5, 6},    {7, 8, 9},
                                    {10, 11, 12}, {13, 14, 15}, {16, 17, 18},
                                    {19, 20, 21}, {22, 23, 24}};
  ASSERT_TRUE(WritePalettePngFile(path, indices, short_palette).ok());
  ASSERT_TRUE(ReadPngFile(path, &info).ok());
  EXPECT_EQ(info.palette, short_palette);

  // Low bit depth palettes are unpacked, not scaled.
  absl::StatusOr<Image> two_bit =
      ReadPngFile("data/codecs/testdata/palette_2bit_7x3.png", &info);
  ASSERT_TRUE(two_bit.ok()) << two_bit.status();
  EXPECT_EQ(info.bit_depth, 2);
  EXPECT_EQ(info.color_type, PngColorType::kPalette);
  EXPECT_EQ(info.palette.size(), 4u);
  for (int y = 0; y < 3; ++y)
    for (int x = 0; x < 7; ++x) EXPECT_EQ(two_bit->at(y, x), (x + 2 * y) % 4);

  EXPECT_EQ(palette[0], (std::array<uint8_t, 3>{0, 0, 0}));
  EXPECT_EQ(palette[1], (std::array<uint8_t, 3>{128, 0, 0}));
  EXPECT_EQ(palette[2], (std::array<uint8_t, 3>{0, 128, 0}));
  EXPECT_EQ(palette[255], (std::array<uint8_t, 3>{224, 224, 192}));

  Image bad(1, 1, 1);
  bad.data[0] = 9;
  EXPECT_FALSE(EncodePalettePng(bad, PngPalette(4)).ok());
}

TEST(PngTest, OneBitGrayExpandsToEightBitScaled) {
  PngInfo info;
  absl::StatusOr<Image> image =
      ReadPngFile("data/codecs/testdata/gray_1bit_9x2.png", &info);
  ASSERT_TRUE(image.ok()) << image.status();
  EXPECT_EQ(info.bit_depth, 1);
  for (int y = 0; y < 2; ++y)
    for (int x = 0; x < 9; ++x)
      EXPECT_EQ(image->at(y, x), (x + y) % 2 ? 255 : 0);
  absl::StatusOr<Image16> raw =
      ReadPng16File("data/codecs/testdata/gray_1bit_9x2.png");
  ASSERT_TRUE(raw.ok());
  EXPECT_EQ(raw->at(0, 1), 1);  // the label value, unscaled
}

TEST(PngTest, CorruptAndTruncatedFilesAreErrorsNamingTheFile) {
  Image image(40, 40, 3);
  for (size_t i = 0; i < image.data.size(); ++i)
    image.data[i] = (i * 131) % 251;
  absl::StatusOr<std::string> encoded = EncodePng(image);
  ASSERT_TRUE(encoded.ok());

  for (size_t keep : {size_t{4}, size_t{20}, size_t{40}, encoded->size() / 2,
                      encoded->size() - 20}) {
    const std::string path = TempPath("trunc.png");
    ASSERT_TRUE(WriteStringToFile(path, encoded->substr(0, keep)).ok());
    absl::StatusOr<Image> decoded = ReadPngFile(path);
    ASSERT_FALSE(decoded.ok()) << "kept " << keep << " bytes";
    EXPECT_THAT(decoded.status().message(), HasSubstr(path));
  }
  // Flipped bytes inside IDAT: CRC or zlib error.
  std::string corrupt = *encoded;
  for (size_t i = 60; i < 90; ++i) corrupt[i] ^= 0x5A;
  const std::string path = TempPath("corrupt.png");
  ASSERT_TRUE(WriteStringToFile(path, corrupt).ok());
  absl::StatusOr<Image> decoded = ReadPngFile(path);
  ASSERT_FALSE(decoded.ok());
  EXPECT_THAT(decoded.status().message(), HasSubstr(path));
  EXPECT_THAT(decoded.status().message(), HasSubstr("corrupt"));
  EXPECT_FALSE(ReadPng16File(path).ok());

  const std::string jpeg_bytes = "\xFF\xD8\xFF\xE0 not a png";
  EXPECT_THAT(DecodeString(jpeg_bytes).status().message(),
              HasSubstr("signature"));
  EXPECT_TRUE(absl::IsNotFound(ReadPngFile(TempPath("nope.png")).status()));
  EXPECT_FALSE(EncodePng(Image(2, 2, 5)).ok());
}

}  // namespace
}  // namespace sam2::data
