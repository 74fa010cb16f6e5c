#include "distributed/work_split.h"

#include <algorithm>
#include <numeric>

namespace sam2::distributed {

std::vector<size_t> MyShareOfWork(const std::vector<WorkUnit>& units, int rank,
                                  int ranks) {
  std::vector<size_t> order(units.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return units[a].size != units[b].size ? units[a].size > units[b].size
                                          : units[a].name < units[b].name;
  });
  // +1 per unit: empty units still spread out.
  std::vector<uint64_t> load(static_cast<size_t>(std::max(1, ranks)), 0);
  std::vector<size_t> mine;
  for (size_t i : order) {
    const size_t r = static_cast<size_t>(
        std::min_element(load.begin(), load.end()) - load.begin());
    load[r] += units[i].size + 1;
    if (static_cast<int>(r) == rank) mine.push_back(i);
  }
  std::sort(mine.begin(), mine.end());
  return mine;
}

}  // namespace sam2::distributed
