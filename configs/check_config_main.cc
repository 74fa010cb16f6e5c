// check_config: loads an experiment exactly as the jobs do, validates it and
// prints the resolved config. Run it before submitting a job:
//   bazel run //tools:check_config -- --config=mose --set='...'
#include <cstdio>
#include <iostream>

#include "configs/cli.h"
#include "configs/loader.h"

namespace {

constexpr char kUsage[] =
    "usage: check_config --config=NAME|FILE [--set=TEXT ...] [--print_config]\n"
    "          [--model_only] [--no_path_checks]\n\n"
    "Loads an experiment (configs/NAME.pbtxt, its model preset and the --set\n"
    "overrides), fills in the reference's defaults, validates it, and prints\n"
    "every problem with the file, line and column it comes from. Exits 0 when\n"
    "the config is valid.";

const std::vector<sam2::config::FlagSpec>& Flags() {
  static const auto* flags = new std::vector<sam2::config::FlagSpec>{
      {"model_only", "",
       "validate only the model part (for tools that need no data)", ""},
      {"no_path_checks", "",
       "do not check that dataset folders and checkpoints exist", ""},
  };
  return *flags;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace sam2::config;
  int exit_code = 0;
  std::optional<CommandLine> cl =
      ParseJobCommandLine("check_config", kUsage, argc, argv, Flags(),
                          /*allow_positional=*/true, &exit_code);
  if (!cl) return exit_code;
  LoadRequest request;
  request.config = cl->config;
  request.overrides = cl->sets;
  absl::StatusOr<LoadedExperiment> loaded = LoadExperiment(request);
  if (!loaded.ok()) {
    std::cerr << loaded.status().message() << "\n";
    return 1;
  }
  if (cl->print_config) std::cout << ToText(loaded->experiment);
  ValidationOptions options;
  options.require_train_data = !cl->Has("model_only");
  options.check_paths = !cl->Has("no_path_checks");
  absl::Status valid = ValidateExperiment(*loaded, options);
  if (!valid.ok()) {
    std::cerr << valid.message() << "\n";
    return 1;
  }
  std::cerr << loaded->path << ": valid\n";
  return 0;
}
