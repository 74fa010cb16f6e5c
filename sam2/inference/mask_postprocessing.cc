#include "sam2/inference/mask_postprocessing.h"

#include <ATen/ATen.h>
#include <c10/util/Exception.h>

#include <vector>

namespace sam2::inference {
namespace {

// Areas of the 8-connected components of one [H, W] plane, by a flood fill
// with an explicit stack (no recursion depth limit on large components).
void LabelPlane(const uint8_t* mask, int64_t height, int64_t width,
                int32_t* areas, std::vector<int64_t>& stack,
                std::vector<int64_t>& members) {
  const int64_t size = height * width;
  for (int64_t i = 0; i < size; ++i) areas[i] = 0;
  // areas doubles as the visited mark: -1 while a component is being
  // collected, its area once it is complete.
  for (int64_t seed = 0; seed < size; ++seed) {
    if (mask[seed] == 0 || areas[seed] != 0) continue;
    members.clear();
    stack.assign(1, seed);
    areas[seed] = -1;
    while (!stack.empty()) {
      const int64_t p = stack.back();
      stack.pop_back();
      members.push_back(p);
      const int64_t y = p / width, x = p % width;
      for (int64_t dy = -1; dy <= 1; ++dy) {
        const int64_t yy = y + dy;
        if (yy < 0 || yy >= height) continue;
        for (int64_t dx = -1; dx <= 1; ++dx) {
          const int64_t xx = x + dx;
          if (xx < 0 || xx >= width) continue;
          const int64_t q = yy * width + xx;
          if (mask[q] != 0 && areas[q] == 0) {
            areas[q] = -1;
            stack.push_back(q);
          }
        }
      }
    }
    const int32_t area = static_cast<int32_t>(members.size());
    for (int64_t p : members) areas[p] = area;
  }
}

}  // namespace

at::Tensor ConnectedComponentAreas(const at::Tensor& mask) {
  TORCH_CHECK(mask.dim() == 4 && mask.size(1) == 1,
              "ConnectedComponentAreas: mask must be [N, 1, H, W], got ",
              mask.sizes());
  const at::Tensor binary = (mask != 0).to(at::kCPU).to(at::kByte).contiguous();
  const int64_t n = binary.size(0), height = binary.size(2),
                width = binary.size(3);
  at::Tensor areas = at::empty(binary.sizes(), at::kInt);
  std::vector<int64_t> stack, members;
  const uint8_t* in = binary.data_ptr<uint8_t>();
  int32_t* out = areas.data_ptr<int32_t>();
  for (int64_t i = 0; i < n; ++i) {
    LabelPlane(in + i * height * width, height, width, out + i * height * width,
               stack, members);
  }
  return areas.to(mask.device());
}

at::Tensor FillHolesInMaskScores(const at::Tensor& scores, int64_t max_area) {
  TORCH_CHECK(max_area > 0, "FillHolesInMaskScores: max_area must be positive");
  const at::Tensor areas = ConnectedComponentAreas(scores <= 0);
  const at::Tensor is_hole = (areas > 0) & (areas <= max_area);
  // The reference's torch.where(is_hole, 0.1, mask): 0.1 in the scores'
  // dtype.
  return at::where(is_hole, at::scalar_tensor(0.1, scores.options()), scores);
}

}  // namespace sam2::inference
