#include "models/ssm/recurrent_state.h"

#include "ops/ops.h"

namespace ia::ssm {

RecurrentState::RecurrentState(int64_t layers, int64_t batch, const std::vector<Shape>& shapes,
                               const std::vector<float>& init, Device device)
    : DecoderState(batch, 0) {
  IA_CHECK(shapes.size() == init.size(), ErrorKind::InvalidArgument, "RecurrentState: {} shapes, {} init values",
           shapes.size(), init.size());
  for (int64_t l = 0; l < layers; ++l) {
    std::vector<Tensor> ts;
    for (size_t i = 0; i < shapes.size(); ++i) {
      Tensor t = Tensor::empty(shapes[i], DType::F32, device);
      ops::fill_(t, init[i]);
      ts.push_back(t);
    }
    layers_.push_back(std::move(ts));
  }
}

RecurrentState::RecurrentState(int64_t batch, int64_t capacity, const std::vector<std::vector<Shape>>& per_layer,
                               Device device)
    : DecoderState(batch, capacity) {
  for (const auto& shapes : per_layer) {
    std::vector<Tensor> ts;
    for (const auto& shape : shapes) ts.push_back(Tensor::zeros(shape, DType::F32, device));
    layers_.push_back(std::move(ts));
  }
}

Tensor new_token_mask(const Tensor& mask, int64_t S) {
  const int64_t B = mask.dim(0), L = mask.dim(1);
  return mask.slice(1, L - S, L).to(DType::F32).contiguous().view({B, S, 1});
}

}  // namespace ia::ssm
