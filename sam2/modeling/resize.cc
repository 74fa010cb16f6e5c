#include "sam2/modeling/resize.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/csrc/autograd/custom_function.h>

#include <algorithm>
#include <vector>

namespace sam2::modeling {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// The two source indices and weights of each output index along one axis,
// computed as ATen's compute_source_index_and_lambda does with
// align_corners=False and no explicit scale.
struct AxisTaps {
  std::vector<int64_t> first, second;
  std::vector<float> first_weight, second_weight;
};

AxisTaps Taps(int64_t input_size, int64_t output_size) {
  AxisTaps taps;
  taps.first.resize(output_size);
  taps.second.resize(output_size);
  taps.first_weight.resize(output_size);
  taps.second_weight.resize(output_size);
  const float scale =
      static_cast<float>(input_size) / static_cast<float>(output_size);
  for (int64_t o = 0; o < output_size; ++o) {
    // As ATen's area_pixel_compute_source_index: the product in double
    // (its output index plus 0.5 is a double), stored in float.
    float source = static_cast<float>(scale * (o + 0.5) - 0.5);
    if (source < 0) source = 0;
    const int64_t i0 = static_cast<int64_t>(source);
    const int64_t i1 = i0 + (i0 < input_size - 1 ? 1 : 0);
    const float lambda1 =
        std::min(std::max(source - static_cast<float>(i0), 0.0f), 1.0f);
    taps.first[o] = i0;
    taps.second[o] = i1;
    taps.first_weight[o] = 1.0f - lambda1;
    taps.second_weight[o] = lambda1;
  }
  return taps;
}

// The taps of an axis by input index: each input index gathers the output
// indices whose taps reach it (CSR: entries [start[i], start[i + 1])).
struct Gathers {
  std::vector<int64_t> start, output;
  std::vector<float> weight;
};

Gathers ByInput(const AxisTaps& taps, int64_t input_size) {
  Gathers g;
  g.start.assign(input_size + 1, 0);
  const int64_t outputs = static_cast<int64_t>(taps.first.size());
  for (int64_t o = 0; o < outputs; ++o) {
    ++g.start[taps.first[o] + 1];
    ++g.start[taps.second[o] + 1];
  }
  for (int64_t i = 0; i < input_size; ++i) g.start[i + 1] += g.start[i];
  g.output.resize(2 * outputs);
  g.weight.resize(2 * outputs);
  std::vector<int64_t> next(g.start.begin(), g.start.end() - 1);
  for (int64_t o = 0; o < outputs; ++o) {
    g.output[next[taps.first[o]]] = o;
    g.weight[next[taps.first[o]]++] = taps.first_weight[o];
    g.output[next[taps.second[o]]] = o;
    g.weight[next[taps.second[o]]++] = taps.second_weight[o];
  }
  return g;
}

// grad_input of one [out_h, out_w] plane into [in_h, in_w]: the output rows
// add into their two input rows (whole rows at a time, out_w wide), then
// each input pixel gathers its row's columns.
void PlaneGradient(const float* grad_out, int64_t out_h, int64_t out_w,
                   const AxisTaps& rows, const Gathers& cols, int64_t in_h,
                   int64_t in_w, float* rows_buffer, float* grad_in) {
  std::fill_n(rows_buffer, in_h * out_w, 0.0f);
  for (int64_t oy = 0; oy < out_h; ++oy) {
    const float* g = grad_out + oy * out_w;
    float* first = rows_buffer + rows.first[oy] * out_w;
    float* second = rows_buffer + rows.second[oy] * out_w;
    const float w0 = rows.first_weight[oy];
    const float w1 = rows.second_weight[oy];
    for (int64_t ox = 0; ox < out_w; ++ox) first[ox] += w0 * g[ox];
    for (int64_t ox = 0; ox < out_w; ++ox) second[ox] += w1 * g[ox];
  }
  for (int64_t iy = 0; iy < in_h; ++iy) {
    const float* row = rows_buffer + iy * out_w;
    float* out = grad_in + iy * in_w;
    for (int64_t ix = 0; ix < in_w; ++ix) {
      float sum = 0;
      for (int64_t e = cols.start[ix]; e < cols.start[ix + 1]; ++e) {
        sum += cols.weight[e] * row[cols.output[e]];
      }
      out[ix] = sum;
    }
  }
}

class ResizeBilinearFunction
    : public torch::autograd::Function<ResizeBilinearFunction> {
 public:
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x,
                            int64_t height, int64_t width) {
    ctx->saved_data["input_height"] = x.size(2);
    ctx->saved_data["input_width"] = x.size(3);
    return at::upsample_bilinear2d(x, {height, width},
                                   /*align_corners=*/false, c10::nullopt,
                                   c10::nullopt);
  }

  static variable_list backward(AutogradContext* ctx,
                                variable_list grad_outputs) {
    const at::Tensor grad_out = grad_outputs[0].contiguous();
    const int64_t in_h = ctx->saved_data["input_height"].toInt();
    const int64_t in_w = ctx->saved_data["input_width"].toInt();
    const int64_t out_h = grad_out.size(2), out_w = grad_out.size(3);
    const int64_t planes = grad_out.size(0) * grad_out.size(1);
    const AxisTaps rows = Taps(in_h, out_h);
    const Gathers cols = ByInput(Taps(in_w, out_w), in_w);
    at::Tensor grad_in = at::empty(
        {grad_out.size(0), grad_out.size(1), in_h, in_w}, grad_out.options());
    const float* g = grad_out.data_ptr<float>();
    float* out = grad_in.data_ptr<float>();
    at::parallel_for(0, planes, 1, [&](int64_t first, int64_t last) {
      std::vector<float> rows_buffer(in_h * out_w);
      for (int64_t p = first; p < last; ++p) {
        PlaneGradient(g + p * out_h * out_w, out_h, out_w, rows, cols, in_h,
                      in_w, rows_buffer.data(), out + p * in_h * in_w);
      }
    });
    return {grad_in, at::Tensor(), at::Tensor()};
  }
};

}  // namespace

at::Tensor ResizeBilinear(const at::Tensor& x, int64_t height, int64_t width) {
  if (x.requires_grad() && x.dim() == 4 && x.device().is_cpu() &&
      x.scalar_type() == at::kFloat) {
    return ResizeBilinearFunction::apply(x, height, width);
  }
  return at::upsample_bilinear2d(x, {height, width}, /*align_corners=*/false,
                                 c10::nullopt, c10::nullopt);
}

}  // namespace sam2::modeling
