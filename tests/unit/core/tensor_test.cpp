#include <gtest/gtest.h>

#include "core/tensor.h"
#include "ops/ops.h"

using namespace ia;

TEST(Tensor, ViewsShareStorage) {
  Tensor t = Tensor::from_vector<float>({0, 1, 2, 3, 4, 5}, {2, 3});
  Tensor tt = t.transpose(0, 1);
  EXPECT_EQ(tt.shape(), (Shape{3, 2}));
  EXPECT_FALSE(tt.is_contiguous());
  EXPECT_EQ(tt.storage(), t.storage());
  EXPECT_EQ(tt.contiguous().to_vector<float>(), (std::vector<float>{0, 3, 1, 4, 2, 5}));
  Tensor s = t.slice(1, 1, 3);
  EXPECT_EQ(s.to_vector<float>(), (std::vector<float>{1, 2, 4, 5}));
  EXPECT_EQ(t.select(0, 1).to_vector<float>(), (std::vector<float>{3, 4, 5}));
  EXPECT_EQ(t.view({3, 2}).shape(), (Shape{3, 2}));
  EXPECT_EQ(t.view({-1}).shape(), (Shape{6}));
  EXPECT_THROW(tt.view({6}), Error);
}

TEST(Tensor, DtypeConversionsRoundTrip) {
  for (float v : {0.0f, 1.0f, -2.5f, 65504.0f, 1e-5f, 3.14159f}) {
    EXPECT_NEAR(f16_to_f32(f32_to_f16(v)), v, std::abs(v) * 1e-3f + 1e-7f) << v;
    EXPECT_NEAR(bf16_to_f32(f32_to_bf16(v)), v, std::abs(v) * 1e-2f + 1e-30f) << v;
  }
  EXPECT_EQ(f32_to_f16(1.0f), 0x3c00);
  EXPECT_EQ(f16_to_f32(0x0001), std::ldexp(1.0f, -24));  // smallest subnormal
  EXPECT_EQ(f32_to_f16(std::ldexp(1.0f, -24)), 0x0001);
  Tensor t = Tensor::from_vector<int64_t>({1, -2, 3}, {3});
  EXPECT_EQ(t.to(DType::F32).to_vector<float>(), (std::vector<float>{1, -2, 3}));
  EXPECT_EQ(t.to(DType::BF16).to(DType::I32).to_vector<int32_t>(), (std::vector<int32_t>{1, -2, 3}));
  EXPECT_EQ(t.to(DType::Bool).to_vector<int64_t>(), (std::vector<int64_t>{1, 1, 1}));
}

TEST(Tensor, ExpandBroadcastsWithoutCopy) {
  Tensor b = Tensor::from_vector<float>({1, 2, 3}, {3});
  Tensor e = b.expand({2, 3});
  EXPECT_EQ(e.strides(), (Shape{0, 1}));
  EXPECT_EQ(e.contiguous().to_vector<float>(), (std::vector<float>{1, 2, 3, 1, 2, 3}));
}

TEST(Device, ParsesAndRejects) {
  EXPECT_EQ(Device::parse("cuda:1").index, 1);
  EXPECT_EQ(Device::parse("cpu").type, DeviceType::CPU);
  EXPECT_EQ(Device::parse("openvino").type, DeviceType::OpenVINO);
  EXPECT_THROW(Device::parse("tpu"), Error);
  EXPECT_THROW(Device::parse("cuda:x"), Error);
}

TEST(Tensor, SizesThatWrapAreRejected) {
  // 2^61 f64 elements are 2^64 bytes: the product wraps to 0 in size_t.
  EXPECT_THROW(Tensor::empty({int64_t(1) << 60, 2}, DType::F64), Error);
  EXPECT_THROW(Tensor::empty({int64_t(1) << 62, 2}, DType::F32), Error);
}

TEST(Tensor, ViewsMustLieInsideTheirStorage) {
  auto st = allocate_storage(Device::cpu(), 16);
  EXPECT_NO_THROW(Tensor(st, 0, {4}, DType::F32));
  EXPECT_NO_THROW(Tensor(st, 8, {2}, DType::F32));
  EXPECT_NO_THROW(Tensor(st, 16, {0}, DType::F32));
  EXPECT_THROW(Tensor(st, 0, {5}, DType::F32), Error);
  EXPECT_THROW(Tensor(st, 12, {2}, DType::F32), Error);
  EXPECT_NO_THROW(Tensor(st, 0, {2}, {3}, DType::F32));  // elements 0 and 3: exactly 16 bytes
  EXPECT_THROW(Tensor(st, 0, {2}, {4}, DType::F32), Error);  // elements 0 and 4: 20 bytes
  EXPECT_NO_THROW(Tensor(st, 0, {2, 2}, {0, 1}, DType::F32));  // broadcast rows
  EXPECT_THROW(Tensor(st, 0, {3}, DType::F64), Error);
  EXPECT_THROW(Tensor(st, 0, {2}, {int64_t(1) << 62}, DType::F32), Error);  // stride product overflows
}
