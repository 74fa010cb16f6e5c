#include "sam2/training/logging/tensorboard/event_writer.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "base/testing/temp_dir.h"
#include "data/codecs/png.h"

namespace sam2::tensorboard {
namespace {

TEST(Crc32cTest, KnownValues) {
  // RFC 3720 test vector and the standard check value.
  EXPECT_EQ(Crc32c("123456789", 9), 0xe3069283u);
  const std::string zeros(32, '\0');
  EXPECT_EQ(Crc32c(zeros.data(), zeros.size()), 0x8a9136aau);
}

TEST(EventWriterTest, ScalarsRoundTrip) {
  const std::string dir = ::sam2::testutil::FreshTempDir("tb");
  std::string path;
  {
    auto writer = EventWriter::Create(dir);
    ASSERT_TRUE(writer.ok()) << writer.status();
    path = (*writer)->path();
    EXPECT_THAT(path, ::testing::HasSubstr("/events.out.tfevents."));
    for (int step = 0; step < 5; ++step) {
      (*writer)->AddScalar("Losses/train_all_core_loss", 1.0 / (step + 1),
                           step);
      (*writer)->AddScalar("Optim/0/lr", 5e-6, step);
    }
  }
  std::string version;
  auto events = ReadScalarEvents(path, &version);
  ASSERT_TRUE(events.ok()) << events.status();
  EXPECT_EQ(version, "brain.Event:2");
  ASSERT_EQ(events->size(), 10u);
  EXPECT_EQ((*events)[4].tag, "Losses/train_all_core_loss");
  EXPECT_EQ((*events)[4].step, 2);
  EXPECT_FLOAT_EQ((*events)[4].value, 1.0f / 3);
  EXPECT_FLOAT_EQ((*events)[9].value, 5e-6f);
}

TEST(EventWriterTest, ZeroScalarsAreWritten) {
  const std::string dir = ::sam2::testutil::FreshTempDir("tb_zero");
  std::string path;
  {
    auto writer = EventWriter::Create(dir);
    ASSERT_TRUE(writer.ok());
    path = (*writer)->path();
    (*writer)->AddScalar("zero", 0.0, 3);
  }
  auto events = ReadScalarEvents(path);
  ASSERT_TRUE(events.ok()) << events.status();
  ASSERT_EQ(events->size(), 1u);
  EXPECT_EQ((*events)[0].value, 0.0f);
}

// An image summary as TensorBoard reads it: the record framing and CRCs,
// then Summary.Value.image with the encoded PNG, its size and colour space.
TEST(EventWriterTest, ImagesRoundTrip) {
  const std::string dir = ::sam2::testutil::FreshTempDir("tb_image");
  data::Image rgb(4, 6, 3);
  for (size_t i = 0; i < rgb.data.size(); ++i) rgb.data[i] = i * 7 % 256;
  absl::StatusOr<std::string> png = data::EncodePng(rgb);
  ASSERT_TRUE(png.ok()) << png.status();
  std::string path;
  {
    auto writer = EventWriter::Create(dir);
    ASSERT_TRUE(writer.ok());
    path = (*writer)->path();
    (*writer)->AddScalar("a", 1.0, 1);
    (*writer)->AddImage("val_pictures/video_1", *png, 4, 6, 3, 8);
  }
  std::vector<ImageEvent> images;
  auto events = ReadScalarEvents(path, nullptr, &images);
  ASSERT_TRUE(events.ok()) << events.status();
  EXPECT_EQ(events->size(), 1u);
  ASSERT_EQ(images.size(), 1u);
  EXPECT_EQ(images[0].tag, "val_pictures/video_1");
  EXPECT_EQ(images[0].step, 8);
  EXPECT_EQ(images[0].height, 4);
  EXPECT_EQ(images[0].width, 6);
  EXPECT_EQ(images[0].colorspace, 3);
  EXPECT_EQ(images[0].encoded, *png);
  absl::StatusOr<data::Image> decoded = data::DecodePng(
      reinterpret_cast<const uint8_t*>(images[0].encoded.data()),
      images[0].encoded.size(), "event");
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(decoded->channels, 3);
  EXPECT_TRUE(std::equal(decoded->data.begin(), decoded->data.end(),
                         rgb.data.begin()));
}

TEST(EventWriterTest, CorruptionIsDetected) {
  const std::string dir = ::sam2::testutil::FreshTempDir("tb2");
  std::string path;
  {
    auto writer = EventWriter::Create(dir);
    ASSERT_TRUE(writer.ok());
    path = (*writer)->path();
    (*writer)->AddScalar("a", 1.0, 1);
  }
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  std::string bytes = s.str();
  bytes[bytes.size() - 6] ^= 1;  // inside the last record's data
  std::ofstream(path, std::ios::binary) << bytes;
  auto events = ReadScalarEvents(path);
  ASSERT_FALSE(events.ok());
  EXPECT_THAT(std::string(events.status().message()),
              ::testing::HasSubstr("bad data CRC"));
}

}  // namespace
}  // namespace sam2::tensorboard
