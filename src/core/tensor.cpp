#include "core/tensor.h"

#include <fmt/format.h>

#include <algorithm>
#include <numeric>

#include "ops/ops.h"

namespace ia {

std::string shape_str(const Shape& s) { return fmt::format("[{}]", fmt::join(s, ", ")); }

int64_t shape_numel(const Shape& s) {
  int64_t n = 1;
  for (int64_t d : s) {
    IA_CHECK(d >= 0, ErrorKind::InvalidArgument, "negative dimension in shape {}", shape_str(s));
    IA_CHECK(d == 0 || n <= INT64_MAX / d, ErrorKind::InvalidArgument, "shape {} overflows", shape_str(s));
    n *= d;
  }
  return n;
}

Shape contiguous_strides(const Shape& shape) {
  Shape st(shape.size());
  int64_t acc = 1;
  for (int i = static_cast<int>(shape.size()) - 1; i >= 0; --i) {
    st[i] = acc;
    acc *= std::max<int64_t>(shape[i], 1);
  }
  return st;
}

Tensor::Tensor(std::shared_ptr<Storage> storage, size_t byte_offset, Shape shape, DType dtype)
    : Tensor(std::move(storage), byte_offset, shape, contiguous_strides(shape), dtype) {}

Tensor::Tensor(std::shared_ptr<Storage> storage, size_t byte_offset, Shape shape, Shape strides, DType dtype)
    : storage_(std::move(storage)), offset_(byte_offset), shape_(std::move(shape)), strides_(std::move(strides)),
      dtype_(dtype) {
  IA_CHECK(shape_.size() == strides_.size(), ErrorKind::InvalidArgument, "tensor rank mismatch");
  // The view must lie inside its storage: [offset, offset + extent) with extent the byte past the last element.
  if (!storage_) return;
  uint64_t last = 0;  // element index of the farthest element
  bool empty_view = false;
  for (size_t i = 0; i < shape_.size(); ++i) {
    IA_CHECK(shape_[i] >= 0 && strides_[i] >= 0, ErrorKind::InvalidArgument, "tensor view: negative size or stride in {} / {}",
             shape_str(shape_), shape_str(strides_));
    if (shape_[i] == 0) empty_view = true;
    if (shape_[i] <= 1) continue;
    const uint64_t span = static_cast<uint64_t>(shape_[i] - 1), st = static_cast<uint64_t>(strides_[i]);
    IA_CHECK(st == 0 || span <= (UINT64_MAX / 16 - last) / st, ErrorKind::InvalidArgument,
             "tensor view: shape {} with strides {} overflows", shape_str(shape_), shape_str(strides_));
    last += span * st;
  }
  if (empty_view) return;
  const uint64_t ds = dtype_size(dtype_);
  const uint64_t need = (last + 1) * ds;
  IA_CHECK(offset_ <= storage_->nbytes() && need <= storage_->nbytes() - offset_, ErrorKind::InvalidArgument,
           "tensor view: shape {} ({}) at byte offset {} needs {} bytes but its storage holds {}", shape_str(shape_),
           dtype_name(dtype_), offset_, need, storage_->nbytes());
}

Tensor Tensor::empty(const Shape& shape, DType dtype, Device device) {
  const int64_t n = shape_numel(shape);
  const size_t ds = dtype_size(dtype);
  IA_CHECK(static_cast<uint64_t>(n) <= SIZE_MAX / ds, ErrorKind::InvalidArgument, "empty: shape {} of {} overflows the size type",
           shape_str(shape), dtype_name(dtype));
  auto st = allocate_storage(device, static_cast<size_t>(n) * ds);
  return Tensor(std::move(st), 0, shape, dtype);
}

Tensor Tensor::zeros(const Shape& shape, DType dtype, Device device) {
  Tensor t = empty(shape, dtype, device);
  ops::fill_(t, 0.0f);
  return t;
}

Tensor Tensor::full(const Shape& shape, float value, DType dtype) {
  Tensor t = empty(shape, dtype);
  ops::fill_(t, value);
  return t;
}

int64_t Tensor::dim(int i) const {
  const int n = ndim();
  if (i < 0) i += n;
  IA_CHECK(i >= 0 && i < n, ErrorKind::InvalidArgument, "dim {} out of range for {}", i, describe());
  return shape_[i];
}

int64_t Tensor::numel() const { return shape_numel(shape_); }

bool Tensor::is_contiguous() const {
  int64_t acc = 1;
  for (int i = ndim() - 1; i >= 0; --i) {
    if (shape_[i] != 1 && strides_[i] != acc) return false;
    acc *= shape_[i];
  }
  return true;
}

void Tensor::check_access(DType want) const {
  IA_CHECK(defined(), ErrorKind::InvalidArgument, "access to an undefined tensor");
  IA_CHECK(want == dtype_, ErrorKind::InvalidArgument, "tensor {} accessed as {}", describe(), dtype_name(want));
}

std::string Tensor::describe() const {
  if (!defined()) return "<undefined tensor>";
  return fmt::format("{}{} on {}", dtype_name(dtype_), shape_str(shape_), device().str());
}

static int norm_dim(int d, int n, const Tensor& t) {
  if (d < 0) d += n;
  IA_CHECK(d >= 0 && d < n, ErrorKind::InvalidArgument, "dim {} out of range for {}", d, t.describe());
  return d;
}

Tensor Tensor::view(Shape shape) const {
  IA_CHECK(is_contiguous(), ErrorKind::InvalidArgument, "view of non-contiguous tensor {}", describe());
  int infer = -1;
  int64_t known = 1;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == -1) {
      IA_CHECK(infer < 0, ErrorKind::InvalidArgument, "view: more than one -1 in {}", shape_str(shape));
      infer = static_cast<int>(i);
    } else {
      known *= shape[i];
    }
  }
  const int64_t n = numel();
  if (infer >= 0) {
    IA_CHECK(known > 0 && n % known == 0, ErrorKind::InvalidArgument, "view: cannot infer {} from {}",
             shape_str(shape), describe());
    shape[infer] = n / known;
  }
  IA_CHECK(shape_numel(shape) == n, ErrorKind::InvalidArgument, "view: {} has {} elements, shape {} needs {}",
           describe(), n, shape_str(shape), shape_numel(shape));
  return Tensor(storage_, offset_, shape, dtype_);
}

Tensor Tensor::reshape(Shape shape) const {
  if (is_contiguous()) return view(std::move(shape));
  return contiguous().view(std::move(shape));
}

Tensor Tensor::slice(int d, int64_t start, int64_t end) const {
  d = norm_dim(d, ndim(), *this);
  const int64_t n = shape_[d];
  if (start < 0) start += n;
  if (end < 0) end += n;
  start = std::clamp<int64_t>(start, 0, n);
  end = std::clamp<int64_t>(end, start, n);
  Tensor t = *this;
  t.shape_[d] = end - start;
  t.offset_ += static_cast<size_t>(start * strides_[d]) * dtype_size(dtype_);
  return t;
}

Tensor Tensor::select(int d, int64_t index) const {
  d = norm_dim(d, ndim(), *this);
  if (index < 0) index += shape_[d];
  IA_CHECK(index >= 0 && index < shape_[d], ErrorKind::InvalidArgument, "select index {} out of range for {}",
           index, describe());
  Tensor t = *this;
  t.offset_ += static_cast<size_t>(index * strides_[d]) * dtype_size(dtype_);
  t.shape_.erase(t.shape_.begin() + d);
  t.strides_.erase(t.strides_.begin() + d);
  return t;
}

Tensor Tensor::transpose(int d0, int d1) const {
  d0 = norm_dim(d0, ndim(), *this);
  d1 = norm_dim(d1, ndim(), *this);
  Tensor t = *this;
  std::swap(t.shape_[d0], t.shape_[d1]);
  std::swap(t.strides_[d0], t.strides_[d1]);
  return t;
}

Tensor Tensor::permute(const std::vector<int>& order) const {
  IA_CHECK(static_cast<int>(order.size()) == ndim(), ErrorKind::InvalidArgument, "permute rank mismatch for {}",
           describe());
  Tensor t = *this;
  std::vector<bool> seen(ndim(), false);
  for (int i = 0; i < ndim(); ++i) {
    int o = norm_dim(order[i], ndim(), *this);
    IA_CHECK(!seen[o], ErrorKind::InvalidArgument, "permute: repeated dim {}", o);
    seen[o] = true;
    t.shape_[i] = shape_[o];
    t.strides_[i] = strides_[o];
  }
  return t;
}

Tensor Tensor::unsqueeze(int d) const {
  if (d < 0) d += ndim() + 1;
  IA_CHECK(d >= 0 && d <= ndim(), ErrorKind::InvalidArgument, "unsqueeze dim {} out of range for {}", d,
           describe());
  Tensor t = *this;
  const int64_t stride = d < ndim() ? strides_[d] * shape_[d] : 1;
  t.shape_.insert(t.shape_.begin() + d, 1);
  t.strides_.insert(t.strides_.begin() + d, stride);
  return t;
}

Tensor Tensor::squeeze(int d) const {
  d = norm_dim(d, ndim(), *this);
  IA_CHECK(shape_[d] == 1, ErrorKind::InvalidArgument, "squeeze of dim {} (size {}) in {}", d, shape_[d],
           describe());
  Tensor t = *this;
  t.shape_.erase(t.shape_.begin() + d);
  t.strides_.erase(t.strides_.begin() + d);
  return t;
}

Tensor Tensor::expand(const Shape& shape) const {
  IA_CHECK(shape.size() >= shape_.size(), ErrorKind::InvalidArgument, "expand {} to {}", describe(),
           shape_str(shape));
  Tensor t = *this;
  const size_t lead = shape.size() - shape_.size();
  t.shape_ = shape;
  t.strides_.assign(shape.size(), 0);
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i < lead) continue;
    const int64_t have = shape_[i - lead];
    if (have == shape[i]) {
      t.strides_[i] = strides_[i - lead];
    } else {
      IA_CHECK(have == 1, ErrorKind::InvalidArgument, "expand {} to {}", describe(), shape_str(shape));
    }
  }
  return t;
}

Tensor Tensor::contiguous() const {
  if (is_contiguous()) return *this;
  return clone();
}

Tensor Tensor::clone() const {
  Tensor out = empty(shape_, dtype_, device());
  ops::copy_(out, *this);
  return out;
}

Tensor Tensor::to(DType dtype) const {
  if (dtype == dtype_) return *this;
  Tensor out = empty(shape_, dtype, device());
  ops::copy_(out, *this);
  return out;
}

Tensor Tensor::to(Device device) const {
  if (device == this->device()) return *this;
  Tensor src = contiguous();
  Tensor out = empty(shape_, dtype_, device);
  ops::transfer_(out, src);
  return out;
}

template <typename T>
std::vector<T> Tensor::to_vector() const {
  Tensor t = to(Device::cpu()).contiguous();
  if (t.dtype() != dtype_of<T>()) t = t.to(dtype_of<T>());
  const T* p = reinterpret_cast<const T*>(t.raw_data());
  return std::vector<T>(p, p + t.numel());
}

template std::vector<float> Tensor::to_vector<float>() const;
template std::vector<double> Tensor::to_vector<double>() const;
template std::vector<int64_t> Tensor::to_vector<int64_t>() const;
template std::vector<int32_t> Tensor::to_vector<int32_t>() const;
template std::vector<uint8_t> Tensor::to_vector<uint8_t>() const;

float Tensor::item() const {
  IA_CHECK(numel() == 1, ErrorKind::InvalidArgument, "item() on {}", describe());
  return to_vector<float>()[0];
}

}  // namespace ia
