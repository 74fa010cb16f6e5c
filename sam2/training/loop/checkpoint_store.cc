#include "sam2/training/loop/checkpoint_store.h"

#include <ATen/ATen.h>

#include "absl/strings/str_cat.h"
#include "sam2/checkpoint/torch_file.h"
#include "sam2/training/loop/reference_checkpoint.h"

namespace sam2::training {
namespace {

using checkpoint::Value;

constexpr char kFormat[] = "sam2-train-cpp/1";

Value Named(const NamedTensors& tensors) {
  return checkpoint::ToOrderedDict(tensors);
}

absl::StatusOr<int64_t> GetInt(const Value& trainer, const std::string& key,
                               const std::string& path) {
  const Value* v = trainer.Find(key);
  if (v == nullptr || v->kind() != Value::Kind::kTensor) {
    return absl::DataLossError(
        absl::StrCat(path, ": trainer state has no '", key, "'"));
  }
  return v->as_tensor().item<int64_t>();
}

}  // namespace

absl::Status TorchCheckpointStore::Save(const std::string& path,
                                        const TrainerCheckpoint& c) {
  Value trainer = Value::Dict();
  auto put_int = [&](const char* key, int64_t v) {
    trainer.Set(key, Value::Tensor(at::scalar_tensor(v, at::kLong)));
  };
  put_int("epoch", c.epoch);
  put_int("next_batch", c.next_batch);
  put_int("step", c.step);
  put_int("val_step", c.val_step);
  put_int("nonfinite_skipped", c.nonfinite_skipped);
  trainer.Set("time_elapsed",
              Value::Tensor(at::scalar_tensor(c.time_elapsed, at::kDouble)));
  // The world that wrote the checkpoint (0: unknown).
  put_int("world_size", c.world_size);
  put_int("gradient_accumulation_steps", c.gradient_accumulation_steps);
  put_int("global_batch", c.global_batch);
  if (c.loss_scale > 0) {
    trainer.Set("loss_scale",
                Value::Tensor(at::scalar_tensor(c.loss_scale, at::kDouble)));
    put_int("loss_scale_growth_tracker", c.loss_scale_growth_tracker);
  }
  Value top = Value::Dict();
  top.Set("model", Named(c.model));
  top.Set("optimizer", Named(c.optimizer));
  top.Set("trainer", trainer);
  top.Set("format", Value::String(kFormat));
  return checkpoint::SaveTorchFile(path, top);
}

absl::StatusOr<TrainerCheckpoint> TorchCheckpointStore::Load(
    const std::string& path) {
  absl::StatusOr<Value> top = checkpoint::LoadTorchFile(path);
  if (!top.ok()) return top.status();
  const Value* format = top->Find("format");
  const Value* trainer = top->Find("trainer");
  if (format == nullptr && reference_optimizer_ != nullptr &&
      IsReferenceTrainerCheckpoint(*top)) {
    return ReferenceTrainerCheckpointFromValue(
        *top, reference_optimizer_->params(), reference_optimizer_->groups(),
        path);
  }
  if (format == nullptr || format->as_string() != kFormat ||
      trainer == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(
        path,
        " is neither a sam2-train-cpp nor a reference-trainer training "
        "checkpoint (an official "
        "checkpoint starts a run through "
        "checkpoint.model_weight_initializer instead)"));
  }
  TrainerCheckpoint c;
  absl::StatusOr<checkpoint::TensorDict> model =
      checkpoint::ToTensorDict(*top->Find("model"), path + "['model']");
  if (!model.ok()) return model.status();
  c.model = std::move(*model);
  absl::StatusOr<checkpoint::TensorDict> optimizer =
      checkpoint::ToTensorDict(*top->Find("optimizer"), path + "['optimizer']");
  if (!optimizer.ok()) return optimizer.status();
  c.optimizer = std::move(*optimizer);
  for (auto [key, field] :
       std::initializer_list<std::pair<const char*, int64_t*>>{
           {"epoch", &c.epoch},
           {"next_batch", &c.next_batch},
           {"step", &c.step},
           {"val_step", &c.val_step},
           {"nonfinite_skipped", &c.nonfinite_skipped}}) {
    absl::StatusOr<int64_t> v = GetInt(*trainer, key, path);
    if (!v.ok()) return v.status();
    *field = *v;
  }
  // Checkpoints from before the world was recorded leave it unknown (0).
  for (auto [key, field] :
       std::initializer_list<std::pair<const char*, int64_t*>>{
           {"world_size", &c.world_size},
           {"gradient_accumulation_steps", &c.gradient_accumulation_steps},
           {"global_batch", &c.global_batch}}) {
    if (trainer->Find(key) != nullptr) {
      absl::StatusOr<int64_t> v = GetInt(*trainer, key, path);
      if (!v.ok()) return v.status();
      *field = *v;
    }
  }
  const Value* elapsed = trainer->Find("time_elapsed");
  if (elapsed != nullptr && elapsed->kind() == Value::Kind::kTensor) {
    c.time_elapsed = elapsed->as_tensor().item<double>();
  }
  const Value* scale = trainer->Find("loss_scale");
  if (scale != nullptr && scale->kind() == Value::Kind::kTensor) {
    c.loss_scale = scale->as_tensor().item<double>();
    absl::StatusOr<int64_t> tracker =
        GetInt(*trainer, "loss_scale_growth_tracker", path);
    if (!tracker.ok()) return tracker.status();
    c.loss_scale_growth_tracker = *tracker;
  }
  return c;
}

}  // namespace sam2::training
