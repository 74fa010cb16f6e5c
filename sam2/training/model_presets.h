// Model options of known configurations, written out in C++: the official
// SAM 2.1 model configs (sam2.1_hiera_{t,s,b+,l}.yaml), the SAM2Train and
// loss settings of the MOSE fine-tuning config
// (sam2.1_hiera_b+_MOSE_finetune.yaml), and the parity-small test model
// (tests/testdata/parity/parity_small.yaml). The experiment config loader maps
// its own files onto the same option structs; these presets are for tests and
// tools.
#ifndef SAM2_TRAINING_MODEL_PRESETS_H_
#define SAM2_TRAINING_MODEL_PRESETS_H_

#include <string>

#include "absl/status/statusor.h"
#include "sam2/modeling/sam2_base.h"
#include "sam2/training/loss_fns.h"
#include "sam2/training/sam2_train.h"

namespace sam2::training {

// The SAM2Base part of sam2.1_hiera_<size>.yaml, size "t", "s", "b+" or "l"
// (InvalidArgument otherwise), at the given resolution.
absl::StatusOr<modeling::SAM2BaseOptions> Sam21ModelOptions(
    const std::string& size, int64_t image_size = 1024);

// The official model with the training knobs of the MOSE fine-tuning config
// (drop path 0.1 in the trunk, prompts and corrections as there).
absl::StatusOr<SAM2TrainOptions> Sam21MoseTrainOptions(
    const std::string& size, int64_t image_size = 1024);

// The loss of the MOSE config (also the parity fixture's).
MultiStepMultiMasksAndIousOptions MoseLossOptions();

// The parity-small model of tests/testdata/parity/parity_small.yaml.
SAM2TrainOptions ParitySmallOptions();
inline MultiStepMultiMasksAndIousOptions ParitySmallLossOptions() {
  return MoseLossOptions();
}

}  // namespace sam2::training

#endif  // SAM2_TRAINING_MODEL_PRESETS_H_
