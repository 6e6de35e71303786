// BART and the models HF copies from it (modeling_bart.py, modeling_mbart.py, modeling_plbart.py,
// modeling_marian.py, modeling_pegasus.py, modeling_blenderbot.py, modeling_blenderbot_small.py,
// modeling_m2m_100.py): scaled token embeddings plus learned or sinusoidal positions, post-LN (BART) or pre-LN
// (mBART) layers with scaled dot-product attention, a tied LM head and final_logits_bias. The variants differ
// only in the switches of BartVariant.
#include "models/seq2seq/bart.h"

namespace ia::bart {

BartVariant variant_for(const std::string& type) {
  BartVariant v;
  if (type == "bart" || type == "plbart") {
    v.layernorm_embedding = true;
    v.position_offset = 2;
  } else if (type == "mbart") {
    v.pre_norm = v.layernorm_embedding = true;
    v.position_offset = 2;
  } else if (type == "marian") {
    v.positions = Positions::Sinusoidal;
  } else if (type == "pegasus") {
    v.pre_norm = true;
    v.positions = Positions::Sinusoidal;
  } else if (type == "blenderbot") {
    v.pre_norm = true;
  } else if (type == "blenderbot-small") {
    v.layernorm_embedding = v.embedding_norm_before_positions_in_decoder = true;
  } else if (type == "m2m_100") {
    v.pre_norm = true;
    v.positions = Positions::FromPadding;
    v.position_offset = 2;
  } else {
    fail(ErrorKind::Unsupported, "unsupported: {} is not a BART-family model type", type);
  }
  return v;
}

namespace {

std::unique_ptr<Model> make(const ModelConfig& c, const WeightLoader& w, const std::string& cls) {
  return std::make_unique<BartModel>(c, w, cls);
}

}  // namespace
}  // namespace ia::bart

IA_REGISTER_MODEL(bart, {"bart", "encoder-decoder", {"BartForConditionalGeneration", "BartModel"}, ia::bart::make})
IA_REGISTER_MODEL(mbart, {"mbart", "encoder-decoder", {"MBartForConditionalGeneration", "MBartModel"}, ia::bart::make})
IA_REGISTER_MODEL(plbart,
                  {"plbart", "encoder-decoder", {"PLBartForConditionalGeneration", "PLBartModel"}, ia::bart::make})
IA_REGISTER_MODEL(marian, {"marian", "encoder-decoder", {"MarianMTModel", "MarianModel"}, ia::bart::make})
IA_REGISTER_MODEL(pegasus,
                  {"pegasus", "encoder-decoder", {"PegasusForConditionalGeneration", "PegasusModel"}, ia::bart::make})
IA_REGISTER_MODEL(blenderbot, {"blenderbot", "encoder-decoder",
                               {"BlenderbotForConditionalGeneration", "BlenderbotModel"}, ia::bart::make})
IA_REGISTER_MODEL(blenderbot_small, {"blenderbot-small", "encoder-decoder",
                                     {"BlenderbotSmallForConditionalGeneration", "BlenderbotSmallModel"},
                                     ia::bart::make})
IA_REGISTER_MODEL(m2m_100,
                  {"m2m_100", "encoder-decoder", {"M2M100ForConditionalGeneration", "M2M100Model"}, ia::bart::make})
