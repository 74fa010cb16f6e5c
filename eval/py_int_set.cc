#include "eval/py_int_set.h"

#include <utility>

namespace sam2::eval {
namespace {

constexpr size_t kMinSize = 8;       // PySet_MINSIZE
constexpr size_t kLinearProbes = 9;  // LINEAR_PROBES
constexpr int kPerturbShift = 5;     // PERTURB_SHIFT

}  // namespace

PyIntSet::PyIntSet() : table_(kMinSize, kEmpty), mask_(kMinSize - 1) {}

PyIntSet PyIntSet::FromList(const std::vector<int64_t>& values) {
  PyIntSet set;
  for (int64_t v : values) set.Add(v);
  return set;
}

// set_insert_clean: the key is known to be absent and there are no dummies.
void PyIntSet::InsertClean(std::vector<int64_t>* table, size_t mask,
                           int64_t key) {
  size_t perturb = static_cast<size_t>(key);
  size_t i = static_cast<size_t>(key) & mask;
  while (true) {
    if ((*table)[i] == kEmpty) {
      (*table)[i] = key;
      return;
    }
    if (i + kLinearProbes <= mask) {
      for (size_t j = 1; j <= kLinearProbes; ++j) {
        if ((*table)[i + j] == kEmpty) {
          (*table)[i + j] = key;
          return;
        }
      }
    }
    perturb >>= kPerturbShift;
    i = (i * 5 + 1 + perturb) & mask;
  }
}

// set_table_resize: the smallest power of two above `min_used` (at least 8);
// old entries are re-inserted in table order.
void PyIntSet::Resize(size_t min_used) {
  size_t size = kMinSize;
  while (size <= min_used) size <<= 1;
  std::vector<int64_t> table(size, kEmpty);
  for (int64_t key : table_) {
    if (key != kEmpty) InsertClean(&table, size - 1, key);
  }
  table_ = std::move(table);
  mask_ = size - 1;
  fill_ = used_;
}

// set_add_entry.
void PyIntSet::Add(int64_t key) {
  size_t perturb = static_cast<size_t>(key);
  size_t i = static_cast<size_t>(key) & mask_;
  while (true) {
    const size_t probes = i + kLinearProbes <= mask_ ? kLinearProbes : 0;
    for (size_t j = 0; j <= probes; ++j) {
      int64_t& entry = table_[i + j];
      if (entry == key) return;
      if (entry == kEmpty) {
        entry = key;
        ++fill_;
        ++used_;
        if (fill_ * 5 >= mask_ * 3)
          Resize(used_ > 50000 ? used_ * 2 : used_ * 4);
        return;
      }
    }
    perturb >>= kPerturbShift;
    i = (i * 5 + 1 + perturb) & mask_;
  }
}

// set_merge, with its three paths: copy the table when this set is empty and
// as large, insert cleanly when it is empty, else add one by one.
void PyIntSet::Update(const PyIntSet& other) {
  if (&other == this || other.used_ == 0) return;
  if ((fill_ + other.used_) * 5 >= mask_ * 3) {
    Resize((used_ + other.used_) * 2);
  }
  if (fill_ == 0 && mask_ == other.mask_) {
    table_ = other.table_;
    fill_ = other.fill_;
    used_ = other.used_;
    return;
  }
  if (fill_ == 0) {
    for (int64_t key : other.table_) {
      if (key != kEmpty) InsertClean(&table_, mask_, key);
    }
    fill_ = used_ = other.used_;
    return;
  }
  for (int64_t key : other.table_) {
    if (key != kEmpty) Add(key);
  }
}

bool PyIntSet::Contains(int64_t key) const {
  for (int64_t k : table_) {
    if (k == key) return true;
  }
  return false;
}

std::vector<int64_t> PyIntSet::Keys() const {
  std::vector<int64_t> keys;
  keys.reserve(used_);
  for (int64_t k : table_) {
    if (k != kEmpty) keys.push_back(k);
  }
  return keys;
}

}  // namespace sam2::eval
