// The trainer's checkpoint files: torch.save zip files with
//   "model":     the state_dict (OrderedDict), as the official checkpoints,
//                so the Python sam2 package loads them directly;
//   "optimizer": the optimizer state, name -> tensor (OrderedDict);
//   "trainer":   epoch, next_batch, step, val_step, nonfinite_skipped,
//                time_elapsed as 0-d tensors (PyTorch 1.13's weights_only
//                loader refuses pickled floats and 64-bit ints);
//   "format":    "sam2-train-cpp/1".
#ifndef SAM2_TRAINING_LOOP_CHECKPOINT_STORE_H_
#define SAM2_TRAINING_LOOP_CHECKPOINT_STORE_H_

#include "sam2/training/loop/trainer.h"
#include "sam2/training/optim/adamw.h"

namespace sam2::training {

// With an optimizer, Load also accepts checkpoints written by the reference
// trainer (see reference_checkpoint.h: its AdamW state is numbered by the
// optimizer's grouping), so `checkpoint.resume_from` can continue a run
// started in Python. Saves are always in our format.
class TorchCheckpointStore : public CheckpointStore {
 public:
  TorchCheckpointStore() = default;
  explicit TorchCheckpointStore(const optim::AdamW* reference_optimizer)
      : reference_optimizer_(reference_optimizer) {}

  absl::Status Save(const std::string& path,
                    const TrainerCheckpoint& checkpoint) override;
  absl::StatusOr<TrainerCheckpoint> Load(const std::string& path) override;

 private:
  const optim::AdamW* reference_optimizer_ = nullptr;
};

}  // namespace sam2::training

#endif  // SAM2_TRAINING_LOOP_CHECKPOINT_STORE_H_
