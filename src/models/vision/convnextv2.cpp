// ConvNeXt V2 (HF modeling_convnextv2.py): the ConvNeXt network with global response normalization after
// the block's activation and no LayerScale; ConvNextV2Model and ConvNextV2ForImageClassification.
#include "models/vision/convnext.h"

namespace ia::convnextv2 {
namespace {

std::unique_ptr<Model> make(const ModelConfig& c, const WeightLoader& w, const std::string& cls) {
  return convnext::make_model(c, w, cls, true);
}

}  // namespace
}  // namespace ia::convnextv2

IA_REGISTER_MODEL(convnextv2, {"convnextv2", "vision", {"ConvNextV2Model", "ConvNextV2ForImageClassification"},
                               ia::convnextv2::make})
