// `run image-to-text`: transformers' ImageToTextPipeline for the captioning models (VisionEncoderDecoder /
// TrOCR, BLIP): image file -> image processor -> generate -> [{"generated_text": ...}] per image. An optional
// `prompt` parameter conditions BLIP's caption (VisionEncoderDecoder does not support one, as in HF). Greedy or
// beam search (num_beams, num_return_sequences: one result per returned sequence).
#include "pipelines/vision_model.h"
#include "pipelines/vision_text.h"

namespace ia::pipelines {
namespace {

bool accepts(const ModelConfig& c, const std::string& cls) {
  return (c.model_type() == "vision-encoder-decoder" && (cls.empty() || cls == "VisionEncoderDecoderModel")) ||
         (c.model_type() == "blip" && (cls.empty() || cls == "BlipForConditionalGeneration"));
}

nlohmann::json run(const RunContext& ctx, const std::vector<nlohmann::json>& inputs) {
  auto m = VisionTextModel::load(ctx);
  const std::string prompt = ctx.param_string("prompt", "");
  const bool blip = m.model->model_type() == "blip";
  IA_CHECK(prompt.empty() || blip, ErrorKind::InvalidArgument,
           "Model type {} does not support conditional text generation", m.model->model_type());
  nlohmann::json out = nlohmann::json::array();
  for (const auto& input : inputs) {
    TensorMap in;
    in["pixel_values"] = m.processor.preprocess(std::vector<vision::ImageU8>{input_image("image-to-text", input)});
    int64_t prompt_len = 1;
    if (!prompt.empty()) {
      const auto enc = m.tokenizer.encode(prompt);
      std::vector<int64_t> ids(enc.ids.begin(), enc.ids.end());
      in["input_ids"] = Tensor::from_vector(ids, {1, static_cast<int64_t>(ids.size())});
      prompt_len = static_cast<int64_t>(ids.size()) - 1;  // BLIP's generate drops the trailing [SEP]
    }
    const Tensor ids = generate_text(ctx, *m.model, in, prompt_len, "image-to-text");
    nlohmann::json texts = nlohmann::json::array();
    for (int64_t i = 0; i < ids.dim(0); ++i) {
      const std::string text = decode_generated(m.tokenizer, ids, 0, i);
      if (ctx.stream && i == 0) ctx.stream(text);
      texts.push_back({{"generated_text", text}});
    }
    out.push_back(texts);
  }
  return out;
}

}  // namespace
}  // namespace ia::pipelines

IA_REGISTER_TASK(image_to_text, {"image-to-text", {}, "Caption images (VisionEncoderDecoder/TrOCR, BLIP)",
                                 ia::pipelines::accepts, ia::pipelines::run})
