#include "eval/numpy_mean.h"

#include <limits>

namespace sam2::eval {
namespace {

constexpr long kPairwiseBlock = 128;  // numpy's PW_BLOCKSIZE
constexpr long kBufferSize = 8192;    // numpy's NPY_BUFSIZE

}  // namespace

double NumpyPairwiseSum(const double* a, long n) {
  if (n < 8) {
    double res = 0.;
    for (long i = 0; i < n; ++i) res += a[i];
    return res;
  }
  if (n <= kPairwiseBlock) {
    double r[8];
    for (int j = 0; j < 8; ++j) r[j] = a[j];
    long i = 8;
    for (; i < n - (n % 8); i += 8) {
      for (int j = 0; j < 8; ++j) r[j] += a[i + j];
    }
    double res =
        ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
    for (; i < n; ++i) res += a[i];
    return res;
  }
  long n2 = n / 2;
  n2 -= n2 % 8;
  return NumpyPairwiseSum(a, n2) + NumpyPairwiseSum(a + n2, n - n2);
}

double NumpySum(const std::vector<double>& values) {
  // The reduction starts from add's identity, 0.
  double total = 0.;
  const long n = static_cast<long>(values.size());
  for (long start = 0; start < n; start += kBufferSize) {
    const long count = n - start < kBufferSize ? n - start : kBufferSize;
    total += NumpyPairwiseSum(values.data() + start, count);
  }
  return total;
}

double NumpyMean(const std::vector<double>& values) {
  if (values.empty()) return std::numeric_limits<double>::quiet_NaN();
  return NumpySum(values) / static_cast<double>(values.size());
}

}  // namespace sam2::eval
