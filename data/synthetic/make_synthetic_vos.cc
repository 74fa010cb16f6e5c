// Writes a deterministic synthetic VOS dataset (DAVIS, SA-1B and SA-V
// layouts); see data/synthetic/synthetic_vos.h for the layout.
//
//   bazel run //tools:make_synthetic_vos -- --output_dir=/tmp/synth
//       --num_videos=4 --num_frames=16 --height=256 --width=384 --seed=1
#include <gflags/gflags.h>

#include <cstdio>
#include <string>

#include "absl/strings/str_split.h"
#include "data/synthetic/synthetic_vos.h"

DEFINE_string(output_dir, "", "Directory to write into (created if missing).");
DEFINE_int32(num_videos, 2, "Videos per video format (DAVIS, SA-V).");
DEFINE_int32(num_frames, 8, "Frames per video.");
DEFINE_int32(num_objects, 3, "Objects per video / image (1..255).");
DEFINE_int32(height, 96, "Frame height in pixels (16..4096).");
DEFINE_int32(width, 128, "Frame width in pixels (16..4096).");
DEFINE_uint64(seed, 0, "Random seed; the same seed gives identical files.");
DEFINE_string(formats, "davis,sa1b,sav",
              "Comma-separated subset of davis,sa1b,sav.");
DEFINE_bool(per_object_png, true,
            "DAVIS: also write Annotations_per_object (one PNG per object).");
DEFINE_int32(num_images, -1, "SA-1B images (default: --num_videos).");
DEFINE_int32(sav_ann_every, 4, "SA-V: annotate every N-th frame.");
DEFINE_int32(jpeg_quality, 90, "JPEG quality (1..100).");

int main(int argc, char** argv) {
  gflags::SetUsageMessage(
      "writes a deterministic synthetic VOS dataset.\n"
      "usage: make_synthetic_vos --output_dir=DIR [--num_videos=N] "
      "[--num_frames=N] [--num_objects=N] [--height=H --width=W] [--seed=S] "
      "[--formats=davis,sa1b,sav]");
  gflags::ParseCommandLineFlags(&argc, &argv, /*remove_flags=*/true);

  sam2::data::SyntheticVosOptions options;
  options.output_dir = FLAGS_output_dir;
  options.num_videos = FLAGS_num_videos;
  options.num_frames = FLAGS_num_frames;
  options.num_objects = FLAGS_num_objects;
  options.height = FLAGS_height;
  options.width = FLAGS_width;
  options.seed = FLAGS_seed;
  options.per_object_png = FLAGS_per_object_png;
  options.num_images = FLAGS_num_images;
  options.sav_ann_every = FLAGS_sav_ann_every;
  options.jpeg_quality = FLAGS_jpeg_quality;
  options.davis = options.sa1b = options.sav = false;
  for (absl::string_view format :
       absl::StrSplit(FLAGS_formats, ',', absl::SkipEmpty())) {
    if (format == "davis") {
      options.davis = true;
    } else if (format == "sa1b") {
      options.sa1b = true;
    } else if (format == "sav") {
      options.sav = true;
    } else {
      std::fprintf(
          stderr,
          "make_synthetic_vos: unknown format '%s' (davis, sa1b, sav)\n",
          std::string(format).c_str());
      return 2;
    }
  }
  const absl::Status status = sam2::data::WriteSyntheticVos(options);
  if (!status.ok()) {
    std::fprintf(stderr, "make_synthetic_vos: %s\n",
                 std::string(status.message()).c_str());
    return 1;
  }
  std::printf("wrote synthetic VOS data to %s\n", options.output_dir.c_str());
  return 0;
}
