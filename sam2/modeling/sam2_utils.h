// Small building blocks shared by the SAM 2 network (port of the reference
// sam2/modeling/sam2_utils.py): MLP, LayerNorm2d, DropPath, the conditioning
// frame selection, the 1-D sine encoding, activation lookup, and the
// scaled-dot-product attention kernel every attention layer uses.
//
// Naming: free functions use C++ names (Python `get_1d_sine_pe` is
// `Get1dSinePe`); module methods keep the Python names (`forward`), as
// LibTorch does. Registered parameter names mirror the reference modules, so
// `named_parameters()` matches the official state_dict keys.
#ifndef SAM2_MODELING_SAM2_UTILS_H_
#define SAM2_MODELING_SAM2_UTILS_H_

#include <ATen/core/Tensor.h>
#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/pimpl.h>

#include <algorithm>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace sam2::modeling {

// Activations the reference passes around as `nn.ReLU` / `nn.GELU` classes or
// "relu"/"gelu"/"glu" strings (get_activation_fn); the strings are parsed
// where the config is loaded (configs/choices.h), the network sees only the
// enum. GELU is always the exact (erf) form.
enum class Activation { kRelu, kGelu, kGlu };

// Applies `activation` to `x` (F.relu / exact F.gelu / F.glu on the last dim).
at::Tensor ApplyActivation(Activation activation, const at::Tensor& x);

// A Linear module applied as the reference applies nn.Linear (F.linear, that
// is at::linear: one addmm with the bias for 2-D and contiguous 3-D inputs).
// LibTorch's C++ LinearImpl::forward instead multiplies with matmul and adds
// the bias in a second op for every input above 2-D: other roundings, and
// two more ops and three more autograd nodes a call. In a CPU float training
// step a layer with a bias is one autograd node with at::linear's values and
// gradients, bitwise (sam2_utils.cc).
at::Tensor ApplyLinear(const torch::nn::Linear& linear, const at::Tensor& x);

// Port of `F.scaled_dot_product_attention(q, k, v, dropout_p=dropout_p)` for
// [..., L, E] inputs (no mask, not causal). On LibTorch < 2.0 this is the math
// of the reference's torch-1.13 shim: softmax((q * E^-1/2) @ k^T) @ v with
// dropout on the attention weights; on LibTorch >= 2.0 it calls
// at::scaled_dot_product_attention. `dropout_p` must already be 0 in eval
// mode (callers pass `is_training() ? p : 0`).
at::Tensor ScaledDotProductAttention(const at::Tensor& q, const at::Tensor& k,
                                     const at::Tensor& v,
                                     double dropout_p = 0.0);

// Port of `get_1d_sine_pe(pos_inds, dim, temperature)`: [..., dim] sine then
// cosine halves, frequencies temperature^(2*floor(i/2)/(dim/2)).
at::Tensor Get1dSinePe(const at::Tensor& pos_inds, int64_t dim,
                       double temperature = 10000.0);

// The reference's get_clones(module, N) deep-copies one freshly initialised
// module, so all N layers start from the same weights. LibTorch modules here
// are not Cloneable: build N modules from the same options, then copy the
// first one's parameters and buffers into the others with this. Names and
// shapes must match (checked).
void CopyParametersAndBuffers(const torch::nn::Module& source,
                              torch::nn::Module& target);

// Result of SelectClosestCondFrames: frame indices in the order the reference
// dicts would iterate them (this order decides the concatenation order of
// memories and object pointers downstream).
struct CondFrameSelection {
  std::vector<int64_t> selected;
  std::vector<int64_t> unselected;
};

// Port of `select_closest_cond_frames` on the keys of `cond_frame_outputs`
// given in their dict (insertion) order. With max_cond_frame_num == -1 or no
// more frames than the limit, everything is selected in input order;
// otherwise the closest frame before `frame_idx`, the closest at/after it,
// then the remaining frames by |t - frame_idx| (stable) up to the limit.
// max_cond_frame_num must then be >= 2 (checked).
CondFrameSelection SelectClosestCondFrames(
    int64_t frame_idx, const std::vector<int64_t>& cond_frame_idxs,
    int64_t max_cond_frame_num);

// Same on an ordered map keyed by frame index (iteration order = key order).
// Returns (selected, unselected) maps.
template <typename V>
std::pair<std::map<int64_t, V>, std::map<int64_t, V>> SelectClosestCondFrames(
    int64_t frame_idx, const std::map<int64_t, V>& cond_frame_outputs,
    int64_t max_cond_frame_num) {
  std::vector<int64_t> keys;
  keys.reserve(cond_frame_outputs.size());
  for (const auto& kv : cond_frame_outputs) keys.push_back(kv.first);
  CondFrameSelection sel =
      SelectClosestCondFrames(frame_idx, keys, max_cond_frame_num);
  std::map<int64_t, V> selected, unselected;
  for (int64_t t : sel.selected) selected.emplace(t, cond_frame_outputs.at(t));
  for (int64_t t : sel.unselected) {
    unselected.emplace(t, cond_frame_outputs.at(t));
  }
  return {std::move(selected), std::move(unselected)};
}

// An activation as a module without state (the reference's `activation()`
// instances inside nn.Sequential, e.g. mask_downscaling.2).
class ActivationLayerImpl : public torch::nn::Module {
 public:
  explicit ActivationLayerImpl(Activation activation = Activation::kRelu)
      : activation_(activation) {}
  at::Tensor forward(const at::Tensor& x) {
    return ApplyActivation(activation_, x);
  }
  Activation activation() const { return activation_; }

 private:
  Activation activation_;
};
TORCH_MODULE(ActivationLayer);

// ---------------------------------------------------------------------------
// MLP: `num_layers` Linear layers ("layers.0", "layers.1", ...) with the
// activation between them and an optional final sigmoid.
struct MLPOptions {
  MLPOptions() = default;
  MLPOptions(int64_t input_dim, int64_t hidden_dim, int64_t output_dim,
             int64_t num_layers)
      : input_dim(input_dim),
        hidden_dim(hidden_dim),
        output_dim(output_dim),
        num_layers(num_layers) {}

  int64_t input_dim = 0;
  int64_t hidden_dim = 0;
  int64_t output_dim = 0;
  int64_t num_layers = 0;
  Activation activation = Activation::kRelu;
  bool sigmoid_output = false;
};

class MLPImpl : public torch::nn::Module {
 public:
  explicit MLPImpl(const MLPOptions& options);

  at::Tensor forward(const at::Tensor& x);
  // Layers `first`.. on `out`, the output of layer first - 1 (for callers
  // that compute the first layer(s) themselves, e.g. fused with a norm).
  at::Tensor forward_from(size_t first, at::Tensor out);

  const MLPOptions& options() const { return options_; }
  // The Linear layers in order (the same modules as `layers`).
  const std::vector<torch::nn::Linear>& linears() const { return linears_; }

 private:
  MLPOptions options_;
  torch::nn::ModuleList layers_;
  std::vector<torch::nn::Linear> linears_;
};
TORCH_MODULE(MLP);

// ---------------------------------------------------------------------------
// LayerNorm over the channel dim of an NCHW tensor (parameters "weight" and
// "bias", shape [C]); default eps 1e-6 as in the reference.
struct LayerNorm2dOptions {
  LayerNorm2dOptions() = default;
  explicit LayerNorm2dOptions(int64_t num_channels)
      : num_channels(num_channels) {}

  int64_t num_channels = 0;
  double eps = 1e-6;
};

class LayerNorm2dImpl : public torch::nn::Module {
 public:
  explicit LayerNorm2dImpl(const LayerNorm2dOptions& options);
  explicit LayerNorm2dImpl(int64_t num_channels)
      : LayerNorm2dImpl(LayerNorm2dOptions(num_channels)) {}

  at::Tensor forward(const at::Tensor& x);

  const LayerNorm2dOptions& options() const { return options_; }
  at::Tensor weight;
  at::Tensor bias;

 private:
  LayerNorm2dOptions options_;
};
TORCH_MODULE(LayerNorm2d);

// ---------------------------------------------------------------------------
// Stochastic depth per sample. Identity in eval mode or with drop_prob 0;
// in training draws a Bernoulli(1 - drop_prob) per sample from LibTorch's
// default generator and (scale_by_keep) divides by the keep probability.
struct DropPathOptions {
  DropPathOptions() = default;
  explicit DropPathOptions(double drop_prob) : drop_prob(drop_prob) {}

  double drop_prob = 0.0;
  bool scale_by_keep = true;
};

class DropPathImpl : public torch::nn::Module {
 public:
  explicit DropPathImpl(const DropPathOptions& options = {});
  explicit DropPathImpl(double drop_prob)
      : DropPathImpl(DropPathOptions(drop_prob)) {}

  at::Tensor forward(const at::Tensor& x);

  const DropPathOptions& options() const { return options_; }

 private:
  DropPathOptions options_;
};
TORCH_MODULE(DropPath);

}  // namespace sam2::modeling

#endif  // SAM2_MODELING_SAM2_UTILS_H_
