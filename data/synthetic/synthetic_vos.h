// Deterministic synthetic VOS data in the three layouts the raw datasets
// read: DAVIS (JPEG frames + palettised PNG annotations, optionally one PNG
// per object), SA-1B (image + JSON of RLE masks) and SA-V (JPEG frames +
// <video>_manual.json masklets). Textured objects move, scale, rotate,
// occlude each other and leave the frame, so that trackers have something to
// track. The same seed gives byte-identical files.
//
// Layout under output_dir:
//   davis/JPEGImages/<video>/%05d.jpg, davis/Annotations/<video>/%05d.png
//   davis/Annotations_per_object/<video>/<obj-1>/%05d.png   (per_object_png;
//       written only for frames where the object is visible)
//   davis/file_list.txt
//   sa1b/sa_<id>.jpg, sa1b/sa_<id>.json, sa1b/file_list.txt
//   sav/JPEGImages_24fps/<video>/%05d.jpg, sav/sav_train/<video>_manual.json,
//   sav/file_list.txt
// DAVIS/SA-V videos are "synth_%04d" / "sav_%06d" (1-based); SA-1B images
// "sa_<n>", n = 1.. . Object ids are 1..num_objects in DAVIS palettes and
// 0..num_objects-1 as SA-V masklet indices (same objects).
#ifndef SAM2_DATA_SYNTHETIC_SYNTHETIC_VOS_H_
#define SAM2_DATA_SYNTHETIC_SYNTHETIC_VOS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "data/codecs/image.h"

namespace sam2::data {

struct SyntheticVosOptions {
  std::string output_dir;
  int num_videos = 2;
  int num_frames = 8;
  int num_objects = 3;  // 1..255
  int height = 96;      // 16..4096
  int width = 128;      // 16..4096
  uint64_t seed = 0;
  bool davis = true;
  bool per_object_png = true;  // also the is_palette=false layout
  bool sa1b = true;
  int num_images = -1;  // SA-1B images; < 0: num_videos
  bool sav = true;
  int sav_ann_every = 4;  // SA-V annotates every 4th frame of 24 fps video
  int jpeg_quality = 90;
};

absl::Status ValidateSyntheticVosOptions(const SyntheticVosOptions& options);

// Writes the selected formats (creating directories as needed).
absl::Status WriteSyntheticVos(const SyntheticVosOptions& options);

// One rendered frame: RGB image and its label map (0 = background, k = object
// k, the top-most object wins where they overlap).
struct SyntheticFrame {
  Image rgb;
  Image labels;  // 1 channel
};

// Renders frame `frame` of video `video` (0-based), as written to disk.
SyntheticFrame RenderSyntheticFrame(const SyntheticVosOptions& options,
                                    int video, int frame);

}  // namespace sam2::data

#endif  // SAM2_DATA_SYNTHETIC_SYNTHETIC_VOS_H_
