#include "sam2/training/loop/reference_checkpoint.h"

#include <ATen/ATen.h>

#include <map>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "sam2/checkpoint/torch_file.h"

namespace sam2::training {
namespace {

using checkpoint::Value;

absl::StatusOr<const Value*> Field(const Value& dict, const std::string& key,
                                   const std::string& where) {
  const Value* v = dict.is_dict() ? dict.Find(key) : nullptr;
  if (v == nullptr) {
    return absl::DataLossError(absl::StrCat(where, " has no '", key, "'"));
  }
  return v;
}

absl::StatusOr<int64_t> AsInt(const Value& v, const std::string& where) {
  if (v.kind() == Value::Kind::kInt) return v.as_int();
  if (v.kind() == Value::Kind::kTensor && v.as_tensor().numel() == 1) {
    return v.as_tensor().item<int64_t>();
  }
  return absl::DataLossError(
      absl::StrCat(where, " is a ", v.KindName(), ", not an integer"));
}

// Python int or float, or a one-element tensor (torch >= 1.12 keeps AdamW's
// "step" as a tensor, older versions as an int).
absl::StatusOr<double> AsNumber(const Value& v, const std::string& where) {
  if (v.kind() == Value::Kind::kInt || v.kind() == Value::Kind::kDouble) {
    return v.as_double();
  }
  if (v.kind() == Value::Kind::kTensor && v.as_tensor().numel() == 1) {
    return v.as_tensor().item<double>();
  }
  return absl::DataLossError(
      absl::StrCat(where, " is a ", v.KindName(), ", not a number"));
}

absl::StatusOr<int64_t> IntField(const Value& dict, const std::string& key,
                                 const std::string& where) {
  SAM2_ASSIGN_OR_RETURN(const Value* v, Field(dict, key, where));
  return AsInt(*v, absl::StrCat(where, "['", key, "']"));
}

// Reference parameter index -> index into `params`, position by position:
// the k-th parameter of the file's group g is the k-th of our group g.
absl::StatusOr<std::map<int64_t, size_t>> MapIndices(
    const Value& param_groups, const std::vector<optim::ParamGroup>& groups,
    const std::string& where) {
  if (!param_groups.is_sequence() ||
      param_groups.items().size() != groups.size()) {
    return absl::FailedPreconditionError(absl::StrCat(
        where, " has ",
        param_groups.is_sequence() ? param_groups.items().size() : 0,
        " parameter groups, this run's optimizer ", groups.size(),
        ": the checkpoint was written with another optim config or model"));
  }
  std::map<int64_t, size_t> to_param;
  for (size_t g = 0; g < groups.size(); ++g) {
    const std::string group_where = absl::StrCat(where, "[", g, "]");
    SAM2_ASSIGN_OR_RETURN(const Value* indices, Field(param_groups.items()[g],
                                                      "params", group_where));
    if (!indices->is_sequence() ||
        indices->items().size() != groups[g].params.size()) {
      return absl::FailedPreconditionError(absl::StrCat(
          group_where, " has ",
          indices->is_sequence() ? indices->items().size() : 0,
          " parameters, group ", g, " of this run's optimizer ",
          groups[g].params.size(),
          ": the checkpoint was written with another optim config or model"));
    }
    for (size_t k = 0; k < groups[g].params.size(); ++k) {
      SAM2_ASSIGN_OR_RETURN(
          int64_t index,
          AsInt(indices->items()[k], absl::StrCat(group_where, "['params']")));
      if (!to_param.emplace(index, groups[g].params[k]).second) {
        return absl::DataLossError(absl::StrCat(where, ": parameter index ",
                                                index, " is in two groups"));
      }
    }
  }
  return to_param;
}

absl::StatusOr<at::Tensor> Moment(const Value& state, const std::string& key,
                                  const optim::NamedParameter& param,
                                  const std::string& where) {
  SAM2_ASSIGN_OR_RETURN(const Value* v, Field(state, key, where));
  if (v->kind() != Value::Kind::kTensor ||
      v->as_tensor().sizes() != param.param.sizes()) {
    return absl::FailedPreconditionError(absl::StrCat(
        where, "['", key, "'] has shape ",
        v->kind() == Value::Kind::kTensor ? c10::str(v->as_tensor().sizes())
                                          : v->KindName(),
        ", its parameter ", param.name, " ", c10::str(param.param.sizes()),
        ": the checkpoint was written with another optim config or model"));
  }
  return v->as_tensor();
}

// torch.optim.AdamW's state_dict -> AdamW::State()'s layout.
absl::StatusOr<NamedTensors> ConvertOptimizer(
    const Value& optimizer, const std::vector<optim::NamedParameter>& params,
    const std::vector<optim::ParamGroup>& groups, const std::string& where) {
  SAM2_ASSIGN_OR_RETURN(const Value* param_groups,
                        Field(optimizer, "param_groups", where));
  SAM2_ASSIGN_OR_RETURN(auto to_param, MapIndices(*param_groups, groups,
                                                  where + "['param_groups']"));
  SAM2_ASSIGN_OR_RETURN(const Value* state, Field(optimizer, "state", where));
  if (!state->is_dict()) {
    return absl::DataLossError(where + "['state'] is not a dict");
  }
  NamedTensors out;
  for (const auto& [key, entry] : state->entries()) {
    SAM2_ASSIGN_OR_RETURN(int64_t index, AsInt(key, where + "['state'] key"));
    const std::string entry_where =
        absl::StrCat(where, "['state'][", index, "]");
    auto it = to_param.find(index);
    if (it == to_param.end()) {
      return absl::DataLossError(
          absl::StrCat(entry_where, ": no parameter group has this index"));
    }
    const optim::NamedParameter& param = params.at(it->second);
    if (entry.is_dict() && entry.Find("max_exp_avg_sq") != nullptr) {
      return absl::UnimplementedError(
          entry_where +
          ": amsgrad state; only AdamW without amsgrad is "
          "implemented");
    }
    SAM2_ASSIGN_OR_RETURN(const Value* step, Field(entry, "step", entry_where));
    SAM2_ASSIGN_OR_RETURN(double steps, AsNumber(*step, entry_where));
    SAM2_ASSIGN_OR_RETURN(at::Tensor exp_avg,
                          Moment(entry, "exp_avg", param, entry_where));
    SAM2_ASSIGN_OR_RETURN(at::Tensor exp_avg_sq,
                          Moment(entry, "exp_avg_sq", param, entry_where));
    out.emplace_back(param.name + ".exp_avg", exp_avg);
    out.emplace_back(param.name + ".exp_avg_sq", exp_avg_sq);
    out.emplace_back(param.name + ".step",
                     at::scalar_tensor(steps, at::kDouble));
  }
  return out;
}

// GradScaler.state_dict(): empty when the scaler was disabled.
absl::Status ConvertScaler(const Value& top, TrainerCheckpoint& c,
                           const std::string& source) {
  const Value* scaler = top.Find("scaler");
  if (scaler == nullptr || !scaler->is_dict() || scaler->entries().empty()) {
    return absl::OkStatus();
  }
  const std::string where = source + "['scaler']";
  SAM2_ASSIGN_OR_RETURN(const Value* scale, Field(*scaler, "scale", where));
  SAM2_ASSIGN_OR_RETURN(c.loss_scale, AsNumber(*scale, where + "['scale']"));
  SAM2_ASSIGN_OR_RETURN(c.loss_scale_growth_tracker,
                        IntField(*scaler, "_growth_tracker", where));
  return absl::OkStatus();
}

}  // namespace

bool IsReferenceTrainerCheckpoint(const Value& top) {
  if (!top.is_dict() || top.Find("format") != nullptr) return false;
  for (const char* key : {"model", "optimizer", "epoch", "steps"}) {
    if (top.Find(key) == nullptr) return false;
  }
  return true;
}

absl::StatusOr<TrainerCheckpoint> ReferenceTrainerCheckpointFromValue(
    const Value& top, const std::vector<optim::NamedParameter>& params,
    const std::vector<optim::ParamGroup>& groups, const std::string& source) {
  if (!IsReferenceTrainerCheckpoint(top)) {
    return absl::InvalidArgumentError(absl::StrCat(
        source,
        " is not a checkpoint of the reference trainer (needs 'model', "
        "'optimizer', 'epoch' and 'steps')"));
  }
  TrainerCheckpoint c;
  SAM2_ASSIGN_OR_RETURN(c.model, checkpoint::ToTensorDict(
                                     *top.Find("model"), source + "['model']"));
  SAM2_ASSIGN_OR_RETURN(c.optimizer,
                        ConvertOptimizer(*top.Find("optimizer"), params, groups,
                                         source + "['optimizer']"));
  // save_checkpoint(self.epoch + 1): the epoch to run next, from its start.
  SAM2_ASSIGN_OR_RETURN(c.epoch, IntField(top, "epoch", source));
  c.next_batch = 0;
  const Value& steps = *top.Find("steps");
  const std::string steps_where = source + "['steps']";
  SAM2_ASSIGN_OR_RETURN(c.step, IntField(steps, "train", steps_where));
  if (steps.is_dict() && steps.Find("val") != nullptr) {
    SAM2_ASSIGN_OR_RETURN(c.val_step, IntField(steps, "val", steps_where));
  }
  const Value* elapsed = top.Find("time_elapsed");
  if (elapsed != nullptr && !elapsed->is_none()) {
    SAM2_ASSIGN_OR_RETURN(c.time_elapsed,
                          AsNumber(*elapsed, source + "['time_elapsed']"));
  }
  SAM2_RETURN_IF_ERROR(ConvertScaler(top, c, source));
  return c;
}

absl::StatusOr<TrainerCheckpoint> LoadReferenceTrainerCheckpoint(
    const std::string& path, const optim::AdamW& optimizer) {
  SAM2_ASSIGN_OR_RETURN(Value top, checkpoint::LoadTorchFile(path));
  return ReferenceTrainerCheckpointFromValue(top, optimizer.params(),
                                             optimizer.groups(), path);
}

}  // namespace sam2::training
