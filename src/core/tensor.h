// The one tensor type: shared storage + byte offset + shape/strides (in elements) + dtype.
// Views (slice, transpose, reshape of contiguous data) never copy; compute goes through ops/.
#pragma once
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "core/error.h"
#include "core/storage.h"

namespace ia {

using Shape = std::vector<int64_t>;
std::string shape_str(const Shape& s);  // "[2, 7, 64]"
int64_t shape_numel(const Shape& s);    // throws on negative dims or overflow

class Tensor {
 public:
  Tensor() = default;
  Tensor(std::shared_ptr<Storage> storage, size_t byte_offset, Shape shape, DType dtype);
  Tensor(std::shared_ptr<Storage> storage, size_t byte_offset, Shape shape, Shape strides, DType dtype);

  static Tensor empty(const Shape& shape, DType dtype, Device device = Device::cpu());
  static Tensor zeros(const Shape& shape, DType dtype, Device device = Device::cpu());
  static Tensor full(const Shape& shape, float value, DType dtype = DType::F32);  // host
  template <typename T>
  static Tensor from_vector(const std::vector<T>& values, const Shape& shape);
  static Tensor scalar(float v) { return from_vector<float>({v}, {}); }

  bool defined() const { return storage_ != nullptr; }
  const Shape& shape() const { return shape_; }
  const Shape& strides() const { return strides_; }
  int ndim() const { return static_cast<int>(shape_.size()); }
  int64_t dim(int i) const;  // negative indexes from the end
  int64_t numel() const;
  DType dtype() const { return dtype_; }
  Device device() const { return storage_ ? storage_->device() : Device::cpu(); }
  size_t nbytes() const { return static_cast<size_t>(numel()) * dtype_size(dtype_); }
  size_t byte_offset() const { return offset_; }
  const std::shared_ptr<Storage>& storage() const { return storage_; }
  bool is_contiguous() const;

  void* raw_data() const { return static_cast<uint8_t*>(storage_->data()) + offset_; }
  template <typename T>
  T* data() const {
    check_access(dtype_of<T>());
    return reinterpret_cast<T*>(raw_data());
  }
  // Host copy of the elements, converted to T (any dtype, any layout, any device).
  template <typename T>
  std::vector<T> to_vector() const;
  float item() const;  // single-element tensor as float

  // Views.
  Tensor view(Shape shape) const;  // contiguous only; one dim may be -1
  Tensor reshape(Shape shape) const;  // view when possible, else contiguous copy
  Tensor slice(int dim, int64_t start, int64_t end) const;
  Tensor select(int dim, int64_t index) const;  // drops the dim
  Tensor narrow(int dim, int64_t start, int64_t length) const { return slice(dim, start, start + length); }
  Tensor transpose(int d0, int d1) const;
  Tensor permute(const std::vector<int>& order) const;
  Tensor unsqueeze(int dim) const;
  Tensor squeeze(int dim) const;
  Tensor expand(const Shape& shape) const;  // broadcast view with stride 0

  // Copies (through ops).
  Tensor contiguous() const;
  Tensor clone() const;
  Tensor to(DType dtype) const;
  Tensor to(Device device) const;

  std::string describe() const;  // "f32[2, 7, 64] on cpu"

 private:
  void check_access(DType want) const;
  std::shared_ptr<Storage> storage_;
  size_t offset_ = 0;
  Shape shape_;
  Shape strides_;
  DType dtype_ = DType::F32;
};

Shape contiguous_strides(const Shape& shape);

template <typename T>
Tensor Tensor::from_vector(const std::vector<T>& values, const Shape& shape) {
  IA_CHECK(static_cast<int64_t>(values.size()) == shape_numel(shape), ErrorKind::InvalidArgument,
           "from_vector: {} values for shape {}", values.size(), shape_str(shape));
  Tensor t = empty(shape, dtype_of<T>());
  if constexpr (std::is_same_v<T, bool>) {
    auto* p = t.data<bool>();
    for (size_t i = 0; i < values.size(); ++i) p[i] = values[i];
  } else {
    std::copy(values.begin(), values.end(), t.data<T>());
  }
  return t;
}

}  // namespace ia
