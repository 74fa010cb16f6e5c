// Loader throughput on a DAVIS-layout folder through the MOSE training chain
// (8 frames, up to 3 objects, batch size 1):
//   bazel run -c opt //data:loader_bench -- --data_dir=DIR [--file_list=F]
//       --resolution=1024 --workers=N --samples=N [--profile]
// DIR holds JPEGImages/ and Annotations/ (e.g. make_synthetic_vos's davis/).
// The last line is `samples_per_s X`. --profile first times each stage
// (decode, each transform, collation) on the calling thread.
#include <gflags/gflags.h>
#include <sys/resource.h>
#include <time.h>

#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "data/datasets/vos_dataset.h"
#include "data/datasets/vos_raw_dataset.h"
#include "data/loader/loader.h"
#include "data/sampling/vos_sampler.h"
#include "data/transforms/transforms.h"

DEFINE_string(data_dir, "", "DAVIS-layout folder (JPEGImages/, Annotations/)");
DEFINE_string(file_list, "", "Optional list of videos to use");
DEFINE_int32(resolution, 1024, "Square training resolution");
DEFINE_int32(workers, 1, "Loader worker threads");
DEFINE_int32(samples, 20, "Samples to load (batch size 1)");
DEFINE_int32(num_frames, 8, "Frames per sample");
DEFINE_int32(max_num_objects, 3, "Objects per sample");
DEFINE_int32(prefetch, 4, "Batches prefetched");
DEFINE_bool(profile, false, "Time each stage on the calling thread first");

namespace sam2::data {
namespace {

using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point since) {
  return std::chrono::duration<double>(Clock::now() - since).count();
}

// CPU time of the calling thread / of the whole process, in seconds: the
// machine may be shared, so throughput per core is also reported per CPU
// second actually used.
double ThreadCpu() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}
double ProcessCpu() {
  rusage u;
  getrusage(RUSAGE_SELF, &u);
  return u.ru_utime.tv_sec + u.ru_utime.tv_usec * 1e-6 + u.ru_stime.tv_sec +
         u.ru_stime.tv_usec * 1e-6;
}

void Profile(const std::shared_ptr<const VosRawDataset>& raw,
             const std::shared_ptr<const VosSampler>& sampler,
             const Compose& chain, int samples) {
  VosDatasetOptions o;
  VosDataset decode_only(raw, sampler, nullptr, o);
  std::vector<double> stage(chain.transforms().size(), 0.0);
  double sample = 0, images = 0, masks = 0, decode = 0, collate = 0;
  int done = 0;
  for (int i = 0; i < samples; ++i) {
    // The parts of loading, measured apart (the same work again below).
    {
      SampleContext ctx(SeedFrom({99, static_cast<uint64_t>(i)}));
      double start = ThreadCpu();
      auto video = raw->GetVideo(i % raw->size());
      if (!video.ok()) continue;
      auto sampled =
          sampler->Sample(video->video, *video->segment_loader, ctx.rng);
      sample += ThreadCpu() - start;
      if (!sampled.ok()) continue;
      start = ThreadCpu();
      for (const VosFrame& f : sampled->frames)
        LoadRgbImage(f.image_path).IgnoreError();
      images += ThreadCpu() - start;
      start = ThreadCpu();
      for (const VosFrame& f : sampled->frames) {
        video->segment_loader->Load(f.frame_idx, sampled->object_ids)
            .IgnoreError();
      }
      masks += ThreadCpu() - start;
    }
    SampleContext ctx(SeedFrom({99, static_cast<uint64_t>(i)}));
    double start = ThreadCpu();
    auto dp = decode_only.TryGet(i % raw->size(), ctx);
    decode += ThreadCpu() - start;
    if (!dp.ok()) {
      std::printf("profile: sample %d: %s\n", i,
                  dp.status().ToString().c_str());
      continue;
    }
    for (size_t t = 0; t < chain.transforms().size(); ++t) {
      start = ThreadCpu();
      absl::Status s = chain.transforms()[t]->Apply(*dp, ctx);
      stage[t] += ThreadCpu() - start;
      if (!s.ok()) std::printf("profile: %s\n", s.ToString().c_str());
    }
    std::vector<VideoDatapoint> batch;
    batch.push_back(std::move(*dp));
    start = ThreadCpu();
    static TensorBufferPool pool;
    auto collated = Collate(batch, "all", &pool);
    collate += ThreadCpu() - start;
    ++done;
  }
  if (done == 0) return;
  std::printf("profile over %d samples (CPU ms per sample):\n", done);
  std::printf("  %-22s %8.1f\n", "(video+sampler)", 1e3 * sample / done);
  std::printf("  %-22s %8.1f\n", "(decode jpegs)", 1e3 * images / done);
  std::printf("  %-22s %8.1f\n", "(load masks)", 1e3 * masks / done);
  std::printf("  %-22s %8.1f\n", "load+decode+sample", 1e3 * decode / done);
  double total = decode + collate;
  for (size_t t = 0; t < stage.size(); ++t) {
    std::printf("  %-22s %8.1f\n", chain.transforms()[t]->Name().c_str(),
                1e3 * stage[t] / done);
    total += stage[t];
  }
  std::printf("  %-22s %8.1f\n", "collate", 1e3 * collate / done);
  std::printf("  %-22s %8.1f  (%.2f samples per CPU second)\n", "total",
              1e3 * total / done, done / total);
}

int Run() {
  if (FLAGS_data_dir.empty()) {
    std::fprintf(stderr, "--data_dir is required\n");
    return 2;
  }
  PngRawDatasetOptions raw_options;
  raw_options.img_folder = FLAGS_data_dir + "/JPEGImages";
  raw_options.gt_folder = FLAGS_data_dir + "/Annotations";
  raw_options.file_list_txt = FLAGS_file_list;
  auto raw = PngRawDataset::Create(raw_options);
  if (!raw.ok()) {
    std::fprintf(stderr, "%s\n", raw.status().ToString().c_str());
    return 1;
  }
  std::shared_ptr<const VosRawDataset> videos(std::move(*raw));
  auto sampler = std::make_shared<RandomUniformSampler>(FLAGS_num_frames,
                                                        FLAGS_max_num_objects);
  std::shared_ptr<const Compose> chain = MoseTrainTransforms(FLAGS_resolution);
  if (FLAGS_profile) {
    Profile(videos, sampler, *chain, std::min(FLAGS_samples, 10));
  }

  auto dataset =
      std::make_shared<VosDataset>(videos, sampler, chain, VosDatasetOptions{});
  LoaderOptions options;
  options.num_workers = FLAGS_workers;
  options.prefetch_batches = FLAGS_prefetch;
  options.drop_last = false;
  auto loader = DataLoader::Create({{dataset, 1, true}}, options);
  if (!loader.ok()) {
    std::fprintf(stderr, "%s\n", loader.status().ToString().c_str());
    return 1;
  }
  int loaded = 0;
  int64_t epoch = 0;
  const auto start = Clock::now();
  const double cpu_start = ProcessCpu();
  if (!(*loader)->StartEpoch(epoch).ok()) return 1;
  while (loaded < FLAGS_samples) {
    auto next = (*loader)->Next();
    if (!next.ok()) {
      std::fprintf(stderr, "%s\n", next.status().ToString().c_str());
      return 1;
    }
    if (!next->has_value()) {
      if (!(*loader)->StartEpoch(++epoch).ok()) return 1;
      continue;
    }
    loaded += static_cast<int>((*next)->num_videos());
  }
  const double seconds = Seconds(start);
  const double cpu = ProcessCpu() - cpu_start;
  std::printf(
      "%d samples, %d workers, resolution %d: %.2f s wall, %.2f s CPU, "
      "%.3f samples per CPU second, %lld skipped\n",
      loaded, FLAGS_workers, FLAGS_resolution, seconds, cpu, loaded / cpu,
      static_cast<long long>((*loader)->stats().bad_samples_skipped.load()));
  std::printf("samples_per_s %.3f\n", loaded / seconds);
  return 0;
}

}  // namespace
}  // namespace sam2::data

int main(int argc, char** argv) {
  gflags::ParseCommandLineFlags(&argc, &argv, true);
  return sam2::data::Run();
}
