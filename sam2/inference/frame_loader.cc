#include "sam2/inference/frame_loader.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <system_error>
#include <utility>

#include "absl/strings/str_cat.h"
#include "data/codecs/jpeg.h"
#include "data/transforms/image_ops.h"

namespace sam2::inference {
namespace {

namespace fs = std::filesystem;

bool IsJpegExtension(const std::string& ext) {
  return ext == ".jpg" || ext == ".jpeg" || ext == ".JPG" || ext == ".JPEG";
}

// Python's int() of a file stem (optional sign, decimal digits; surrounding
// whitespace and underscores are rare enough in frame names to refuse).
bool ParseFrameIndex(const std::string& stem, long long* value) {
  if (stem.empty()) return false;
  size_t i = (stem[0] == '-' || stem[0] == '+') ? 1 : 0;
  if (i == stem.size()) return false;
  for (size_t j = i; j < stem.size(); ++j) {
    if (stem[j] < '0' || stem[j] > '9') return false;
  }
  errno = 0;
  *value = std::strtoll(stem.c_str(), nullptr, 10);
  return errno == 0;
}

}  // namespace

data::Image PilBicubicResize(const data::Image& src, int out_height,
                             int out_width) {
  return data::ops::ResizeImage(src, out_height, out_width,
                                data::ops::PilFilter::kBicubic);
}

at::Tensor NormalizeFrame(const data::Image& resized_rgb) {
  const int h = resized_rgb.height, w = resized_rgb.width;
  at::Tensor out = at::empty({3, h, w}, at::kFloat);
  float* dst = out.data_ptr<float>();
  const float mean[3] = {0.485f, 0.456f, 0.406f};
  const float stddev[3] = {0.229f, 0.224f, 0.225f};
  for (int c = 0; c < 3; ++c) {
    for (int y = 0; y < h; ++y) {
      for (int x = 0; x < w; ++x) {
        // numpy's img / 255.0 in float64, then the float32 tensor ops.
        const float v = static_cast<float>(resized_rgb.at(y, x, c) / 255.0);
        const float centred = v - mean[c];
        dst[(static_cast<size_t>(c) * h + y) * w + x] = centred / stddev[c];
      }
    }
  }
  return out;
}

absl::StatusOr<std::vector<FrameFile>> ListJpegFrames(
    const std::string& video_dir) {
  std::error_code ec;
  if (!fs::is_directory(video_dir, ec)) {
    return absl::NotFoundError(
        absl::StrCat(video_dir, ": no such video folder"));
  }
  std::vector<std::pair<long long, FrameFile>> frames;
  for (const fs::directory_entry& entry :
       fs::directory_iterator(video_dir, ec)) {
    const fs::path& p = entry.path();
    if (!IsJpegExtension(p.extension().string())) continue;
    long long index = 0;
    if (!ParseFrameIndex(p.stem().string(), &index)) {
      return absl::InvalidArgumentError(absl::StrCat(
          p.string(),
          ": frame file names must be integers (e.g. 00000.jpg), as the "
          "reference sorts frames by int(stem)"));
    }
    frames.push_back({index, FrameFile{p.stem().string(), p.string()}});
  }
  if (ec) {
    return absl::UnavailableError(
        absl::StrCat(video_dir, ": cannot list: ", ec.message()));
  }
  if (frames.empty()) {
    return absl::NotFoundError(absl::StrCat(video_dir, ": no JPEG frames"));
  }
  // Stable like Python's sort: equal indices ("1.jpg", "01.jpg") keep their
  // listing order.
  std::stable_sort(
      frames.begin(), frames.end(),
      [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<FrameFile> files;
  files.reserve(frames.size());
  for (auto& f : frames) files.push_back(std::move(f.second));
  return files;
}

absl::StatusOr<VideoFrames> LoadVideoFrames(const std::string& video_dir,
                                            int image_size) {
  VideoFrames video;
  absl::StatusOr<std::vector<FrameFile>> files = ListJpegFrames(video_dir);
  if (!files.ok()) return files.status();
  for (const FrameFile& f : *files) video.frame_names.push_back(f.name);
  video.images = at::empty(
      {static_cast<int64_t>(files->size()), 3, image_size, image_size},
      at::kFloat);
  for (size_t t = 0; t < files->size(); ++t) {
    const std::string& path = (*files)[t].path;
    absl::StatusOr<data::Image> rgb = data::ReadJpegFile(path);
    if (!rgb.ok()) return rgb.status();
    if (t == 0) {
      video.video_height = rgb->height;
      video.video_width = rgb->width;
    } else if (rgb->height != video.video_height ||
               rgb->width != video.video_width) {
      // The reference keeps the first frame's size for the whole video and
      // would write masks of that size for this frame.
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": frame is ", rgb->width, "x", rgb->height,
                       " but the video's first frame is ", video.video_width,
                       "x", video.video_height));
    }
    video.images[static_cast<int64_t>(t)].copy_(
        NormalizeFrame(PilBicubicResize(*rgb, image_size, image_size)));
  }
  return video;
}

}  // namespace sam2::inference
