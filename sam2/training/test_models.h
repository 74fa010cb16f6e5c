// Models and losses of the bundled configs for tests, built the way a run
// builds them: config file -> configs loader (LoadExperiment, or
// LoadModelPreset + ResolveDefaults) -> ValidateExperiment ->
// ModelOptionsFromConfig / LossOptionsFromConfig. configs/ stays the only
// definition of the official sizes and of the parity-small model. Tests that
// use this list `data = ["//configs"]` (found through the runfiles, see
// config::DefaultConfigSearchDirs).
#ifndef SAM2_TRAINING_TEST_MODELS_H_
#define SAM2_TRAINING_TEST_MODELS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "configs/loader.h"
#include "sam2/training/model/loss_fns.h"
#include "sam2/training/model/sam2_train.h"

namespace sam2::training {

// configs/<name>.pbtxt with `overrides` (text-format, as --set), loaded and
// validated without the data paths and the training data section.
absl::StatusOr<config::LoadedExperiment> LoadExperimentForTest(
    const std::string& name, const std::vector<std::string>& overrides = {});

absl::StatusOr<SAM2TrainOptions> ModelOptionsForExperiment(
    const std::string& name, const std::vector<std::string>& overrides = {});
absl::StatusOr<MultiStepMultiMasksAndIousOptions> LossOptionsForExperiment(
    const std::string& name, const std::vector<std::string>& overrides = {});

// The model of configs/models/<preset>.pbtxt (e.g. "sam2.1_hiera_b+") at
// `image_size`, with the RoPE grids at image_size / backbone_stride as the
// validator requires.
absl::StatusOr<SAM2TrainOptions> ModelOptionsForPreset(
    const std::string& preset, int32_t image_size = 1024);

// The model and loss of configs/parity_small.pbtxt (the reference parity
// fixtures'). Abort with the loader's message if it does not load.
SAM2TrainOptions ParitySmallModelOptions();
MultiStepMultiMasksAndIousOptions ParitySmallLossOptions();

}  // namespace sam2::training

#endif  // SAM2_TRAINING_TEST_MODELS_H_
