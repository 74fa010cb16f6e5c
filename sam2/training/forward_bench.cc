// forward_bench: times SAM2Train's eval-mode forward pass (GT mask prompt on
// the first frame, then tracking) of a config's model on random input, the
// measurement the model issue compares with the reference's.
//
//   bazel run -c opt //sam2/training:forward_bench -- --config=parity_small
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <vector>

#include "absl/strings/numbers.h"
#include "base/torch_errors.h"
#include "configs/cli.h"
#include "configs/loader.h"
#include "sam2/training/model/sam2_train.h"
#include "sam2/training/model_builder.h"
#include "sam2/training/runtime/device.h"

namespace {

constexpr char kUsage[] =
    R"(usage: forward_bench --config=NAME|FILE [--set=TEXT ...] [flags]

Times SAM2Train's eval-mode forward pass (no gradients; the GT mask prompts
frame 0 and the other frames are tracked) of the config's model on random
images and blob masks at model.image_size. Prints per-run times; the last
two lines are 'peak_rss_mb X' and 'median_forward_s X'.)";

const std::vector<sam2::config::FlagSpec>& Flags() {
  static const auto* flags = new std::vector<sam2::config::FlagSpec>{
      {"frames", "N", "frames per clip", "4"},
      {"objects", "N", "objects per clip", "2"},
      {"runs", "N", "timed runs (after one warm-up run)", "6"},
      {"threads", "N", "intra-op threads (0: LibTorch's default)", "2"},
  };
  return *flags;
}

// Clip with a disc per object that moves across the frames.
sam2::training::TrackingInput RandomClip(int64_t frames, int64_t objects,
                                         int64_t size) {
  sam2::training::TrackingInput input;
  at::manual_seed(0);
  input.img_batch = at::randn({frames, 1, 3, size, size});
  const at::Tensor ys = at::arange(size).view({size, 1});
  const at::Tensor xs = at::arange(size).view({1, size});
  std::vector<at::Tensor> masks;
  for (int64_t t = 0; t < frames; ++t) {
    for (int64_t o = 0; o < objects; ++o) {
      const double cy = size * (0.3 + 0.4 * o / std::max<int64_t>(objects, 1));
      const double cx = size * (0.2 + 0.05 * t + 0.3 * o);
      const double r = size * 0.12;
      masks.push_back((ys - cy).pow(2) + (xs - cx).pow(2) < r * r);
    }
  }
  input.masks = at::stack(masks).view({frames, objects, size, size});
  input.obj_to_frame_idx =
      at::stack({at::arange(frames).view({frames, 1}).expand({frames, objects}),
                 at::zeros({frames, objects}, at::kLong)},
                2)
          .to(at::kInt);
  return input;
}

double PeakRssMb() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_maxrss / 1024.0;
}

int IntFlag(const sam2::config::CommandLine& cl, const std::string& name) {
  int value = 0;
  if (!absl::SimpleAtoi(cl.values.at(name), &value) || value < 0) {
    std::cerr << "forward_bench: --" << name << " must be a number >= 0\n";
    std::exit(2);
  }
  return value;
}

}  // namespace

int Main(int argc, char** argv) {
  using namespace sam2;
  int exit_code = 0;
  std::optional<config::CommandLine> cl =
      config::ParseJobCommandLine("forward_bench", kUsage, argc, argv, Flags(),
                                  /*allow_positional=*/true, &exit_code);
  if (!cl) return exit_code;
  auto loaded = config::LoadExperiment({cl->config, cl->sets, {}});
  if (!loaded.ok()) {
    std::cerr << loaded.status().message() << "\n";
    return 2;
  }
  config::ValidationOptions validation;
  validation.require_train_data = false;
  validation.check_paths = false;
  if (absl::Status s = config::ValidateExperiment(*loaded, validation);
      !s.ok()) {
    std::cerr << s.message() << "\n";
    return 2;
  }
  const int threads = IntFlag(*cl, "threads");
  if (threads > 0) at::set_num_threads(threads);
  auto options = training::ModelOptionsFromConfig(loaded->experiment.model());
  if (!options.ok()) {
    std::cerr << options.status().message() << "\n";
    return 2;
  }
  training::SAM2Train model(*options);
  model->eval();
  const training::TrackingInput input =
      RandomClip(IntFlag(*cl, "frames"), IntFlag(*cl, "objects"),
                 loaded->experiment.model().image_size());
  std::cout << "threads " << at::get_num_threads() << ", BLAS "
            << training::DescribeBlas() << "\n";
  at::NoGradGuard no_grad;
  std::vector<double> times;
  const int runs = std::max(1, IntFlag(*cl, "runs"));
  for (int i = 0; i <= runs; ++i) {
    const auto start = std::chrono::steady_clock::now();
    model->forward(input);
    const double s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
            .count();
    std::printf("%s %d: %.4f s\n", i == 0 ? "warm-up" : "run", i, s);
    if (i > 0) times.push_back(s);
  }
  std::sort(times.begin(), times.end());
  const size_t n = times.size();
  const double median =
      n % 2 ? times[n / 2] : 0.5 * (times[n / 2 - 1] + times[n / 2]);
  std::printf("peak_rss_mb %.1f\nmedian_forward_s %.4f\n", PeakRssMb(), median);
  return 0;
}

int main(int argc, char** argv) {
  return sam2::base::RunMainCatchingTorchErrors(
      "forward_bench", [&] { return Main(argc, argv); });
}
