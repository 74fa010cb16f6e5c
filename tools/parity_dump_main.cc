// parity_dump: writes what the reference parity harness writes, from our
// implementation, for comparison with the reference on any model.
//
//   bazel run //tools:parity_dump -- --config=parity_small
//     --checkpoint=tests/testdata/parity/parity_small_model.pt
//     --inputs=tests/testdata/parity/parity_small_io.pt --output=/tmp/ours.pt
//   (one command line)
#include <cstdlib>
#include <filesystem>
#include <iostream>

#include "configs/cli.h"
#include "configs/loader.h"
#include "tools/parity_dump.h"

namespace {

constexpr char kUsage[] =
    R"(usage: parity_dump --config=NAME|FILE [--set=TEXT ...] --checkpoint=MODEL.pt
                   --inputs=IO.pt --output=OUT.pt

Runs the parity scenarios of tests/testdata/parity/README.md with the model,
loss and optimizer of the experiment config, in float32 on the CPU, on the
input.* tensors of IO.pt (input.img_batch [T,B,3,H,W], input.masks [T,O,H,W],
input.obj_to_frame_idx [T,O,2]), and writes the keys the reference harness
writes (a plain dict {key: tensor} that Python's torch.load reads):
  input.*                        the inputs used
  image_encoder.*                forward_image on frame 0
  mask_prompt.frame<t>.*         eval mode, GT mask prompt on frame 0
  point_prompt.frame<t>.*        eval mode, a click at the GT mask's centre on
                                 frame 0, then the config's correction clicks
  loss.*                         the config's loss on point_prompt
  grad.<param>                   gradient of loss.core_loss
  optim.grad_total_norm_before_clip, after_step.<param>
                                 after clipping and one AdamW step of the
                                 config's optimizer at schedule progress 0
MODEL.pt holds the weights under "model" (as official checkpoints) or as a
bare {name: tensor}; they must fit the config's model exactly.

Example:
  parity_dump --config=parity_small \
    --checkpoint=tests/testdata/parity/parity_small_model.pt \
    --inputs=tests/testdata/parity/parity_small_io.pt --output=/tmp/ours.pt)";

const std::vector<sam2::config::FlagSpec>& JobFlags() {
  static const auto* flags = new std::vector<sam2::config::FlagSpec>{
      {"checkpoint", "MODEL.pt", "the model's weights", ""},
      {"inputs", "IO.pt", "a {key: tensor} file with the input.* tensors", ""},
      {"output", "OUT.pt", "where to write the results", ""},
      {"device", "cpu|cuda",
       "where the scenarios run (results are written from the CPU)", "cpu"},
  };
  return *flags;
}

// `bazel run` starts the binary in its runfiles; relative paths mean the
// directory the user ran it from.
std::string FromWorkingDirectory(const std::string& path) {
  const char* dir = std::getenv("BUILD_WORKING_DIRECTORY");
  if (path.empty() || dir == nullptr || *dir == '\0' ||
      std::filesystem::path(path).is_absolute()) {
    return path;
  }
  return (std::filesystem::path(dir) / path).string();
}

}  // namespace

int main(int argc, char** argv) {
  using namespace sam2;
  int exit_code = 0;
  std::optional<config::CommandLine> cl =
      config::ParseJobCommandLine("parity_dump", kUsage, argc, argv, JobFlags(),
                                  /*allow_positional=*/false, &exit_code);
  if (!cl) return exit_code;
  if (cl->print_config) {
    absl::StatusOr<config::LoadedExperiment> loaded =
        config::LoadExperiment({cl->config, cl->sets, {}});
    if (!loaded.ok()) {
      std::cerr << loaded.status().message() << "\n";
      return 1;
    }
    std::cout << config::ToText(loaded->experiment);
    return 0;
  }
  for (const char* flag : {"checkpoint", "inputs", "output"}) {
    if (cl->Get(flag).empty()) {
      std::cerr << "parity_dump: --" << flag << " is required (see --help)\n";
      return 2;
    }
  }
  tools::ParityDumpRequest request;
  request.config = cl->config;
  request.sets = cl->sets;
  request.checkpoint = FromWorkingDirectory(cl->Get("checkpoint"));
  request.inputs = FromWorkingDirectory(cl->Get("inputs"));
  request.output = FromWorkingDirectory(cl->Get("output"));
  request.device = cl->Get("device");
  if (absl::Status s = tools::RunParityDump(request); !s.ok()) {
    std::cerr << "parity_dump: " << s.message() << "\n";
    return 1;
  }
  std::cerr << "parity_dump: wrote " << request.output << "\n";
  return 0;
}
