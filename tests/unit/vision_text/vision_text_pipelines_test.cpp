// The image-to-text and image-text-to-text tasks end to end on tiny random-weight models with real tokenizers
// (GPT-2, BERT, Llama-2 + LLaVA's <image> token) and the real images in tests/data/images: the task output
// equals the model's own greedy generation on the processor's pixel_values, the CLI prints HF-shaped JSON, and
// bad images / prompts are one-line errors.
#include <gtest/gtest.h>
#include <png.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "generation/beam_generate.h"
#include "io/safetensors.h"
#include "models/model.h"
#include "pipelines/pipeline.h"
#include "pipelines/vision_text.h"
#include "vision/image_io.h"

namespace ia {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

fs::path data_dir() { return fs::path(IA_TEST_DATA_DIR); }
fs::path image(const std::string& name) { return data_dir() / "images" / name; }

void write_json(const fs::path& p, const json& j) { std::ofstream(p) << j.dump(2) << "\n"; }

// A model directory: random weights for `config`, the tokenizer files of `tokenizer`, the given processor files.
fs::path make_model_dir(const std::string& name, json config, const std::string& cls, const std::string& tokenizer,
                        const std::map<std::string, json>& files) {
  // One directory per process: ctest runs the tests of this file in parallel processes.
  const fs::path dir = fs::temp_directory_path() / ("ia_vision_text_" + name + "_" + std::to_string(getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  WeightLoader w = WeightLoader::synthetic(3);
  w.report().keep_synthesized = true;
  build_model(ModelConfig(config, name), w, cls);
  save_safetensors((dir / "model.safetensors").string(), w.report().synthesized, {{"format", "pt"}});
  config["architectures"] = json::array({cls});
  write_json(dir / "config.json", config);
  for (const auto& e : fs::directory_iterator(data_dir() / "tokenizers" / tokenizer))
    fs::copy_file(e.path(), dir / e.path().filename());
  for (const auto& [file, j] : files) write_json(dir / file, j);
  return dir;
}

json vit_gpt2_config() {
  return {{"model_type", "vision-encoder-decoder"},
          {"decoder_start_token_id", 50256},
          {"pad_token_id", 50256},
          {"eos_token_id", 50256},
          {"encoder",
           {{"model_type", "vit"}, {"hidden_size", 32}, {"num_hidden_layers", 2}, {"num_attention_heads", 4},
            {"intermediate_size", 48}, {"image_size", 32}, {"patch_size", 8}}},
          {"decoder",
           {{"model_type", "gpt2"}, {"vocab_size", 50257}, {"n_embd", 48}, {"n_head", 4}, {"n_layer", 2},
            {"n_positions", 64}, {"add_cross_attention", true}, {"is_decoder", true}}}};
}

const json kVitProcessor = {{"image_processor_type", "ViTImageProcessor"}, {"size", {{"height", 32}, {"width", 32}}}};

fs::path vit_gpt2_dir() {
  static const fs::path dir = make_model_dir("vit_gpt2", vit_gpt2_config(), "VisionEncoderDecoderModel",
                                             "openai-community__gpt2", {{"preprocessor_config.json", kVitProcessor}});
  return dir;
}

pipelines::RunContext context(const fs::path& dir, int64_t max_new_tokens) {
  pipelines::RunContext ctx;
  ctx.model_dir = dir.string();
  ctx.params["max_new_tokens"] = max_new_tokens;
  return ctx;
}

std::string error_of(const pipelines::RunContext& ctx, const std::string& task, const json& input) {
  try {
    pipelines::run_task(task, ctx, {input});
  } catch (const Error& e) {
    const std::string m = e.what();
    EXPECT_EQ(m.find('\n'), std::string::npos) << m;
    return m;
  }
  ADD_FAILURE() << "no error for " << input.dump();
  return "";
}

TEST(ImageToTextPipeline, CaptionEqualsTheModelsGreedyGenerationOnTheProcessedImage) {
  const fs::path dir = vit_gpt2_dir();
  const json out = pipelines::run_task("image-to-text", context(dir, 5),
                                       {image("coco_000000039769_two_cats.png").string(), image("australia.jpg").string()});
  ASSERT_EQ(out.size(), 2u);
  auto m = pipelines::VisionTextModel::load(context(dir, 5));
  for (int i = 0; i < 2; ++i) {
    const auto img = vision::read_image(image(i == 0 ? "coco_000000039769_two_cats.png" : "australia.jpg").string());
    GenerationRequest req;
    req.max_new_tokens = 5;
    const auto g = m.model->generate({{"pixel_values", m.processor.preprocess(std::vector<vision::ImageU8>{img})}}, req);
    ASSERT_TRUE(out[i].is_array() && out[i].size() == 1 && out[i][0].contains("generated_text")) << out[i].dump();
    EXPECT_EQ(out[i][0]["generated_text"], pipelines::decode_generated(m.tokenizer, g.front().second, 0));
  }
}

TEST(ImageToTextPipeline, BeamSearchReturnsTheModelsBestSequences) {
  const fs::path dir = vit_gpt2_dir();
  auto ctx = context(dir, 4);
  ctx.params["num_beams"] = 3;
  ctx.params["num_return_sequences"] = 2;
  const json out = pipelines::run_task("image-to-text", ctx, {image("australia.jpg").string()});
  ASSERT_EQ(out.size(), 1u);
  ASSERT_EQ(out[0].size(), 2u) << out.dump();
  auto m = pipelines::VisionTextModel::load(ctx);
  generation::BeamRequest req;
  req.base.max_new_tokens = 4;
  req.base.eos_token_ids = {50256};
  req.base.pad_token_id = 50256;
  req.num_beams = 3;
  req.num_return_sequences = 2;
  const auto img = vision::read_image(image("australia.jpg").string());
  const auto g = generation::generate_beams(
      *m.model, {{"pixel_values", m.processor.preprocess(std::vector<vision::ImageU8>{img})}}, req);
  for (int64_t i = 0; i < 2; ++i)
    EXPECT_EQ(out[0][i]["generated_text"], pipelines::decode_generated(m.tokenizer, g.front().second, 0, i));
  ctx.params["do_sample"] = true;
  EXPECT_NE(error_of(ctx, "image-to-text", image("australia.jpg").string()).find("do_sample"), std::string::npos);
  ctx.params.erase("do_sample");
  ctx.params["num_return_sequences"] = 4;
  EXPECT_NE(error_of(ctx, "image-to-text", image("australia.jpg").string()).find("num_return_sequences"),
            std::string::npos);
}

TEST(ImageToTextPipeline, CliPrintsTransformersShapedJson) {
  const fs::path dir = vit_gpt2_dir();
  const std::string cmd = std::string(IA_CLI_PATH) + " run image-to-text " + dir.string() + " " +
                          image("llama_cute.jpg").string() + " --max-new-tokens 4 --json 2>/dev/null";
  FILE* p = popen(cmd.c_str(), "r");
  ASSERT_NE(p, nullptr);
  std::string text;
  std::array<char, 4096> buf{};
  while (size_t n = fread(buf.data(), 1, buf.size(), p)) text.append(buf.data(), n);
  EXPECT_EQ(pclose(p), 0) << text;
  const json j = json::parse(text, nullptr, false);
  ASSERT_TRUE(j.is_array() && j.size() == 1 && j[0].contains("generated_text") && j[0]["generated_text"].is_string())
      << text;
}

// A PNG in a format encode_png does not write (gray, RGBA), via libpng's simplified API.
fs::path write_png_format(const std::string& name, int w, int h, png_uint_32 format, const std::vector<uint8_t>& px) {
  png_image img{};
  img.version = PNG_IMAGE_VERSION;
  img.width = w;
  img.height = h;
  img.format = format;
  const fs::path p = fs::temp_directory_path() / name;
  EXPECT_TRUE(png_image_write_to_file(&img, p.c_str(), 0, px.data(), 0, nullptr));
  return p;
}

TEST(ImageToTextPipeline, OddImagesRunAndBadFilesAreOneLineErrors) {
  const auto ctx = context(vit_gpt2_dir(), 2);
  // 1x1 RGB, gray and RGBA images are resized like any other (Pillow converts to RGB first).
  vision::write_png((fs::temp_directory_path() / "ia_vt_1x1.png").string(), vision::ImageU8{1, 1, {200, 10, 30}});
  const json ok = pipelines::run_task(
      "image-to-text", ctx,
      {(fs::temp_directory_path() / "ia_vt_1x1.png").string(),
       write_png_format("ia_vt_gray.png", 3, 2, PNG_FORMAT_GRAY, {0, 50, 100, 150, 200, 250}).string(),
       write_png_format("ia_vt_rgba.png", 1, 2, PNG_FORMAT_RGBA, {1, 2, 3, 0, 250, 240, 230, 255}).string()});
  EXPECT_EQ(ok.size(), 3u);

  const fs::path truncated = fs::temp_directory_path() / "ia_vt_truncated.jpg";
  {
    std::ifstream in(image("australia.jpg"), std::ios::binary);
    std::vector<char> bytes((std::istreambuf_iterator<char>(in)), {});
    std::ofstream(truncated, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size() / 2));
  }
  EXPECT_NE(error_of(ctx, "image-to-text", truncated.string()).find("truncated"), std::string::npos);
  const fs::path corrupt = fs::temp_directory_path() / "ia_vt_corrupt.png";
  std::ofstream(corrupt, std::ios::binary) << "\x89PNG\r\n\x1a\nthis is not a png";
  EXPECT_NE(error_of(ctx, "image-to-text", corrupt.string()).find(corrupt.string()), std::string::npos);
  EXPECT_NE(error_of(ctx, "image-to-text", "/no/such/image.png").find("/no/such/image.png"), std::string::npos);
  auto with_prompt = ctx;
  with_prompt.params["prompt"] = "a photo of";
  EXPECT_NE(error_of(with_prompt, "image-to-text", image("exceltable.png").string()).find("conditional"),
            std::string::npos);
}

TEST(ImageToTextPipeline, BlipCaptionsWithAndWithoutAPrompt) {
  const json config = {
      {"model_type", "blip"},
      {"text_config",
       {{"vocab_size", 30524}, {"hidden_size", 32}, {"encoder_hidden_size", 24}, {"num_hidden_layers", 2},
        {"num_attention_heads", 4}, {"intermediate_size", 40}, {"max_position_embeddings", 64},
        {"bos_token_id", 101}, {"sep_token_id", 102}, {"pad_token_id", 0}}},
      {"vision_config",
       {{"hidden_size", 24}, {"num_hidden_layers", 2}, {"num_attention_heads", 4}, {"intermediate_size", 40},
        {"image_size", 32}, {"patch_size", 8}}}};
  const json proc = {{"image_processor_type", "BlipImageProcessor"}, {"size", {{"height", 32}, {"width", 32}}}};
  const fs::path dir = make_model_dir("blip", config, "BlipForConditionalGeneration", "google-bert__bert-base-uncased",
                                      {{"preprocessor_config.json", proc}});
  auto ctx = context(dir, 4);
  const json plain = pipelines::run_task("image-to-text", ctx, {image("coco_000000039769_two_cats.png").string()});
  ASSERT_TRUE(plain[0][0]["generated_text"].is_string()) << plain.dump();
  ctx.params["prompt"] = "a picture of";
  const json prompted = pipelines::run_task("image-to-text", ctx, {image("coco_000000039769_two_cats.png").string()});
  const std::string text = prompted[0][0]["generated_text"];
  EXPECT_EQ(text.rfind("a picture of", 0), 0u) << text;  // BLIP continues the prompt
}

// LLaVA with the Llama-2 tokenizer plus LLaVA's added <image> token (id 32000, as in llava-1.5).
fs::path llava_dir() {
  static const fs::path dir = [] {
    const json config = {
        {"model_type", "llava"},
        {"image_token_index", 32000},
        {"vision_feature_layer", -2},
        {"vision_feature_select_strategy", "default"},
        {"vision_config",
         {{"model_type", "clip_vision_model"}, {"hidden_size", 24}, {"num_hidden_layers", 2},
          {"num_attention_heads", 4}, {"intermediate_size", 40}, {"image_size", 32}, {"patch_size", 8}}},
        {"text_config",
         {{"model_type", "llama"}, {"vocab_size", 32064}, {"hidden_size", 32}, {"num_attention_heads", 4},
          {"num_key_value_heads", 2}, {"num_hidden_layers", 2}, {"intermediate_size", 48},
          {"max_position_embeddings", 128}}}};
    const json proc = {{"image_processor_type", "CLIPImageProcessor"},
                       {"size", {{"shortest_edge", 32}}},
                       {"crop_size", {{"height", 32}, {"width", 32}}}};
    const json processor = {{"processor_class", "LlavaProcessor"}, {"image_token", "<image>"}, {"patch_size", 8},
                            {"vision_feature_select_strategy", "default"}, {"num_additional_image_tokens", 1}};
    const json chat = {
        {"chat_template",
         "{% for message in messages %}{% if message['role'] == 'user' %}USER: {% else %}ASSISTANT: {% endif %}"
         "{% for c in message['content'] %}{% if c['type'] == 'image' %}<image>\n{% else %}{{ c['text'] }}"
         "{% endif %}{% endfor %} {% endfor %}{% if add_generation_prompt %}ASSISTANT:{% endif %}"}};
    const fs::path d = make_model_dir("llava", config, "LlavaForConditionalGeneration", "meta-llama__Llama-2-7b-hf",
                                      {{"preprocessor_config.json", proc}, {"processor_config.json", processor},
                                       {"chat_template.json", chat}, {"generation_config.json", {{"eos_token_id", 2}}}});
    std::ifstream in(d / "tokenizer.json");
    json tok = json::parse(in);
    tok["added_tokens"].push_back({{"id", 32000}, {"content", "<image>"}, {"single_word", false},
                                   {"lstrip", false}, {"rstrip", false}, {"normalized", false}, {"special", true}});
    write_json(d / "tokenizer.json", tok);
    return d;
  }();
  return dir;
}

TEST(ImageTextToTextPipeline, LlavaAnswersStringAndChatPrompts) {
  const auto ctx = context(llava_dir(), 3);
  const json out = pipelines::run_task(
      "image-text-to-text", ctx,
      {json{{"image", image("llama_cute.jpg").string()}, {"text", "USER: <image>\nWhat is this? ASSISTANT:"}}});
  const json& r = out[0][0];
  ASSERT_TRUE(r["generated_text"].is_string()) << out.dump();
  EXPECT_EQ(r["input_text"], "USER: <image>\nWhat is this? ASSISTANT:");
  EXPECT_EQ(r["generated_text"].get<std::string>().rfind("USER: <image>\nWhat is this? ASSISTANT:", 0), 0u);

  auto chat = ctx;
  chat.params["chat"] = true;
  const json c = pipelines::run_task("image-text-to-text", chat,
                                     {json{{"image", image("exceltable.png").string()}, {"text", "Describe it."}}});
  const json& msgs = c[0][0]["generated_text"];
  ASSERT_TRUE(msgs.is_array() && msgs.size() == 2) << c.dump();
  EXPECT_EQ(msgs[1]["role"], "assistant");
}

TEST(ImageTextToTextPipeline, LlavaBeamSearchReturnsEverySequence) {
  auto ctx = context(llava_dir(), 3);
  ctx.params["num_beams"] = 2;
  ctx.params["num_return_sequences"] = 2;
  const std::string prompt = "USER: <image>\nWhat is this? ASSISTANT:";
  const json out =
      pipelines::run_task("image-text-to-text", ctx, {json{{"image", image("llama_cute.jpg").string()}, {"text", prompt}}});
  ASSERT_EQ(out[0].size(), 2u) << out.dump();
  for (const auto& r : out[0]) EXPECT_EQ(r["generated_text"].get<std::string>().rfind(prompt, 0), 0u) << out.dump();
}

TEST(ImageTextToTextPipeline, PromptWithoutTheImageTokenIsHfsMismatchError) {
  const auto ctx = context(llava_dir(), 2);
  EXPECT_NE(error_of(ctx, "image-text-to-text", json{{"image", image("australia.jpg").string()}, {"text", "Hi"}})
                .find("Image features and image tokens do not match: tokens: 0, features 16"),
            std::string::npos);
  EXPECT_NE(error_of(ctx, "image-text-to-text", json{{"text", "USER: <image> hi"}}).find("no image"),
            std::string::npos);
}

TEST(ImageTextToTextPipeline, PlannedArchitecturesAreNamedAsUnsupported) {
  const fs::path dir = fs::temp_directory_path() / "ia_vt_llava_next";
  fs::create_directories(dir);
  write_json(dir / "config.json", {{"model_type", "llava_next"}, {"architectures", {"LlavaNextForConditionalGeneration"}}});
  const std::string m = error_of(context(dir, 1), "image-text-to-text", json{{"text", "x"}, {"image", "y"}});
  EXPECT_NE(m.find("LLaVA-NeXT"), std::string::npos) << m;
}

}  // namespace
}  // namespace ia
