// torch.nn.functional.conv1d for the speech front-ends (wav2vec2 feature encoder, Whisper and Speech2Text
// convolutions): x [B, C, T], weight [O, C / groups, K], optional bias, through the conv2d op.
#pragma once
#include "ops/conv.h"

namespace ia::speech {

inline Tensor conv1d(const Tensor& x, const Tensor& weight, const Tensor& bias, int64_t stride, int64_t padding,
                     int64_t groups = 1) {
  Conv2dArgs a;
  a.stride_w = stride;
  a.pad_left = a.pad_right = padding;
  a.groups = groups;
  return ops::conv2d(x.unsqueeze(2), weight.unsqueeze(2), bias, a).squeeze(2);
}

}  // namespace ia::speech
