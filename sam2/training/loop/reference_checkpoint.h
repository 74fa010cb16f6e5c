// Checkpoints written by the reference trainer (facebookresearch/sam2,
// training/trainer.py save_checkpoint), so that a run started in Python
// continues here. The file is torch.save of
//   {"model": state_dict, "optimizer": torch.optim.AdamW.state_dict(),
//    "epoch": next epoch to run, "loss": ..., "steps": {"train": n, "val": m},
//    "time_elapsed": seconds, "best_meter_values": ..., ["scaler": ...]}.
// The optimizer's state is keyed by parameter index: torch numbers the
// parameters of its param_groups consecutively, group after group, so the
// indices mean something only against the same grouping, which BuildParamGroups
// reproduces (same groups, same order, frozen parameters included).
#ifndef SAM2_TRAINING_LOOP_REFERENCE_CHECKPOINT_H_
#define SAM2_TRAINING_LOOP_REFERENCE_CHECKPOINT_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "sam2/checkpoint/pickle.h"
#include "sam2/training/loop/trainer.h"
#include "sam2/training/optim/adamw.h"

namespace sam2::training {

// Whether a loaded torch file has the reference trainer's top-level keys
// ("model", "optimizer", "epoch", "steps"; our own files have "format").
bool IsReferenceTrainerCheckpoint(const checkpoint::Value& top);

// The checkpoint as our trainer resumes it: `model` the file's state_dict,
// `optimizer` in AdamW::State()'s layout ("<name>.exp_avg", ".exp_avg_sq",
// ".step" for every parameter with state), `epoch` the file's epoch (the next
// one to run) at `next_batch` 0, `step` / `val_step` from "steps", and the
// loss scale from "scaler" when that holds one.
//
// `params` and `groups` are the optimizer's (AdamW::params(), groups()),
// built from the run's optim config on the model the checkpoint belongs to.
// Errors: a different number of groups or group sizes, a state index outside
// the groups, a moment whose shape is not its parameter's, missing fields;
// they name `source`.
absl::StatusOr<TrainerCheckpoint> ReferenceTrainerCheckpointFromValue(
    const checkpoint::Value& top,
    const std::vector<optim::NamedParameter>& params,
    const std::vector<optim::ParamGroup>& groups, const std::string& source);

// Loads `path` and converts it as above.
absl::StatusOr<TrainerCheckpoint> LoadReferenceTrainerCheckpoint(
    const std::string& path, const optim::AdamW& optimizer);

}  // namespace sam2::training

#endif  // SAM2_TRAINING_LOOP_REFERENCE_CHECKPOINT_H_
