#include "data/video/video_decoder.h"

#include <fstream>
#include <map>
#include <sstream>

#include "data/codecs/jpeg.h"
#include "data/codecs/md5_for_test.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace sam2::data {
namespace {

using ::testing::HasSubstr;

std::string Testdata(const std::string& name) {
  return std::string(std::getenv("TEST_SRCDIR")) +
         "/sam2_train_cpp/data/video/testdata/" + name;
}

struct Golden {
  std::vector<std::string> rgb_md5, jpeg_md5;
  int frames = -1;
};

std::map<std::string, Golden> ReadGoldens() {
  std::ifstream in(Testdata("cv2_goldens.txt"));
  std::map<std::string, Golden> goldens;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream f(line);
    std::string video, what;
    f >> video >> what;
    if (what == "frames") {
      f >> goldens[video].frames;
    } else {
      std::string rgb, jpeg;
      f >> rgb >> jpeg;
      goldens[video].rgb_md5.push_back(rgb);
      goldens[video].jpeg_md5.push_back(jpeg);
    }
  }
  return goldens;
}

// Every frame of x264 4:2:0 (B-frames, 66x44: not a multiple of 16), x264
// 4:4:4 and MPEG-4 Part 2 equals OpenCV's cv2.VideoCapture pixel for pixel;
// and written as JPEG at quality 95 the files equal cv2.imwrite's byte for
// byte.
TEST(DecodeVideoTest, FramesEqualOpenCvsPixelForPixelAndJpegBytes) {
  const std::map<std::string, Golden> goldens = ReadGoldens();
  for (const char* name :
       {"x264_420_66x44.mp4", "x264_444_66x44.mp4", "mpeg4_64x48.mp4"}) {
    const Golden& golden = goldens.at(name);
    ASSERT_GT(golden.frames, 0) << name;
    int jpeg_equal = 0;
    absl::StatusOr<int64_t> frames = DecodeVideo(
        Testdata(name), [&](int64_t i, const Image& rgb) -> absl::Status {
          EXPECT_EQ(Md5Hex(rgb.data.data(), rgb.data.size()),
                    golden.rgb_md5.at(i))
              << name << " frame " << i;
          absl::StatusOr<std::string> jpeg = EncodeJpeg(rgb, 95);
          EXPECT_TRUE(jpeg.ok());
          jpeg_equal += Md5Hex(reinterpret_cast<const uint8_t*>(jpeg->data()),
                               jpeg->size()) == golden.jpeg_md5.at(i);
          return absl::OkStatus();
        });
    ASSERT_TRUE(frames.ok()) << frames.status();
    EXPECT_EQ(*frames, golden.frames) << name;
    EXPECT_EQ(jpeg_equal, golden.frames) << name << ": JPEG bytes differ";
  }
}

TEST(DecodeVideoTest, BrokenFilesAreErrorsNamingThem) {
  auto ignore = [](int64_t, const Image&) { return absl::OkStatus(); };
  // The index (moov) is cut off: OpenCV cannot open it either.
  const absl::Status no_index =
      DecodeVideo(Testdata("truncated.mp4"), ignore).status();
  EXPECT_FALSE(no_index.ok());
  EXPECT_THAT(no_index.message(), HasSubstr("truncated.mp4: "));
  const absl::Status missing =
      DecodeVideo(Testdata("missing.mp4"), ignore).status();
  EXPECT_THAT(missing.message(), HasSubstr("missing.mp4: cannot open"));
  // The frames are cut off after the index.
  const absl::Status cut =
      DecodeVideo(Testdata("truncated_faststart.mp4"), ignore).status();
  EXPECT_FALSE(cut.ok());
  EXPECT_THAT(cut.message(), HasSubstr("truncated_faststart.mp4: "));
  // A callback's error stops the decoding.
  int calls = 0;
  const absl::Status stopped =
      DecodeVideo(Testdata("mpeg4_64x48.mp4"), [&](int64_t, const Image&) {
        ++calls;
        return absl::CancelledError("enough");
      }).status();
  EXPECT_EQ(stopped.code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(calls, 1);
}

}  // namespace
}  // namespace sam2::data
