// The reference's per-folder `Evaluator` (vos-benchmark): fed one frame at a
// time, it keeps per-object lists of J and F and concludes with their means.
// An object enters the lists on the first fed frame where the ground truth
// or the prediction has it; earlier frames do not count for it at all.
#ifndef SAM2_EVAL_OBJECT_SCORER_H_
#define SAM2_EVAL_OBJECT_SCORER_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "eval/label_map.h"
#include "eval/py_int_set.h"

namespace sam2::eval {

// One object's per-frame values (0..1), from its first appearance on.
struct ObjectFrames {
  std::vector<std::string> frames;
  std::vector<double> j;
  std::vector<double> f;
};

// One object's means, in percent.
struct ObjectMean {
  int64_t id = 0;
  double j = 0;
  double f = 0;
};

class ObjectScorer {
 public:
  // Scores every object seen so far on this frame (`pred` and `gt` hold
  // object ids, 0 = background, and have the same size). `frame` only
  // labels the per-frame lists.
  void FeedFrame(const LabelMap& pred, const LabelMap& gt,
                 const std::string& frame);

  // `conclude()`: the means (x 100) of the objects that the ground truth
  // has on some fed frame, in the order the reference iterates its set of
  // them. Objects only the prediction has are scored but not reported.
  std::vector<ObjectMean> Conclude() const;

  // Every scored object's per-frame lists, by id.
  const std::map<int64_t, ObjectFrames>& per_frame() const {
    return per_frame_;
  }

 private:
  PyIntSet objects_in_gt_;
  PyIntSet objects_in_masks_;
  std::map<int64_t, ObjectFrames> per_frame_;
};

}  // namespace sam2::eval

#endif  // SAM2_EVAL_OBJECT_SCORER_H_
