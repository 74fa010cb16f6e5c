#include "eval/object_scorer.h"

#include <set>

#include "data/codecs/image.h"
#include "eval/boundary_f.h"
#include "eval/numpy_mean.h"
#include "eval/region_j.h"

namespace sam2::eval {
namespace {

// `np.unique(a)` without 0, ascending (the order `set(...)` is built in).
std::vector<int64_t> NonZeroIds(const LabelMap& map) {
  std::vector<bool> present(65536, false);
  for (uint16_t v : map.values) present[v] = true;
  std::vector<int64_t> ids;
  for (int v = 1; v < 65536; ++v) {
    if (present[v]) ids.push_back(v);
  }
  return ids;
}

data::Mask ObjectMask(const LabelMap& map, int64_t id) {
  data::Mask mask(map.height, map.width);
  for (size_t i = 0; i < map.values.size(); ++i) {
    mask.data[i] = map.values[i] == id;
  }
  return mask;
}

}  // namespace

void ObjectScorer::FeedFrame(const LabelMap& pred, const LabelMap& gt,
                             const std::string& frame) {
  objects_in_gt_.Update(PyIntSet::FromList(NonZeroIds(gt)));
  objects_in_masks_.Update(PyIntSet::FromList(NonZeroIds(pred)));
  std::set<int64_t> all_objects;
  for (int64_t id : objects_in_gt_.Keys()) all_objects.insert(id);
  for (int64_t id : objects_in_masks_.Keys()) all_objects.insert(id);

  // The same disk for every object: the reference takes it from the
  // prediction's shape.
  const int radius = BoundaryRadius(pred.height, pred.width);
  for (int64_t id : all_objects) {
    const data::Mask pred_mask = ObjectMask(pred, id);
    const data::Mask gt_mask = ObjectMask(gt, id);
    ObjectFrames& lists = per_frame_[id];
    lists.frames.push_back(frame);
    lists.j.push_back(RegionJ(pred_mask, gt_mask));
    lists.f.push_back(BoundaryF(pred_mask, gt_mask, radius));
  }
}

std::vector<ObjectMean> ObjectScorer::Conclude() const {
  std::vector<ObjectMean> means;
  for (int64_t id : objects_in_gt_.Keys()) {
    const ObjectFrames& lists = per_frame_.at(id);
    means.push_back({id, NumpyMean(lists.j) * 100, NumpyMean(lists.f) * 100});
  }
  return means;
}

}  // namespace sam2::eval
