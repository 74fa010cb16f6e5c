// How batch jobs split their units (videos, shards) over ranks: the same
// answer on every rank, balanced by size, without any communication.
#ifndef SAM2_DISTRIBUTED_WORK_SPLIT_H_
#define SAM2_DISTRIBUTED_WORK_SPLIT_H_

#include <cstdint>
#include <string>
#include <vector>

namespace sam2::distributed {

struct WorkUnit {
  std::string name;   // unique; breaks ties between equal sizes
  uint64_t size = 0;  // bytes (any measure of work)
};

// The indices into `units` that rank `rank` of `ranks` takes, ascending:
// largest units first, each to the least-loaded rank (ties: the lowest rank).
// Every unit goes to exactly one rank.
std::vector<size_t> MyShareOfWork(const std::vector<WorkUnit>& units, int rank,
                                  int ranks);

}  // namespace sam2::distributed

#endif  // SAM2_DISTRIBUTED_WORK_SPLIT_H_
