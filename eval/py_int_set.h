// The iteration order of a CPython (3.7 - 3.12) set of small non-negative
// ints. The reference reports a DAVIS-layout video's objects, and sums them
// into the global means, in the order of the set `Evaluator.objects_in_gt`;
// for ids of 8 and more that is not ascending (it depends on the hash table
// and on insertion order), so this replays CPython's setobject.c: open
// addressing with 9 linear probes, then perturbed jumps; growth when
// fill * 5 >= mask * 3. hash(i) == i for these ints.
#ifndef SAM2_EVAL_PY_INT_SET_H_
#define SAM2_EVAL_PY_INT_SET_H_

#include <cstddef>
#include <cstdint>
#include <vector>

namespace sam2::eval {

class PyIntSet {
 public:
  PyIntSet();

  // `set(values)`: the values added one by one.
  static PyIntSet FromList(const std::vector<int64_t>& values);

  // `s.add(key)` (set_add_entry). `key` must be >= 0.
  void Add(int64_t key);
  // `s.update(other)` for a set `other` (set_merge).
  void Update(const PyIntSet& other);

  bool Contains(int64_t key) const;
  size_t size() const { return used_; }
  // `list(s)`: the keys in table order.
  std::vector<int64_t> Keys() const;

 private:
  static constexpr int64_t kEmpty = -1;
  static void InsertClean(std::vector<int64_t>* table, size_t mask,
                          int64_t key);
  void Resize(size_t min_used);

  std::vector<int64_t> table_;
  size_t mask_;
  size_t fill_ = 0;
  size_t used_ = 0;
};

}  // namespace sam2::eval

#endif  // SAM2_EVAL_PY_INT_SET_H_
