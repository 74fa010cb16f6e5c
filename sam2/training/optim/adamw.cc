#include "sam2/training/optim/adamw.h"

#include <ATen/ATen.h>
#include <c10/core/GradMode.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "sam2/checkpoint/state_dict.h"
#include "sam2/training/optim/adamw_update.h"

namespace sam2::training::optim {
namespace {

// One entry of optim.lr / optim.weight_decay after name resolution: its
// scheduler (null: the optimizer's default value) and the parameters it
// claims.
struct OptionEntry {
  std::shared_ptr<const Scheduler> scheduler;
  std::set<size_t> members;
  std::string source;  // config path, for errors
};

using Options = google::protobuf::RepeatedPtrField<config::ParamOptionConfig>;

absl::StatusOr<std::vector<OptionEntry>> ResolveOption(
    const std::vector<NamedParameter>& params, const Options& options,
    const std::string& path) {
  std::map<std::string, std::set<size_t>> by_class;
  for (size_t i = 0; i < params.size(); ++i) {
    by_class[params[i].module_class].insert(i);
  }
  std::vector<OptionEntry> entries;
  std::set<size_t> constrained;
  int default_index = -1;
  for (int i = 0; i < options.size(); ++i) {
    const config::ParamOptionConfig& o = options.Get(i);
    const std::string source = absl::StrCat(path, "[", i, "]");
    OptionEntry entry;
    entry.source = source;
    auto scheduler = BuildScheduler(o.scheduler(), source + ".scheduler");
    if (!scheduler.ok()) return scheduler.status();
    entry.scheduler = std::move(*scheduler);
    if (o.param_names().empty() && o.module_cls_names().empty()) {
      if (default_index >= 0) {
        return absl::InvalidArgumentError(absl::StrCat(
            path, ": entries ", default_index, " and ", i,
            " are both defaults (no param_names, no module_cls_names); only "
            "one may be"));
      }
      default_index = static_cast<int>(entries.size());
      entries.push_back(std::move(entry));
      continue;
    }
    for (const std::string& pattern : o.param_names()) {
      size_t matched = 0;
      for (size_t j = 0; j < params.size(); ++j) {
        if (checkpoint::Fnmatch(params[j].name, pattern)) {
          entry.members.insert(j);
          ++matched;
        }
      }
      if (matched == 0) {
        return absl::InvalidArgumentError(
            absl::StrCat(source, ".param_names: '", pattern,
                         "' matches no parameter of the model"));
      }
    }
    for (const std::string& cls : o.module_cls_names()) {
      auto it = by_class.find(ModuleClassFromConfig(cls));
      if (it == by_class.end()) {
        return absl::InvalidArgumentError(absl::StrCat(
            source, ".module_cls_names: '", cls, "' (",
            ModuleClassFromConfig(cls), ") owns no parameter of the model"));
      }
      entry.members.insert(it->second.begin(), it->second.end());
    }
    constrained.insert(entry.members.begin(), entry.members.end());
    entries.push_back(std::move(entry));
  }
  // The default takes every parameter no other entry names; without a
  // default, those keep the optimizer's own value.
  std::set<size_t> rest;
  for (size_t j = 0; j < params.size(); ++j) {
    if (!constrained.count(j)) rest.insert(j);
  }
  if (default_index >= 0) {
    entries[default_index].members = rest;
  } else if (!rest.empty()) {
    entries.push_back({nullptr, rest, path + " (no default entry)"});
  }
  // Two entries of one hyper-parameter may not claim the same parameter.
  std::map<size_t, std::string> owner;
  for (const OptionEntry& e : entries) {
    for (size_t j : e.members) {
      auto [it, inserted] = owner.emplace(j, e.source);
      if (!inserted) {
        return absl::InvalidArgumentError(absl::StrCat(
            "parameter ", params[j].name, " is claimed by both ", it->second,
            " and ", e.source, ": make the patterns disjoint"));
      }
    }
  }
  return entries;
}

// layer_decay_param_modifier: splits each lr entry by trunk layer, scaling
// its scheduler by layer_decay_value ** (num_layers - layer_id).
std::vector<OptionEntry> ApplyLayerDecay(
    const std::vector<NamedParameter>& params, std::vector<OptionEntry> entries,
    const config::LayerDecayConfig& decay) {
  const std::string& apply_to = decay.apply_to();
  int num_blocks = 0;
  const std::string blocks_prefix = apply_to + ".blocks.";
  for (const NamedParameter& p : params) {
    if (!absl::StartsWith(p.name, blocks_prefix)) continue;
    const std::string rest = p.name.substr(blocks_prefix.size());
    int index = 0;
    if (absl::SimpleAtoi(rest.substr(0, rest.find('.')), &index)) {
      num_blocks = std::max(num_blocks, index + 1);
    }
  }
  const int num_layers = num_blocks + 1;
  std::vector<double> decays;
  for (int i = 0; i <= num_layers; ++i) {
    double value = std::pow(decay.layer_decay_value(), num_layers - i);
    // layer_decay_min bounds the layers' factors, not the overrides'.
    if (decay.has_layer_decay_min()) {
      value = std::max(value, decay.layer_decay_min());
    }
    decays.push_back(value);
  }
  std::vector<OptionEntry> out;
  for (OptionEntry& entry : entries) {
    if (entry.scheduler == nullptr) {
      out.push_back(std::move(entry));
      continue;
    }
    // Sorted by name, as the reference, so group order is reproducible.
    std::vector<size_t> members(entry.members.begin(), entry.members.end());
    std::sort(members.begin(), members.end(), [&](size_t a, size_t b) {
      return params[a].name < params[b].name;
    });
    std::vector<std::string> order;
    std::map<std::string, OptionEntry> by_layer;
    for (size_t j : members) {
      const std::string& name = params[j].name;
      int layer_id = num_layers;
      double scale = decays[num_layers];
      std::string key;
      if (absl::StartsWith(name, apply_to)) {
        layer_id = HieraLayerId(name, num_blocks);
        scale = decays[std::min(layer_id, num_layers)];
        for (const config::LayerDecayOverride& o : decay.overrides()) {
          if (checkpoint::Fnmatch(name, o.pattern())) {
            scale = o.value();
            key = "pattern:" + o.pattern();
            break;
          }
        }
      }
      if (key.empty()) key = absl::StrCat("layer:", layer_id);
      auto it = by_layer.find(key);
      if (it == by_layer.end()) {
        OptionEntry scaled;
        scaled.scheduler =
            std::make_shared<ScaledScheduler>(entry.scheduler, scale);
        scaled.source = absl::StrCat(entry.source, " x ", scale);
        it = by_layer.emplace(key, std::move(scaled)).first;
        order.push_back(key);
      }
      it->second.members.insert(j);
    }
    for (const std::string& key : order)
      out.push_back(std::move(by_layer[key]));
  }
  return out;
}

}  // namespace

std::vector<NamedParameter> EnumerateParameters(
    const torch::nn::Module& model) {
  std::map<std::string, std::string> owner_class;
  // Without include_self: that needs the module to live in a shared_ptr.
  for (const auto& p : model.named_parameters(/*recurse=*/false)) {
    owner_class[p.key()] = model.name();
  }
  for (const auto& item : model.named_modules("", /*include_self=*/false)) {
    for (const auto& p : item.value()->named_parameters(/*recurse=*/false)) {
      const std::string full =
          item.key().empty() ? p.key() : item.key() + "." + p.key();
      owner_class[full] = item.value()->name();
    }
  }
  std::vector<NamedParameter> out;
  for (const auto& p : model.named_parameters(/*recurse=*/true)) {
    out.push_back({p.key(), p.value(), owner_class[p.key()]});
  }
  return out;
}

std::string ModuleClassFromConfig(const std::string& config_name) {
  constexpr absl::string_view kTorchNn = "torch.nn.";
  if (absl::StartsWith(config_name, kTorchNn) &&
      config_name.find('.', kTorchNn.size()) == std::string::npos) {
    return absl::StrCat("torch::nn::", config_name.substr(kTorchNn.size()),
                        "Impl");
  }
  return config_name;
}

int HieraLayerId(const std::string& name, int num_blocks) {
  if (name.find("rel_pos") != std::string::npos) return num_blocks + 1;
  if (name.find("pos_embed") != std::string::npos) return 0;
  if (name.find("patch_embed") != std::string::npos) return 0;
  const size_t blocks = name.find("blocks");
  if (blocks != std::string::npos) {
    // name.split("blocks")[1].split(".")[1]
    std::vector<std::string> parts =
        absl::StrSplit(name.substr(blocks + 6), '.');
    int index = 0;
    if (parts.size() > 1 && absl::SimpleAtoi(parts[1], &index)) {
      return index + 1;
    }
  }
  return num_blocks + 1;
}

absl::StatusOr<std::vector<ParamGroup>> BuildParamGroups(
    const std::vector<NamedParameter>& params,
    const config::OptimConfig& config) {
  if (params.empty()) {
    return absl::InvalidArgumentError("the model has no parameter");
  }
  auto lr = ResolveOption(params, config.lr(), "optim.lr");
  if (!lr.ok()) return lr.status();
  auto wd = ResolveOption(params, config.weight_decay(), "optim.weight_decay");
  if (!wd.ok()) return wd.status();
  if (config.has_layer_decay()) {
    *lr = ApplyLayerDecay(params, std::move(*lr), config.layer_decay());
  }
  // itertools.product(lr entries, weight_decay entries), empty ones skipped.
  std::vector<ParamGroup> groups;
  for (const OptionEntry& l : *lr) {
    for (const OptionEntry& w : *wd) {
      ParamGroup group;
      for (size_t j = 0; j < params.size(); ++j) {
        if (l.members.count(j) && w.members.count(j)) group.params.push_back(j);
      }
      if (group.params.empty()) continue;
      group.lr = l.scheduler;
      group.weight_decay = w.scheduler;
      groups.push_back(std::move(group));
    }
  }
  return groups;
}

absl::StatusOr<std::unique_ptr<AdamW>> AdamW::Create(
    torch::nn::Module& model, const config::OptimConfig& config) {
  // Every parameter, frozen ones included: the reference groups all named
  // parameters (construct_optimizer's default param_allowlist), so patterns
  // such as 'image_encoder.*' still resolve with a frozen image encoder, and
  // the optimizer's parameter indices (its state_dict numbering) count
  // frozen parameters too. Frozen ones never get a gradient, so Step()
  // leaves them alone.
  std::vector<NamedParameter> params = EnumerateParameters(model);
  const std::vector<std::string> frozen(config.frozen_param_patterns().begin(),
                                        config.frozen_param_patterns().end());
  bool any_trainable = false;
  for (NamedParameter& p : params) {
    if (checkpoint::MatchesAny(p.name, frozen)) {
      p.param.set_requires_grad(false);
    }
    any_trainable = any_trainable || p.param.requires_grad();
  }
  if (!any_trainable) {
    return absl::InvalidArgumentError("the model has no trainable parameter");
  }
  return Create(std::move(params), config);
}

absl::StatusOr<std::unique_ptr<AdamW>> AdamW::Create(
    std::vector<NamedParameter> params, const config::OptimConfig& config) {
  auto groups = BuildParamGroups(params, config);
  if (!groups.ok()) return groups.status();
  return std::unique_ptr<AdamW>(
      new AdamW(std::move(params), std::move(*groups), config));
}

AdamW::AdamW(std::vector<NamedParameter> params, std::vector<ParamGroup> groups,
             const config::OptimConfig& config)
    : params_(std::move(params)),
      groups_(std::move(groups)),
      state_(params_.size()),
      beta1_(config.beta1()),
      beta2_(config.beta2()),
      eps_(config.eps()),
      clip_max_norm_(config.has_clip_max_norm() ? config.clip_max_norm() : 0),
      clip_norm_type_(config.clip_norm_type()) {
  // As the reference's Optimizer: schedules start at progress 0.
  SetProgress(0.0);
}

void AdamW::ZeroGrad() {
  // set_to_none, as the reference: a zero gradient would still move Adam.
  for (NamedParameter& p : params_) p.param.mutable_grad() = at::Tensor();
}

void AdamW::SetProgress(double where) {
  for (ParamGroup& g : groups_) {
    if (g.lr) g.lr_value = (*g.lr)(where);
    if (g.weight_decay) g.weight_decay_value = (*g.weight_decay)(where);
  }
}

double AdamW::ClipGradients() {
  std::vector<at::Tensor> norms;
  std::vector<at::Tensor> grads;
  for (NamedParameter& p : params_) {
    if (!p.param.grad().defined()) continue;
    grads.push_back(p.param.grad());
    norms.push_back(at::norm(p.param.grad().detach(), clip_norm_type_));
  }
  if (grads.empty()) return 0.0;
  // torch.nn.utils.clip_grad_norm_, operation for operation.
  const at::Tensor total = at::norm(at::stack(norms), clip_norm_type_);
  if (clip_max_norm_ > 0) {
    const at::Tensor coef = (total + 1e-6).reciprocal() * clip_max_norm_;
    const at::Tensor clamped = at::clamp(coef, c10::nullopt, 1.0);
    c10::NoGradGuard no_grad;
    for (at::Tensor& g : grads) g.detach().mul_(clamped);
  }
  return total.item<double>();
}

void AdamW::Step() {
  c10::NoGradGuard no_grad;
  for (const ParamGroup& group : groups_) {
    const double lr = group.lr_value;
    const double weight_decay = group.weight_decay_value;
    for (size_t index : group.params) {
      at::Tensor param = params_[index].param;
      const at::Tensor grad = param.grad();
      if (!grad.defined()) continue;
      ParamState& s = state_[index];
      if (!s.exp_avg.defined()) {
        s.exp_avg = at::zeros_like(param, at::MemoryFormat::Preserve);
        s.exp_avg_sq = at::zeros_like(param, at::MemoryFormat::Preserve);
      }
      // torch.optim.AdamW (1.13, single-tensor, no amsgrad):
      s.step += 1;
      const double bias_correction1 = 1 - std::pow(beta1_, s.step);
      const double bias_correction2 = 1 - std::pow(beta2_, s.step);
      const double step_size = lr / bias_correction1;
      const double bias_correction2_sqrt = std::sqrt(bias_correction2);
      if (OnePassUpdateApplies(param, grad, s.exp_avg, s.exp_avg_sq)) {
        const AdamWFactors factors{static_cast<float>(1 - lr * weight_decay),
                                   static_cast<float>(beta1_),
                                   static_cast<float>(1 - beta1_),
                                   static_cast<float>(beta2_),
                                   static_cast<float>(1 - beta2_),
                                   static_cast<float>(bias_correction2_sqrt),
                                   static_cast<float>(eps_),
                                   static_cast<float>(-step_size)};
        OnePassAdamWUpdate(param.data_ptr<float>(), grad.data_ptr<float>(),
                           s.exp_avg.data_ptr<float>(),
                           s.exp_avg_sq.data_ptr<float>(), param.numel(),
                           factors);
        continue;
      }
      param.mul_(1 - lr * weight_decay);
      s.exp_avg.mul_(beta1_).add_(grad, 1 - beta1_);
      s.exp_avg_sq.mul_(beta2_).addcmul_(grad, grad, 1 - beta2_);
      const at::Tensor denom =
          (s.exp_avg_sq.sqrt() / bias_correction2_sqrt).add_(eps_);
      param.addcdiv_(s.exp_avg, denom, -step_size);
    }
  }
}

std::vector<at::Tensor> AdamW::Parameters() {
  // Only trainable ones: callers give gradient-less entries a zero gradient
  // before averaging, which would move a frozen parameter.
  std::vector<at::Tensor> out;
  for (const NamedParameter& p : params_) {
    if (p.param.requires_grad()) out.push_back(p.param);
  }
  return out;
}

std::vector<std::pair<std::string, at::Tensor>> AdamW::NamedParameters() {
  std::vector<std::pair<std::string, at::Tensor>> out;
  for (const NamedParameter& p : params_) {
    if (p.param.requires_grad()) out.emplace_back(p.name, p.param);
  }
  return out;
}

std::vector<std::pair<std::string, double>> AdamW::HyperParameters() const {
  std::vector<std::pair<std::string, double>> out;
  for (size_t g = 0; g < groups_.size(); ++g) {
    out.emplace_back(absl::StrCat(g, "/lr"), groups_[g].lr_value);
    out.emplace_back(absl::StrCat(g, "/weight_decay"),
                     groups_[g].weight_decay_value);
  }
  return out;
}

absl::StatusOr<std::pair<double, double>> AdamW::HyperParametersOf(
    const std::string& name) const {
  for (const ParamGroup& g : groups_) {
    for (size_t index : g.params) {
      if (params_[index].name == name) {
        return std::make_pair(g.lr_value, g.weight_decay_value);
      }
    }
  }
  return absl::NotFoundError("no parameter " + name);
}

NamedTensors AdamW::State() const {
  NamedTensors out;
  for (size_t i = 0; i < params_.size(); ++i) {
    const ParamState& s = state_[i];
    if (!s.exp_avg.defined()) continue;
    out.emplace_back(params_[i].name + ".exp_avg", s.exp_avg);
    out.emplace_back(params_[i].name + ".exp_avg_sq", s.exp_avg_sq);
    out.emplace_back(params_[i].name + ".step",
                     at::scalar_tensor(s.step, at::kDouble));
  }
  return out;
}

absl::Status AdamW::LoadState(const NamedTensors& state) {
  std::map<std::string, size_t> index;
  for (size_t i = 0; i < params_.size(); ++i) index[params_[i].name] = i;
  std::vector<ParamState> loaded(params_.size());
  for (const auto& [key, tensor] : state) {
    const size_t dot = key.rfind('.');
    auto it = index.find(key.substr(0, dot));
    if (dot == std::string::npos || it == index.end()) {
      return absl::InvalidArgumentError(
          "optimizer state for an unknown parameter: " + key);
    }
    ParamState& s = loaded[it->second];
    const std::string field = key.substr(dot + 1);
    const at::Tensor& param = params_[it->second].param;
    if (field == "step") {
      s.step = tensor.item<double>();
    } else if (field == "exp_avg" || field == "exp_avg_sq") {
      if (tensor.sizes() != param.sizes()) {
        return absl::InvalidArgumentError(absl::StrCat(
            "optimizer state ", key, " has shape ", c10::str(tensor.sizes()),
            ", the parameter ", c10::str(param.sizes())));
      }
      (field == "exp_avg" ? s.exp_avg : s.exp_avg_sq) =
          tensor.to(param.options()).clone();
    } else {
      return absl::InvalidArgumentError("unknown optimizer state " + key);
    }
  }
  state_ = std::move(loaded);
  return absl::OkStatus();
}

}  // namespace sam2::training::optim
