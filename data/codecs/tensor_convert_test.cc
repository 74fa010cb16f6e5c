#include "data/codecs/tensor_convert.h"

#include <ATen/ATen.h>

#include "gtest/gtest.h"

namespace sam2::data {
namespace {

TEST(TensorConvertTest, ImageAndMaskBecomeTensorsWithoutCopying) {
  Image image(2, 3, 3);
  for (size_t i = 0; i < image.data.size(); ++i)
    image.data[i] = static_cast<uint8_t>(i);
  const uint8_t* pixels = image.data.data();
  const at::Tensor t = ImageToTensor(std::move(image));
  EXPECT_EQ(t.sizes(), (at::IntArrayRef{2, 3, 3}));
  EXPECT_EQ(t.scalar_type(), at::kByte);
  EXPECT_EQ(t.data_ptr<uint8_t>(), pixels);  // same buffer
  EXPECT_EQ(t[1][2][0].item<int>(), (1 * 3 + 2) * 3);

  Mask mask(2, 2);
  mask.at(1, 0) = 1;
  const at::Tensor m = MaskToTensor(std::move(mask));
  EXPECT_EQ(m.sizes(), (at::IntArrayRef{2, 2}));
  EXPECT_EQ(m.sum().item<int>(), 1);
  EXPECT_EQ(m[1][0].item<int>(), 1);
}

TEST(TensorConvertTest, TensorToImageCopiesAnyLayout) {
  const at::Tensor chw = at::arange(24, at::kByte).reshape({3, 2, 4});
  absl::StatusOr<Image> image =
      TensorToImage(chw.permute({1, 2, 0}));  // non-contiguous
  ASSERT_TRUE(image.ok()) << image.status();
  EXPECT_EQ(image->height, 2);
  EXPECT_EQ(image->width, 4);
  EXPECT_EQ(image->channels, 3);
  EXPECT_EQ(image->at(1, 3, 2), chw[2][1][3].item<int>());
  EXPECT_EQ(TensorToImage(at::zeros({5, 6}, at::kByte))->channels, 1);
  EXPECT_FALSE(TensorToImage(at::zeros({5, 6}, at::kFloat)).ok());
  EXPECT_FALSE(TensorToImage(at::zeros({5}, at::kByte)).ok());
}

}  // namespace
}  // namespace sam2::data
