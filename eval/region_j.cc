#include "eval/region_j.h"

#include <cstddef>

namespace sam2::eval {

double IouFromCounts(int64_t intersection, int64_t pixel_sum) {
  // intersection == pixel_sum only when both masks are empty.
  if (intersection == pixel_sum) return 1.0;
  return static_cast<double>(intersection) /
         static_cast<double>(pixel_sum - intersection);
}

double RegionJ(const data::Mask& pred, const data::Mask& gt) {
  int64_t intersection = 0;
  int64_t pixel_sum = 0;
  for (size_t i = 0; i < pred.data.size(); ++i) {
    intersection += pred.data[i] & gt.data[i];
    pixel_sum += pred.data[i] + gt.data[i];
  }
  return IouFromCounts(intersection, pixel_sum);
}

}  // namespace sam2::eval
