// `run image-text-to-text`: transformers' ImageTextToTextPipeline for LLaVA. The prompt is either a string
// that holds the processor's image token (used as is) or a chat (a JSON list of messages, or a string with
// --param chat=true, which becomes one user message with the images first) rendered with the processor's
// chat_template.json or the tokenizer's chat template and add_generation_prompt. Every image token is expanded
// to the vision tower's feature count (LlavaProcessor); output like HF's default return_full_text:
// [{"input_text": prompt, "generated_text": prompt + new text}] (chats: the messages plus the assistant reply).
#include <filesystem>
#include <fstream>

#include "pipelines/vision_model.h"
#include "pipelines/vision_text.h"
#include "text/chat_template.h"
#include "vision/llava_processor.h"

namespace ia::pipelines {
namespace {

namespace fs = std::filesystem;

// Vision-language architectures of transformers that are not implemented yet, named in the error.
const char* planned(const std::string& model_type) {
  if (model_type == "llava_next" || model_type == "llava_next_video") return "LLaVA-NeXT (anyres image tiling)";
  if (model_type == "llava_onevision") return "LLaVA-OneVision";
  if (model_type == "qwen2_vl" || model_type == "qwen2_5_vl") return "Qwen2-VL (M-RoPE, dynamic resolution)";
  if (model_type == "paligemma") return "PaliGemma (SigLIP + Gemma, prefix-LM mask)";
  if (model_type == "idefics" || model_type == "idefics2" || model_type == "idefics3")
    return "Idefics (perceiver resampler / image splitting)";
  if (model_type == "mllama") return "Llama 3.2 Vision (cross-attention layers)";
  return nullptr;
}

bool accepts(const ModelConfig& c, const std::string& cls) {
  return (c.model_type() == "llava" && (cls.empty() || cls == "LlavaForConditionalGeneration")) ||
         planned(c.model_type()) != nullptr;
}

std::vector<nlohmann::json> image_inputs(const nlohmann::json& input) {
  std::vector<nlohmann::json> out;
  if (input.contains("image")) out.push_back(input["image"]);
  if (input.contains("images")) {
    IA_CHECK(input["images"].is_array(), ErrorKind::InvalidArgument, "\"images\" must be a list of file paths");
    for (const auto& v : input["images"]) out.push_back(v);
  }
  return out;
}

nlohmann::json run(const RunContext& ctx, const std::vector<nlohmann::json>& inputs) {
  const ModelConfig config = ModelConfig::load((fs::path(ctx.model_dir) / "config.json").string());
  if (const char* name = planned(config.model_type()))
    fail(ErrorKind::Unsupported, "unsupported: {} ({}) is not implemented yet; image-text-to-text runs llava",
         config.model_type(), name);
  auto m = VisionTextModel::load(ctx);
  const auto expander = vision::LlavaPromptExpander::from_dir(ctx.model_dir, config);
  std::string processor_template;
  if (std::ifstream in(fs::path(ctx.model_dir) / "chat_template.json"); in.good()) {
    const nlohmann::json j = nlohmann::json::parse(in, nullptr, false);
    if (j.is_object() && j.contains("chat_template") && j["chat_template"].is_string())
      processor_template = j["chat_template"];
  }
  nlohmann::json out = nlohmann::json::array();
  for (const auto& input : inputs) {
    IA_CHECK(input.is_object() && input.contains("text"), ErrorKind::InvalidArgument,
             "image-text-to-text needs an image and a prompt (--image F --prompt \"...\" or "
             "{{\"image\": F, \"text\": ...}}), got {}",
             input.dump());
    std::vector<vision::ImageU8> images;
    for (const auto& v : image_inputs(input)) images.push_back(input_image("image-text-to-text", v));
    IA_CHECK(!images.empty(), ErrorKind::InvalidArgument, "image-text-to-text: no image given");
    nlohmann::ordered_json messages;
    const nlohmann::json& text = input["text"];
    if (text.is_array()) {
      messages = nlohmann::ordered_json::parse(text.dump());
    } else if (text.is_string() && ctx.param_bool("chat", false)) {
      nlohmann::ordered_json content = nlohmann::ordered_json::array();
      for (size_t i = 0; i < images.size(); ++i) content.push_back({{"type", "image"}});
      content.push_back({{"type", "text"}, {"text", text.get<std::string>()}});
      messages = nlohmann::ordered_json::array({{{"role", "user"}, {"content", content}}});
    } else {
      IA_CHECK(text.is_string(), ErrorKind::InvalidArgument, "\"text\" must be a string or a list of messages");
    }
    const bool chat = !messages.is_null();
    std::string prompt = text.is_string() ? text.get<std::string>() : std::string();
    if (chat) {
      text::ChatOptions opt;
      opt.add_generation_prompt = true;
      opt.source = processor_template;
      prompt = text::apply_chat_template(m.tokenizer, messages, opt);
    }
    TensorMap in;
    const Tensor pixels = m.processor.preprocess(images);
    in["pixel_values"] = pixels;
    const std::string expanded = expander.expand(prompt, pixels.dim(2), pixels.dim(3));
    const auto enc = m.tokenizer.encode(expanded, !chat);
    std::vector<int64_t> ids(enc.ids.begin(), enc.ids.end());
    const int64_t S = static_cast<int64_t>(ids.size());
    IA_CHECK(S > 0, ErrorKind::InvalidArgument, "image-text-to-text: the prompt encodes to no tokens");
    in["input_ids"] = Tensor::from_vector(ids, {1, S});
    in["attention_mask"] = Tensor::from_vector(std::vector<int64_t>(S, 1), {1, S});
    const Tensor gen = generate_text(ctx, *m.model, in, S, "image-text-to-text");
    nlohmann::json recs = nlohmann::json::array();
    for (int64_t i = 0; i < gen.dim(0); ++i) {
      const std::string reply = decode_generated(m.tokenizer, gen, S, i);
      if (ctx.stream && i == 0) ctx.stream(reply);
      if (chat) {
        nlohmann::json full = nlohmann::json::parse(messages.dump());
        full.push_back({{"role", "assistant"}, {"content", reply}});
        recs.push_back({{"input_text", nlohmann::json::parse(messages.dump())}, {"generated_text", full}});
      } else {
        recs.push_back({{"input_text", prompt}, {"generated_text", prompt + reply}});
      }
    }
    out.push_back(recs);
  }
  return out;
}

}  // namespace
}  // namespace ia::pipelines

IA_REGISTER_TASK(image_text_to_text, {"image-text-to-text", {}, "Answer a prompt about images (LLaVA)",
                                      ia::pipelines::accepts, ia::pipelines::run})
