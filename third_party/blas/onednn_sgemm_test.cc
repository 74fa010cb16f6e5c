#include "third_party/blas/onednn_sgemm.h"

#include <ATen/ATen.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

extern "C" void sgemm_(const char* transa, const char* transb, const int* m,
                       const int* n, const int* k, const float* alpha,
                       const float* a, const int* lda, const float* b,
                       const int* ldb, const float* beta, float* c,
                       const int* ldc);

namespace sam2::blas {
namespace {

// Column-major op(A) (m x k) and op(B) (k x n) in padded storage, C (m x n)
// with ldc > m, alpha and beta away from 0 and 1: every argument matters.
struct Product {
  char ta, tb;
  int m, n, k, lda, ldb, ldc;
  std::vector<float> a, b, c;
  float alpha = 0.75f, beta = -0.5f;

  Product(char ta_in, char tb_in, int m_in, int n_in, int k_in)
      : ta(ta_in), tb(tb_in), m(m_in), n(n_in), k(k_in) {
    const int a_rows = ta == 'n' ? m : k, a_cols = ta == 'n' ? k : m;
    const int b_rows = tb == 'n' ? k : n, b_cols = tb == 'n' ? n : k;
    lda = a_rows + 3;
    ldb = b_rows + 5;
    ldc = m + 2;
    std::mt19937 gen(m * 131 + n * 17 + k + ta + 3 * tb);
    std::uniform_real_distribution<float> dist(-1.f, 1.f);
    a.resize(static_cast<size_t>(lda) * a_cols);
    b.resize(static_cast<size_t>(ldb) * b_cols);
    c.resize(static_cast<size_t>(ldc) * n);
    for (float& v : a) v = dist(gen);
    for (float& v : b) v = dist(gen);
    for (float& v : c) v = dist(gen);
  }
  float A(int i, int p) const {
    return ta == 'n' ? a[i + p * lda] : a[p + i * lda];
  }
  float B(int p, int j) const {
    return tb == 'n' ? b[p + j * ldb] : b[j + p * ldb];
  }
  // What sgemm must leave in C, in double, padding rows untouched.
  std::vector<double> Expected() const {
    std::vector<double> out(c.begin(), c.end());
    for (int j = 0; j < n; ++j) {
      for (int i = 0; i < m; ++i) {
        double sum = 0;
        for (int p = 0; p < k; ++p) sum += double(A(i, p)) * B(p, j);
        out[i + j * ldc] = alpha * sum + beta * double(c[i + j * ldc]);
      }
    }
    return out;
  }
  std::vector<float> Run() const {
    std::vector<float> out = c;
    sgemm_(&ta, &tb, &m, &n, &k, &alpha, a.data(), &lda, b.data(), &ldb, &beta,
           out.data(), &ldc);
    return out;
  }
};

void ExpectNear(const std::vector<float>& got, const std::vector<double>& want,
                double tolerance) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    ASSERT_NEAR(got[i], want[i], tolerance) << "element " << i;
  }
}

TEST(OneDnnSgemmTest, DefaultRouteIsOneDnn) {
  // Debian's LibTorch depends on libdnnl2, so it is always there.
  ASSERT_EQ(ActiveSgemmRoute(), SgemmRoute::kOneDnn) << DescribeSgemmRoute();
  EXPECT_THAT(DescribeSgemmRoute(), ::testing::HasSubstr("libdnnl.so"));
}

TEST(OneDnnSgemmTest, EveryTransposeAndLeadingDimensionOnBothRoutes) {
  for (SgemmRoute route : {SgemmRoute::kOneDnn, SgemmRoute::kBlas}) {
    SetSgemmRouteForTesting(route);
    for (char ta : {'n', 't'}) {
      for (char tb : {'n', 't'}) {
        // The last: a few dozen row-major rows against a long inner
        // dimension, which oneDNN takes through C^T when B is transposed.
        for (std::array<int, 3> mnk :
             {std::array<int, 3>{7, 5, 3}, std::array<int, 3>{64, 56, 64},
              std::array<int, 3>{300, 130, 257},
              std::array<int, 3>{64, 24, 1100}}) {
          SCOPED_TRACE(std::string("trans ") + ta + tb + " m " +
                       std::to_string(mnk[0]) + " route " +
                       std::to_string(static_cast<int>(route)));
          const Product p(ta, tb, mnk[0], mnk[1], mnk[2]);
          const int64_t before = route == SgemmRoute::kOneDnn
                                     ? SgemmCallsOnOneDnn()
                                     : SgemmCallsOnBlas();
          ExpectNear(p.Run(), p.Expected(), 1e-4 * mnk[2]);
          const int64_t after = route == SgemmRoute::kOneDnn
                                    ? SgemmCallsOnOneDnn()
                                    : SgemmCallsOnBlas();
          EXPECT_EQ(after, before + 1);
        }
      }
    }
  }
  SetSgemmRouteForTesting(SgemmRoute::kOneDnn);
}

// With beta 0 the BLAS does not read C; the C^T detour must not either.
TEST(OneDnnSgemmTest, BetaZeroIgnoresWhatCHolds) {
  for (char ta : {'n', 't'}) {
    Product p(ta, 'n', 40, 20, 1500);
    p.beta = 0;
    std::fill(p.c.begin(), p.c.end(), std::nanf(""));
    const std::vector<float> got = p.Run();
    for (int j = 0; j < p.n; ++j) {
      for (int i = 0; i < p.m; ++i) {
        double sum = 0;
        for (int q = 0; q < p.k; ++q) sum += double(p.A(i, q)) * p.B(q, j);
        ASSERT_NEAR(got[i + j * p.ldc], p.alpha * sum, 1e-4 * p.k)
            << "trans " << ta << " element " << i << ", " << j;
      }
    }
  }
}

TEST(OneDnnSgemmTest, EmptyInnerDimensionScalesCByBetaOnTheBlas) {
  Product p('n', 'n', 4, 3, 1);
  p.k = 0;
  const int64_t blas_before = SgemmCallsOnBlas();
  const std::vector<float> got = p.Run();
  EXPECT_EQ(SgemmCallsOnBlas(), blas_before + 1);
  for (int j = 0; j < p.n; ++j) {
    for (int i = 0; i < p.m; ++i) {
      EXPECT_FLOAT_EQ(got[i + j * p.ldc], p.beta * p.c[i + j * p.ldc]);
    }
  }
}

TEST(OneDnnSgemmTest, LibTorchProductsAndGradientsRunOnOneDnn) {
  at::manual_seed(3);
  const at::Tensor x = at::randn({96, 80});
  const at::Tensor w = at::randn({48, 80});
  const at::Tensor batch = at::randn({3, 20, 30});
  const at::Tensor other = at::randn({3, 30, 10});
  const int64_t before = SgemmCallsOnOneDnn();
  const at::Tensor y = at::linear(x, w);
  const at::Tensor z = at::bmm(batch, other);
  EXPECT_GT(SgemmCallsOnOneDnn(), before);
  // Against double-precision products: the route changes rounding only.
  EXPECT_TRUE(at::allclose(y.to(at::kDouble),
                           at::linear(x.to(at::kDouble), w.to(at::kDouble)),
                           1e-5, 1e-4));
  EXPECT_TRUE(at::allclose(
      z.to(at::kDouble), at::bmm(batch.to(at::kDouble), other.to(at::kDouble)),
      1e-5, 1e-4));
}

// SAM2_CPU_SGEMM is read once per process: checked in a child of this test.
TEST(OneDnnSgemmTest, EnvironmentChoosesTheRoute) {
  if (const char* child = std::getenv("ONEDNN_SGEMM_TEST_CHILD")) {
    const std::string expected = child;
    if (expected == "blas") {
      EXPECT_EQ(ActiveSgemmRoute(), SgemmRoute::kBlas);
      EXPECT_THAT(DescribeSgemmRoute(),
                  ::testing::HasSubstr("SAM2_CPU_SGEMM=blas"));
    } else {
      EXPECT_EQ(ActiveSgemmRoute(), SgemmRoute::kOneDnn);
      EXPECT_THAT(DescribeSgemmRoute(),
                  ::testing::HasSubstr("is neither onednn nor blas"));
    }
    return;
  }
  char self[4096];
  const ssize_t length = readlink("/proc/self/exe", self, sizeof(self) - 1);
  ASSERT_GT(length, 0);
  self[length] = '\0';
  for (const std::string value : {"blas", "mkl"}) {
    const std::string command =
        "SAM2_CPU_SGEMM=" + value + " ONEDNN_SGEMM_TEST_CHILD=" + value + " '" +
        self +
        "' --gtest_filter=OneDnnSgemmTest.EnvironmentChoosesTheRoute "
        ">/dev/null 2>&1";
    EXPECT_EQ(std::system(command.c_str()), 0) << command;
  }
}

}  // namespace
}  // namespace sam2::blas
