// From the experiment config to the model: ModelConfig -> SAM2TrainOptions,
// LossConfig -> the loss options, and the trainer's task that runs SAM2Train
// and the loss on a batch.
#ifndef SAM2_TRAINING_MODEL_BUILDER_H_
#define SAM2_TRAINING_MODEL_BUILDER_H_

#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>

#include "absl/status/statusor.h"
#include "configs/experiment.pb.h"
#include "sam2/training/loop/trainer.h"
#include "sam2/training/model/loss_fns.h"
#include "sam2/training/model/sam2_train.h"

namespace sam2::training {

absl::StatusOr<SAM2TrainOptions> ModelOptionsFromConfig(
    const config::ModelConfig& config);
MultiStepMultiMasksAndIousOptions LossOptionsFromConfig(
    const config::LossConfig& config);

// Where the task runs: batches are moved to `device` (the model must already
// be there), and with `autocast` the forward pass and the loss run under
// autocast to `autocast_dtype`, as the reference's trainer does on CUDA.
struct TaskDeviceOptions {
  c10::Device device = c10::Device(c10::DeviceType::CPU);
  bool autocast = false;
  c10::ScalarType autocast_dtype = c10::ScalarType::BFloat16;
};

// SAM2Train + MultiStepMultiMasksAndIous as the trainer's task.
class Sam2TrainTask : public TrainTask {
 public:
  Sam2TrainTask(SAM2Train model, MultiStepMultiMasksAndIousOptions loss,
                TaskDeviceOptions device = {});
  torch::nn::Module& model() override { return *model_; }
  void SeedStep(uint64_t seed) override { model_->set_seed(seed); }
  absl::StatusOr<LossDict> Forward(
      const data::BatchedVideoDatapoint& batch) override;
  void SetNumObjects(double num_objects) override {
    num_objects_ = num_objects;
  }
  SAM2Train& sam2() { return model_; }

 private:
  SAM2Train model_;
  MultiStepMultiMasksAndIousOptions loss_;
  TaskDeviceOptions device_;
  double num_objects_ = -1;  // <= 0: each batch's own
};

}  // namespace sam2::training

#endif  // SAM2_TRAINING_MODEL_BUILDER_H_
