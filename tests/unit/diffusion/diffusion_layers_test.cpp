// GroupNorm against a direct computation, the sinusoidal timestep embedding's layout, and UNet / VAE shape and
// config checks on small random models.
#include <gtest/gtest.h>

#include <cmath>

#include "models/diffusion/autoencoder_kl.h"
#include "models/diffusion/diffusion_layers.h"
#include "models/diffusion/unet_2d_condition.h"
#include "ops/group_norm.h"

namespace ia::diffusion {
namespace {

using nlohmann::json;

TEST(GroupNorm, MatchesDirectComputation) {
  const int64_t N = 2, C = 4, S = 3, G = 2;
  std::vector<float> x(N * C * S), w = {1.0f, 2.0f, 0.5f, -1.0f}, b = {0.0f, 0.1f, -0.2f, 0.3f};
  for (size_t i = 0; i < x.size(); ++i) x[i] = std::sin(0.7f * static_cast<float>(i)) * 3.0f;
  Tensor y = ops::group_norm(Tensor::from_vector(x, {N, C, S}), G, Tensor::from_vector(w, {C}),
                             Tensor::from_vector(b, {C}), 1e-5f);
  auto got = y.to_vector<float>();
  for (int64_t n = 0; n < N; ++n)
    for (int64_t g = 0; g < G; ++g) {
      double mean = 0, var = 0;
      const int64_t base = (n * C + g * (C / G)) * S, cnt = (C / G) * S;
      for (int64_t i = 0; i < cnt; ++i) mean += x[base + i];
      mean /= cnt;
      for (int64_t i = 0; i < cnt; ++i) var += (x[base + i] - mean) * (x[base + i] - mean);
      var /= cnt;
      for (int64_t i = 0; i < cnt; ++i) {
        const int64_t c = g * (C / G) + i / S;
        const double want = (x[base + i] - mean) / std::sqrt(var + 1e-5) * w[c] + b[c];
        EXPECT_NEAR(got[base + i], want, 1e-5);
      }
    }
  EXPECT_THROW(ops::group_norm(Tensor::from_vector(x, {N, C, S}), 3, Tensor(), Tensor(), 1e-5f), Error);
}

TEST(TimestepEmbedding, FlipSinToCosLayout) {
  Tensor t = Tensor::from_vector<float>({10.0f}, {1});
  auto e = timestep_embedding(t, 4, /*flip_sin_to_cos=*/true, 0.0).to_vector<float>();
  // half = 2: freqs exp(-ln(1e4) * i / 2) = {1, 0.01}; flipped: [cos(10), cos(0.1), sin(10), sin(0.1)]
  EXPECT_NEAR(e[0], std::cos(10.0), 1e-5);
  EXPECT_NEAR(e[1], std::cos(0.1), 1e-5);
  EXPECT_NEAR(e[2], std::sin(10.0), 1e-5);
  EXPECT_NEAR(e[3], std::sin(0.1), 1e-5);
  auto s = timestep_embedding(t, 4, false, 1.0).to_vector<float>();  // freq_shift 1: exponent / (half - 1)
  EXPECT_NEAR(s[1], std::sin(10.0 * 1e-4), 1e-6);
}

json tiny_unet() {
  return {{"_class_name", "UNet2DConditionModel"},
          {"block_out_channels", {16, 32}},
          {"down_block_types", {"CrossAttnDownBlock2D", "DownBlock2D"}},
          {"up_block_types", {"UpBlock2D", "CrossAttnUpBlock2D"}},
          {"layers_per_block", 1},
          {"attention_head_dim", 2},
          {"cross_attention_dim", 8},
          {"norm_num_groups", 8},
          {"sample_size", 8}};
}

std::unique_ptr<Model> build(const json& c) {
  return build_model(ModelConfig(c, "test:config.json"), WeightLoader::synthetic(3), "");
}

TEST(UNet2DCondition, OddSizesForwardUpsampleSizeAndBroadcastTimestep) {
  auto m = build(tiny_unet());
  EXPECT_EQ(m->model_type(), "unet_2d_condition");
  TensorMap in;
  in["sample"] = Tensor::full({2, 4, 5, 7}, 0.3f);  // odd sizes: upsamplers get the skip's size
  in["timestep"] = Tensor::from_vector<int64_t>({500}, {});
  in["encoder_hidden_states"] = Tensor::full({2, 3, 8}, 0.1f);
  auto out = m->forward(in, {});
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].second.shape(), (Shape{2, 4, 5, 7}));
  for (float v : out[0].second.to_vector<float>()) ASSERT_TRUE(std::isfinite(v));
}

TEST(UNet2DCondition, LinearProjectionSDXLTextTimeAndErrors) {
  json c = tiny_unet();
  c["use_linear_projection"] = true;
  c["addition_embed_type"] = "text_time";
  c["addition_time_embed_dim"] = 4;
  c["projection_class_embeddings_input_dim"] = 6 * 4 + 8;
  c["transformer_layers_per_block"] = 2;
  auto m = build(c);
  TensorMap in;
  in["sample"] = Tensor::full({1, 4, 8, 8}, 0.3f);
  in["timestep"] = Tensor::from_vector<float>({10.5f}, {1});
  in["encoder_hidden_states"] = Tensor::full({1, 3, 8}, 0.1f);
  in["text_embeds"] = Tensor::full({1, 8}, 0.2f);
  in["time_ids"] = Tensor::from_vector<float>({64, 64, 0, 0, 64, 64}, {1, 6});
  EXPECT_EQ(m->forward(in, {})[0].second.shape(), (Shape{1, 4, 8, 8}));
  in.erase("time_ids");
  EXPECT_THROW(m->forward(in, {}), Error);

  json bad = tiny_unet();
  bad["down_block_types"] = {"SimpleCrossAttnDownBlock2D", "DownBlock2D"};
  try {
    build(bad);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Unsupported);
    EXPECT_NE(std::string(e.what()).find("SimpleCrossAttnDownBlock2D"), std::string::npos);
  }
  json heads = tiny_unet();
  heads["num_attention_heads"] = 2;
  EXPECT_THROW(build(heads), Error);
  json cls = tiny_unet();
  cls["class_embed_type"] = "timestep";
  try {
    build(cls);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("class_embed_type"), std::string::npos);
  }
}

TEST(AutoencoderKL, EncodeDecodeShapesAndSeededSample) {
  json c = {{"_class_name", "AutoencoderKL"},
            {"block_out_channels", {8, 16}},
            {"down_block_types", {"DownEncoderBlock2D", "DownEncoderBlock2D"}},
            {"up_block_types", {"UpDecoderBlock2D", "UpDecoderBlock2D"}},
            {"latent_channels", 4},
            {"layers_per_block", 1},
            {"norm_num_groups", 4}};
  auto m = build(c);
  auto* vae = dynamic_cast<AutoencoderKL*>(m.get());
  ASSERT_NE(vae, nullptr);
  EXPECT_EQ(vae->scale_factor(), 2);
  auto post = vae->encode(Tensor::full({1, 3, 6, 10}, 0.2f));
  EXPECT_EQ(post.mean.shape(), (Shape{1, 4, 3, 5}));
  TorchGenerator g1(5), g2(5);
  EXPECT_EQ(post.sample(g1).to_vector<float>(), post.sample(g2).to_vector<float>());
  EXPECT_EQ(vae->decode(post.mode()).shape(), (Shape{1, 3, 6, 10}));
}

}  // namespace
}  // namespace ia::diffusion
