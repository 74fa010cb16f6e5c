// Reads every sample of a raw dataset the way the trainer would (every frame
// image decoded, every object's mask decoded) and reports every problem in
// one pass, instead of the first one a training run trips over: unreadable
// images, masks whose size differs from their frame's, bad RLE or PNG
// annotations, videos without any object, objects empty on every frame,
// videos shorter than the sampler's num_frames.
#ifndef SAM2_DATA_VALIDATION_DATASET_CHECK_H_
#define SAM2_DATA_VALIDATION_DATASET_CHECK_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "data/datasets/vos_raw_dataset.h"

namespace sam2::data {

struct DatasetProblem {
  std::string video;
  int frame_idx = -1;  // -1: the video as a whole
  int obj_id = -1;     // -1: no particular object
  std::string kind;    // e.g. "unreadable image", "size mismatch"
  std::string detail;  // the file and what is wrong with it
};

struct DatasetCheckOptions {
  // Videos with fewer frames cannot give the sampler its clip (0: no check).
  int min_frames = 0;
  int threads = 2;
  // Only videos i with i % num_shards == shard (MPI ranks split the work).
  int shard = 0;
  int num_shards = 1;
};

struct DatasetCheckReport {
  int64_t videos = 0;
  int64_t frames = 0;
  int64_t masks = 0;                     // (frame, object) entries decoded
  std::vector<DatasetProblem> problems;  // in video order, then frame order
  std::map<std::string, int64_t> problems_by_kind;
};

DatasetCheckReport CheckDataset(const VosRawDataset& dataset,
                                const DatasetCheckOptions& options);

// "video 'x', frame 3, object 2: size mismatch: <detail>".
std::string FormatProblem(const DatasetProblem& problem);

}  // namespace sam2::data

#endif  // SAM2_DATA_VALIDATION_DATASET_CHECK_H_
