// ConvNeXt backbone (HF modeling_convnext.py), shared with ConvNeXt V2 (modeling_convnextv2.py), which swaps
// LayerScale for global response normalization (GRN) in each block.
#pragma once
#include "models/vision/common.h"

namespace ia::convnext {

std::unique_ptr<Model> make_model(const ModelConfig& c, const WeightLoader& w, const std::string& cls, bool v2);

}  // namespace ia::convnext
