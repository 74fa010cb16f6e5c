// extract_sav_frames: SA-V's videos cut into JPEG frames, as the reference's
// training/scripts/sav_frame_extraction_submitit.py does, as an MPI batch job.
//
//   bazel run //jobs:extract_sav_frames -- --sav_vid_dir=/data/sav_train \
//       --output_dir=/data/sav_train/JPEGImages_24fps
//       [--sav_frame_sample_rate=4]
//   mpirun -np 16 bazel-bin/jobs/extract_sav_frames ...   (videos split)
#include <ATen/ATen.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "configs/cli.h"
#include "data/codecs/file_io.h"
#include "data/codecs/jpeg.h"
#include "data/video/video_decoder.h"
#include "distributed/mpi_world.h"
#include "distributed/work_split.h"

namespace {

using namespace sam2;
namespace fs = std::filesystem;

constexpr char kUsage[] =
    R"(usage: extract_sav_frames --sav_vid_dir=DIR --output_dir=DIR [--sav_frame_sample_rate=N]

Decodes every <sav_vid_dir>/*/*.mp4 (as the reference globs them) and writes
every N-th frame as <output_dir>/<video>/<index:05d>.jpg (index = frame
number, so 00000, 00004, ... for N = 4). Frames are decoded and converted as
OpenCV's cv2.VideoCapture does and encoded as cv2.imwrite does (JPEG quality
95, 4:2:0): the files equal the reference's byte for byte.

A video is one unit: written to a temporary folder and renamed when complete,
so a rerun (or a requeued job) skips the videos already done and an
interrupted one leaves no partial folder. Under mpirun/srun the ranks split
the videos, balanced by size. A video that cannot be decoded is reported
with its file; the others still run, and the exit code is 1.)";

const std::vector<config::FlagSpec>& JobFlags() {
  static const auto* flags = new std::vector<config::FlagSpec>{
      {"sav_vid_dir", "DIR", "the SA-V videos (<dir>/<subdir>/<video>.mp4)",
       ""},
      {"output_dir", "DIR", "where <video>/<index>.jpg go", ""},
      {"sav_frame_sample_rate", "N", "keep every N-th frame", "4"},
  };
  return *flags;
}

struct Video {
  std::string path, name;
  uintmax_t bytes = 0;
};

// This rank's videos (distributed/work_split.h), in name order.
std::vector<Video> MyVideos(const std::vector<Video>& all, int rank,
                            int ranks) {
  std::vector<distributed::WorkUnit> units;
  for (const Video& v : all) units.push_back({v.name, v.bytes});
  std::vector<Video> mine;
  for (size_t i : distributed::MyShareOfWork(units, rank, ranks)) {
    mine.push_back(all[i]);
  }
  std::sort(mine.begin(), mine.end(),
            [](const Video& a, const Video& b) { return a.name < b.name; });
  return mine;
}

// Writes one video's frames into a temporary folder, then renames it.
absl::StatusOr<int64_t> Extract(const Video& v, const std::string& out_dir,
                                int rate) {
  const fs::path final_dir = fs::path(out_dir) / v.name;
  // A fixed name: a rerun removes what an interrupted run left of this video.
  const fs::path temp =
      fs::path(out_dir) / absl::StrCat(".", v.name, ".partial");
  std::error_code ec;
  fs::remove_all(temp, ec);
  fs::create_directories(temp, ec);
  if (ec) {
    return absl::InternalError(
        absl::StrCat("cannot create ", temp.string(), ": ", ec.message()));
  }
  int64_t written = 0;
  absl::StatusOr<int64_t> frames = data::DecodeVideo(
      v.path, [&](int64_t index, const data::Image& rgb) -> absl::Status {
        if (index % rate != 0) return absl::OkStatus();
        const std::string path =
            (temp / absl::StrFormat("%05d.jpg", index)).string();
        if (absl::Status s = data::WriteJpegFile(path, rgb, 95); !s.ok()) {
          return s;
        }
        ++written;
        return absl::OkStatus();
      });
  if (!frames.ok()) {
    fs::remove_all(temp, ec);
    return frames.status();
  }
  fs::rename(temp, final_dir, ec);
  if (ec) {
    fs::remove_all(temp, ec);
    return absl::InternalError(absl::StrCat(
        "cannot rename to ", final_dir.string(), ": ", ec.message()));
  }
  return written;
}

}  // namespace

int main(int argc, char** argv) {
  int exit_code = 0;
  std::optional<config::CommandLine> cl = config::ParseJobCommandLine(
      "extract_sav_frames", kUsage, argc, argv, JobFlags(),
      /*allow_positional=*/false, &exit_code);
  if (!cl) return exit_code;
  const std::string in_dir = cl->Get("sav_vid_dir");
  const std::string out_dir = cl->Get("output_dir");
  absl::StatusOr<int64_t> rate = cl->GetInt("sav_frame_sample_rate");
  if (in_dir.empty() || out_dir.empty() || !rate.ok() || *rate < 1) {
    std::fprintf(stderr,
                 "extract_sav_frames: --sav_vid_dir and --output_dir are "
                 "required and --sav_frame_sample_rate must be >= 1\n");
    return 2;
  }
  auto created = distributed::InitWorld();
  if (!created.ok()) {
    std::fprintf(stderr, "extract_sav_frames: %s\n",
                 std::string(created.status().message()).c_str());
    return 1;
  }
  distributed::Collectives& world = **created;
  std::error_code ec;
  std::vector<Video> all;
  for (const auto& sub : fs::directory_iterator(in_dir, ec)) {
    if (!sub.is_directory()) continue;
    for (const auto& f : fs::directory_iterator(sub.path(), ec)) {
      if (f.path().extension() == ".mp4") {
        all.push_back(
            {f.path().string(), f.path().stem().string(), f.file_size(ec)});
      }
    }
  }
  if (ec) {
    std::fprintf(stderr, "extract_sav_frames: cannot list %s: %s\n",
                 in_dir.c_str(), ec.message().c_str());
    return 1;
  }
  fs::create_directories(out_dir, ec);
  const std::vector<Video> mine =
      MyVideos(all, world.rank(), world.world_size());
  const std::string who =
      world.world_size() > 1 ? absl::StrCat("rank ", world.rank(), ": ") : "";
  int64_t done = 0, skipped = 0, failed = 0, frames = 0;
  uintmax_t bytes = 0;
  const auto start = std::chrono::steady_clock::now();
  for (size_t i = 0; i < mine.size(); ++i) {
    const Video& v = mine[i];
    if (fs::is_directory(fs::path(out_dir) / v.name, ec)) {
      ++skipped;  // finished by an earlier run
      continue;
    }
    absl::StatusOr<int64_t> written = Extract(v, out_dir, *rate);
    if (!written.ok()) {
      ++failed;
      std::fprintf(stderr, "%sextract_sav_frames: %s\n", who.c_str(),
                   std::string(written.status().message()).c_str());
      continue;
    }
    ++done;
    frames += *written;
    bytes += v.bytes;
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
            .count();
    const double per_video = seconds / static_cast<double>(done + failed);
    std::printf(
        "%s[%zu/%zu] %s: %lld frames | %.1f videos/s, %.1f MB/s | ETA "
        "%.0f s\n",
        who.c_str(), i + 1, mine.size(), v.name.c_str(),
        static_cast<long long>(*written),
        (done + failed) / std::max(seconds, 1e-9),
        bytes / 1e6 / std::max(seconds, 1e-9),
        per_video * static_cast<double>(mine.size() - i - 1));
    std::fflush(stdout);
  }
  at::Tensor counts = at::tensor({done, skipped, failed, frames}, at::kLong);
  std::vector<at::Tensor> sums = {counts};
  world.AllReduceSum(sums);
  if (world.is_main()) {
    std::printf(
        "extract_sav_frames: %zu videos: %lld extracted (%lld frames), %lld "
        "already done, %lld failed\n",
        all.size(), static_cast<long long>(counts[0].item<int64_t>()),
        static_cast<long long>(counts[3].item<int64_t>()),
        static_cast<long long>(counts[1].item<int64_t>()),
        static_cast<long long>(counts[2].item<int64_t>()));
  }
  return counts[2].item<int64_t>() > 0 ? 1 : 0;
}
