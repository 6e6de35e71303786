// Image-to-text and vision-language models on tiny synthetic checkpoints: for every encoder/decoder combination
// greedy generation with the KV cache and the cross-attention state equals a full forward pass over the generated
// sequence (teacher forcing); BLIP's prompt conventions; LLaVA's image-token merge and feature-layer settings;
// unsupported combinations fail with Unsupported errors naming them.
#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "models/layers.h"
#include "models/model.h"
#include "vision/llava_processor.h"

namespace ia {
namespace {

using nlohmann::json;

const Tensor& output(const NamedTensors& out, const std::string& name) {
  for (const auto& [n, t] : out)
    if (n == name) return t;
  throw std::runtime_error("no output " + name);
}

double max_abs_diff(const Tensor& a, const Tensor& b) {
  EXPECT_EQ(a.shape(), b.shape());
  auto x = a.to_vector<float>(), y = b.to_vector<float>();
  double worst = 0;
  for (size_t i = 0; i < x.size() && i < y.size(); ++i) worst = std::max(worst, std::fabs(double(x[i]) - y[i]));
  return worst;
}

Tensor pixels(int64_t batch, int64_t size, uint64_t seed) {
  std::vector<float> v(batch * 3 * size * size);
  uint64_t s = seed * 2654435761u + 1;
  for (auto& x : v) {
    s = s * 6364136223846793005ull + 1442695040888963407ull;
    x = static_cast<float>((s >> 33) % 2001) / 1000.0f - 1.0f;
  }
  return Tensor::from_vector(v, {batch, 3, size, size});
}

json vit_encoder(const std::string& type) {
  return {{"model_type", type},   {"hidden_size", 32},        {"num_hidden_layers", 2}, {"num_attention_heads", 4},
          {"intermediate_size", 48}, {"image_size", 32},      {"patch_size", 8},        {"num_channels", 3},
          {"hidden_act", "gelu"}, {"layer_norm_eps", 1e-12}};
}

json gpt2_decoder() {
  return {{"model_type", "gpt2"}, {"vocab_size", 67}, {"n_embd", 48},  {"n_head", 4},       {"n_layer", 2},
          {"n_positions", 32},   {"add_cross_attention", true}, {"is_decoder", true}, {"activation_function", "gelu_new"}};
}

json trocr_decoder(bool learned, int64_t cross) {
  json d = {{"model_type", "trocr"},          {"vocab_size", 71},          {"d_model", 40},
            {"decoder_layers", 2},            {"decoder_attention_heads", 4}, {"decoder_ffn_dim", 56},
            {"max_position_embeddings", 32},  {"pad_token_id", 1},         {"activation_function", "relu"},
            {"use_learned_position_embeddings", learned}, {"scale_embedding", !learned},
            {"layernorm_embedding", learned}, {"add_cross_attention", true}, {"is_decoder", true}};
  if (cross > 0) d["cross_attention_hidden_size"] = cross;
  return d;
}

json bert_decoder(const std::string& type) {
  return {{"model_type", type},       {"vocab_size", 61},         {"hidden_size", 32}, {"num_hidden_layers", 2},
          {"num_attention_heads", 4}, {"intermediate_size", 40},  {"max_position_embeddings", 40},
          {"type_vocab_size", 2},     {"pad_token_id", 1},        {"is_decoder", true}, {"add_cross_attention", true}};
}

json ved(const json& enc, const json& dec) {
  return {{"model_type", "vision-encoder-decoder"}, {"encoder", enc}, {"decoder", dec},
          {"decoder_start_token_id", 2}, {"pad_token_id", 0}};
}

std::unique_ptr<Model> build(const json& config, const std::string& cls, uint64_t seed = 5) {
  return build_model(ModelConfig(config, "test:" + cls), WeightLoader::synthetic(seed), cls);
}

// Greedy generation (cached) vs the logits of one forward pass over the generated sequence.
void check_ved(const json& config, const std::string& name) {
  SCOPED_TRACE(name);
  auto m = build(config, "VisionEncoderDecoderModel");
  TensorMap in{{"pixel_values", pixels(2, 32, 3)}};
  GenerationRequest req;
  req.max_new_tokens = 6;
  req.eos_token_ids = {100000};  // never produced: every row runs to max_new_tokens
  req.return_logits = true;
  auto g = m->generate(in, req);
  const Tensor ids = output(g, "generated_ids");
  ASSERT_EQ(ids.shape(), (Shape{2, 7}));
  EXPECT_EQ(ids.to_vector<int64_t>()[0], 2);  // decoder_start_token_id
  in["decoder_input_ids"] = ids.slice(1, 0, 6).contiguous();
  ForwardOptions fo;
  fo.output_hidden_states = true;
  auto f = m->forward(in, fo);
  EXPECT_LE(max_abs_diff(output(f, "logits"), output(g, "generated_logits")), 1e-4);
  EXPECT_EQ(output(f, "encoder_last_hidden_state").dim(2), 32);
  EXPECT_EQ(output(f, "decoder_hidden_states.0").dim(1), 6);
  EXPECT_EQ(output(f, "encoder_hidden_states.2").dim(0), 2);
}

TEST(VisionEncoderDecoder, GenerationMatchesForwardForEncoderDecoderCombinations) {
  check_ved(ved(vit_encoder("vit"), gpt2_decoder()), "vit+gpt2 (enc_to_dec_proj)");
  check_ved(ved(vit_encoder("deit"), trocr_decoder(true, 32)), "deit+trocr learned (cross_attention_hidden_size)");
  check_ved(ved(vit_encoder("vit"), trocr_decoder(false, 0)), "vit+trocr sinusoidal scaled (enc_to_dec_proj)");
  check_ved(ved(vit_encoder("deit"), bert_decoder("bert")), "deit+bert (same width)");
  check_ved(ved(vit_encoder("vit"), bert_decoder("roberta")), "vit+roberta");
}

TEST(VisionEncoderDecoder, DecoderPromptGetsTheStartToken) {
  auto m = build(ved(vit_encoder("vit"), trocr_decoder(true, 32)), "VisionEncoderDecoderModel");
  GenerationRequest req;
  req.max_new_tokens = 2;
  req.eos_token_ids = {100000};
  TensorMap in{{"pixel_values", pixels(1, 32, 4)},
               {"decoder_input_ids", Tensor::from_vector<int64_t>({7, 9}, {1, 2})}};
  auto ids = output(m->generate(in, req), "generated_ids").to_vector<int64_t>();
  ASSERT_EQ(ids.size(), 5u);
  EXPECT_EQ((std::vector<int64_t>{ids[0], ids[1], ids[2]}), (std::vector<int64_t>{2, 7, 9}));
}

TEST(VisionEncoderDecoder, UnsupportedCombinationsNameWhatIsMissing) {
  json llama = {{"model_type", "llama"}, {"vocab_size", 50},          {"hidden_size", 32}, {"num_attention_heads", 4},
                {"num_hidden_layers", 1}, {"intermediate_size", 40}};
  try {
    build(ved(vit_encoder("vit"), llama), "VisionEncoderDecoderModel");
    FAIL() << "llama decoder accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Unsupported);
    EXPECT_NE(std::string(e.what()).find("cross-attention"), std::string::npos) << e.what();
  }
  json none = vit_encoder("no_such_encoder");
  EXPECT_THROW(build(ved(none, gpt2_decoder()), "VisionEncoderDecoderModel"), Error);
}

json blip_config() {
  return {{"model_type", "blip"},
          {"text_config",
           {{"vocab_size", 57}, {"hidden_size", 32}, {"encoder_hidden_size", 24}, {"num_hidden_layers", 2},
            {"num_attention_heads", 4}, {"intermediate_size", 40}, {"max_position_embeddings", 40},
            {"bos_token_id", 3}, {"sep_token_id", 1000}, {"pad_token_id", 0}}},
          {"vision_config",
           {{"hidden_size", 24}, {"num_hidden_layers", 2}, {"num_attention_heads", 4}, {"intermediate_size", 40},
            {"image_size", 32}, {"patch_size", 8}}}};
}

TEST(Blip, PromptBecomesBosPlusTextAndGenerationMatchesForward) {
  auto m = build(blip_config(), "BlipForConditionalGeneration");
  // Processor output: [CLS] a b [SEP]; generation continues [bos] a b.
  TensorMap in{{"pixel_values", pixels(2, 32, 6)},
               {"input_ids", Tensor::from_vector<int64_t>({9, 11, 12, 13, 9, 21, 22, 13}, {2, 4})},
               {"attention_mask", layers::full_i64({2, 4}, 1)}};
  GenerationRequest req;
  req.max_new_tokens = 5;
  req.return_logits = true;
  auto g = m->generate(in, req);
  const Tensor ids = output(g, "generated_ids");
  ASSERT_EQ(ids.shape(), (Shape{2, 8}));
  auto v = ids.to_vector<int64_t>();
  EXPECT_EQ((std::vector<int64_t>{v[0], v[1], v[2], v[8], v[9], v[10]}), (std::vector<int64_t>{3, 11, 12, 3, 21, 22}));
  TensorMap f_in{{"pixel_values", in["pixel_values"]}, {"input_ids", ids.slice(1, 0, 7).contiguous()}};
  ForwardOptions fo;
  fo.output_hidden_states = true;
  auto f = m->forward(f_in, fo);
  EXPECT_LE(max_abs_diff(output(f, "logits").slice(1, 2, 7).contiguous(), output(g, "generated_logits")), 1e-4);
  EXPECT_EQ(output(f, "image_embeds").shape(), (Shape{2, 17, 24}));
  EXPECT_EQ(output(f, "hidden_states.2").shape(), (Shape{2, 17, 24}));
}

json llava_config(const json& feature_layer, const std::string& strategy) {
  return {{"model_type", "llava"},
          {"image_token_index", 60},
          {"vision_feature_layer", feature_layer},
          {"vision_feature_select_strategy", strategy},
          {"projector_hidden_act", "gelu"},
          {"vision_config",
           {{"model_type", "clip_vision_model"}, {"hidden_size", 24}, {"num_hidden_layers", 3},
            {"num_attention_heads", 4}, {"intermediate_size", 40}, {"image_size", 32}, {"patch_size", 8}}},
          {"text_config",
           {{"model_type", "llama"}, {"vocab_size", 64}, {"hidden_size", 32}, {"num_attention_heads", 4},
            {"num_key_value_heads", 2}, {"num_hidden_layers", 2}, {"intermediate_size", 48},
            {"max_position_embeddings", 64}}}};
}

// [text..., image x n, text...] rows, the second left-padded by two.
TensorMap llava_inputs(int64_t n_image) {
  std::vector<int64_t> ids, mask;
  for (int b = 0; b < 2; ++b) {
    const int pad = b == 1 ? 2 : 0;
    for (int i = 0; i < pad; ++i) ids.push_back(0), mask.push_back(0);
    ids.push_back(1), mask.push_back(1);
    for (int64_t i = 0; i < n_image; ++i) ids.push_back(60), mask.push_back(1);
    for (int i = 0; i < 5 - pad; ++i) ids.push_back(10 + i + b), mask.push_back(1);
  }
  const int64_t S = n_image + 6;
  return {{"pixel_values", pixels(2, 32, 8)},
          {"input_ids", Tensor::from_vector(ids, {2, S})},
          {"attention_mask", Tensor::from_vector(mask, {2, S})}};
}

TEST(Llava, GenerationWithMergedImageFeaturesMatchesForward) {
  for (const auto& [layer, strategy, tokens] :
       std::vector<std::tuple<json, std::string, int64_t>>{{-2, "default", 16}, {json::array({-3, -1}), "full", 17}}) {
    SCOPED_TRACE(strategy);
    auto m = build(llava_config(layer, strategy), "LlavaForConditionalGeneration");
    TensorMap in = llava_inputs(tokens);
    GenerationRequest req;
    req.max_new_tokens = 4;
    req.eos_token_ids = {100000};
    req.return_logits = true;
    auto g = m->generate(in, req);
    const Tensor ids = output(g, "generated_ids");
    const int64_t P = in["input_ids"].dim(1);
    ASSERT_EQ(ids.shape(), (Shape{2, P + 4}));
    // Row 0 has no padding: a forward pass over it reproduces the cached logits.
    TensorMap f_in{{"pixel_values", in["pixel_values"].slice(0, 0, 1).contiguous()},
                   {"input_ids", ids.slice(0, 0, 1).slice(1, 0, P + 3).contiguous()}};
    ForwardOptions fo;
    fo.output_hidden_states = true;
    auto f = m->forward(f_in, fo);
    EXPECT_LE(max_abs_diff(output(f, "logits").slice(1, P - 1, P + 3).contiguous(),
                           output(g, "generated_logits").slice(0, 0, 1).contiguous()),
              1e-4);
    EXPECT_EQ(output(f, "image_hidden_states").shape(), (Shape{1, tokens, 32}));
  }
}

TEST(Llava, LeftPaddedRowGeneratesLikeItsPromptAloneByDefault) {
  // Default semantics: the padded row 1 of llava_inputs decodes exactly like its unpadded prompt. transformers
  // 4.48's legacy decode path (transformers_compat) rebuilds the mask from the KV cache, so the padding becomes
  // visible and the positions count it: there the two differ.
  const json cfg = llava_config(-2, "default");
  TensorMap in = llava_inputs(16);
  const int64_t P = in["input_ids"].dim(1);
  TensorMap alone{{"pixel_values", in["pixel_values"].slice(0, 1, 2).contiguous()},
                  {"input_ids", in["input_ids"].slice(0, 1, 2).slice(1, 2, P).contiguous()},
                  {"attention_mask", in["attention_mask"].slice(0, 1, 2).slice(1, 2, P).contiguous()}};
  GenerationRequest req;
  req.max_new_tokens = 4;
  req.eos_token_ids = {100000};
  req.return_logits = true;
  for (bool compat : {false, true}) {
    SCOPED_TRACE(compat ? "transformers_compat 4.48" : "default");
    ModelConfig c(cfg, "test:llava");
    if (compat) c.set_transformers_compat(kTransformersCompat);
    auto m = build_model(c, WeightLoader::synthetic(5), "LlavaForConditionalGeneration");
    const auto batch = m->generate(in, req), single = m->generate(alone, req);
    const double d = max_abs_diff(output(batch, "generated_logits").slice(0, 1, 2).contiguous(),
                                  output(single, "generated_logits"));
    if (compat)
      EXPECT_GT(d, 1e-4);
    else
      EXPECT_LE(d, 1e-4);
  }
}

TEST(Llava, ImageTokenCountMustMatchTheFeatures) {
  auto m = build(llava_config(-2, "default"), "LlavaForConditionalGeneration");
  try {
    m->forward(llava_inputs(15), {});
    FAIL() << "15 image tokens for 16 features accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::InvalidArgument);
    EXPECT_NE(std::string(e.what()).find("Image features and image tokens do not match: tokens: 30, features 32"),
              std::string::npos)
        << e.what();
  }
  json siglip = llava_config(-2, "default");
  siglip["vision_config"]["model_type"] = "siglip_vision_model";
  EXPECT_THROW(build(siglip, "LlavaForConditionalGeneration"), Error);
}

TEST(LlavaProcessor, ExpandsEveryImageToken) {
  vision::LlavaPromptExpander p;
  p.patch_size = 14;
  EXPECT_EQ(p.num_image_tokens(336, 336), 576);
  p.vision_feature_select_strategy = "full";
  EXPECT_EQ(p.num_image_tokens(336, 336), 577);
  p.vision_feature_select_strategy = "default";
  p.patch_size = 16;
  std::string want = "USER: ";
  for (int i = 0; i < 4; ++i) want += "<image>";
  EXPECT_EQ(p.expand("USER: <image>\nHi<image>", 32, 32), want + "\nHi" + want.substr(6));
}

}  // namespace
}  // namespace ia
