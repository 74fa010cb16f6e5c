// `np.mean` of a float64 array, with numpy's own summation order, so that
// means agree with the reference to the last bit (a plain loop differs from
// numpy's pairwise sum in the last place for more than 7 values).
#ifndef SAM2_EVAL_NUMPY_MEAN_H_
#define SAM2_EVAL_NUMPY_MEAN_H_

#include <vector>

namespace sam2::eval {

// numpy's `pairwise_sum_DOUBLE`: a plain loop below 8 values, eight
// interleaved accumulators up to 128, halves (cut at a multiple of 8) above.
double NumpyPairwiseSum(const double* values, long n);

// `np.add.reduce` of a contiguous float64 array as numpy 1.x runs it: the
// reduction's buffered iterator hands the inner loop at most 8192 values at a
// time, each chunk is summed pairwise and added to the running total.
double NumpySum(const std::vector<double>& values);

// `np.mean`: NumpySum / size (NaN for an empty array, as numpy).
double NumpyMean(const std::vector<double>& values);

}  // namespace sam2::eval

#endif  // SAM2_EVAL_NUMPY_MEAN_H_
